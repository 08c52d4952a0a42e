package nodetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"testing"
	"time"

	"github.com/heraldpush/herald/node"
)

// AdminToken is the admin token of every test server.
const AdminToken = "nodetest-admin-token"

// Herald is a running test server.
type Herald struct {
	Node *node.AllNode
	URL  string // base URL of the REST API
	cfg  node.AllConfig
	tb   testing.TB
}

// Option adjusts the configuration of a test server.
type Option func(*node.AllConfig)

// Start starts a server that stops when the test ends.
func Start(tb testing.TB, opts ...Option) *Herald {
	tb.Helper()
	cfg := node.AllConfig{
		DataDir:    tb.TempDir(),
		HTTP:       "127.0.0.1:0",
		AdminToken: AdminToken,
		Log:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	cfg.Connector.Listen = "127.0.0.1:0"
	cfg.Gateway.Webhooks.PrivateDestinations = true // tests' webhooks listen on loopback
	// Every client of a test is on 127.0.0.1: no caps per address (the
	// totals stay), as for a deployment behind one proxy.
	cfg.HTTPConns.PerAddress = -1
	cfg.Connector.MaxConnectionsPerAddress = -1
	for _, o := range opts {
		o(&cfg)
	}
	h := &Herald{cfg: cfg, tb: tb}
	h.start()
	tb.Cleanup(func() { h.Stop() })
	return h
}

func (h *Herald) start() {
	h.tb.Helper()
	n, err := node.StartAll(h.cfg)
	if err != nil {
		h.tb.Fatalf("start herald: %v", err)
	}
	h.Node = n
	h.URL = "http://" + n.HTTPAddr().String()
}

// Attach returns REST helpers for a Herald already running at url (such as
// a herald binary started by a test); Stop and Restart do nothing on it.
func Attach(tb testing.TB, url string) *Herald {
	return &Herald{URL: url, tb: tb}
}

// Stop shuts the server down; it is safe to call twice.
func (h *Herald) Stop() {
	if h.Node == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h.Node.Close(ctx); err != nil {
		h.tb.Errorf("stop herald: %v", err)
	}
	h.Node = nil
}

// Restart stops the server and starts it again on the same store and the
// same ports, as an operator restarting herald would.
func (h *Herald) Restart() {
	h.tb.Helper()
	h.cfg.Connector.Listen = h.Node.DeviceAddr().String()
	h.cfg.HTTP = h.Node.HTTPAddr().String()
	h.Stop()
	h.start()
}

// App is an app's credentials.
type App struct {
	Key, Secret string
}

// CreateApp creates an app.
func (h *Herald) CreateApp() App {
	h.tb.Helper()
	var out struct {
		AppKey       string `json:"app_key"`
		MasterSecret string `json:"master_secret"`
	}
	h.Do(http.MethodPost, "/v1/apps", "Bearer "+AdminToken, map[string]string{"name": h.tb.Name()}, http.StatusCreated, &out)
	return App{Key: out.AppKey, Secret: out.MasterSecret}
}

// Push is the body of POST /v1/push for tests.
type Push struct {
	RegistrationIDs []string
	Title, Content  string
	Extras          map[string]any
	// TTL in seconds; nil means the server's default.
	TTL *int64
}

// Push sends a push and returns its msg_id.
func (h *Herald) Push(app App, p Push) string {
	h.tb.Helper()
	body := map[string]any{
		"audience": map[string]any{"registration_id": p.RegistrationIDs},
		"message":  map[string]any{"title": p.Title, "content": p.Content, "extras": p.Extras},
	}
	if p.TTL != nil {
		body["options"] = map[string]any{"time_to_live": *p.TTL}
	}
	var out struct {
		MsgID string `json:"msg_id"`
	}
	h.Do(http.MethodPost, "/v1/push", basic(app), body, http.StatusOK, &out)
	return out.MsgID
}

// Report is a message's delivery report.
type Report struct {
	Targeted      int64 `json:"targeted"`
	Sent          int64 `json:"sent"`
	StoredOffline int64 `json:"stored_offline"`
	Delivered     int64 `json:"delivered"`
	Clicked       int64 `json:"clicked"`
	Expired       int64 `json:"expired"`
	Failed        int64 `json:"failed"`
	Replaced      int64 `json:"replaced"`
	Withdrawn     int64 `json:"withdrawn"`
}

// Report reads a message's report.
func (h *Herald) Report(app App, msgID string) Report {
	h.tb.Helper()
	var r Report
	h.Do(http.MethodGet, "/v1/messages/"+msgID, basic(app), nil, http.StatusOK, &r)
	return r
}

// WaitReport polls a message's report until ok accepts it or 10 seconds
// pass.
func (h *Herald) WaitReport(app App, msgID string, ok func(Report) bool) Report {
	h.tb.Helper()
	var r Report
	Eventually(h.tb, 10*time.Second, func() bool {
		r = h.Report(app, msgID)
		return ok(r)
	}, func() string { return fmt.Sprintf("report of %s: %+v", msgID, r) })
	return r
}

// Do makes a REST call, checks the status, and decodes the answer into out
// (if not nil). It returns the raw body.
func (h *Herald) Do(method, path, auth string, body any, wantStatus int, out any) []byte {
	h.tb.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			h.tb.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, h.URL+path, r)
	if err != nil {
		h.tb.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		h.tb.Fatalf("%s %s: status %d, want %d: %s", method, path, resp.StatusCode, wantStatus, data)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			h.tb.Fatalf("%s %s: decode %s: %v", method, path, data, err)
		}
	}
	return data
}

func basic(app App) string {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(app.Key, app.Secret)
	return req.Header.Get("Authorization")
}

// Basic returns the Authorization header value of an app.
func Basic(app App) string { return basic(app) }

// Eventually polls cond every 10ms until it holds, or fails the test after
// timeout with the message describe returns.
func Eventually(tb testing.TB, timeout time.Duration, cond func() bool, describe func() string) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("condition not met within %v: %s", timeout, describe())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TTL returns a pointer to seconds, for Push.TTL.
func TTL(seconds int64) *int64 { return &seconds }
