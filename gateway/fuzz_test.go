package gateway_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway"
	"github.com/heraldpush/herald/gateway/api"
	"github.com/heraldpush/herald/internal/ids"
)

// The fixed app and devices of FuzzPushBody, so that the checked-in seeds
// can name them.
const (
	fuzzAppKey    = "f0f0f0f0f0f0f0f0f0f0f0f0"
	fuzzAppSecret = "5ec7e75ec7e75ec7e75ec7e7"
	fuzzOtherApp  = "0b0b0b0b0b0b0b0b0b0b0b0b"
	fuzzOnA       = "aaaaaaaaaaaaaaaaaaa1" // session on connector A
	fuzzOnB       = "aaaaaaaaaaaaaaaaaaa2" // session on connector B
	fuzzGone      = "aaaaaaaaaaaaaaaaaaa3" // session on a connector the cluster does not know
	fuzzOffline   = "aaaaaaaaaaaaaaaaaaa4" // no session
	fuzzForeign   = "bbbbbbbbbbbbbbbbbbb1" // a device of fuzzOtherApp
)

// pushErrorCodes are the codes a push with valid credentials may fail with.
var pushErrorCodes = map[string]int{
	"unknown_field":             http.StatusBadRequest,
	"invalid_json":              http.StatusBadRequest,
	"invalid_field":             http.StatusBadRequest,
	"missing_field":             http.StatusBadRequest,
	"too_many_registration_ids": http.StatusBadRequest,
	"unknown_registration_id":   http.StatusBadRequest,
	"payload_too_large":         http.StatusRequestEntityTooLarge,
	"request_too_large":         http.StatusRequestEntityTooLarge,
}

var decimalID = regexp.MustCompile(`^[1-9][0-9]*$`)

// newFuzzEnv returns a gateway with the fixed app and devices.
func newFuzzEnv(tb testing.TB) *env {
	tb.Helper()
	return newFuzzEnvWith(tb, gateway.Config{})
}

// newFuzzEnvWith is newFuzzEnv with cfg.
func newFuzzEnvWith(tb testing.TB, cfg gateway.Config) *env {
	tb.Helper()
	e := newEnv(tb, cfg)
	ctx := context.Background()
	for _, key := range []string{fuzzAppKey, fuzzOtherApp} {
		if err := e.data.CreateApp(ctx, dataservice.App{Key: key, SecretHash: sha256.Sum256([]byte(fuzzAppSecret)), Created: time.Now()}); err != nil {
			tb.Fatal(err)
		}
	}
	for rid, appKey := range map[string]string{fuzzOnA: fuzzAppKey, fuzzOnB: fuzzAppKey, fuzzGone: fuzzAppKey, fuzzOffline: fuzzAppKey, fuzzForeign: fuzzOtherApp} {
		if err := e.data.CreateDevice(ctx, dataservice.Device{RegistrationID: rid, AppKey: appKey, Platform: "android", Created: time.Now()}); err != nil {
			tb.Fatal(err)
		}
	}
	e.connect(tb, fuzzOnA, connectorA)
	e.connect(tb, fuzzOnB, connectorB)
	e.connect(tb, fuzzGone, "conn-gone")
	return e
}

