package gateway_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/heraldpush/herald/gateway"
	"github.com/heraldpush/herald/internal/h2c"
)

func TestDefaultConfig(t *testing.T) {
	cfg := gateway.DefaultConfig()
	for _, tc := range []struct {
		name      string
		got, want any
	}{
		{"MaxBody", cfg.MaxBody, int64(64 << 10)},
		{"MaxPayload", cfg.MaxPayload, 4096},
		{"MaxRecipients", cfg.MaxRecipients, 1000},
		{"DefaultTTL", cfg.DefaultTTL, 24 * time.Hour},
		{"MaxTTL", cfg.MaxTTL, 10 * 24 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("%s = %v, want %v", tc.name, tc.got, tc.want)
			}
		})
	}
	if cfg.Log == nil {
		t.Error("Log is nil, want slog.Default()")
	}
}

func TestHealthz(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	var out map[string]string
	e.do(t, request{method: "GET", path: "/healthz"}).wantOK(t, http.StatusOK, &out)
	if out["status"] != "ok" || len(out) != 1 {
		t.Errorf("healthz = %v, want {status: ok}", out)
	}
}

func TestMethodNotAllowed(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	for _, tc := range []struct {
		method, path, allow string
	}{
		{"POST", "/healthz", "GET"},
		{"DELETE", "/healthz", "GET"},
		{"GET", "/v1/apps", "POST"},
		{"PUT", "/v1/apps", "POST"},
		{"GET", "/v1/devices", "POST"},
		{"POST", "/v1/dispatch", "GET"},
		{"GET", "/v1/push", "POST"},
		{"PATCH", "/v1/push", "POST"},
		{"OPTIONS", "/v1/push", "POST"},
		{"PUT", "/v1/messages/123", "GET, DELETE"},
		{"POST", "/v1/messages/123", "GET, DELETE"},
		{"POST", "/v1/admin/runtime", "GET"},
	} {
		t.Run(tc.method+tc.path, func(t *testing.T) {
			// Credentials do not matter: the method is checked first.
			r := e.do(t, request{method: tc.method, path: tc.path, body: strings.NewReader("{}")})
			r.wantError(t, http.StatusMethodNotAllowed, "method_not_allowed", tc.method, strings.ReplaceAll(tc.allow, ", ", " or "))
			if got := r.header.Get("Allow"); got != tc.allow {
				t.Errorf("Allow = %q, want %q", got, tc.allow)
			}
		})
	}
}

func TestNotFound(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	for _, tc := range []struct{ method, path string }{
		{"GET", "/"},
		{"GET", "/v1"},
		{"GET", "/v1/"},
		{"POST", "/v1/pushes"},
		{"POST", "/v1/push/"},
		{"GET", "/v1/messages/"},
		{"GET", "/v1/messages/1/devices"},
		{"GET", "/v1/messages/1/2"},
		{"GET", "/v2/push"},
		{"DELETE", "/v1/apps/abc"},
		{"GET", "/v1/admin"},
	} {
		t.Run(tc.method+tc.path, func(t *testing.T) {
			e.do(t, request{method: tc.method, path: tc.path}).wantError(t, http.StatusNotFound, "not_found", tc.path)
		})
	}
}

// TestAdminAuth covers the Bearer-token routes.
func TestAdminAuth(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	for _, route := range []struct{ method, path string }{
		{"POST", "/v1/apps"},
		{"GET", "/v1/admin/runtime"},
	} {
		for _, tc := range []struct {
			name, auth string
			hint       string
		}{
			{"none", "", "Bearer"},
			{"empty bearer", "Bearer ", "Bearer"},
			{"wrong token", bearer("not-the-token"), "wrong"},
			{"token prefix", bearer(adminToken[:len(adminToken)-1]), "wrong"},
			{"token with suffix", bearer(adminToken + "x"), "wrong"},
			{"basic instead of bearer", basic("admin", adminToken), "Bearer"},
			{"raw token", adminToken, "Bearer"},
		} {
			t.Run(route.path+"/"+tc.name, func(t *testing.T) {
				r := e.do(t, request{method: route.method, path: route.path, auth: tc.auth})
				r.wantError(t, http.StatusUnauthorized, "unauthorized", tc.hint)
				if r.header.Get("WWW-Authenticate") == "" {
					t.Error("401 without WWW-Authenticate")
				}
			})
		}
	}
}

