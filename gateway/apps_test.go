package gateway_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/heraldpush/herald/gateway"
	"github.com/heraldpush/herald/protocol"
)

var (
	jpushShape = regexp.MustCompile(`^[0-9a-f]{24}$`)
	ridShape   = regexp.MustCompile(`^[0-9a-f]{20}$`)
)

func TestCreateApp(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	for _, tc := range []struct {
		name     string
		body     any
		header   map[string]string
		wantName string
	}{
		{name: "no body"},
		{name: "empty object", body: `{}`},
		{name: "null", body: `null`},
		{name: "named", body: map[string]string{"name": "Demo"}, wantName: "Demo"},
		{name: "unicode name", body: map[string]string{"name": "演示应用 🚀"}, wantName: "演示应用 🚀"},
		{name: "name of 128 bytes", body: map[string]string{"name": strings.Repeat("n", 128)}, wantName: strings.Repeat("n", 128)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a app
			e.do(t, request{method: "POST", path: "/v1/apps", auth: bearer(adminToken), body: jsonBody(t, tc.body)}).
				wantOK(t, http.StatusCreated, &a)
			if !jpushShape.MatchString(a.Key) {
				t.Errorf("app_key %q is not 24 lowercase hex characters", a.Key)
			}
			if !jpushShape.MatchString(a.Secret) {
				t.Errorf("master_secret %q is not 24 lowercase hex characters", a.Secret)
			}
			if a.Name != tc.wantName {
				t.Errorf("name = %q, want %q", a.Name, tc.wantName)
			}
			stored, err := e.data.App(context.Background(), a.Key)
			if err != nil {
				t.Fatalf("app not stored: %v", err)
			}
			if stored.Name != tc.wantName {
				t.Errorf("stored name = %q, want %q", stored.Name, tc.wantName)
			}
			if stored.SecretHash != sha256.Sum256([]byte(a.Secret)) {
				t.Error("stored SecretHash is not the SHA-256 of the master secret")
			}
			if stored.Created.IsZero() {
				t.Error("stored app has no creation time")
			}
			// The credentials work.
			e.do(t, request{method: "GET", path: "/v1/messages/1", auth: a.auth()}).wantError(t, http.StatusNotFound, "unknown_msg_id")
		})
	}

	t.Run("keys differ", func(t *testing.T) {
		a, b := e.createApp(t), e.createApp(t)
		if a.Key == b.Key || a.Secret == b.Secret || a.Key == a.Secret {
			t.Errorf("two apps share credentials: %+v %+v", a, b)
		}
	})
}

// TestCreateAppChunkedEmptyBody sends no body with Transfer-Encoding:
// chunked, as some HTTP clients do for a POST without content. The body is
// optional, so this is the same request as one with Content-Length: 0.
func TestCreateAppChunkedEmptyBody(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	e.do(t, request{method: "POST", path: "/v1/apps", auth: bearer(adminToken), body: &slowReader{}}).
		wantOK(t, http.StatusCreated, nil)
}

func TestCreateAppErrors(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	for _, tc := range []struct {
		name         string
		body         string
		status       int
		code         string
		hints        []string
		maxBodyLimit bool
	}{
		{name: "name over 128 bytes", body: `{"name":"` + strings.Repeat("n", 129) + `"}`, status: 400, code: "invalid_field", hints: []string{"name", "128"}},
		{name: "128 runes of 3 bytes", body: `{"name":"` + strings.Repeat("演", 128) + `"}`, status: 400, code: "invalid_field", hints: []string{"name"}},
		{name: "name not a string", body: `{"name":5}`, status: 400, code: "invalid_field", hints: []string{"name", "string"}},
		{name: "unknown field", body: `{"nmae":"x"}`, status: 400, code: "unknown_field", hints: []string{"nmae"}},
		{name: "malformed", body: `{"name":`, status: 400, code: "invalid_json"},
		{name: "array", body: `[]`, status: 400, code: "invalid_field", hints: []string{"object"}},
		{name: "two objects", body: `{}{}`, status: 400, code: "invalid_json", hints: []string{"one JSON object"}},
		{name: "too large", body: `{"name":"` + strings.Repeat("n", 70<<10) + `"}`, status: 413, code: "request_too_large", hints: []string{"65536"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.sideEffects()
			e.do(t, request{method: "POST", path: "/v1/apps", auth: bearer(adminToken), body: strings.NewReader(tc.body)}).
				wantError(t, tc.status, tc.code, tc.hints...)
			e.wantNoChange(t, before)
		})
	}
}

