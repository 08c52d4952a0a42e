package node_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/heraldpush/herald/node"
	"github.com/heraldpush/herald/node/nodetest"
	"github.com/heraldpush/herald/sdk"
)

// TestAllCountsOnlineDevices checks GET /v1/app's online count in one
// process: devices count while connected and for their grace period, and
// no more after it.
func TestAllCountsOnlineDevices(t *testing.T) {
	h := nodetest.Start(t, func(c *node.AllConfig) { c.Connector.Settings.Grace = 200 * time.Millisecond })
	app := h.CreateApp()
	online := func() int {
		var s struct {
			Online int `json:"online"`
		}
		h.Do(http.MethodGet, "/v1/app", nodetest.Basic(app), nil, http.StatusOK, &s)
		return s.Online
	}
	var clients []*sdk.Client
	for range 3 {
		cr, err := sdk.Register(context.Background(), h.URL, app.Key, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cl, err := sdk.Dial(ctx, sdk.Config{Gateway: h.URL, Credentials: cr, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Handler: func(*sdk.Message) error { return nil }})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, cl)
	}
	nodetest.Eventually(t, 5*time.Second, func() bool { return online() == 3 }, func() string { return "3 devices connected are not counted online" })
	clients[0].Close()
	nodetest.Eventually(t, 10*time.Second, func() bool { return online() == 2 }, func() string { return "a device gone past its grace period still counts online" })
	for _, cl := range clients[1:] {
		cl.Close()
	}
	nodetest.Eventually(t, 10*time.Second, func() bool { return online() == 0 }, func() string { return "devices gone still count online" })
}