// TestAdminChallengeScheme checks that a 401 of a Bearer route challenges
// for Bearer (RFC 6750 §3), not Basic: a Basic challenge makes browsers and
// HTTP libraries prompt for, or retry with, a user name and password the
// route does not accept.
func TestAdminChallengeScheme(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	for _, path := range []string{"/v1/apps", "/v1/admin/runtime"} {
		method := "GET"
		if path == "/v1/apps" {
			method = "POST"
		}
		r := e.do(t, request{method: method, path: path})
		if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer") {
			t.Errorf("%s %s: WWW-Authenticate = %q, want a Bearer challenge", method, path, got)
		}
	}
}

// TestAppAuth covers the Basic-auth routes.
func TestAppAuth(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a := e.createApp(t)
	other := e.createApp(t)
	rid := e.registerDevice(t, a.Key).RID
	body := `{"audience":{"registration_id":["` + rid + `"]},"message":{"content":"hi"}}`
	for _, tc := range []struct {
		name, auth string
	}{
		{"none", ""},
		{"bearer", bearer(adminToken)},
		{"wrong secret", basic(a.Key, other.Secret)},
		{"other app's secret", basic(other.Key, a.Secret)},
		{"unknown app", basic("0123456789abcdef01234567", a.Secret)},
		{"empty secret", basic(a.Key, "")},
		{"empty key", basic("", a.Secret)},
		{"no colon", "Basic " + "bm9jb2xvbg=="},
		{"not base64", "Basic !!!"},
		{"secret with suffix", basic(a.Key, a.Secret+"0")},
		{"upper-case key", basic(strings.ToUpper(a.Key), a.Secret)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, req := range []request{
				{method: "POST", path: "/v1/push", body: strings.NewReader(body)},
				{method: "GET", path: "/v1/messages/1"},
			} {
				req.auth = tc.auth
				before := e.sideEffects()
				r := e.do(t, req)
				r.wantError(t, http.StatusUnauthorized, "unauthorized", "master_secret")
				if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Basic") {
					t.Errorf("%s %s: WWW-Authenticate = %q, want a Basic challenge", req.method, req.path, got)
				}
				e.wantNoChange(t, before)
			}
		})
	}
}

// TestAppAuthOddKeys sends app keys the store cannot hold as keys (too long,
// not UTF-8). They are wrong credentials like any other: 401, and nothing
// of the store's internals in the answer.
func TestAppAuthOddKeys(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	for _, tc := range []struct{ name, key string }{
		{"300 bytes", strings.Repeat("a", 300)},
		{"not UTF-8", "\xff\xfe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, request{method: "POST", path: "/v1/push", auth: basic(tc.key, "secret"), body: strings.NewReader("{}")})
			msg := r.wantError(t, http.StatusUnauthorized, "unauthorized")
			if strings.Contains(msg, "dataservice") || strings.Contains(msg, "leveldb") {
				t.Errorf("message leaks store internals: %q", msg)
			}
		})
	}
}

func TestRuntime(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	var out struct {
		Process struct {
			RSSBytes   int64 `json:"rss_bytes"`
			Goroutines int   `json:"goroutines"`
		} `json:"process"`
		Components struct {
			Fake struct {
				Connections int `json:"connections"`
			} `json:"fake"`
		} `json:"components"`
	}
	e.do(t, request{method: "GET", path: "/v1/admin/runtime", auth: bearer(adminToken)}).wantOK(t, http.StatusOK, &out)
	if out.Process.RSSBytes <= 0 {
		t.Errorf("process.rss_bytes = %d, want > 0", out.Process.RSSBytes)
	}
	if out.Process.Goroutines <= 0 {
		t.Errorf("process.goroutines = %d, want > 0", out.Process.Goroutines)
	}
	if out.Components.Fake.Connections != 7 {
		t.Errorf("components = %+v, want the stats func's figures", out.Components)
	}
}