func TestRegisterDevice(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a := e.createApp(t)
	for _, tc := range []struct {
		name         string
		body         any
		wantPlatform string
	}{
		{"android", map[string]string{"app_key": a.Key, "platform": "android"}, "android"},
		{"ios", map[string]string{"app_key": a.Key, "platform": "ios"}, "ios"},
		{"hmos", map[string]string{"app_key": a.Key, "platform": "hmos"}, "hmos"},
		{"quickapp", map[string]string{"app_key": a.Key, "platform": "quickapp"}, "quickapp"},
		{"web", map[string]string{"app_key": a.Key, "platform": "web"}, "web"},
		{"desktop", map[string]string{"app_key": a.Key, "platform": "desktop"}, "desktop"},
		{"other", map[string]string{"app_key": a.Key, "platform": "other"}, "other"},
		{"empty platform", map[string]string{"app_key": a.Key, "platform": ""}, "other"},
		{"no platform", map[string]string{"app_key": a.Key}, "other"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var d device
			e.do(t, request{method: "POST", path: "/v1/devices", body: jsonBody(t, tc.body)}).wantOK(t, http.StatusCreated, &d)
			if !ridShape.MatchString(d.RID) {
				t.Errorf("registration_id %q is not 20 lowercase hex characters", d.RID)
			}
			if len(d.Secret) != 43 {
				t.Errorf("device_secret %q has %d characters, want 43", d.Secret, len(d.Secret))
			}
			secret, err := base64.RawURLEncoding.DecodeString(d.Secret)
			if err != nil {
				t.Fatalf("device_secret %q is not unpadded base64url: %v", d.Secret, err)
			}
			if len(secret) != 32 {
				t.Errorf("device_secret decodes to %d bytes, want 32", len(secret))
			}
			stored, err := e.data.Device(context.Background(), d.RID)
			if err != nil {
				t.Fatalf("device not stored: %v", err)
			}
			keys := protocol.DeriveDeviceKeys(secret)
			if stored.StoredKey != keys.Stored {
				t.Error("stored StoredKey differs from DeriveDeviceKeys(secret).Stored")
			}
			if stored.ServerKey != keys.Server {
				t.Error("stored ServerKey differs from DeriveDeviceKeys(secret).Server")
			}
			if stored.AppKey != a.Key || stored.Platform != tc.wantPlatform || stored.RegistrationID != d.RID {
				t.Errorf("stored device = %+v, want app %s platform %s", stored, a.Key, tc.wantPlatform)
			}
			if stored.Created.IsZero() {
				t.Error("stored device has no creation time")
			}
		})
	}

	t.Run("time zone", func(t *testing.T) {
		var d device
		e.do(t, request{method: "POST", path: "/v1/devices", body: jsonBody(t, map[string]string{"app_key": a.Key, "timezone": "Asia/Shanghai"})}).wantOK(t, http.StatusCreated, &d)
		if stored, err := e.data.Device(context.Background(), d.RID); err != nil || stored.TimeZone != "Asia/Shanghai" {
			t.Fatalf("stored device %+v, %v: want time zone Asia/Shanghai", stored, err)
		}
	})

	t.Run("ids and secrets differ", func(t *testing.T) {
		x, y := e.registerDevice(t, a.Key), e.registerDevice(t, a.Key)
		if x.RID == y.RID || x.Secret == y.Secret {
			t.Errorf("two devices share credentials: %+v %+v", x, y)
		}
	})
}

