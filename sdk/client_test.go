package sdk_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald/node/nodetest"
	"github.com/heraldpush/herald/sdk"
)

// inbox collects what a device's handler receives.
type inbox struct {
	mu   sync.Mutex
	msgs []*sdk.Message
	fail func(*sdk.Message) error
}

func (b *inbox) handle(m *sdk.Message) error {
	if b.fail != nil {
		if err := b.fail(m); err != nil {
			return err
		}
	}
	b.mu.Lock()
	b.msgs = append(b.msgs, m)
	b.mu.Unlock()
	return nil
}

func (b *inbox) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.msgs)
}

func (b *inbox) get(i int) *sdk.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.msgs[i]
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func register(t *testing.T, h *nodetest.Herald, app nodetest.App) sdk.Credentials {
	t.Helper()
	cr, err := sdk.Register(context.Background(), h.URL, app.Key, &sdk.RegisterOptions{Platform: "android"})
	if err != nil {
		t.Fatal(err)
	}
	return cr
}

func dial(t *testing.T, h *nodetest.Herald, cr sdk.Credentials, b *inbox, mod ...func(*sdk.Config)) *sdk.Client {
	t.Helper()
	cfg := sdk.Config{Gateway: h.URL, Credentials: cr, Handler: b.handle, Logger: quiet, MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second}
	for _, m := range mod {
		m(&cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := sdk.Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func waitLen(t *testing.T, b *inbox, n int) {
	t.Helper()
	nodetest.Eventually(t, 10*time.Second, func() bool { return b.len() >= n }, func() string {
		return "messages received: " + itoa(b.len())
	})
}

func itoa(n int) string { return time.Duration(n).String() }

func TestPushReachesOnlineDeviceAndIsAcknowledged(t *testing.T) {
	h := nodetest.Start(t)
	app := h.CreateApp()
	cr := register(t, h, app)
	var b inbox
	c := dial(t, h, cr, &b)

	id := h.Push(app, nodetest.Push{RegistrationIDs: []string{cr.RegistrationID}, Title: "t", Content: "hello", Extras: map[string]any{"k": "v"}})
	waitLen(t, &b, 1)
	m := b.get(0)
	if m.Content != "hello" || m.Title != "t" || string(m.Extras) != `{"k":"v"}` || m.AppKey != app.Key || m.ExpiresAt.IsZero() {
		t.Fatalf("got %+v", m)
	}
	r := h.WaitReport(app, id, func(r nodetest.Report) bool { return r.Delivered == 1 })
	want := nodetest.Report{Targeted: 1, Sent: 1, Delivered: 1}
	if r != want {
		t.Fatalf("report %+v, want %+v", r, want)
	}
	if s := c.Stats(); s.Received != 1 || s.Acked != 1 || s.Duplicates != 0 || s.Connects != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestOfflineDeviceGetsMessagesWhenItConnects(t *testing.T) {
	h := nodetest.Start(t)
	app := h.CreateApp()
	cr := register(t, h, app)
	var ids []string
	for _, content := range []string{"one", "two", "three"} {
		ids = append(ids, h.Push(app, nodetest.Push{RegistrationIDs: []string{cr.RegistrationID}, Content: content}))
	}
	for _, id := range ids {
		h.WaitReport(app, id, func(r nodetest.Report) bool {
			return r == nodetest.Report{Targeted: 1, StoredOffline: 1}
		})
	}
	var b inbox
	dial(t, h, cr, &b)
	waitLen(t, &b, 3)
	for i, want := range []string{"one", "two", "three"} {
		if got := b.get(i).Content; got != want {
			t.Fatalf("message %d is %q, want %q (in order)", i, got, want)
		}
	}
	for _, id := range ids {
		h.WaitReport(app, id, func(r nodetest.Report) bool {
			return r == nodetest.Report{Targeted: 1, Sent: 1, StoredOffline: 1, Delivered: 1}
		})
	}
}

func TestOnlineOnlyMessageIsNotStored(t *testing.T) {
	h := nodetest.Start(t)
	app := h.CreateApp()
	cr := register(t, h, app)
	id := h.Push(app, nodetest.Push{RegistrationIDs: []string{cr.RegistrationID}, Content: "typing…", TTL: nodetest.TTL(0)})
	h.WaitReport(app, id, func(r nodetest.Report) bool { return r == nodetest.Report{Targeted: 1, Expired: 1} })

	var b inbox
	dial(t, h, cr, &b)
	live := h.Push(app, nodetest.Push{RegistrationIDs: []string{cr.RegistrationID}, Content: "now", TTL: nodetest.TTL(0)})
	waitLen(t, &b, 1)
	if got := b.get(0).Content; got != "now" {
		t.Fatalf("got %q: the offline online-only message was delivered", got)
	}
	h.WaitReport(app, live, func(r nodetest.Report) bool { return r == nodetest.Report{Targeted: 1, Sent: 1} })
}

func TestFailedHandlerGetsTheMessageAgainAfterReconnect(t *testing.T) {
	h := nodetest.Start(t)
	app := h.CreateApp()
	cr := register(t, h, app)
	var mu sync.Mutex
	failures := 1
	b := inbox{fail: func(*sdk.Message) error {
		mu.Lock()
		defer mu.Unlock()
		if failures > 0 {
			failures--
			return errors.New("disk full")
		}
		return nil
	}}
	c := dial(t, h, cr, &b)
	id := h.Push(app, nodetest.Push{RegistrationIDs: []string{cr.RegistrationID}, Content: "retry me"})
	nodetest.Eventually(t, 10*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return failures == 0
	}, func() string { return "handler never called" })
	c.Close() // unacknowledged: the server keeps it

	c2 := dial(t, h, cr, &b)
	waitLen(t, &b, 1)
	h.WaitReport(app, id, func(r nodetest.Report) bool { return r.Delivered == 1 })
	if s := c2.Stats(); s.Received != 1 {
		t.Fatalf("second client stats %+v", s)
	}
}

func TestRestartBetweenPushAndReconnectStillDelivers(t *testing.T) {
	h := nodetest.Start(t)
	app := h.CreateApp()
	cr := register(t, h, app)
	id := h.Push(app, nodetest.Push{RegistrationIDs: []string{cr.RegistrationID}, Content: "survives"})
	h.Restart()
	var b inbox
	dial(t, h, cr, &b)
	waitLen(t, &b, 1)
	if b.get(0).Content != "survives" {
		t.Fatalf("got %+v", b.get(0))
	}
	h.WaitReport(app, id, func(r nodetest.Report) bool { return r.Delivered == 1 && r.StoredOffline == 1 })
}

func TestClientReconnectsAfterServerRestart(t *testing.T) {
	h := nodetest.Start(t)
	app := h.CreateApp()
	cr := register(t, h, app)
	var b inbox
	var states sync.Map
	c := dial(t, h, cr, &b, func(cfg *sdk.Config) {
		cfg.OnState = func(s sdk.State, _ error) { states.Store(s, true) }
	})
	h.Restart()
	nodetest.Eventually(t, 10*time.Second, func() bool { return c.Stats().Connects >= 2 }, func() string {
		return "client did not reconnect"
	})
	if _, ok := states.Load(sdk.StateDisconnected); !ok {
		t.Fatal("no disconnected state reported")
	}
	id := h.Push(app, nodetest.Push{RegistrationIDs: []string{cr.RegistrationID}, Content: "after restart"})
	waitLen(t, &b, 1)
	h.WaitReport(app, id, func(r nodetest.Report) bool { return r.Delivered == 1 })
}

func TestSecondConnectionReplacesFirst(t *testing.T) {
	h := nodetest.Start(t)
	app := h.CreateApp()
	cr := register(t, h, app)
	var b1, b2 inbox
	c1 := dial(t, h, cr, &b1)
	dial(t, h, cr, &b2)
	done := make(chan error, 1)
	go func() { done <- c1.Wait() }()
	select {
	case err := <-done:
		if !errors.Is(err, sdk.ErrReplaced) {
			t.Fatalf("first client ended with %v, want ErrReplaced", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("first client was not replaced")
	}
	h.Push(app, nodetest.Push{RegistrationIDs: []string{cr.RegistrationID}, Content: "to the new one"})
	waitLen(t, &b2, 1)
	if b1.len() != 0 {
		t.Fatal("the replaced client got the message")
	}
}

func TestWrongSecretIsRejected(t *testing.T) {
	h := nodetest.Start(t)
	app := h.CreateApp()
	cr := register(t, h, app)
	other := register(t, h, app)
	cr.DeviceSecret = other.DeviceSecret
	var b inbox
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := sdk.Dial(ctx, sdk.Config{Gateway: h.URL, Credentials: cr, Handler: b.handle, Logger: quiet})
	if !errors.Is(err, sdk.ErrUnauthorized) {
		t.Fatalf("Dial with another device's secret: %v, want ErrUnauthorized", err)
	}
}

func TestUnknownDeviceIsRejected(t *testing.T) {
	h := nodetest.Start(t)
	app := h.CreateApp()
	cr := register(t, h, app)
	cr.RegistrationID = "00000000000000000000"
	var b inbox
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := sdk.Dial(ctx, sdk.Config{Gateway: h.URL, Credentials: cr, Handler: b.handle, Logger: quiet})
	if !errors.Is(err, sdk.ErrUnauthorized) {
		t.Fatalf("Dial with an unknown registration id: %v, want ErrUnauthorized", err)
	}
}

func TestRegisterRejectsUnknownApp(t *testing.T) {
	h := nodetest.Start(t)
	_, err := sdk.Register(context.Background(), h.URL, "000000000000000000000000", nil)
	var ae *sdk.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || ae.Code != "unknown_app_key" {
		t.Fatalf("Register with an unknown app: %v", err)
	}
}

func TestCachedEndpointsSkipDispatchAndAreRefreshedWhenStale(t *testing.T) {
	h := nodetest.Start(t)
	app := h.CreateApp()
	cr := register(t, h, app)
	ends, err := sdk.Dispatch(context.Background(), h.URL, cr.RegistrationID, nil)
	if err != nil || len(ends.Addresses) != 1 || len(ends.ServerKey) != 32 {
		t.Fatalf("Dispatch: %+v %v", ends, err)
	}
	// Good endpoints: the gateway is not needed at all.
	var b inbox
	c := dial(t, h, cr, &b, func(cfg *sdk.Config) {
		cfg.Endpoints = &ends
		cfg.Gateway = "http://127.0.0.1:1" // nothing listens here
	})
	if got := c.Endpoints(); got.Addresses[0] != ends.Addresses[0] {
		t.Fatalf("Endpoints() = %+v", got)
	}
	c.Close()

	// Stale endpoints: the client falls back to dispatch.
	stale := sdk.Endpoints{Addresses: []string{"127.0.0.1:1"}, ServerKey: ends.ServerKey}
	c = dial(t, h, cr, &b, func(cfg *sdk.Config) { cfg.Endpoints = &stale })
	if got := c.Endpoints(); got.Addresses[0] != ends.Addresses[0] {
		t.Fatalf("after falling back to dispatch, Endpoints() = %+v", got)
	}
	h.Push(app, nodetest.Push{RegistrationIDs: []string{cr.RegistrationID}, Content: "found you"})
	waitLen(t, &b, 1)
}

// clicks reads a message's clicked count and its status on a device.
func clicks(t *testing.T, h *nodetest.Herald, app nodetest.App, msgID, rid string) (int64, string) {
	t.Helper()
	var r struct {
		Clicked *int64 `json:"clicked"`
	}
	h.Do(http.MethodGet, "/v1/messages/"+msgID, nodetest.Basic(app), nil, http.StatusOK, &r)
	var st struct {
		State string `json:"state"`
	}
	h.Do(http.MethodGet, "/v1/messages/"+msgID+"/devices/"+rid, nodetest.Basic(app), nil, http.StatusOK, &st)
	if r.Clicked == nil {
		t.Fatal("the report has no clicked count")
	}
	return *r.Clicked, st.State
}

func TestClickIsCountedOncePerDevice(t *testing.T) {
	h := nodetest.Start(t)
	app := h.CreateApp()
	cr1, cr2 := register(t, h, app), register(t, h, app)
	var b1, b2 inbox
	c1 := dial(t, h, cr1, &b1)
	dial(t, h, cr2, &b2)
	id := h.Push(app, nodetest.Push{RegistrationIDs: []string{cr1.RegistrationID, cr2.RegistrationID}, Content: "open me"})
	waitLen(t, &b1, 1)
	waitLen(t, &b2, 1)
	h.WaitReport(app, id, func(r nodetest.Report) bool { return r.Delivered == 2 })

	m := b1.get(0)
	for range 3 {
		if err := c1.Click(m.ID); err != nil {
			t.Fatal(err)
		}
	}
	if err := c1.Click(m.ID + 1); err != nil { // a message this device never got
		t.Fatal(err)
	}
	var n int64
	var state string
	nodetest.Eventually(t, 10*time.Second, func() bool {
		n, state = clicks(t, h, app, id, cr1.RegistrationID)
		return n == 1 && state == "clicked" && c1.Stats().Clicked >= 2
	}, func() string { return fmt.Sprintf("clicked %d, state %s, stats %+v", n, state, c1.Stats()) })
	if _, st := clicks(t, h, app, id, cr2.RegistrationID); st != "delivered" {
		t.Fatalf("the device that did not click is %s, want delivered", st)
	}
	// Clicked again later, the message still counts once.
	if err := c1.Click(m.ID); err != nil {
		t.Fatal(err)
	}
	nodetest.Eventually(t, 10*time.Second, func() bool { return c1.Stats().Clicked >= 3 }, func() string { return "the second click was not sent" })
	if n, _ := clicks(t, h, app, id, cr1.RegistrationID); n != 1 {
		t.Fatalf("clicked %d after a repeated click, want 1", n)
	}
	if err := c1.Click(0); err == nil {
		t.Fatal("Click(0) succeeded")
	}
	c1.Close()
	if err := c1.Click(m.ID); !errors.Is(err, sdk.ErrClosed) {
		t.Fatalf("Click after Close: %v, want ErrClosed", err)
	}
}

// switchableNet dials only while online, and can cut its connections.
type switchableNet struct {
	mu      sync.Mutex
	offline bool
	conns   []net.Conn
}

func (s *switchableNet) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.offline {
		return nil, errors.New("test: offline")
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err == nil {
		s.conns = append(s.conns, c)
	}
	return c, err
}

func (s *switchableNet) setOffline(off bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offline = off
	if off {
		for _, c := range s.conns {
			c.Close()
		}
		s.conns = nil
	}
}

func TestClicksWhileDisconnectedAreSentOnReconnect(t *testing.T) {
	h := nodetest.Start(t)
	app := h.CreateApp()
	cr := register(t, h, app)
	var b inbox
	var sn switchableNet
	var disconnected atomic.Bool
	c := dial(t, h, cr, &b, func(cfg *sdk.Config) {
		cfg.Dial = sn.dial
		cfg.OnState = func(s sdk.State, _ error) {
			if s == sdk.StateDisconnected {
				disconnected.Store(true)
			}
		}
	})
	id := h.Push(app, nodetest.Push{RegistrationIDs: []string{cr.RegistrationID}, Content: "read later"})
	waitLen(t, &b, 1)
	h.WaitReport(app, id, func(r nodetest.Report) bool { return r.Delivered == 1 })

	sn.setOffline(true)
	nodetest.Eventually(t, 10*time.Second, disconnected.Load, func() string { return "the client did not notice the cut" })
	if err := c.Click(b.get(0).ID); err != nil {
		t.Fatal(err)
	}
	if n, _ := clicks(t, h, app, id, cr.RegistrationID); n != 0 || c.Stats().Clicked != 0 {
		t.Fatalf("a click made offline was counted (%d) or sent (%+v)", n, c.Stats())
	}
	sn.setOffline(false)
	var n int64
	nodetest.Eventually(t, 10*time.Second, func() bool {
		n, _ = clicks(t, h, app, id, cr.RegistrationID)
		return n == 1
	}, func() string { return fmt.Sprintf("clicked %d after reconnecting, stats %+v", n, c.Stats()) })
}

func TestRegisterWithARegistrationSecret(t *testing.T) {
	h := nodetest.Start(t)
	app := h.CreateApp()
	var set struct {
		Secret string `json:"registration_secret"`
	}
	h.Do(http.MethodPut, "/v1/app/registration-secret", nodetest.Basic(app), nil, http.StatusOK, &set)
	_, err := sdk.Register(context.Background(), h.URL, app.Key, nil)
	var ae *sdk.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusForbidden || ae.Code != "invalid_registration_secret" {
		t.Fatalf("Register without the registration secret: %v", err)
	}
	cr, err := sdk.Register(context.Background(), h.URL, app.Key, &sdk.RegisterOptions{RegistrationSecret: set.Secret})
	if err != nil || cr.RegistrationID == "" {
		t.Fatalf("Register with the registration secret: %+v, %v", cr, err)
	}
}
