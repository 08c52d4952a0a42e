package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway"
)

// segmentView is a segment as the API shows it.
type segmentView struct {
	SegmentID        string    `json:"segment_id"`
	Name             string    `json:"name"`
	Tags             []string  `json:"tags"`
	Platforms        []string  `json:"platforms"`
	ActiveWithinDays int64     `json:"active_within_days"`
	Created          time.Time `json:"created"`
	Updated          time.Time `json:"updated"`
}

var segmentIDShape = regexp.MustCompile(`^[0-9a-f]{16}$`)

func segmentPath(id string) string { return "/v1/segments/" + url.PathEscape(id) }

func (e *env) createSegment(tb testing.TB, a app, body any) response {
	tb.Helper()
	return e.do(tb, request{method: "POST", path: "/v1/segments", auth: a.auth(), body: jsonBody(tb, body)})
}

func (e *env) createSegmentOK(tb testing.TB, a app, body any) segmentView {
	tb.Helper()
	var v segmentView
	e.createSegment(tb, a, body).wantOK(tb, http.StatusCreated, &v)
	if !segmentIDShape.MatchString(v.SegmentID) {
		tb.Fatalf("segment_id %q is not 16 lowercase hexadecimal digits", v.SegmentID)
	}
	return v
}

func (e *env) segmentCall(tb testing.TB, a app, method, id string, body any) response {
	tb.Helper()
	return e.do(tb, request{method: method, path: segmentPath(id), auth: a.auth(), body: jsonBody(tb, body)})
}

// storedSegment reads a segment from the store.
func (e *env) storedSegment(tb testing.TB, appKey, id string) dataservice.Segment {
	tb.Helper()
	s, err := e.data.Segment(context.Background(), appKey, id)
	if err != nil {
		tb.Fatalf("segment %s of %s: %v", id, appKey, err)
	}
	return s
}

// wantView checks a view's definition.
func wantSegmentView(tb testing.TB, what string, v segmentView, name string, tags, platforms []string, days int64) {
	tb.Helper()
	if v.Name != name || !slices.Equal(v.Tags, tags) || !slices.Equal(v.Platforms, platforms) || v.ActiveWithinDays != days {
		tb.Fatalf("%s = %+v, want name %q tags %q platforms %q active_within_days %d", what, v, name, tags, platforms, days)
	}
}

