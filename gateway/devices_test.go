package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway"
)

// deviceView is the answer of GET and POST /v1/devices/{registration_id}.
type deviceView struct {
	RegistrationID string     `json:"registration_id"`
	Platform       string     `json:"platform"`
	Tags           []string   `json:"tags"`
	Alias          string     `json:"alias"`
	Online         bool       `json:"online"`
	Connector      string     `json:"connector"`
	LastSeen       *time.Time `json:"last_seen"`
	Created        time.Time  `json:"created"`
}

func (e *env) getDevice(tb testing.TB, a app, rid string) response {
	tb.Helper()
	return e.do(tb, request{method: "GET", path: "/v1/devices/" + url.PathEscape(rid), auth: a.auth()})
}

func (e *env) updateDevice(tb testing.TB, a app, rid string, body any) response {
	tb.Helper()
	return e.do(tb, request{method: "POST", path: "/v1/devices/" + url.PathEscape(rid), auth: a.auth(), body: jsonBody(tb, body)})
}

func (e *env) updateDeviceOK(tb testing.TB, a app, rid string, body any) deviceView {
	tb.Helper()
	var v deviceView
	e.updateDevice(tb, a, rid, body).wantOK(tb, http.StatusOK, &v)
	return v
}

func tagsBody(add, remove []string) map[string]any {
	return map[string]any{"tags": map[string][]string{"add": add, "remove": remove}}
}

