package portal

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestHandlerTransport(t *testing.T) {
	var seen *http.Request
	var body string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r
		b, _ := io.ReadAll(r.Body)
		body = string(b)
		w.Header().Set("X-Answer", "yes")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"ok":true}`)
	})
	rt := HandlerTransport(h)
	ctx := withClientAddr(context.Background(), "203.0.113.9:5555")
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://gateway.internal/v1/push?x=1", strings.NewReader(`{"a":1}`))
	req.Header.Set("Authorization", "Session t")
	res, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusCreated || string(got) != `{"ok":true}` || res.Header.Get("X-Answer") != "yes" || res.ContentLength != 11 {
		t.Errorf("answer %d %q %v", res.StatusCode, got, res.Header)
	}
	if seen.RemoteAddr != "203.0.113.9:5555" || seen.RequestURI != "/v1/push?x=1" || seen.URL.Path != "/v1/push" ||
		seen.Header.Get("Authorization") != "Session t" || body != `{"a":1}` || seen.Host != "gateway.internal" {
		t.Errorf("the handler saw %s %s from %s, body %q", seen.Method, seen.RequestURI, seen.RemoteAddr, body)
	}
	// No body, no status written: 200 and an empty body.
	rt = HandlerTransport(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.RemoteAddr == "" {
			t.Error("a request without body or address")
		}
	}))
	req, _ = http.NewRequest(http.MethodGet, "http://gateway.internal/healthz", nil)
	if res, err := rt.RoundTrip(req); err != nil || res.StatusCode != 200 {
		t.Errorf("empty handler: %v %v", res, err)
	}
	// A canceled request is not served.
	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, _ = http.NewRequestWithContext(cctx, http.MethodGet, "http://gateway.internal/", nil)
	if _, err := rt.RoundTrip(req); err == nil {
		t.Error("a canceled request was served")
	}
}

// The portal works over HandlerTransport as `herald all` runs it: the
// fake gateway's handler called in process, the browser's address passed
// on.
func TestPortalInProcess(t *testing.T) {
	gw := newFakeGateway(t)
	gw.addApp(appA, "Shop")
	gw.addUser("viewer@example.com", pass, map[string]string{appA: roleViewer})
	e := newEnv(t)
	p, err := New(Config{Gateway: "http://herald.internal", Transport: HandlerTransport(http.HandlerFunc(gw.serve)), Log: e.portal.log})
	if err != nil {
		t.Fatal(err)
	}
	e.portal = p
	e.srv.Config.Handler = p
	e.gw = gw
	b := e.login(t, "viewer@example.com")
	status, page := b.get("/portal/")
	if status != http.StatusOK || !strings.Contains(page, "Shop") {
		t.Errorf("overview in process: %d", status)
	}
}

func TestNewChecksTheGatewayURL(t *testing.T) {
	for _, u := range []string{"", "127.0.0.1:8080", "ftp://x", "http://"} {
		if _, err := New(Config{Gateway: u}); err == nil {
			t.Errorf("New accepted gateway %q", u)
		}
	}
	p, err := New(Config{Gateway: "http://127.0.0.1:8080/"})
	if err != nil || p.cfg.Gateway != "http://127.0.0.1:8080" || p.cfg.Poll != 500e6 || p.cfg.LoginFailures != 20 {
		t.Errorf("New: %v, %+v", err, p.cfg)
	}
}