func TestSegmentLifecycle(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a := e.createApp(t)
	start := time.Now()

	r := e.createSegment(t, a, map[string]any{"name": "VIPs on phones", "tags": []string{"vip", "beta", "vip"}, "platforms": []string{"ios", "android"}, "active_within_days": 7})
	var v segmentView
	r.wantOK(t, http.StatusCreated, &v)
	if !segmentIDShape.MatchString(v.SegmentID) {
		t.Fatalf("segment_id %q is not 16 lowercase hexadecimal digits", v.SegmentID)
	}
	wantSegmentView(t, "created", v, "VIPs on phones", []string{"beta", "vip"}, []string{"android", "ios"}, 7)
	if v.Created.Before(start.Add(-time.Second)) || v.Created.After(time.Now().Add(time.Second)) || !v.Updated.Equal(v.Created) {
		t.Fatalf("created %v, updated %v; want both about %v", v.Created, v.Updated, start)
	}
	var raw map[string]any
	r.decode(t, &raw)
	for _, field := range []string{"created", "updated"} {
		s, _ := raw[field].(string)
		if _, err := time.Parse(time.RFC3339, s); err != nil {
			t.Errorf("%s = %v, not RFC 3339", field, raw[field])
		}
	}
	id := v.SegmentID
	s := e.storedSegment(t, a.Key, id)
	if s.ActiveWithin != 7*24*time.Hour || !slices.Equal(s.Tags, []string{"beta", "vip"}) || !slices.Equal(s.Platforms, []string{"android", "ios"}) {
		t.Fatalf("stored %+v", s)
	}

	var got segmentView
	e.segmentCall(t, a, "GET", id, nil).wantOK(t, http.StatusOK, &got)
	if got.SegmentID != id || !got.Created.Equal(v.Created) || !got.Updated.Equal(v.Updated) {
		t.Fatalf("GET = %+v, want %+v", got, v)
	}
	wantSegmentView(t, "GET", got, "VIPs on phones", []string{"beta", "vip"}, []string{"android", "ios"}, 7)

	// PUT replaces the whole definition: what it leaves out is gone.
	r = e.segmentCall(t, a, "PUT", id, `{"name":"everyone"}`)
	got = segmentView{}
	r.wantOK(t, http.StatusOK, &got)
	wantSegmentView(t, "after PUT", got, "everyone", []string{}, []string{}, 0)
	if got.SegmentID != id || !got.Created.Equal(v.Created) || got.Updated.Before(v.Created) {
		t.Fatalf("after PUT: %+v; want segment_id %s, created %v kept", got, id, v.Created)
	}
	if !bytes.Contains(r.body, []byte(`"tags":[]`)) || !bytes.Contains(r.body, []byte(`"platforms":[]`)) {
		t.Errorf("a segment without tags or platforms shows null instead of []: %s", r.body)
	}
	if s := e.storedSegment(t, a.Key, id); s.Name != "everyone" || s.Tags != nil || s.Platforms != nil || s.ActiveWithin != 0 {
		t.Fatalf("stored after PUT: %+v", s)
	}

	// Ids are fresh for every segment, names need not be.
	other := e.createSegmentOK(t, a, `{"name":"everyone"}`)
	if other.SegmentID == id {
		t.Fatalf("two segments got id %s", id)
	}

	r = e.segmentCall(t, a, "DELETE", id, nil)
	r.wantOK(t, http.StatusOK, nil)
	if strings.TrimSpace(string(r.body)) != "{}" {
		t.Errorf("DELETE answered %s, want {}", r.body)
	}
	e.segmentCall(t, a, "GET", id, nil).wantError(t, http.StatusNotFound, "unknown_segment", id, "GET /v1/segments")
	e.segmentCall(t, a, "DELETE", id, nil).wantError(t, http.StatusNotFound, "unknown_segment", id)
	e.segmentCall(t, a, "GET", other.SegmentID, nil).wantOK(t, http.StatusOK, nil)
}

func TestSegmentRejected(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a := e.createApp(t)
	kept := e.createSegmentOK(t, a, map[string]any{"name": "kept", "tags": []string{"keep"}})
	tags := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprint("t", i)
		}
		return out
	}
	for _, tc := range []struct {
		name, code string
		body       any
		hints      []string
	}{
		{"empty body", "invalid_json", "", nil},
		{"truncated", "invalid_json", `{"name":"a","tags":["a"`, nil},
		{"two objects", "invalid_json", `{"name":"a"} {}`, []string{"exactly one"}},
		{"array", "invalid_field", `[]`, nil},
		{"null", "missing_field", `null`, []string{"name"}},
		{"no name", "missing_field", `{"tags":["vip"]}`, []string{"name", "100 bytes"}},
		{"empty name", "missing_field", `{"name":""}`, []string{"name"}},
		{"name too long", "invalid_field", map[string]string{"name": strings.Repeat("n", 101)}, []string{"101", "100"}},
		{"name with a line break", "invalid_field", `{"name":"a\nb"}`, []string{"name", "control"}},
		{"unknown field", "unknown_field", `{"name":"a","segment_id":"0123456789abcdef"}`, []string{"segment_id"}},
		{"misspelled field", "unknown_field", `{"name":"a","tag":["vip"]}`, []string{"tag"}},
		{"tags as a string", "invalid_field", `{"name":"a","tags":"vip"}`, []string{"tags", "array"}},
		{"tag not a string", "invalid_field", `{"name":"a","tags":[1]}`, nil},
		{"empty tag", "invalid_field", `{"name":"a","tags":["ok",""]}`, []string{"tags[1]", "40 bytes"}},
		{"tag with slash", "invalid_field", `{"name":"a","tags":["a/b"]}`, []string{"tags[0]", "'/'"}},
		{"tag of 41 bytes", "invalid_field", map[string]any{"name": "a", "tags": []string{strings.Repeat("x", 41)}}, []string{"tags[0]"}},
		{"too many tags", "invalid_field", map[string]any{"name": "a", "tags": tags(21)}, []string{"21", "20"}},
		{"unknown platform", "invalid_field", `{"name":"a","platforms":["android","symbian"]}`, []string{"platforms[1]", "symbian", "android, ios"}},
		{"platform in capitals", "invalid_field", `{"name":"a","platforms":["iOS"]}`, []string{"platforms[0]"}},
		{"platforms as a string", "invalid_field", `{"name":"a","platforms":"ios"}`, []string{"platforms"}},
		{"negative days", "invalid_field", `{"name":"a","active_within_days":-1}`, []string{"active_within_days", "0", "365", "-1"}},
		{"too many days", "invalid_field", `{"name":"a","active_within_days":366}`, []string{"active_within_days", "365", "366"}},
		{"fractional days", "invalid_field", `{"name":"a","active_within_days":1.5}`, []string{"whole number"}},
		{"days in exponent form", "invalid_field", `{"name":"a","active_within_days":1e2}`, []string{"whole number"}},
		{"days as a string", "invalid_field", `{"name":"a","active_within_days":"7"}`, []string{"whole number"}},
		{"days past int64", "invalid_field", `{"name":"a","active_within_days":99999999999999999999}`, []string{"365"}},
		{"days as an object", "invalid_field", `{"name":"a","active_within_days":{}}`, []string{"active_within_days"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.sideEffects()
			e.createSegment(t, a, tc.body).wantError(t, http.StatusBadRequest, tc.code, tc.hints...)
			e.segmentCall(t, a, "PUT", kept.SegmentID, tc.body).wantError(t, http.StatusBadRequest, tc.code, tc.hints...)
			e.wantNoChange(t, before)
		})
	}
	if s := e.storedSegment(t, a.Key, kept.SegmentID); s.Name != "kept" || !slices.Equal(s.Tags, []string{"keep"}) {
		t.Fatalf("rejected requests changed the segment: %+v", s)
	}
	var list struct {
		Segments []segmentView `json:"segments"`
	}
	e.do(t, request{method: "GET", path: "/v1/segments", auth: a.auth()}).wantOK(t, http.StatusOK, &list)
	if len(list.Segments) != 1 {
		t.Fatalf("rejected requests created segments: %+v", list.Segments)
	}
	// A body over the limit.
	big := map[string]string{"name": strings.Repeat("x", int(gateway.DefaultConfig().MaxBody))}
	e.createSegment(t, a, big).wantError(t, http.StatusRequestEntityTooLarge, "request_too_large")
}