func TestRegisterDeviceErrors(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a := e.createApp(t)
	for _, tc := range []struct {
		name   string
		body   string
		status int
		code   string
		hints  []string
	}{
		{"unknown app", `{"app_key":"0123456789abcdef01234567","platform":"ios"}`, 400, "unknown_app_key", []string{"0123456789abcdef01234567"}},
		{"upper-case app key", `{"app_key":"` + strings.ToUpper(a.Key) + `"}`, 400, "unknown_app_key", nil},
		{"missing app key", `{"platform":"ios"}`, 400, "invalid_field", []string{"app_key"}},
		{"short app key", `{"app_key":"` + a.Key[:23] + `"}`, 400, "invalid_field", []string{"app_key", "24"}},
		{"long app key", `{"app_key":"` + a.Key + `0"}`, 400, "invalid_field", []string{"app_key"}},
		{"app key with slash", `{"app_key":"0123456789abcdef0123456/"}`, 400, "invalid_field", []string{"app_key"}},
		{"app key with newline", `{"app_key":"` + a.Key + `\n"}`, 400, "invalid_field", []string{"app_key"}},
		{"app key not a string", `{"app_key":123}`, 400, "invalid_field", []string{"app_key", "string"}},
		{"bad platform", `{"app_key":"` + a.Key + `","platform":"symbian"}`, 400, "invalid_field", []string{"platform", "symbian", "android"}},
		{"platform case", `{"app_key":"` + a.Key + `","platform":"Android"}`, 400, "invalid_field", []string{"platform"}},
		{"platform not a string", `{"app_key":"` + a.Key + `","platform":["ios"]}`, 400, "invalid_field", []string{"platform"}},
		{"unknown field", `{"app_key":"` + a.Key + `","platfrom":"ios"}`, 400, "unknown_field", []string{"platfrom"}},
		{"unknown time zone", `{"app_key":"` + a.Key + `","timezone":"Mars/Olympus"}`, 400, "invalid_field", []string{"timezone", "Mars/Olympus", "IANA"}},
		{"Local is no time zone", `{"app_key":"` + a.Key + `","timezone":"Local"}`, 400, "invalid_field", []string{"timezone"}},
		{"empty body", ``, 400, "invalid_json", []string{"empty"}},
		{"malformed", `{"app_key":`, 400, "invalid_json", nil},
		{"not an object", `"` + a.Key + `"`, 400, "invalid_field", []string{"object"}},
		{"trailing garbage", `{"app_key":"` + a.Key + `"} x`, 400, "invalid_json", nil},
		{"too large", `{"app_key":"` + a.Key + `","platform":"` + strings.Repeat(" ", 70<<10) + `"}`, 413, "request_too_large", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.sideEffects()
			e.do(t, request{method: "POST", path: "/v1/devices", body: strings.NewReader(tc.body)}).wantError(t, tc.status, tc.code, tc.hints...)
			e.wantNoChange(t, before)
		})
	}
}