// attrs reads a device's tags and alias from the store.
func (e *env) attrs(tb testing.TB, rid string) dataservice.DeviceAttrs {
	tb.Helper()
	a, err := e.data.DeviceAttrs(context.Background(), rid)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

func TestDeviceInfo(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a := e.createApp(t)
	start := time.Now()
	rid := e.registerDevice(t, a.Key).RID

	r := e.getDevice(t, a, rid)
	var v deviceView
	r.wantOK(t, http.StatusOK, &v)
	if v.RegistrationID != rid || v.Platform != "android" || v.Tags == nil || len(v.Tags) != 0 || v.Alias != "" || v.Online || v.Connector != "" || v.LastSeen != nil {
		t.Fatalf("fresh device = %+v (body %s)", v, r.body)
	}
	if bytes.Contains(r.body, []byte("last_seen")) {
		t.Errorf("an offline device's view has last_seen: %s", r.body)
	}
	if v.Created.Before(start.Add(-time.Second)) || v.Created.After(time.Now().Add(time.Second)) {
		t.Errorf("created %v, want about %v", v.Created, start)
	}

	since := time.Now().Truncate(time.Millisecond)
	if _, err := e.data.PutSessions(context.Background(), []dataservice.Session{{RegistrationID: rid, Connector: connectorB, Since: since}}, time.Hour); err != nil {
		t.Fatal(err)
	}
	e.updateDeviceOK(t, a, rid, map[string]any{"tags": map[string][]string{"add": {"vip", "beta"}}, "alias": "alice"})
	r = e.getDevice(t, a, rid)
	v = deviceView{}
	r.wantOK(t, http.StatusOK, &v)
	if !v.Online || v.Connector != connectorB || v.LastSeen == nil || !v.LastSeen.Equal(since) {
		t.Fatalf("online device = %+v, want connector %s since %v", v, connectorB, since)
	}
	if !slices.Equal(v.Tags, []string{"beta", "vip"}) || v.Alias != "alice" {
		t.Fatalf("tags %q alias %q, want [beta vip] and alice", v.Tags, v.Alias)
	}
	var raw map[string]any
	r.decode(t, &raw)
	for _, field := range []string{"last_seen", "created"} {
		s, _ := raw[field].(string)
		if _, err := time.Parse(time.RFC3339, s); err != nil {
			t.Errorf("%s = %v, not RFC 3339", field, raw[field])
		}
	}
}

func TestDeviceNotFound(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a, other := e.createApp(t), e.createApp(t)
	foreign := e.registerDevice(t, other.Key).RID
	for name, rid := range map[string]string{
		"unknown":           "0123456789abcdef0123",
		"another app's":     foreign,
		"too long":          strings.Repeat("r", 65),
		"not UTF-8 escaped": "\xff",
	} {
		t.Run(name, func(t *testing.T) {
			e.getDevice(t, a, rid).wantError(t, http.StatusNotFound, "unknown_registration_id", "registration_id")
			before := e.sideEffects()
			e.updateDevice(t, a, rid, map[string]any{"alias": "x"}).wantError(t, http.StatusNotFound, "unknown_registration_id")
			e.wantNoChange(t, before)
		})
	}
	if got := e.attrs(t, foreign); got.Alias != "" {
		t.Fatalf("another app set alias %q", got.Alias)
	}
}

func TestDevicesAPIAuth(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a, other := e.createApp(t), e.createApp(t)
	rid := e.registerDevice(t, a.Key).RID
	for _, req := range []request{
		{method: "GET", path: "/v1/devices/" + rid},
		{method: "POST", path: "/v1/devices/" + rid, body: strings.NewReader(`{"alias":"x"}`)},
		{method: "GET", path: "/v1/tags"},
		{method: "GET", path: "/v1/tags/vip"},
		{method: "GET", path: "/v1/aliases/x"},
	} {
		for _, auth := range []string{"", bearer(adminToken), basic(a.Key, other.Secret)} {
			req.auth = auth
			if req.body != nil {
				req.body = strings.NewReader(`{"alias":"x"}`)
			}
			before := e.sideEffects()
			r := e.do(t, req)
			r.wantError(t, http.StatusUnauthorized, "unauthorized", "master_secret")
			e.wantNoChange(t, before)
		}
	}
	r := e.do(t, request{method: "DELETE", path: "/v1/devices/" + rid, auth: a.auth()})
	r.wantError(t, http.StatusMethodNotAllowed, "method_not_allowed", "GET or POST")
	if allow := r.header.Get("Allow"); allow != "GET, POST" {
		t.Errorf("Allow = %q, want GET, POST", allow)
	}
}

func TestDeviceUpdate(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a := e.createApp(t)
	rid := e.registerDevice(t, a.Key).RID
	for _, step := range []struct {
		name      string
		body      any
		tags      []string
		alias     string
		tagCounts map[string]int64
	}{
		{"add tags", tagsBody([]string{"vip", "beta", "vip"}, nil), []string{"beta", "vip"}, "", map[string]int64{"vip": 1, "beta": 1}},
		{"add again", tagsBody([]string{"vip"}, nil), []string{"beta", "vip"}, "", map[string]int64{"vip": 1}},
		{"remove only", `{"tags":{"remove":["beta","absent"]}}`, []string{"vip"}, "", map[string]int64{"beta": 0, "absent": 0}},
		{"alias only", `{"alias":"alice"}`, []string{"vip"}, "alice", nil},
		{"both", `{"tags":{"add":["标签 1"],"remove":["vip"]},"alias":"张三"}`, []string{"标签 1"}, "张三", map[string]int64{"vip": 0, "标签 1": 1}},
		{"empty tag lists", `{"tags":{}}`, []string{"标签 1"}, "张三", nil},
		{"alias removed", `{"alias":""}`, []string{"标签 1"}, "", nil},
		{"null alias keeps it", `{"alias":null,"tags":{"add":["x"]}}`, []string{"x", "标签 1"}, "", nil},
	} {
		t.Run(step.name, func(t *testing.T) {
			v := e.updateDeviceOK(t, a, rid, step.body)
			if v.RegistrationID != rid || !slices.Equal(v.Tags, step.tags) || v.Alias != step.alias {
				t.Fatalf("view %+v, want tags %q alias %q", v, step.tags, step.alias)
			}
			if got := e.attrs(t, rid); !slices.Equal(got.Tags, step.tags) || got.Alias != step.alias {
				t.Fatalf("stored %+v, want tags %q alias %q", got, step.tags, step.alias)
			}
			for tag, want := range step.tagCounts {
				if n, _ := e.data.TagCount(context.Background(), a.Key, tag); n != want {
					t.Errorf("count of %q = %d, want %d", tag, n, want)
				}
			}
		})
	}
}

func TestDeviceUpdateRejected(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a := e.createApp(t)
	rid := e.registerDevice(t, a.Key).RID
	e.updateDeviceOK(t, a, rid, map[string]any{"tags": map[string][]string{"add": {"keep"}}, "alias": "kept"})
	many := make([]string, dataservice.MaxTagsPerCall+1)
	for i := range many {
		many[i] = fmt.Sprint("t", i)
	}
	for _, tc := range []struct {
		name, code string
		body       any
		hints      []string
	}{
		{"empty body", "invalid_json", "", nil},
		{"truncated", "invalid_json", `{"tags":{"add":["a"`, nil},
		{"array", "invalid_field", `[]`, nil},
		{"nothing to change", "missing_field", `{}`, []string{"tags", "alias"}},
		{"null", "missing_field", `null`, nil},
		{"unknown field", "unknown_field", `{"alias":"a","mobile":"123"}`, []string{"mobile"}},
		{"unknown tags field", "unknown_field", `{"tags":{"add":["a"],"set":["b"]}}`, []string{"set"}},
		{"tags as a string", "invalid_field", `{"tags":"vip"}`, []string{"tags"}},
		{"tag not a string", "invalid_field", `{"tags":{"add":[1]}}`, nil},
		{"alias not a string", "invalid_field", `{"alias":["a"]}`, []string{"alias"}},
		{"empty tag", "invalid_field", tagsBody([]string{"ok", ""}, nil), []string{"tags.add[1]", "40 bytes"}},
		{"tag with slash", "invalid_field", tagsBody(nil, []string{"a/b"}), []string{"tags.remove[0]", "'/'"}},
		{"tag of 41 bytes", "invalid_field", tagsBody([]string{strings.Repeat("x", 41)}, nil), []string{"tags.add[0]"}},
		{"tag with a control character", "invalid_field", tagsBody([]string{"a\nb"}, nil), []string{"control"}},
		{"tag added and removed", "invalid_field", tagsBody([]string{"a"}, []string{"a"}), []string{`"a"`, "both"}},
		{"too many tags in one request", "invalid_field", tagsBody(many, nil), []string{"101", "100"}},
		{"alias of 41 bytes", "invalid_field", map[string]string{"alias": strings.Repeat("x", 41)}, []string{"alias"}},
		{"alias with slash", "invalid_field", map[string]string{"alias": "a/b"}, []string{"alias"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.sideEffects()
			e.updateDevice(t, a, rid, tc.body).wantError(t, http.StatusBadRequest, tc.code, tc.hints...)
			e.wantNoChange(t, before)
		})
	}
	if got := e.attrs(t, rid); !slices.Equal(got.Tags, []string{"keep"}) || got.Alias != "kept" {
		t.Fatalf("rejected requests changed the device: %+v", got)
	}
}

func TestDeviceTagLimit(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a := e.createApp(t)
	rid := e.registerDevice(t, a.Key).RID
	full := make([]string, dataservice.MaxTagsPerDevice)
	for i := range full {
		full[i] = fmt.Sprintf("t%03d", i)
	}
	e.updateDeviceOK(t, a, rid, tagsBody(full, nil))
	before := e.sideEffects()
	body := map[string]any{"tags": map[string][]string{"add": {"one-more"}}, "alias": "not-set"}
	e.updateDevice(t, a, rid, body).wantError(t, http.StatusBadRequest, "too_many_tags", "101", "100")
	e.wantNoChange(t, before)
	if got := e.attrs(t, rid); len(got.Tags) != dataservice.MaxTagsPerDevice || got.Alias != "" {
		t.Fatalf("a rejected request changed the device: %d tags, alias %q", len(got.Tags), got.Alias)
	}
	// Replacing one keeps it at the limit.
	v := e.updateDeviceOK(t, a, rid, tagsBody([]string{"one-more"}, []string{full[0]}))
	if len(v.Tags) != dataservice.MaxTagsPerDevice || !slices.Contains(v.Tags, "one-more") {
		t.Fatalf("tags after a swap: %d, %q", len(v.Tags), v.Tags[:3])
	}
}

func TestDeviceAliasFull(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a := e.createApp(t)
	rids := e.registerDevices(t, a.Key, dataservice.MaxAliasDevices+1)
	for _, rid := range rids[:dataservice.MaxAliasDevices] {
		e.updateDeviceOK(t, a, rid, map[string]string{"alias": "family"})
	}
	last := rids[dataservice.MaxAliasDevices]
	body := map[string]any{"alias": "family", "tags": map[string][]string{"add": {"not-set"}}}
	e.updateDevice(t, a, last, body).wantError(t, http.StatusBadRequest, "alias_full", "family", "10", "/v1/aliases/")
	if got := e.attrs(t, last); got.Alias != "" || len(got.Tags) != 0 {
		t.Fatalf("a rejected request changed the device: %+v", got)
	}
	var out struct {
		RegistrationIDs []string `json:"registration_ids"`
	}
	e.do(t, request{method: "GET", path: "/v1/aliases/family", auth: a.auth()}).wantOK(t, http.StatusOK, &out)
	want := slices.Sorted(slices.Values(rids[:dataservice.MaxAliasDevices]))
	if !slices.Equal(out.RegistrationIDs, want) {
		t.Fatalf("members %q, want %q", out.RegistrationIDs, want)
	}
}

type tagsPage struct {
	Tags []string `json:"tags"`
	Next *string  `json:"next"`
}

func TestListTags(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a, other := e.createApp(t), e.createApp(t)
	rid := e.registerDevice(t, a.Key).RID
	e.updateDeviceOK(t, other, e.registerDevice(t, other.Key).RID, tagsBody([]string{"other-only"}, nil))

	var empty tagsPage
	e.do(t, request{method: "GET", path: "/v1/tags", auth: a.auth()}).wantOK(t, http.StatusOK, &empty)
	if empty.Tags == nil || len(empty.Tags) != 0 || empty.Next != nil {
		t.Fatalf("tags of an app without any: %+v", empty)
	}
	tags := []string{"a", "b", "c", "d", "e"}
	e.updateDeviceOK(t, a, rid, tagsBody(tags, nil))
	var got []string
	after := ""
	for pages := 0; ; pages++ {
		var p tagsPage
		e.do(t, request{method: "GET", path: "/v1/tags?limit=2&after=" + url.QueryEscape(after), auth: a.auth()}).wantOK(t, http.StatusOK, &p)
		got = append(got, p.Tags...)
		if p.Next == nil {
			if pages != 2 || len(p.Tags) != 1 {
				t.Fatalf("last page %+v after %d pages", p, pages)
			}
			break
		}
		if len(p.Tags) != 2 || *p.Next != p.Tags[1] {
			t.Fatalf("page %+v", p)
		}
		after = *p.Next
	}
	if !slices.Equal(got, tags) {
		t.Fatalf("tags page by page: %q, want %q", got, tags)
	}
	// Exactly a page: no next.
	var p tagsPage
	e.do(t, request{method: "GET", path: "/v1/tags?limit=5", auth: a.auth()}).wantOK(t, http.StatusOK, &p)
	if !slices.Equal(p.Tags, tags) || p.Next != nil {
		t.Fatalf("a page holding every tag: %+v", p)
	}
	// A tag that loses its last device leaves the list.
	e.updateDeviceOK(t, a, rid, tagsBody(nil, []string{"c"}))
	e.do(t, request{method: "GET", path: "/v1/tags", auth: a.auth()}).wantOK(t, http.StatusOK, &p)
	if !slices.Equal(p.Tags, []string{"a", "b", "d", "e"}) {
		t.Fatalf("tags after removing c: %q", p.Tags)
	}
	for _, q := range []string{"limit=0", "limit=1001", "limit=x", "limit=-1", "after=a%2Fb", "after=" + strings.Repeat("x", 41)} {
		e.do(t, request{method: "GET", path: "/v1/tags?" + q, auth: a.auth()}).wantError(t, http.StatusBadRequest, "invalid_parameter")
	}
}

type tagPage struct {
	Tag     string   `json:"tag"`
	Count   int64    `json:"count"`
	Members []string `json:"members"`
	Next    *string  `json:"next"`
}

func TestTagInfo(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a, other := e.createApp(t), e.createApp(t)
	rids := e.registerDevices(t, a.Key, 5)
	for _, rid := range rids {
		e.updateDeviceOK(t, a, rid, tagsBody([]string{"标签"}, nil))
	}
	e.updateDeviceOK(t, other, e.registerDevice(t, other.Key).RID, tagsBody([]string{"标签"}, nil))
	want := slices.Sorted(slices.Values(rids))

	path := "/v1/tags/" + url.PathEscape("标签")
	var got []string
	after := ""
	for {
		var p tagPage
		e.do(t, request{method: "GET", path: path + "?limit=2&after=" + after, auth: a.auth()}).wantOK(t, http.StatusOK, &p)
		if p.Tag != "标签" || p.Count != 5 {
			t.Fatalf("page %+v, want tag 标签 with count 5", p)
		}
		got = append(got, p.Members...)
		if p.Next == nil {
			break
		}
		after = *p.Next
	}
	if !slices.Equal(got, want) {
		t.Fatalf("members page by page %q, want %q", got, want)
	}
	var p tagPage
	e.do(t, request{method: "GET", path: path, auth: a.auth()}).wantOK(t, http.StatusOK, &p)
	if !slices.Equal(p.Members, want) || p.Next != nil {
		t.Fatalf("default page %+v", p)
	}
	r := e.do(t, request{method: "GET", path: "/v1/tags/nobody", auth: a.auth()})
	p = tagPage{}
	r.wantOK(t, http.StatusOK, &p)
	if p.Tag != "nobody" || p.Count != 0 || p.Members == nil || len(p.Members) != 0 || p.Next != nil {
		t.Fatalf("unknown tag: %s", r.body)
	}
	for _, tc := range []struct{ path, code string }{
		{"/v1/tags/" + strings.Repeat("x", 41), "invalid_parameter"},
		{"/v1/tags/a%2Fb", "invalid_parameter"},
		{"/v1/tags/a%0Ab", "invalid_parameter"},
		{path + "?limit=1001", "invalid_parameter"},
		{path + "?after=" + strings.Repeat("r", 65), "invalid_parameter"},
	} {
		e.do(t, request{method: "GET", path: tc.path, auth: a.auth()}).wantError(t, http.StatusBadRequest, tc.code)
	}
}

func TestAliasInfo(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a, other := e.createApp(t), e.createApp(t)
	rids := e.registerDevices(t, a.Key, 3)
	for _, rid := range rids[:2] {
		e.updateDeviceOK(t, a, rid, map[string]string{"alias": "alice"})
	}
	e.updateDeviceOK(t, other, e.registerDevice(t, other.Key).RID, map[string]string{"alias": "alice"})
	var out struct {
		Alias           string   `json:"alias"`
		RegistrationIDs []string `json:"registration_ids"`
	}
	e.do(t, request{method: "GET", path: "/v1/aliases/alice", auth: a.auth()}).wantOK(t, http.StatusOK, &out)
	if want := slices.Sorted(slices.Values(rids[:2])); out.Alias != "alice" || !slices.Equal(out.RegistrationIDs, want) {
		t.Fatalf("alias %+v, want %q", out, want)
	}
	r := e.do(t, request{method: "GET", path: "/v1/aliases/nobody", auth: a.auth()})
	r.wantOK(t, http.StatusOK, &out)
	if out.RegistrationIDs == nil || len(out.RegistrationIDs) != 0 {
		t.Fatalf("unknown alias: %s", r.body)
	}
	for _, path := range []string{"/v1/aliases/" + strings.Repeat("x", 41), "/v1/aliases/a%2Fb"} {
		e.do(t, request{method: "GET", path: path, auth: a.auth()}).wantError(t, http.StatusBadRequest, "invalid_parameter", "alias")
	}
}

// The fixed device of FuzzDeviceUpdateBody is fuzzOnA of newFuzzEnv.

// deviceUpdateErrorCodes are the codes an update of an existing device
// with valid credentials may fail with.
var deviceUpdateErrorCodes = map[string]int{
	"unknown_field":     http.StatusBadRequest,
	"invalid_json":      http.StatusBadRequest,
	"invalid_field":     http.StatusBadRequest,
	"missing_field":     http.StatusBadRequest,
	"too_many_tags":     http.StatusBadRequest,
	"request_too_large": http.StatusRequestEntityTooLarge,
}

// acceptedDeviceUpdate is how encoding/json reads an accepted body: the
// oracle of what the gateway must have done.
type acceptedDeviceUpdate struct {
	Tags *struct {
		Add    []string `json:"add"`
		Remove []string `json:"remove"`
	} `json:"tags"`
	Alias *string `json:"alias"`
}

// FuzzDeviceUpdateBody posts arbitrary bodies to POST /v1/devices/{rid}.
// Whatever the body, the answer is JSON: the device as the body left it
// (tags added and removed, alias set, index and counters agreeing), or a
// 4xx error with a known code that changed nothing.
func FuzzDeviceUpdateBody(f *testing.F) {
	e := newFuzzEnv(f)
	h := e.gw.Handler()
	auth := basic(fuzzAppKey, fuzzAppSecret)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, body []byte) {
		before := e.sideEffects()
		was := e.attrs(t, fuzzOnA)
		req := httptest.NewRequest("POST", "/v1/devices/"+fuzzOnA, bytes.NewReader(body))
		req.Header.Set("Authorization", auth)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if ct := rec.Header().Get("Content-Type"); ct != "application/json; charset=utf-8" || !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("status %d, Content-Type %q, body %q", rec.Code, ct, rec.Body)
		}
		now := e.attrs(t, fuzzOnA)
		if rec.Code != http.StatusOK {
			var ae apiError
			if err := json.Unmarshal(rec.Body.Bytes(), &ae); err != nil || ae.Error == nil || ae.Error.Message == "" {
				t.Fatalf("status %d without an error object: %s", rec.Code, rec.Body)
			}
			if want, known := deviceUpdateErrorCodes[ae.Error.Code]; !known || want != rec.Code {
				t.Fatalf("status %d with code %q (%s); want a known code with its status", rec.Code, ae.Error.Code, ae.Error.Message)
			}
			e.wantNoChange(t, before)
			if !slices.Equal(now.Tags, was.Tags) || now.Alias != was.Alias {
				t.Fatalf("rejected with %s, yet the device went from %+v to %+v", ae.Error.Code, was, now)
			}
			return
		}
		var u acceptedDeviceUpdate
		if err := json.Unmarshal(body, &u); err != nil {
			t.Fatalf("accepted a body encoding/json cannot read: %v", err)
		}
		if u.Tags == nil && u.Alias == nil {
			t.Fatalf("accepted a body that changes nothing: %q", body)
		}
		wantTags := slices.Clone(was.Tags)
		wantAlias := was.Alias
		if u.Tags != nil {
			wantTags = append(wantTags, u.Tags.Add...)
			slices.Sort(wantTags)
			wantTags = slices.DeleteFunc(slices.Compact(wantTags), func(tag string) bool { return slices.Contains(u.Tags.Remove, tag) })
		}
		if u.Alias != nil {
			wantAlias = *u.Alias
		}
		var v deviceView
		if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(v.Tags, wantTags) || v.Alias != wantAlias || !slices.Equal(now.Tags, wantTags) || now.Alias != wantAlias {
			t.Fatalf("body %q on %+v: view %q %q, stored %+v; want tags %q alias %q", body, was, v.Tags, v.Alias, now, wantTags, wantAlias)
		}
		if len(now.Tags) > dataservice.MaxTagsPerDevice {
			t.Fatalf("%d tags stored", len(now.Tags))
		}
		if u.Tags != nil {
			for _, tag := range append(slices.Clone(u.Tags.Add), u.Tags.Remove...) {
				has := slices.Contains(now.Tags, tag)
				members, err := e.data.TagMembers(ctx, fuzzAppKey, tag, "", 10)
				if err != nil {
					t.Fatal(err)
				}
				count, err := e.data.TagCount(ctx, fuzzAppKey, tag)
				if err != nil {
					t.Fatal(err)
				}
				if has != slices.Equal(members, []string{fuzzOnA}) || (count == 1) != has || count > 1 {
					t.Fatalf("tag %q: device has it %v, index lists %q, count %d", tag, has, members, count)
				}
			}
		}
		if wantAlias != "" {
			if m, _ := e.data.AliasMembers(ctx, fuzzAppKey, wantAlias); !slices.Equal(m, []string{fuzzOnA}) {
				t.Fatalf("alias %q lists %q", wantAlias, m)
			}
		}
	})
}

// TestDeviceUpdateSeedCorpus checks that each seed of FuzzDeviceUpdateBody
// still meets the case it was written for.
func TestDeviceUpdateSeedCorpus(t *testing.T) {
	e := newFuzzEnv(t)
	want := map[string]string{ // seed file → error code, "" for accepted
		"valid_add_remove":       "",
		"valid_alias":            "",
		"valid_alias_removed":    "",
		"valid_unicode":          "",
		"valid_case_insensitive": "",
		"unknown_field_top":      "unknown_field",
		"unknown_field_tags":     "unknown_field",
		"invalid_json_truncated": "invalid_json",
		"invalid_field_tags":     "invalid_field",
		"invalid_tag_slash":      "invalid_field",
		"invalid_tag_both":       "invalid_field",
		"invalid_alias_control":  "invalid_field",
		"missing_nothing":        "missing_field",
	}
	a := app{Key: fuzzAppKey, Secret: fuzzAppSecret}
	checkSeeds(t, seedCase{target: "FuzzDeviceUpdateBody", want: want, okStatus: http.StatusOK, codes: deviceUpdateErrorCodes,
		send: func(t *testing.T, body []byte) response { return e.updateDevice(t, a, fuzzOnA, body) }})
}
