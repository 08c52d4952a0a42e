package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway"
	"github.com/heraldpush/herald/gateway/webhook"
)

// webhookView is a webhook as the API shows it.
type webhookView struct {
	URL     string    `json:"url"`
	Secret  string    `json:"secret"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

var webhookSecretShape = regexp.MustCompile(`^[A-Za-z0-9]{32}$`)

func (e *env) webhookCall(tb testing.TB, a app, method string, body any) response {
	tb.Helper()
	return e.do(tb, request{method: method, path: "/v1/webhook", auth: a.auth(), body: jsonBody(tb, body)})
}

func (e *env) putWebhookOK(tb testing.TB, a app, body any) webhookView {
	tb.Helper()
	var v webhookView
	e.webhookCall(tb, a, "PUT", body).wantOK(tb, http.StatusOK, &v)
	if !webhookSecretShape.MatchString(v.Secret) {
		tb.Fatalf("secret %q is not 32 letters and digits", v.Secret)
	}
	return v
}

func TestWebhookLifecycle(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a, other := e.createApp(t), e.createApp(t)

	e.webhookCall(t, a, "GET", nil).wantError(t, http.StatusNotFound, "no_webhook", "PUT /v1/webhook")

	first := e.putWebhookOK(t, a, map[string]any{"url": "https://api.example.com/herald"})
	if first.URL != "https://api.example.com/herald" || first.Created.IsZero() || !first.Updated.Equal(first.Created) {
		t.Fatalf("first PUT = %+v", first)
	}
	var got webhookView
	e.webhookCall(t, a, "GET", nil).wantOK(t, http.StatusOK, &got)
	if got != first {
		t.Fatalf("GET = %+v, want %+v", got, first)
	}
	// Another app sees only its own.
	e.webhookCall(t, other, "GET", nil).wantError(t, http.StatusNotFound, "no_webhook")

	// A new URL keeps the secret.
	moved := e.putWebhookOK(t, a, map[string]any{"url": "http://hooks.example.net:8080/hook?k=v"})
	if moved.Secret != first.Secret || !moved.Created.Equal(first.Created) || moved.Updated.Before(first.Updated) || moved.URL != "http://hooks.example.net:8080/hook?k=v" {
		t.Fatalf("PUT of a new URL = %+v; want the secret and created of %+v", moved, first)
	}
	// The same again changes nothing.
	if again := e.putWebhookOK(t, a, map[string]any{"url": moved.URL, "rotate_secret": false}); again != moved {
		t.Fatalf("PUT of the same URL = %+v, want %+v", again, moved)
	}
	// rotate_secret makes a new one.
	rotated := e.putWebhookOK(t, a, map[string]any{"url": moved.URL, "rotate_secret": true})
	if rotated.Secret == moved.Secret || rotated.URL != moved.URL {
		t.Fatalf("PUT with rotate_secret = %+v; want a new secret", rotated)
	}
	stored, err := e.data.Webhook(context.Background(), a.Key)
	if err != nil || stored.Secret != rotated.Secret || stored.URL != rotated.URL {
		t.Fatalf("stored webhook = %+v, %v", stored, err)
	}

	r := e.webhookCall(t, a, "DELETE", nil)
	if r.status != http.StatusNoContent || len(r.body) != 0 {
		t.Fatalf("DELETE = %d %s, want 204 without a body", r.status, r.body)
	}
	e.webhookCall(t, a, "GET", nil).wantError(t, http.StatusNotFound, "no_webhook")
	if r := e.webhookCall(t, a, "DELETE", nil); r.status != http.StatusNoContent {
		t.Fatalf("DELETE of no webhook = %d %s, want 204", r.status, r.body)
	}
	// Set again: a new secret.
	if again := e.putWebhookOK(t, a, map[string]any{"url": "https://api.example.com/herald"}); again.Secret == rotated.Secret {
		t.Fatal("a webhook set after a delete kept the old secret")
	}
}

func TestWebhookBadRequests(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a := e.createApp(t)
	set := e.putWebhookOK(t, a, map[string]any{"url": "https://api.example.com/herald"})
	for _, tc := range []struct {
		name   string
		body   any
		status int
		code   string
		hint   string
	}{
		{"no body", nil, 400, "invalid_json", "empty"},
		{"not JSON", "{", 400, "invalid_json", "JSON"},
		{"an array", "[]", 400, "invalid_field", "object"},
		{"two objects", `{"url":"https://a.example"}{}`, 400, "invalid_json", "exactly one"},
		{"no url", map[string]any{}, 400, "missing_field", "url"},
		{"null url", map[string]any{"url": nil}, 400, "missing_field", "url"},
		{"empty url", map[string]any{"url": ""}, 400, "missing_field", "url"},
		{"url a number", map[string]any{"url": 5}, 400, "invalid_field", "url"},
		{"unknown field", map[string]any{"url": "https://a.example", "secret": "x"}, 400, "unknown_field", "secret"},
		{"relative url", map[string]any{"url": "/hook"}, 400, "invalid_field", "absolute"},
		{"ftp url", map[string]any{"url": "ftp://a.example/"}, 400, "invalid_field", "https"},
		{"no host", map[string]any{"url": "https:///hook"}, 400, "invalid_field", "host"},
		{"space", map[string]any{"url": "https://a.example/a b"}, 400, "invalid_field", "spaces"},
		{"too long", map[string]any{"url": "https://a.example/" + strings.Repeat("a", dataservice.MaxWebhookURLLen)}, 400, "invalid_field", "2048"},
		{"rotate not a bool", map[string]any{"url": "https://a.example", "rotate_secret": "yes"}, 400, "invalid_field", "rotate_secret"},
		{"too large", `{"url":"` + strings.Repeat("a", 70<<10) + `"}`, 413, "request_too_large", "bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.webhookCall(t, a, "PUT", tc.body).wantError(t, tc.status, tc.code, tc.hint)
			var got webhookView
			e.webhookCall(t, a, "GET", nil).wantOK(t, http.StatusOK, &got)
			if got != set {
				t.Fatalf("a rejected PUT changed the webhook: %+v, was %+v", got, set)
			}
		})
	}
	for _, method := range []string{"GET", "PUT", "DELETE"} {
		r := e.do(t, request{method: method, path: "/v1/webhook", body: jsonBody(t, map[string]any{"url": "https://a.example"})})
		r.wantError(t, http.StatusUnauthorized, "unauthorized")
		r = e.do(t, request{method: method, path: "/v1/webhook", auth: basic(a.Key, "wrong"), body: jsonBody(t, map[string]any{"url": "https://a.example"})})
		r.wantError(t, http.StatusUnauthorized, "unauthorized")
	}
	e.do(t, request{method: "POST", path: "/v1/webhook", auth: a.auth()}).wantError(t, http.StatusMethodNotAllowed, "method_not_allowed")
	var got webhookView
	e.webhookCall(t, a, "GET", nil).wantOK(t, http.StatusOK, &got)
	if got != set {
		t.Fatalf("rejected calls changed the webhook: %+v, was %+v", got, set)
	}
}

// The webhook operations answer what openapi.json says.
func TestOpenAPIMatchesTheWebhookHandlers(t *testing.T) {
	d := loadOpenAPI(t)
	e := newEnv(t, gateway.Config{})
	c := &conformance{e: e, doc: d, ops: d.operations(t)}
	a := e.createApp(t)
	const put, get, del = "PUT /v1/webhook", "GET /v1/webhook", "DELETE /v1/webhook"
	c.call(t, exchange{op: get, path: "/v1/webhook", auth: a.auth(), status: 404})
	c.call(t, exchange{op: put, path: "/v1/webhook", auth: a.auth(), body: map[string]any{"url": "https://api.example.com/h"}, status: 200})
	c.call(t, exchange{op: put, path: "/v1/webhook", auth: a.auth(), body: map[string]any{"url": "https://api.example.com/h", "rotate_secret": true}, status: 200})
	c.call(t, exchange{op: put, path: "/v1/webhook", auth: a.auth(), body: map[string]any{"url": "mailto:x@example.com"}, badRequest: true, status: 400})
	c.call(t, exchange{op: put, path: "/v1/webhook", auth: a.auth(), body: map[string]any{"uri": "https://api.example.com/h"}, badRequest: true, status: 400})
	c.call(t, exchange{op: put, path: "/v1/webhook", body: map[string]any{"url": "https://api.example.com/h"}, status: 401})
	c.call(t, exchange{op: get, path: "/v1/webhook", auth: a.auth(), status: 200})
	c.call(t, exchange{op: get, path: "/v1/webhook", status: 401})
	c.call(t, exchange{op: del, path: "/v1/webhook", auth: a.auth(), status: 204})
	c.call(t, exchange{op: del, path: "/v1/webhook", status: 401})
}

// Apps choose webhook URLs, so a gateway refuses those naming addresses of
// its operator's network unless the operator allows them.
func TestWebhookPrivateDestinations(t *testing.T) {
	urls := []string{
		"http://127.0.0.1:8080/h", "http://localhost/h", "https://LocalHost./h", "http://api.localhost/h",
		"http://[::1]/h", "http://[::ffff:127.0.0.1]/h", "http://10.0.0.7/h", "http://172.20.1.1/h",
		"http://192.168.1.1/h", "http://169.254.169.254/latest/meta-data", "http://[fe80::1%25eth0]/h",
		"http://[fd00::1]/h", "http://0.0.0.0/h", "http://100.64.0.1/h", "http://[2002:7f00:1::1]/h",
	}
	t.Run("refused by default", func(t *testing.T) {
		e := newEnv(t, gateway.Config{})
		a := e.createApp(t)
		for _, u := range urls {
			e.webhookCall(t, a, "PUT", map[string]any{"url": u}).wantError(t, http.StatusBadRequest, "invalid_field", "not a public address")
		}
		e.webhookCall(t, a, "GET", nil).wantError(t, http.StatusNotFound, "no_webhook", "PUT /v1/webhook")
		e.putWebhookOK(t, a, map[string]any{"url": "https://8.8.8.8/h"}) // a public literal
	})
	t.Run("allowed by the operator", func(t *testing.T) {
		e := newEnv(t, gateway.Config{Webhooks: webhook.Config{PrivateDestinations: true}})
		a := e.createApp(t)
		for _, u := range urls {
			if v := e.putWebhookOK(t, a, map[string]any{"url": u}); v.URL != u {
				t.Fatalf("stored %q, want %q", v.URL, u)
			}
		}
	})
}

// URLs that net/url parses but that resolvers read as loopback or "this
// host" (the issue's forms), and ports out of range, are refused at PUT,
// even where private destinations are allowed: what they name is
// ambiguous.
func TestWebhookAmbiguousURLs(t *testing.T) {
	for _, cfg := range []gateway.Config{{}, {Webhooks: webhook.Config{PrivateDestinations: true}}} {
		e := newEnv(t, cfg)
		a := e.createApp(t)
		for _, tc := range []struct{ url, hint string }{
			{"http://0/", "four decimal numbers"},
			{"http://2130706433/", "four decimal numbers"},
			{"http://0177.0.0.1/", "four decimal numbers"},
			{"http://127.1/", "four decimal numbers"},
			{"http://0x7f.1/h", "four decimal numbers"},
			{"https://example.com:99999/", "1 to 65535"},
		} {
			e.webhookCall(t, a, "PUT", map[string]any{"url": tc.url}).wantError(t, http.StatusBadRequest, "invalid_field", tc.hint)
		}
		e.webhookCall(t, a, "GET", nil).wantError(t, http.StatusNotFound, "no_webhook", "PUT /v1/webhook")
		e.putWebhookOK(t, a, map[string]any{"url": "https://example.com:8443/h"})
	}
}

// FuzzWebhookBody sends PUT /v1/webhook any body: the answer is the
// webhook (and what is stored is a valid webhook with the URL sent) or a
// JSON error with a 4xx status that changes nothing.
func FuzzWebhookBody(f *testing.F) {
	e := newEnv(f, gateway.Config{})
	a := e.createApp(f)
	for _, seed := range []string{
		`{"url":"https://api.example.com/h"}`, `{"url":"http://hooks.example.net:8080/h?x=1","rotate_secret":true}`,
		`{"url":"/relative"}`, `{"url":""}`, `{}`, `[]`, `null`, `{"url":"https://a.example","x":1}`,
		`{"url":"https://a.example/\u0000"}`, `{"url":"HTTPS://A.EXAMPLE"}`, `{"url":"https://[::1]:99/"}`, "",
	} {
		f.Add([]byte(seed))
	}
	h := e.gw.Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		before, _ := e.data.Webhook(context.Background(), a.Key)
		req := httptest.NewRequest("PUT", "/v1/webhook", bytes.NewReader(body))
		req.Header.Set("Authorization", a.auth())
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code == http.StatusOK {
			var v webhookView
			if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil || !webhookSecretShape.MatchString(v.Secret) {
				t.Fatalf("200 with %s (%v)", rec.Body, err)
			}
			stored, err := e.data.Webhook(context.Background(), a.Key)
			if err != nil || stored.URL != v.URL || dataservice.CheckWebhookURL(stored.URL) != nil {
				t.Fatalf("answered %+v, stored %+v, %v", v, stored, err)
			}
			return
		}
		var ae apiError
		if err := json.Unmarshal(rec.Body.Bytes(), &ae); err != nil || ae.Error == nil || rec.Code < 400 || rec.Code > 499 {
			t.Fatalf("status %d, body %s", rec.Code, rec.Body)
		}
		after, _ := e.data.Webhook(context.Background(), a.Key)
		if after.URL != before.URL || after.Secret != before.Secret {
			t.Fatalf("a rejected PUT (%d %s) changed the webhook: %+v → %+v", rec.Code, ae.Error.Code, before, after)
		}
	})
}
