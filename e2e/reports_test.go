package e2e

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/heraldpush/herald/node/nodetest"
	"github.com/heraldpush/herald/sdk"
)

// A device's acknowledgement and its user's click show in the message's
// report, in the message's status on that device, and in the app's list
// of messages: with herald all, and with dataservice, connectors and
// gateway as separate processes (where the connectors' receipts travel to
// the dataservice over HTTP/2).
func TestAckAndClickShowInReports(t *testing.T) {
	for _, form := range []struct {
		name  string
		start func(t *testing.T) (*nodetest.Herald, string)
	}{
		{"all", func(t *testing.T) (*nodetest.Herald, string) {
			p := startHerald(t, t.TempDir(), "127.0.0.1:0", "127.0.0.1:0")
			return p.h, "http://" + p.http
		}},
		{"cluster", func(t *testing.T) (*nodetest.Herald, string) {
			c := startCluster(t, 2)
			return c.h, c.gateway
		}},
	} {
		t.Run(form.name, func(t *testing.T) {
			h, gateway := form.start(t)
			checkAckAndClick(t, h, gateway)
		})
	}
}

type e2eReport struct {
	Targeted, Sent, Delivered, Clicked int64
}

type e2eStatus struct {
	State       string     `json:"state"`
	Attempts    int        `json:"attempts"`
	SentAt      *time.Time `json:"sent_at"`
	DeliveredAt *time.Time `json:"delivered_at"`
	ClickedAt   *time.Time `json:"clicked_at"`
}

func checkAckAndClick(t *testing.T, h *nodetest.Herald, gateway string) {
	app := h.CreateApp()
	auth := nodetest.Basic(app)
	got := make(chan uint64, 4)
	var creds [2]sdk.Credentials
	var clients [2]*sdk.Client
	for i := range creds {
		cr, err := sdk.Register(context.Background(), gateway, app.Key, &sdk.RegisterOptions{Platform: "android"})
		if err != nil {
			t.Fatal(err)
		}
		creds[i] = cr
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		c, err := sdk.Dial(ctx, sdk.Config{Gateway: gateway, Credentials: cr, Logger: quiet, MinBackoff: 100 * time.Millisecond,
			Handler: func(m *sdk.Message) error { got <- m.ID; return nil }})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		clients[i] = c
		t.Cleanup(func() { c.Close() })
	}
	msgID := h.Push(app, nodetest.Push{RegistrationIDs: []string{creds[0].RegistrationID, creds[1].RegistrationID}, Content: "open me"})
	var id uint64
	for range 2 {
		select {
		case id = <-got:
		case <-time.After(30 * time.Second):
			t.Fatal("the devices did not get the message")
		}
	}
	if fmt.Sprint(id) != msgID {
		t.Fatalf("devices got %d, pushed %s", id, msgID)
	}
	// The user of the first device opens it; its SDK reports the click
	// twice (a retry): it counts once.
	for range 2 {
		if err := clients[0].Click(id); err != nil {
			t.Fatal(err)
		}
	}
	var r e2eReport
	nodetest.Eventually(t, 30*time.Second, func() bool {
		h.Do(http.MethodGet, "/v1/messages/"+msgID, auth, nil, http.StatusOK, &r)
		return r.Delivered == 2 && r.Clicked == 1
	}, func() string { return fmt.Sprintf("report %+v", r) })
	if r != (e2eReport{Targeted: 2, Sent: 2, Delivered: 2, Clicked: 1}) {
		t.Fatalf("report %+v, want 2 targeted, sent and delivered, 1 clicked", r)
	}

	var st [2]e2eStatus
	nodetest.Eventually(t, 30*time.Second, func() bool {
		for i, cr := range creds {
			h.Do(http.MethodGet, "/v1/messages/"+msgID+"/devices/"+cr.RegistrationID, auth, nil, http.StatusOK, &st[i])
		}
		return st[0].State == "clicked" && st[1].State == "delivered"
	}, func() string { return fmt.Sprintf("device states %+v", st) })
	for i, s := range st {
		if s.SentAt == nil || s.DeliveredAt == nil || s.Attempts != 1 || (s.ClickedAt != nil) != (i == 0) {
			t.Fatalf("status on device %d: %+v", i, s)
		}
		if s.DeliveredAt.Before(*s.SentAt) {
			t.Fatalf("device %d: delivered at %v, before it was sent at %v", i, s.DeliveredAt, s.SentAt)
		}
	}

	var list struct {
		Messages []struct {
			MsgID   string `json:"msg_id"`
			Clicked int64  `json:"clicked"`
		} `json:"messages"`
	}
	h.Do(http.MethodGet, "/v1/messages?limit=10", auth, nil, http.StatusOK, &list)
	if len(list.Messages) != 1 || list.Messages[0].MsgID != msgID || list.Messages[0].Clicked != 1 {
		t.Fatalf("list of messages: %+v", list)
	}
}
