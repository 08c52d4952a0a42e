package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/internal/ids"
)

// jpushErrorBody is JPush's error body.
type jpushErrorBody struct {
	Error *struct {
		Code    *int    `json:"code"`
		Message *string `json:"message"`
	} `json:"error"`
	MsgID *string `json:"msg_id"`
}

// v3 calls the /v3 face as a.
func (e *env) v3(tb testing.TB, a app, method, path string, body any) response {
	tb.Helper()
	return e.do(tb, request{method: method, path: path, auth: a.auth(), body: jsonBody(tb, body)})
}

// wantJPushError fails unless r is JPush's error body with status and
// code, whose message mentions every hint; it returns the body.
func (r response) wantJPushError(tb testing.TB, status, code int, hints ...string) jpushErrorBody {
	tb.Helper()
	if r.status != status {
		tb.Fatalf("status %d, want %d (code %d); body %s", r.status, status, code, r.body)
	}
	var b jpushErrorBody
	r.decode(tb, &b)
	if b.Error == nil || b.Error.Code == nil || b.Error.Message == nil {
		tb.Fatalf("not JPush's error body {\"error\":{\"code\":…,\"message\":…}}: %s", r.body)
	}
	if *b.Error.Code != code {
		tb.Fatalf("error code %d, want %d; message %q", *b.Error.Code, code, *b.Error.Message)
	}
	if len(*b.Error.Message) < 10 {
		tb.Fatalf("error message %q does not say what to fix", *b.Error.Message)
	}
	for _, h := range hints {
		if !strings.Contains(*b.Error.Message, h) {
			tb.Errorf("error message %q does not mention %q", *b.Error.Message, h)
		}
	}
	return b
}

// jpushPushResult is JPush's answer to a push.
type jpushPushResult struct {
	SendNo string `json:"sendno"`
	MsgID  string `json:"msg_id"`
}

// jpushPushOK pushes body through /v3/push and returns the answer and the
// stored message.
func (e *env) jpushPushOK(tb testing.TB, a app, body any) (jpushPushResult, dataservice.Message) {
	tb.Helper()
	var res jpushPushResult
	e.v3(tb, a, "POST", "/v3/push", body).wantOK(tb, http.StatusOK, &res)
	id, err := ids.ParseMessageID(res.MsgID)
	if err != nil {
		tb.Fatalf("msg_id %q is not a decimal id: %v", res.MsgID, err)
	}
	return res, e.message(tb, id)
}

// jpushRegisterOn registers a device of appKey on platform.
func (e *env) jpushRegisterOn(tb testing.TB, appKey, platform string) string {
	tb.Helper()
	var d device
	e.do(tb, request{method: "POST", path: "/v1/devices", body: jsonBody(tb, map[string]string{"app_key": appKey, "platform": platform})}).
		wantOK(tb, http.StatusCreated, &d)
	return d.RID
}

// jpushTag gives rid the tags.
func (e *env) jpushTag(tb testing.TB, appKey, rid string, tags ...string) {
	tb.Helper()
	if _, err := e.data.UpdateTags(context.Background(), appKey, rid, tags, nil); err != nil {
		tb.Fatalf("tag %s: %v", rid, err)
	}
}

// jpushSetAlias gives rid the alias.
func (e *env) jpushSetAlias(tb testing.TB, appKey, rid, alias string) {
	tb.Helper()
	if err := e.data.SetAlias(context.Background(), appKey, rid, alias); err != nil {
		tb.Fatalf("alias %s: %v", rid, err)
	}
}

// jpushExtrasOf decodes a stored message's extras.
func jpushExtrasOf(tb testing.TB, m dataservice.Message) map[string]any {
	tb.Helper()
	var x map[string]any
	if err := json.Unmarshal(m.Extras, &x); err != nil {
		tb.Fatalf("extras %s: %v", m.Extras, err)
	}
	return x
}

// jpushSameJSON reports whether a and b hold the same JSON value.
func jpushSameJSON(tb testing.TB, a, b any) bool {
	tb.Helper()
	norm := func(v any) any {
		var raw []byte
		switch v := v.(type) {
		case []byte:
			raw = v
		case json.RawMessage:
			raw = v
		case string:
			raw = []byte(v)
		default:
			var err error
			if raw, err = json.Marshal(v); err != nil {
				tb.Fatal(err)
			}
		}
		var out any
		if err := json.Unmarshal(raw, &out); err != nil {
			tb.Fatalf("not JSON: %s", raw)
		}
		return out
	}
	x, _ := json.Marshal(norm(a))
	y, _ := json.Marshal(norm(b))
	return string(x) == string(y)
}

// jpushWaitFor polls cond until it holds or the deadline passes.
func jpushWaitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