// FuzzPushBody posts arbitrary bodies to /v1/push with valid credentials.
// Whatever the body, the gateway answers JSON: a msg_id and a stored
// message within the limits, or a 4xx error with a known code that changed
// nothing — no record written, nothing delivered, nothing counted.
func FuzzPushBody(f *testing.F) {
	e := newFuzzEnv(f)
	h := e.gw.Handler()
	auth := basic(fuzzAppKey, fuzzAppSecret)
	limits := gateway.DefaultConfig()
	own := map[string]bool{fuzzOnA: true, fuzzOnB: true, fuzzGone: true, fuzzOffline: true}

	f.Fuzz(func(t *testing.T, body []byte) {
		before := e.sideEffects()
		req := httptest.NewRequest("POST", "/v1/push", bytes.NewReader(body))
		req.Header.Set("Authorization", auth)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)

		if ct := rec.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" {
			t.Fatalf("status %d, Content-Type %q; body %s", rec.Code, ct, rec.Body)
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("status %d, response is not JSON: %q", rec.Code, rec.Body)
		}
		if rec.Code == http.StatusOK {
			if path, problem, found := api.InvalidString(body); found {
				t.Fatalf("accepted a body whose %s %s", path, problem)
			}
			checkAccepted(t, e, body, rec.Body.Bytes(), before, own, limits)
			return
		}

		var ae apiError
		if err := json.Unmarshal(rec.Body.Bytes(), &ae); err != nil || ae.Error == nil {
			t.Fatalf("status %d without an error object: %s", rec.Code, rec.Body)
		}
		want, known := pushErrorCodes[ae.Error.Code]
		if !known || want != rec.Code {
			t.Fatalf("status %d with code %q (message %q); want one of the push error codes with its status", rec.Code, ae.Error.Code, ae.Error.Message)
		}
		if ae.Error.Message == "" {
			t.Fatalf("code %s without a message", ae.Error.Code)
		}
		e.wantNoChange(t, before)
	})
}

// acceptedPush is how encoding/json reads an accepted push body: the
// oracle of what the gateway must have stored.
type acceptedPush struct {
	Platform json.RawMessage `json:"platform"`
	Audience json.RawMessage `json:"audience"`
	Message  struct {
		Title   string          `json:"title"`
		Content string          `json:"content"`
		Extras  json.RawMessage `json:"extras"`
	} `json:"message"`
	Options struct {
		TimeToLive      *int64 `json:"time_to_live"`
		Rate            *int64 `json:"rate"`
		BigPushDuration *int64 `json:"big_push_duration"`
	} `json:"options"`
}

// listed returns the registration ids of an audience that lists devices
// and nothing else, sent at once (no task).
func (p *acceptedPush) listed() ([]string, bool) {
	var o map[string]json.RawMessage
	if json.Unmarshal(p.Audience, &o) != nil || p.Options.Rate != nil || p.Options.BigPushDuration != nil {
		return nil, false
	}
	var rids []string
	for k, v := range o {
		if !strings.EqualFold(k, "registration_id") {
			if len(v) > 0 && !bytes.Equal(v, []byte("null")) && !bytes.Equal(v, []byte("[]")) {
				return nil, false
			}
			continue
		}
		var ids []string
		_ = json.Unmarshal(v, &ids)
		rids = append(rids, ids...)
	}
	return rids, len(rids) > 0
}

// onAndroid reports whether the push's platform takes in the fuzz app's
// devices, all on android: absent, null, "all", or a list naming android.
func (p *acceptedPush) onAndroid() bool {
	var list []string
	if json.Unmarshal(p.Platform, &list) != nil || list == nil {
		return true // absent, null or "all": every other value is refused
	}
	return slices.Contains(list, "android")
}