func TestDispatch(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a := e.createApp(t)
	rid := e.registerDevice(t, a.Key).RID
	for _, tc := range []struct {
		name       string
		query      string
		wantFailed []string
	}{
		{"no failed", "", nil},
		{"one failed", "&failed=10.0.0.1:5222", []string{"10.0.0.1:5222"}},
		{"comma list", "&failed=a:1,b:2", []string{"a:1", "b:2"}},
		{"repeated", "&failed=a:1&failed=b:2", []string{"a:1", "b:2"}},
		{"both", "&failed=a:1,b:2&failed=c:3", []string{"a:1", "b:2", "c:3"}},
		{"spaces and empties", "&failed=" + url.QueryEscape(" a:1 ,, b:2,") + "&failed=", []string{"a:1", "b:2"}},
		{"empty", "&failed=", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := len(e.cluster.Dispatches())
			var out struct {
				Addresses []string `json:"addresses"`
				Heartbeat int      `json:"heartbeat"`
				ServerKey string   `json:"server_key"`
			}
			e.do(t, request{method: "GET", path: "/v1/dispatch?registration_id=" + rid + tc.query}).wantOK(t, http.StatusOK, &out)
			if !slices.Equal(out.Addresses, testAddresses) {
				t.Errorf("addresses = %q, want %q", out.Addresses, testAddresses)
			}
			if out.Heartbeat != 25 {
				t.Errorf("heartbeat = %d, want 25 (seconds)", out.Heartbeat)
			}
			key, err := base64.StdEncoding.DecodeString(out.ServerKey)
			if err != nil || string(key) != string(testServerKey) {
				t.Errorf("server_key = %q (%v), want base64 of the cluster's key", out.ServerKey, err)
			}
			calls := e.cluster.Dispatches()
			if len(calls) != n+1 {
				t.Fatalf("%d Dispatch calls, want 1", len(calls)-n)
			}
			got := calls[n]
			if got.rid != rid {
				t.Errorf("Dispatch rid = %q, want %q", got.rid, rid)
			}
			if !slices.Equal(got.failed, tc.wantFailed) {
				t.Errorf("Dispatch failed = %q, want %q", got.failed, tc.wantFailed)
			}
		})
	}
}

func TestDispatchErrors(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a := e.createApp(t)
	rid := e.registerDevice(t, a.Key).RID
	for _, tc := range []struct {
		name   string
		query  string
		status int
		code   string
		hints  []string
	}{
		{"no query", "", 400, "missing_parameter", []string{"registration_id"}},
		{"empty rid", "?registration_id=", 400, "missing_parameter", []string{"registration_id"}},
		{"misspelled", "?registrationid=" + rid, 400, "missing_parameter", []string{"registration_id"}},
		{"unknown rid", "?registration_id=0123456789abcdef0123", 404, "unknown_registration_id", []string{"0123456789abcdef0123", "POST /v1/devices"}},
		{"app key as rid", "?registration_id=" + a.Key, 404, "unknown_registration_id", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := len(e.cluster.Dispatches())
			e.do(t, request{method: "GET", path: "/v1/dispatch" + tc.query}).wantError(t, tc.status, tc.code, tc.hints...)
			if got := len(e.cluster.Dispatches()); got != n {
				t.Errorf("cluster asked to dispatch a rejected request")
			}
		})
	}

	// Ids the store cannot hold as keys are still client errors (see
	// TestDispatchOddRegistrationIDs for the answer they should get).
	for _, q := range []string{strings.Repeat("f", 300), "%ff%fe"} {
		r := e.do(t, request{method: "GET", path: "/v1/dispatch?registration_id=" + q})
		if r.status < 400 || r.status >= 500 {
			t.Errorf("registration_id=%.20s…: status %d, want 4xx; body %s", q, r.status, r.body)
		}
		var ae apiError
		r.decode(t, &ae)
		if ae.Error == nil || ae.Error.Code == "" {
			t.Errorf("registration_id=%.20s…: no error code in %s", q, r.body)
		}
	}

	t.Run("no connector", func(t *testing.T) {
		e.cluster.setAddresses(nil)
		r := e.do(t, request{method: "GET", path: "/v1/dispatch?registration_id=" + rid})
		r.wantError(t, http.StatusServiceUnavailable, "no_connector", "retry")
	})
}

// TestDispatchOddRegistrationIDs asks for ids no device can have because
// the store cannot hold them as keys. They are unknown ids like any other.
func TestDispatchOddRegistrationIDs(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	for _, tc := range []struct{ name, query string }{
		{"266 bytes", strings.Repeat("f", 266)},
		{"not UTF-8", "%ff%fe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, request{method: "GET", path: "/v1/dispatch?registration_id=" + tc.query})
			msg := r.wantError(t, http.StatusNotFound, "unknown_registration_id")
			if strings.Contains(msg, "dataservice") || strings.Contains(msg, "leveldb") {
				t.Errorf("message leaks store internals: %q", msg)
			}
		})
	}
}