func TestSegmentLimitsAccepted(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a := e.createApp(t)
	tags := make([]string, dataservice.MaxSegmentTags)
	for i := range tags {
		tags[i] = fmt.Sprintf("标签%02d", i)
	}
	all := []string{"web", "android", "ios", "hmos", "quickapp", "desktop", "other", "ios"}
	name := strings.Repeat("名", 33) + "x" // 100 bytes
	v := e.createSegmentOK(t, a, map[string]any{"name": name, "tags": append(tags, tags[0]), "platforms": all, "active_within_days": 365})
	wantSegmentView(t, "a segment at every limit", v, name, tags, []string{"android", "desktop", "hmos", "ios", "other", "quickapp", "web"}, 365)
	// null is the same as absent; -0 is 0.
	v = e.createSegmentOK(t, a, `{"name":"n","tags":null,"platforms":null,"active_within_days":null}`)
	wantSegmentView(t, "nulls", v, "n", []string{}, []string{}, 0)
	v = e.createSegmentOK(t, a, `{"name":"n","tags":[],"platforms":[],"active_within_days":-0}`)
	wantSegmentView(t, "empty lists", v, "n", []string{}, []string{}, 0)
}

func TestSegmentNotFound(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a, other := e.createApp(t), e.createApp(t)
	foreign := e.createSegmentOK(t, other, `{"name":"theirs"}`)
	for name, id := range map[string]string{
		"unknown":        "0123456789abcdef",
		"another app's":  foreign.SegmentID,
		"too long":       strings.Repeat("a", 65),
		"with a slash":   "a/b",
		"not UTF-8":      "\xff",
		"control":        "a\x01",
		"not hex, legal": "segment-1",
	} {
		t.Run(name, func(t *testing.T) {
			before := e.sideEffects()
			e.segmentCall(t, a, "GET", id, nil).wantError(t, http.StatusNotFound, "unknown_segment", "segment_id")
			e.segmentCall(t, a, "PUT", id, `{"name":"stolen"}`).wantError(t, http.StatusNotFound, "unknown_segment")
			e.wantNoChange(t, before)
			e.segmentCall(t, a, "DELETE", id, nil).wantError(t, http.StatusNotFound, "unknown_segment")
		})
	}
	if s := e.storedSegment(t, other.Key, foreign.SegmentID); s.Name != "theirs" {
		t.Fatalf("another app changed a segment: %+v", s)
	}
}

