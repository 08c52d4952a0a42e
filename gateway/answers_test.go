package gateway_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/heraldpush/herald/gateway"
)

// Issue 16: paths with "." or ".." got net/http's HTML redirect, and
// strings of bodies were taken with invalid UTF-8 replaced and NUL
// characters kept.

func TestUncleanPathsGetTheAPIsJSONError(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a := e.createApp(t)
	for _, tc := range []struct{ method, path string }{
		{"GET", "/v1/../v1/app"},
		{"POST", "/v1/./push"},
		{"POST", "//v1/push"},
		{"GET", "/v1/messages/1/."},
		{"GET", "/healthz/.."},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			r := e.do(t, request{method: tc.method, path: tc.path, auth: a.auth(), body: strings.NewReader(`{}`)})
			r.wantError(t, http.StatusBadRequest, "invalid_path", "clean form")
		})
	}
	t.Run("the /v3 face answers in its dialect", func(t *testing.T) {
		r := e.do(t, request{method: "POST", path: "/v3/../v3/push", auth: a.auth(), body: strings.NewReader(`{}`)})
		r.wantJPushError(t, http.StatusBadRequest, 1003, "clean form")
	})
}

func TestStringsMustBeValidUTF8WithoutNUL(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a := e.createApp(t)
	rid := e.registerDevice(t, a.Key).RID
	push := func(message string) response {
		return e.do(t, request{method: "POST", path: "/v1/push", auth: a.auth(),
			body: strings.NewReader(`{"audience":{"registration_id":["` + rid + `"]},"message":` + message + `}`)})
	}
	for _, tc := range []struct{ name, message, field, problem string }{
		{"NUL in the title", `{"title":"Or\u0000ders","content":"x"}`, "message.title", "NUL"},
		{"invalid UTF-8 in the content", "{\"content\":\"caf\xe9\"}", "message.content", "not valid UTF-8"},
		{"a lone surrogate in extras", `{"content":"x","extras":{"k":["ok","\ud83d"]}}`, "message.extras.k[1]", "surrogate"},
		{"NUL in a key of extras", `{"content":"x","extras":{"a\u0000b":1}}`, "message.extras", "a key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.sideEffects()
			push(tc.message).wantError(t, http.StatusBadRequest, "invalid_field", tc.field, tc.problem)
			e.wantNoChange(t, before)
		})
	}
	t.Run("escapes that are not NUL pass", func(t *testing.T) {
		push(`{"title":"a \\u0000 is text here","content":"\ud83d\ude00 \u00e9"}`).wantOK(t, http.StatusOK, nil)
	})
	t.Run("registration", func(t *testing.T) {
		r := e.do(t, request{method: "POST", path: "/v1/devices", body: strings.NewReader(`{"app_key":"` + a.Key + `","timezone":"Europe/Par\u0000is"}`)})
		r.wantError(t, http.StatusBadRequest, "invalid_field", "timezone", "NUL")
	})
	t.Run("the /v3 face", func(t *testing.T) {
		r := e.v3(t, a, "POST", "/v3/push", `{"platform":"all","audience":{"registration_id":["`+rid+`"]},"notification":{"alert":"hi\u0000"}}`)
		r.wantJPushError(t, http.StatusBadRequest, 1003, "notification.alert", "NUL")
	})
}