func TestRuntimeWithoutStats(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	system := actor.NewActorSystem()
	t.Cleanup(system.Shutdown)
	g := gateway.New(gateway.Config{AdminTokenHash: sha256Token(adminToken)}, gateway.Deps{Data: e.data, Cluster: e.cluster, Receipts: e.receipts, System: system})
	t.Cleanup(g.Close)
	srvURL := serve(t, g.Handler())
	var out map[string]any
	doWith(t, http.DefaultClient, srvURL, request{method: "GET", path: "/v1/admin/runtime", auth: bearer(adminToken)}).wantOK(t, http.StatusOK, &out)
	if _, ok := out["process"]; !ok {
		t.Errorf("no process figures in %v", out)
	}
	if _, ok := out["components"]; ok {
		t.Errorf("components present without a stats func: %v", out)
	}
}

// TestH2C talks cleartext HTTP/2 (prior knowledge) to the server herald
// runs the gateway in.
func TestH2C(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	base := serve(t, e.gw.Handler())
	protocols := new(http.Protocols)
	protocols.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: protocols}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}

	r := doWith(t, client, base, request{method: "GET", path: "/healthz"})
	r.wantOK(t, http.StatusOK, nil)
	if r.proto != 2 {
		t.Fatalf("ProtoMajor = %d, want 2", r.proto)
	}

	// A whole push over h2c: body-less app creation, registration, push, report.
	var a app
	r = doWith(t, client, base, request{method: "POST", path: "/v1/apps", auth: bearer(adminToken)})
	r.wantOK(t, http.StatusCreated, &a)
	var d device
	doWith(t, client, base, request{method: "POST", path: "/v1/devices", body: strings.NewReader(`{"app_key":"` + a.Key + `"}`)}).
		wantOK(t, http.StatusCreated, &d)
	var p struct {
		MsgID string `json:"msg_id"`
	}
	r = doWith(t, client, base, request{method: "POST", path: "/v1/push", auth: a.auth(), body: jsonBody(t, pushBody([]string{d.RID}, "over h2c"))})
	r.wantOK(t, http.StatusOK, &p)
	if r.proto != 2 {
		t.Errorf("push: ProtoMajor = %d, want 2", r.proto)
	}
	var rep map[string]any
	doWith(t, client, base, request{method: "GET", path: "/v1/messages/" + p.MsgID, auth: a.auth()}).wantOK(t, http.StatusOK, &rep)
	if rep["targeted"] != float64(1) {
		t.Errorf("report = %v, want targeted 1", rep)
	}

	// A body of unknown length (streamed in DATA frames) is read as well.
	pr := &slowReader{chunks: [][]byte{[]byte(`{"audience":{"registration_id":["` + d.RID + `"]},`), []byte(`"message":{"content":"streamed"}}`)}}
	r = doWith(t, client, base, request{method: "POST", path: "/v1/push", auth: a.auth(), body: pr})
	r.wantOK(t, http.StatusOK, nil)

	// Errors are the same JSON over HTTP/2.
	r = doWith(t, client, base, request{method: "GET", path: "/nowhere"})
	r.wantError(t, http.StatusNotFound, "not_found")
	if r.proto != 2 {
		t.Errorf("404: ProtoMajor = %d, want 2", r.proto)
	}
}

// TestHTTP1OnSamePort checks that the h2c server still speaks HTTP/1.1.
func TestHTTP1OnSamePort(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	base := serve(t, e.gw.Handler())
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	r := doWith(t, &http.Client{Transport: tr}, base, request{method: "GET", path: "/healthz"})
	r.wantOK(t, http.StatusOK, nil)
	if r.proto != 1 {
		t.Errorf("ProtoMajor = %d, want 1", r.proto)
	}
}

// serve runs h in herald's HTTP server (HTTP/1.1 and h2c) on a loopback
// port until tb ends, and returns its base URL.
func serve(tb testing.TB, h http.Handler) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := h2c.NewServer(h, h2c.ServerConfig{})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			tb.Errorf("shutdown: %v", err)
		}
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			tb.Errorf("serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

// slowReader yields its chunks one Read at a time, so the client cannot
// know the body's length in advance.
type slowReader struct{ chunks [][]byte }

func (s *slowReader) Read(p []byte) (int, error) {
	if len(s.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.chunks[0])
	s.chunks[0] = s.chunks[0][n:]
	if len(s.chunks[0]) == 0 {
		s.chunks = s.chunks[1:]
	}
	return n, nil
}

// sha256Token returns the hash Config.AdminTokenHash holds for token.
func sha256Token(token string) [32]byte { return sha256.Sum256([]byte(token)) }