type segmentsPage struct {
	Segments []segmentView `json:"segments"`
	Next     *string       `json:"next"`
}

func TestListSegments(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a, other := e.createApp(t), e.createApp(t)
	e.createSegmentOK(t, other, `{"name":"theirs"}`)

	var empty segmentsPage
	r := e.do(t, request{method: "GET", path: "/v1/segments", auth: a.auth()})
	r.wantOK(t, http.StatusOK, &empty)
	if empty.Segments == nil || len(empty.Segments) != 0 || empty.Next != nil || bytes.Contains(r.body, []byte("next")) {
		t.Fatalf("segments of an app without any: %s", r.body)
	}
	var ids []string
	for i := range 5 {
		ids = append(ids, e.createSegmentOK(t, a, map[string]any{"name": fmt.Sprint("s", i), "tags": []string{fmt.Sprint("t", i)}}).SegmentID)
	}
	slices.Sort(ids)
	var got []string
	after := ""
	for pages := 0; ; pages++ {
		var p segmentsPage
		e.do(t, request{method: "GET", path: "/v1/segments?limit=2&after=" + url.QueryEscape(after), auth: a.auth()}).wantOK(t, http.StatusOK, &p)
		for _, v := range p.Segments {
			if v.Name == "" || len(v.Tags) != 1 || v.Created.IsZero() {
				t.Fatalf("listed %+v", v)
			}
			got = append(got, v.SegmentID)
		}
		if p.Next == nil {
			if pages != 2 || len(p.Segments) != 1 {
				t.Fatalf("last page %+v after %d pages", p, pages)
			}
			break
		}
		if len(p.Segments) != 2 || *p.Next != p.Segments[1].SegmentID {
			t.Fatalf("page %+v", p)
		}
		after = *p.Next
	}
	if !slices.Equal(got, ids) {
		t.Fatalf("segments page by page: %q, want %q", got, ids)
	}
	var p segmentsPage
	e.do(t, request{method: "GET", path: "/v1/segments?limit=5", auth: a.auth()}).wantOK(t, http.StatusOK, &p)
	if len(p.Segments) != 5 || p.Next != nil {
		t.Fatalf("a page holding every segment: %+v", p)
	}
	for _, q := range []string{"limit=0", "limit=1001", "limit=x", "limit=-1", "after=a%2Fb", "after=" + strings.Repeat("x", 65)} {
		e.do(t, request{method: "GET", path: "/v1/segments?" + q, auth: a.auth()}).wantError(t, http.StatusBadRequest, "invalid_parameter")
	}
}

func TestSegmentsAPIAuth(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a, other := e.createApp(t), e.createApp(t)
	id := e.createSegmentOK(t, a, `{"name":"x"}`).SegmentID
	for _, req := range []request{
		{method: "POST", path: "/v1/segments", body: strings.NewReader(`{"name":"x"}`)},
		{method: "GET", path: "/v1/segments"},
		{method: "GET", path: segmentPath(id)},
		{method: "PUT", path: segmentPath(id), body: strings.NewReader(`{"name":"x"}`)},
		{method: "DELETE", path: segmentPath(id)},
	} {
		for _, auth := range []string{"", bearer(adminToken), basic(a.Key, other.Secret)} {
			req.auth = auth
			if req.body != nil {
				req.body = strings.NewReader(`{"name":"x"}`)
			}
			before := e.sideEffects()
			e.do(t, req).wantError(t, http.StatusUnauthorized, "unauthorized", "master_secret")
			e.wantNoChange(t, before)
		}
	}
	e.storedSegment(t, a.Key, id)
	for _, tc := range []struct{ method, path, allow string }{
		{"PATCH", segmentPath(id), "GET, PUT, DELETE"},
		{"DELETE", "/v1/segments", "POST, GET"},
	} {
		r := e.do(t, request{method: tc.method, path: tc.path, auth: a.auth()})
		r.wantError(t, http.StatusMethodNotAllowed, "method_not_allowed")
		if allow := r.header.Get("Allow"); allow != tc.allow {
			t.Errorf("%s %s: Allow = %q, want %q", tc.method, tc.path, allow, tc.allow)
		}
	}
	// No estimate endpoint (yet): an unknown path, not a segment.
	e.do(t, request{method: "GET", path: segmentPath(id) + "/estimate", auth: a.auth()}).wantError(t, http.StatusNotFound, "not_found")
}

