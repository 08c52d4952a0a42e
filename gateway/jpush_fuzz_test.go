package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/heraldpush/herald/gateway"
	"github.com/heraldpush/herald/gateway/jpush"
	"github.com/heraldpush/herald/internal/ids"
)

// jpushPushCodes are the codes a /v3 push with valid credentials may fail
// with, and their statuses.
var jpushPushCodes = map[int]int{
	1002: http.StatusBadRequest,
	1003: http.StatusBadRequest,
	1005: http.StatusBadRequest,
	1009: http.StatusBadRequest,
	1011: http.StatusBadRequest,
}

// FuzzJPushPush posts arbitrary bodies to /v3/push with valid
// credentials. Whatever the body, the gateway answers JSON: a sendno and
// a msg_id whose stored message is within the limits and carries the
// _jpush extras, or JPush's error body with a known code and a msg_id,
// having changed nothing.
func FuzzJPushPush(f *testing.F) {
	e := newFuzzEnvWith(f, gateway.Config{JPush: jpush.Config{RateLimits: jpush.RateLimits{Push: -1}}})
	h := e.gw.Handler()
	auth := basic(fuzzAppKey, fuzzAppSecret)
	limits := gateway.DefaultConfig()
	for _, seed := range jpushSeeds(f) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		before := e.sideEffects()
		req := httptest.NewRequest("POST", "/v3/push", bytes.NewReader(body))
		req.Header.Set("Authorization", auth)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		if ct := rec.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
			t.Fatalf("status %d, Content-Type %q; body %s", rec.Code, ct, rec.Body)
		}
		if rec.Code == http.StatusOK {
			checkJPushAccepted(t, e, rec.Body.Bytes(), limits)
			return
		}
		var b jpushErrorBody
		if err := json.Unmarshal(rec.Body.Bytes(), &b); err != nil || b.Error == nil || b.Error.Code == nil || b.Error.Message == nil {
			t.Fatalf("status %d without JPush's error body: %s", rec.Code, rec.Body)
		}
		if want, ok := jpushPushCodes[*b.Error.Code]; !ok || want != rec.Code {
			t.Fatalf("status %d with code %d (%q): not a push error code with its status", rec.Code, *b.Error.Code, *b.Error.Message)
		}
		if *b.Error.Message == "" || b.MsgID == nil || !decimalID.MatchString(*b.MsgID) {
			t.Fatalf("error without a message or a msg_id: %s", rec.Body)
		}
		e.wantNoChange(t, before)
	})
}

// checkJPushAccepted checks a 200 answer to a /v3 push and the message it
// stored.
func checkJPushAccepted(t *testing.T, e *env, answer []byte, limits gateway.Config) {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal(answer, &out); err != nil {
		t.Fatalf("200 with %s: %v", answer, err)
	}
	msgID, _ := out["msg_id"].(string)
	sendno, _ := out["sendno"].(string)
	if len(out) != 2 || !decimalID.MatchString(msgID) || (sendno != "0" && !decimalID.MatchString(sendno)) {
		t.Fatalf("200 with %s, want sendno and msg_id, both decimal strings", answer)
	}
	id, err := ids.ParseMessageID(msgID)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m, err := e.data.Message(ctx, id)
	if err != nil {
		t.Fatalf("accepted message %d not stored: %v", id, err)
	}
	if m.AppKey != fuzzAppKey || m.Content == "" || m.TTL < 0 || m.TTL > limits.MaxTTL {
		t.Fatalf("stored message %+v", m)
	}
	var x map[string]json.RawMessage
	if err := json.Unmarshal(m.Extras, &x); err != nil || x == nil {
		t.Fatalf("stored extras %q are not a JSON object", m.Extras)
	}
	var meta struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(x["_jpush"], &meta); err != nil || (meta.Type != "notification" && meta.Type != "message") {
		t.Fatalf("stored extras %s lack _jpush.type", m.Extras)
	}
	if size := len(m.Title) + len(m.Content) + unescapedLen(m.Extras); size > limits.MaxPayload {
		t.Fatalf("stored payload of %d bytes, over %d", size, limits.MaxPayload)
	}
	if _, err := e.data.Task(ctx, id); err == nil {
		waitTaskEnd(t, e, id) // so that it does not disturb the next input
	}
}

// jpushSeeds are the seed corpus of FuzzJPushPush.
func jpushSeeds(tb testing.TB) [][]byte {
	tb.Helper()
	dir := filepath.Join("testdata", "fuzz", "FuzzJPushPush")
	files, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	var out [][]byte
	for _, file := range files {
		out = append(out, readSeed(tb, filepath.Join(dir, file.Name())))
	}
	return out
}

// TestJPushSeedCorpus checks that each seed of FuzzJPushPush still meets
// the case it was written for, so the corpus keeps covering every outcome.
func TestJPushSeedCorpus(t *testing.T) {
	e := newFuzzEnvWith(t, gateway.Config{JPush: jpush.Config{RateLimits: jpush.RateLimits{Push: -1}}})
	a := app{Key: fuzzAppKey, Secret: fuzzAppSecret}
	want := map[string]int{ // seed file → error code, 0 for accepted
		"valid_rids_notification": 0,
		"valid_all_message":       0,
		"valid_both_options":      0,
		"valid_ios_dictionary":    0,
		"valid_java_sdk":          0,
		"empty":                   1002,
		"truncated":               1003,
		"unknown_key":             1009,
		"no_platform":             1002,
		"abtest":                  1003,
		"no_content":              1002,
		"reserved_extras":         1003,
		"payload_too_big":         1005,
		"foreign_only":            1011,
		"ttl_float":               1003,
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzJPushPush")
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < len(want) {
		t.Errorf("%d seeds in %s, want the %d of this table", len(files), dir, len(want))
	}
	for _, file := range files {
		code, ok := want[file.Name()]
		if !ok {
			continue
		}
		t.Run(file.Name(), func(t *testing.T) {
			r := e.v3(t, a, "POST", "/v3/push", readSeed(t, filepath.Join(dir, file.Name())))
			if code == 0 {
				r.wantOK(t, http.StatusOK, nil)
				return
			}
			r.wantJPushError(t, jpushPushCodes[code], code)
		})
	}
}