// checkAccepted checks a 200 answer to a push of body and what it did.
func checkAccepted(t *testing.T, e *env, body, answer []byte, before sideEffects, own map[string]bool, limits gateway.Config) {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal(answer, &out); err != nil {
		t.Fatal(err)
	}
	s, _ := out["msg_id"].(string)
	if len(out) != 1 || !decimalID.MatchString(s) {
		t.Fatalf("200 with %s, want only a decimal msg_id", answer)
	}
	var req acceptedPush
	if err := json.Unmarshal(body, &req); err != nil {
		t.Fatalf("accepted a push encoding/json cannot read: %v", err)
	}
	id, err := ids.ParseMessageID(s)
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.data.Message(context.Background(), id)
	if err != nil {
		t.Fatalf("accepted message %d not stored: %v", id, err)
	}
	if m.AppKey != fuzzAppKey || m.Content == "" {
		t.Fatalf("stored message %+v", m)
	}
	if m.TTL < 0 || m.TTL > limits.MaxTTL {
		t.Fatalf("stored TTL %v outside 0..%v", m.TTL, limits.MaxTTL)
	}
	wantTTL := limits.DefaultTTL
	if ttl := req.Options.TimeToLive; ttl != nil {
		if m.TTL%time.Second != 0 || int64(m.TTL/time.Second) != *ttl {
			t.Fatalf("time_to_live %d stored as TTL %v", *ttl, m.TTL)
		}
		wantTTL = m.TTL
	}
	if m.TTL != wantTTL {
		t.Fatalf("TTL %v, want the default %v", m.TTL, wantTTL)
	}
	if m.Title != req.Message.Title || m.Content != req.Message.Content {
		t.Fatalf("stored title %q content %q, sent %q %q", m.Title, m.Content, req.Message.Title, req.Message.Content)
	}
	if !sameJSON(m.Extras, req.Message.Extras) {
		t.Fatalf("stored extras %s, sent %s", m.Extras, req.Message.Extras)
	}
	if len(m.Extras) > 0 && (m.Extras[0] != '{' || !json.Valid(m.Extras)) {
		t.Fatalf("stored extras %q are not a JSON object", m.Extras)
	}
	if size := len(m.Title) + len(m.Content) + unescapedLen(m.Extras); size > limits.MaxPayload {
		t.Fatalf("stored payload of %d bytes, over %d", size, limits.MaxPayload)
	}
	listed, ok := req.listed()
	if !ok {
		// A task: it runs in the background; wait for its end so that it
		// does not disturb the next input, and check it touched only its
		// own message.
		waitTaskEnd(t, e, id)
		for _, d := range e.cluster.Deliveries()[before.deliveries:] {
			if d.msg.ID != id {
				t.Fatalf("delivered message %d while pushing %d", d.msg.ID, id)
			}
		}
		return
	}
	rep, err := e.data.Report(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	distinct := map[string]bool{}
	for _, rid := range listed {
		if !own[rid] {
			t.Fatalf("accepted a push to %q, not a device of the app", rid)
		}
		distinct[rid] = true
	}
	want := int64(len(distinct))
	if !req.onAndroid() {
		want = 0 // the listed devices are on no platform the push names
	}
	if rep.Targeted != want || len(distinct) == 0 {
		t.Fatalf("targeted = %d, want the %d distinct recipients on the push's platforms", rep.Targeted, want)
	}
	var delivered int64
	for _, d := range e.cluster.Deliveries()[before.deliveries:] {
		if d.msg.ID != id {
			t.Fatalf("delivered message %d while pushing %d", d.msg.ID, id)
		}
		for _, rid := range d.rids {
			if !own[rid] || rid == fuzzGone || rid == fuzzOffline {
				t.Fatalf("delivered to %s through %s", rid, d.connector)
			}
		}
		delivered += int64(len(d.rids))
	}
	var counted int64
	for _, r := range e.receipts.Added()[before.receipts:] {
		if r.msgID != id || (r.counter != dataservice.CounterStoredOffline && r.counter != dataservice.CounterExpired) {
			t.Fatalf("receipt %+v while pushing %d", r, id)
		}
		counted += r.n
	}
	if delivered+counted != rep.Targeted {
		t.Fatalf("%d delivered + %d counted offline, want %d targeted", delivered, counted, rep.Targeted)
	}
}

// waitTaskEnd waits until the task of message id is finished.
func waitTaskEnd(t *testing.T, e *env, id uint64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		task, err := e.data.Task(context.Background(), id)
		if err == nil && dataservice.TaskFinished(task.State) {
			if task.State != dataservice.TaskDone {
				t.Fatalf("task %d ended %s: %s", id, task.State, task.Error)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %d did not end: %+v %v", id, task, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// sameJSON reports whether a and b hold the same JSON value, numbers
// compared as written; empty and null are the same.
func sameJSON(a, b []byte) bool {
	decode := func(b []byte) (any, bool) {
		if len(bytes.TrimSpace(b)) == 0 {
			return nil, true
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		var v any
		return v, dec.Decode(&v) == nil
	}
	x, okx := decode(a)
	y, oky := decode(b)
	return okx && oky && reflect.DeepEqual(x, y)
}

// unescapedLen is the length of extras with the escapes the store adds
// (\u003c, \u003e, \u0026 for <, >, &) counted as the byte they stand for;
// see TestPushExtrasStoredAsAccepted.
func unescapedLen(extras []byte) int {
	n := len(extras)
	for _, esc := range []string{`\u003c`, `\u003e`, `\u0026`} {
		n -= 5 * bytes.Count(extras, []byte(esc))
	}
	return n
}

// TestPushSeedCorpus checks that each seed of FuzzPushBody still meets the
// case it was written for, so the corpus keeps covering every outcome.
func TestPushSeedCorpus(t *testing.T) {
	e := newFuzzEnv(t)
	want := map[string]string{ // seed file → error code, "" for accepted
		"valid_all_routes":            "",
		"valid_online_only":           "",
		"valid_duplicates":            "",
		"valid_unicode":               "",
		"valid_payload_4096":          "",
		"valid_max_ttl":               "",
		"valid_huge_extras_number":    "",
		"valid_case_insensitive_keys": "",
		"valid_duplicate_keys":        "",
		"html_extras":                 "",
		"deep_nesting_accepted":       "",
		"payload_4097":                "payload_too_large",
		"unknown_field_top":           "unknown_field",
		"unknown_field_audience":      "unknown_field",
		"unknown_field_message":       "unknown_field",
		"unknown_field_options":       "unknown_field",
		"invalid_json_truncated":      "invalid_json",
		"invalid_json_trailing":       "invalid_json",
		"invalid_json_empty":          "invalid_json",
		"invalid_field_types":         "invalid_field",
		"invalid_field_ttl_negative":  "invalid_field",
		"invalid_field_ttl_float":     "invalid_field",
		"invalid_field_ttl_huge":      "invalid_field",
		"invalid_field_extras_array":  "invalid_field",
		"invalid_field_empty_id":      "invalid_field",
		"missing_content":             "missing_field",
		"missing_audience":            "missing_field",
		"null_body":                   "missing_field",
		"array_body":                  "invalid_field",
		"unknown_registration_id":     "unknown_registration_id",
		"too_many_registration_ids":   "too_many_registration_ids",
		"deep_nesting_extras":         "invalid_json",
		"deep_nesting_body":           "invalid_json",
		"invalid_string_utf8":         "invalid_field",
		"invalid_string_surrogate":    "invalid_field",
		"invalid_string_nul":          "invalid_field",
	}
	a := app{Key: fuzzAppKey, Secret: fuzzAppSecret}
	checkSeeds(t, seedCase{target: "FuzzPushBody", want: want, okStatus: http.StatusOK, codes: pushErrorCodes,
		send: func(t *testing.T, body []byte) response { return e.push(t, a, body) }})
}

// seedCase is what the seed files of a fuzz target must still do: each
// named seed is accepted with okStatus (code "") or rejected with code, at
// the status codes gives it.
type seedCase struct {
	target   string            // the fuzz target, e.g. FuzzPushBody
	want     map[string]string // seed file → error code, "" for accepted
	okStatus int
	codes    map[string]int // error code → status
	send     func(t *testing.T, body []byte) response
}

// checkSeeds runs every seed of c.target that c.want names; seeds the
// fuzzer added are checked by the fuzz target itself.
func checkSeeds(t *testing.T, c seedCase) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", c.target)
	files, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < len(c.want) {
		t.Errorf("%d seeds in %s, want the %d of this table", len(files), dir, len(c.want))
	}
	for _, file := range files {
		name := file.Name()
		code, ok := c.want[name]
		if !ok {
			continue
		}
		t.Run(name, func(t *testing.T) {
			r := c.send(t, readSeed(t, filepath.Join(dir, name)))
			if code == "" {
				r.wantOK(t, c.okStatus, nil)
				return
			}
			r.wantError(t, c.codes[code], code)
		})
	}
}

// readSeed returns the []byte value of a one-value corpus file in the
// "go test fuzz v1" format.
func readSeed(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	s, ok := strings.CutPrefix(string(b), "go test fuzz v1\n[]byte(")
	s, ok2 := strings.CutSuffix(strings.TrimSpace(s), ")")
	if !ok || !ok2 {
		tb.Fatalf("%s is not a one-[]byte corpus file", path)
	}
	v, err := strconv.Unquote(s)
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return []byte(v)
}