// fuzzSegment is the segment of fuzzAppKey that FuzzSegmentBody replaces.
const fuzzSegment = "5e65e65e65e65e65"

// segmentErrorCodes are the codes a segment body may be rejected with.
var segmentErrorCodes = map[string]int{
	"unknown_field":     http.StatusBadRequest,
	"invalid_json":      http.StatusBadRequest,
	"invalid_field":     http.StatusBadRequest,
	"missing_field":     http.StatusBadRequest,
	"request_too_large": http.StatusRequestEntityTooLarge,
}

// acceptedSegment is how encoding/json reads an accepted body: the oracle
// of what the gateway must have stored.
type acceptedSegment struct {
	Name             string   `json:"name"`
	Tags             []string `json:"tags"`
	Platforms        []string `json:"platforms"`
	ActiveWithinDays *int64   `json:"active_within_days"`
}

// newSegmentFuzzEnv is newFuzzEnv with fuzzSegment.
func newSegmentFuzzEnv(tb testing.TB) *env {
	tb.Helper()
	e := newFuzzEnv(tb)
	if err := e.data.CreateSegment(context.Background(), dataservice.Segment{ID: fuzzSegment, AppKey: fuzzAppKey, Name: "replaced by the fuzzer"}); err != nil {
		tb.Fatal(err)
	}
	return e
}

// FuzzSegmentBody posts arbitrary bodies to POST /v1/segments, then puts
// the same body to PUT /v1/segments/{fuzzSegment}. Whatever the body, both
// answer JSON and agree: the segment the body defines, as encoding/json
// reads it, within the limits, stored as shown; or the same 4xx error with
// a known code, having changed nothing.
func FuzzSegmentBody(f *testing.F) {
	e := newSegmentFuzzEnv(f)
	h := e.gw.Handler()
	auth := basic(fuzzAppKey, fuzzAppSecret)
	call := func(t *testing.T, method, path string, body []byte) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, bytes.NewReader(body))
		req.Header.Set("Authorization", auth)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if ct := rec.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" || !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("%s %s: status %d, Content-Type %q, body %q", method, path, rec.Code, ct, rec.Body)
		}
		return rec
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		before := e.sideEffects()
		was := e.storedSegment(t, fuzzAppKey, fuzzSegment)
		created := call(t, "POST", "/v1/segments", body)
		replaced := call(t, "PUT", "/v1/segments/"+fuzzSegment, body)

		if created.Code != http.StatusCreated {
			var ae, ae2 apiError
			if err := json.Unmarshal(created.Body.Bytes(), &ae); err != nil || ae.Error == nil || ae.Error.Message == "" {
				t.Fatalf("status %d without an error object: %s", created.Code, created.Body)
			}
			if want, known := segmentErrorCodes[ae.Error.Code]; !known || want != created.Code {
				t.Fatalf("status %d with code %q (%s); want a known code with its status", created.Code, ae.Error.Code, ae.Error.Message)
			}
			if err := json.Unmarshal(replaced.Body.Bytes(), &ae2); err != nil || ae2.Error == nil || replaced.Code != created.Code || ae2.Error.Code != ae.Error.Code {
				t.Fatalf("POST rejected the body with %d %s, PUT answered %d %s", created.Code, ae.Error.Code, replaced.Code, replaced.Body)
			}
			e.wantNoChange(t, before)
			if now := e.storedSegment(t, fuzzAppKey, fuzzSegment); !now.Updated.Equal(was.Updated) || now.Name != was.Name {
				t.Fatalf("rejected with %s, yet the segment went from %+v to %+v", ae.Error.Code, was, now)
			}
			return
		}
		var req acceptedSegment
		if err := json.Unmarshal(body, &req); err != nil {
			t.Fatalf("accepted a body encoding/json cannot read: %v", err)
		}
		wantTags, wantPlatforms := segmentSet(req.Tags), segmentSet(req.Platforms)
		var wantDays int64
		if req.ActiveWithinDays != nil {
			wantDays = *req.ActiveWithinDays
		}
		checkSegmentLimits(t, req.Name, wantTags, wantPlatforms, wantDays)
		if replaced.Code != http.StatusOK {
			t.Fatalf("POST accepted the body, PUT answered %d %s", replaced.Code, replaced.Body)
		}
		for _, rec := range []*httptest.ResponseRecorder{created, replaced} {
			var v segmentView
			if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
				t.Fatal(err)
			}
			wantSegmentView(t, "the answer", v, req.Name, wantTags, wantPlatforms, wantDays)
			s := e.storedSegment(t, fuzzAppKey, v.SegmentID)
			if s.Name != req.Name || !slices.Equal(s.Tags, wantTags) || !slices.Equal(s.Platforms, wantPlatforms) ||
				s.ActiveWithin != time.Duration(wantDays)*24*time.Hour || !s.Created.Equal(v.Created) || !s.Updated.Equal(v.Updated) {
				t.Fatalf("stored %+v, answered %+v", s, v)
			}
		}
		var v segmentView
		_ = json.Unmarshal(replaced.Body.Bytes(), &v)
		if v.SegmentID != fuzzSegment || !v.Created.Equal(was.Created) {
			t.Fatalf("PUT answered %+v; want segment %s created %v", v, fuzzSegment, was.Created)
		}
	})
}

// checkSegmentLimits fails if an accepted definition breaks a rule.
func checkSegmentLimits(t *testing.T, name string, tags, platforms []string, days int64) {
	t.Helper()
	if name == "" || len(name) > dataservice.MaxSegmentNameLen || !utf8.ValidString(name) || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		t.Fatalf("accepted name %q", name)
	}
	if len(tags) > dataservice.MaxSegmentTags {
		t.Fatalf("accepted %d tags", len(tags))
	}
	for _, tag := range tags {
		if dataservice.CheckTag(tag) != nil {
			t.Fatalf("accepted tag %q", tag)
		}
	}
	for _, p := range platforms {
		if !dataservice.IsPlatform(p) {
			t.Fatalf("accepted platform %q", p)
		}
	}
	if days < 0 || days > 365 {
		t.Fatalf("accepted active_within_days %d", days)
	}
}

// segmentSet is how a segment stores a list: sorted, distinct.
func segmentSet(s []string) []string {
	return slices.Compact(slices.Sorted(slices.Values(s)))
}

// TestSegmentSeedCorpus checks that each seed of FuzzSegmentBody still
// meets the case it was written for.
func TestSegmentSeedCorpus(t *testing.T) {
	e := newSegmentFuzzEnv(t)
	want := map[string]string{ // seed file → error code, "" for accepted
		"valid_full":              "",
		"valid_name_only":         "",
		"valid_nulls":             "",
		"valid_unicode":           "",
		"valid_limits":            "",
		"valid_case_insensitive":  "",
		"valid_negative_zero":     "",
		"valid_duplicate_keys":    "",
		"unknown_field_top":       "unknown_field",
		"invalid_json_truncated":  "invalid_json",
		"invalid_json_empty":      "invalid_json",
		"invalid_json_trailing":   "invalid_json",
		"invalid_field_tags_type": "invalid_field",
		"invalid_tag_slash":       "invalid_field",
		"invalid_too_many_tags":   "invalid_field",
		"invalid_platform":        "invalid_field",
		"invalid_days_negative":   "invalid_field",
		"invalid_days_float":      "invalid_field",
		"invalid_days_string":     "invalid_field",
		"invalid_days_too_many":   "invalid_field",
		"invalid_days_huge":       "invalid_field",
		"invalid_name_too_long":   "invalid_field",
		"invalid_name_control":    "invalid_field",
		"missing_name":            "missing_field",
		"null_body":               "missing_field",
		"array_body":              "invalid_field",
	}
	a := app{Key: fuzzAppKey, Secret: fuzzAppSecret}
	checkSeeds(t, seedCase{target: "FuzzSegmentBody", want: want, okStatus: http.StatusCreated, codes: segmentErrorCodes,
		send: func(t *testing.T, body []byte) response { return e.createSegment(t, a, body) }})
}
