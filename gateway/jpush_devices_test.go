package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway"
)

// jpushDevice is JPush's answer to GET /v3/devices/{registration_id}.
type jpushDevice struct {
	Tags   []string `json:"tags"`
	Alias  *string  `json:"alias"`
	Mobile *string  `json:"mobile"`
}

func (f *jpushFixture) jpushDeviceOK(t *testing.T, rid string) jpushDevice {
	t.Helper()
	var d jpushDevice
	f.v3(t, f.app, "GET", "/v3/devices/"+rid, nil).wantOK(t, http.StatusOK, &d)
	return d
}

// wantEmptyOK fails unless r is JPush's answer to a call that returns
// nothing: 200 and an empty body.
func (r response) wantEmptyOK(tb testing.TB) {
	tb.Helper()
	if r.status != http.StatusOK || len(r.body) != 0 {
		tb.Fatalf("status %d body %q, want 200 and no body", r.status, r.body)
	}
}

// manyIDs returns n distinct registration ids.
func manyIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("many-%05d", i)
	}
	return out
}

func TestJPushDeviceRoundTrip(t *testing.T) {
	f := newJPushFixture(t, gateway.Config{})
	d := f.jpushDeviceOK(t, f.r1)
	if !slices.Equal(d.Tags, []string{"sz", "vip"}) || d.Alias == nil || *d.Alias != "u1" || d.Mobile != nil {
		t.Fatalf("device %+v", d)
	}

	f.v3(t, f.app, "POST", "/v3/devices/"+f.r1, map[string]any{
		"tags": map[string]any{"add": []string{"gz", "new"}, "remove": []string{"sz"}}, "alias": "u9", "mobile": "13012345678",
	}).wantEmptyOK(t)
	d = f.jpushDeviceOK(t, f.r1)
	if !slices.Equal(d.Tags, []string{"gz", "new", "vip"}) || d.Alias == nil || *d.Alias != "u9" || d.Mobile != nil {
		t.Fatalf("after the update: %+v", d)
	}

	// tags "" removes every tag; alias "" removes the alias.
	f.v3(t, f.app, "POST", "/v3/devices/"+f.r1, map[string]any{"tags": "", "alias": ""}).wantEmptyOK(t)
	d = f.jpushDeviceOK(t, f.r1)
	if len(d.Tags) != 0 || d.Tags == nil || d.Alias != nil {
		t.Fatalf("after clearing: %+v (tags must be [] and alias null)", d)
	}
	// The indexes follow: the tags and alias are gone from the app.
	var tags struct {
		Tags []string `json:"tags"`
	}
	f.v3(t, f.app, "GET", "/v3/tags", nil).wantOK(t, http.StatusOK, &tags)
	if slices.Contains(tags.Tags, "gz") || slices.Contains(tags.Tags, "vip") || !slices.Contains(tags.Tags, "sz") {
		t.Errorf("tags %v, want sz (r2 has it) and neither gz nor vip", tags.Tags)
	}
	var alias struct {
		RIDs []string `json:"registration_ids"`
	}
	f.v3(t, f.app, "GET", "/v3/aliases/u9", nil).wantOK(t, http.StatusOK, &alias)
	if len(alias.RIDs) != 0 || alias.RIDs == nil {
		t.Errorf("alias u9 still names %v", alias.RIDs)
	}

	// What SDKs send: an empty tags object beside an alias (Node), mobile
	// alone (every SDK's setMobile), the Python SDK's trailing slash.
	f.v3(t, f.app, "POST", "/v3/devices/"+f.r2, map[string]any{"alias": "u2b", "tags": map[string]any{}}).wantEmptyOK(t)
	f.v3(t, f.app, "POST", "/v3/devices/"+f.r2, map[string]any{"mobile": "13012345678"}).wantEmptyOK(t)
	var d2 jpushDevice
	f.v3(t, f.app, "GET", "/v3/devices/"+f.r2+"/", nil).wantOK(t, http.StatusOK, &d2)
	if d2.Alias == nil || *d2.Alias != "u2b" || !slices.Equal(d2.Tags, []string{"sz"}) {
		t.Errorf("r2 %+v", d2)
	}
}

func TestJPushDeviceErrors(t *testing.T) {
	f := newJPushFixture(t, gateway.Config{})
	other := f.createApp(t)
	foreign := f.jpushRegisterOn(t, other.Key, "android")
	for _, rid := range []string{f.r2, f.r3, f.r1} {
		f.jpushSetAlias(t, f.app.Key, rid, "full") // alias "full" will name 10 devices
	}
	for range dataservice.MaxAliasDevices - 3 {
		f.jpushSetAlias(t, f.app.Key, f.jpushRegisterOn(t, f.app.Key, "android"), "full")
	}
	many := make([]string, dataservice.MaxTagsPerDevice)
	for i := range many {
		many[i] = fmt.Sprintf("t%03d", i)
	}
	crowded := f.jpushRegisterOn(t, f.app.Key, "android")
	f.jpushTag(t, f.app.Key, crowded, many...)
	lone := f.jpushRegisterOn(t, f.app.Key, "android")

	for _, c := range []struct {
		name         string
		method, path string
		body         any
		status, code int
	}{
		{"unknown device", "GET", "/v3/devices/nope", nil, 404, 7002},
		{"another app's device", "GET", "/v3/devices/" + foreign, nil, 404, 7002},
		{"update of another app's device", "POST", "/v3/devices/" + foreign, map[string]any{"alias": "x"}, 404, 7002},
		{"empty update", "POST", "/v3/devices/" + lone, map[string]any{}, 400, 7002},
		{"unknown field", "POST", "/v3/devices/" + lone, map[string]any{"alias": "x", "sex": "f"}, 400, 7002},
		{"tags a non-empty string", "POST", "/v3/devices/" + lone, map[string]any{"tags": "a"}, 400, 7002},
		{"bad tag", "POST", "/v3/devices/" + lone, map[string]any{"tags": map[string]any{"add": []string{"a/b"}}}, 400, 7002},
		{"tag added and removed", "POST", "/v3/devices/" + lone, map[string]any{"tags": map[string]any{"add": []string{"a"}, "remove": []string{"a"}}}, 400, 7002},
		{"alias full", "POST", "/v3/devices/" + lone, map[string]any{"alias": "full", "tags": map[string]any{"add": []string{"a"}}}, 400, 7015},
		{"too many tags", "POST", "/v3/devices/" + crowded, map[string]any{"tags": map[string]any{"add": []string{"one-more"}}}, 400, 7002},
		{"malformed body", "POST", "/v3/devices/" + lone, "{", 400, 7002},
		{"tag of another app's device", "POST", "/v3/tags/x", map[string]any{"registration_ids": map[string]any{"add": []string{lone, foreign}}}, 400, 7002},
		{"tag update lists nothing", "POST", "/v3/tags/x", map[string]any{"registration_ids": map[string]any{}}, 400, 7002},
		{"tag update without registration_ids", "POST", "/v3/tags/x", map[string]any{"add": []string{lone}}, 400, 7002},
		{"tag over a device's limit", "POST", "/v3/tags/x", map[string]any{"registration_ids": map[string]any{"add": []string{lone, crowded}}}, 400, 7002},
		{"bad tag in the path", "POST", "/v3/tags/" + strings.Repeat("x", 41), map[string]any{"registration_ids": map[string]any{"add": []string{lone}}}, 400, 7002},
		{"unknown platform", "DELETE", "/v3/tags/sz?platform=symbian", nil, 400, 7002},
		{"bad alias", "GET", "/v3/aliases/" + strings.Repeat("x", 41), nil, 400, 7002},
		{"status without ids", "POST", "/v3/devices/status", map[string]any{}, 400, 7002},
		{"status of too many", "POST", "/v3/devices/status", map[string]any{"registration_ids": manyIDs(1001)}, 400, 7002},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := f.sideEffects()
			f.v3(t, f.app, c.method, c.path, c.body).wantJPushError(t, c.status, c.code)
			f.wantNoChange(t, before)
		})
	}
	if a := f.attrs(t, lone); len(a.Tags) != 0 || a.Alias != "" {
		t.Errorf("a rejected update changed the device: %+v", a)
	}
}

func TestJPushTags(t *testing.T) {
	f := newJPushFixture(t, gateway.Config{})
	r4 := f.jpushRegisterOn(t, f.app.Key, "ios")

	var tags struct {
		Tags []string `json:"tags"`
	}
	f.v3(t, f.app, "GET", "/v3/tags/", nil).wantOK(t, http.StatusOK, &tags) // the Python SDK's path
	if !slices.Equal(tags.Tags, []string{"bj", "sz", "vip"}) {
		t.Errorf("tags %v", tags.Tags)
	}
	has := func(tag, rid string) bool {
		t.Helper()
		var out struct {
			Result *bool `json:"result"`
		}
		f.v3(t, f.app, "GET", "/v3/tags/"+tag+"/registration_ids/"+rid, nil).wantOK(t, http.StatusOK, &out)
		if out.Result == nil {
			t.Fatal("no result")
		}
		return *out.Result
	}
	if !has("sz", f.r1) || has("bj", f.r1) || has("sz", "no-such-device") {
		t.Error("membership answers are wrong")
	}

	f.v3(t, f.app, "POST", "/v3/tags/sz", map[string]any{"registration_ids": map[string]any{"add": []string{f.r3, r4}, "remove": []string{f.r1}}}).wantEmptyOK(t)
	if !has("sz", f.r3) || !has("sz", r4) || has("sz", f.r1) || !has("sz", f.r2) {
		t.Error("POST /v3/tags/sz did not add r3 and r4 and remove r1")
	}
	var info struct {
		Count int `json:"count"`
	}
	f.do(t, request{method: "GET", path: "/v1/tags/sz", auth: f.app.auth()}).wantOK(t, http.StatusOK, &info)
	if info.Count != 3 {
		t.Errorf("/v1 counts %d devices with sz, want 3", info.Count)
	}

	// DELETE with a platform takes the tag from those platforms' devices
	// only (r2 and r4 are iOS); then from all.
	f.v3(t, f.app, "DELETE", "/v3/tags/sz/?platform=android", nil).wantEmptyOK(t)
	if has("sz", f.r3) || !has("sz", f.r2) || !has("sz", r4) {
		t.Error("DELETE ?platform=android touched the wrong devices")
	}
	f.v3(t, f.app, "DELETE", "/v3/tags/sz", nil).wantEmptyOK(t)
	if has("sz", f.r2) || has("sz", r4) {
		t.Error("DELETE left the tag on devices")
	}
	f.v3(t, f.app, "GET", "/v3/tags", nil).wantOK(t, http.StatusOK, &tags)
	if slices.Contains(tags.Tags, "sz") {
		t.Errorf("the deleted tag is still listed: %v", tags.Tags)
	}
	// Deleting a tag no device has is not an error.
	f.v3(t, f.app, "DELETE", "/v3/tags/never", nil).wantEmptyOK(t)
}

func TestJPushDeleteTagOfManyDevices(t *testing.T) {
	f := newJPushFixture(t, gateway.Config{})
	ctx := context.Background()
	for _, rid := range manyIDs(600) { // more than a page of the walk (500)
		if err := f.data.CreateDevice(ctx, dataservice.Device{RegistrationID: rid, AppKey: f.app.Key, Platform: "android", Created: time.Now()}); err != nil {
			t.Fatal(err)
		}
		f.jpushTag(t, f.app.Key, rid, "crowd")
	}
	f.v3(t, f.app, "DELETE", "/v3/tags/crowd", nil).wantEmptyOK(t)
	n, err := f.data.TagCount(ctx, f.app.Key, "crowd")
	if err != nil {
		t.Fatal(err)
	}
	left, err := f.data.TagMembers(ctx, f.app.Key, "crowd", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if n != 0 || len(left) != 0 {
		t.Errorf("after DELETE, %d devices counted with the tag and %v indexed", n, left)
	}
}

func TestJPushAliases(t *testing.T) {
	f := newJPushFixture(t, gateway.Config{})
	r4 := f.jpushRegisterOn(t, f.app.Key, "ios")
	f.jpushSetAlias(t, f.app.Key, r4, "u1")
	members := func(path string) []string {
		t.Helper()
		var out struct {
			RIDs []string `json:"registration_ids"`
		}
		f.v3(t, f.app, "GET", path, nil).wantOK(t, http.StatusOK, &out)
		return out.RIDs
	}
	if got := members("/v3/aliases/u1"); !slices.Equal(got, sorted(f.r1, r4)) {
		t.Errorf("u1 names %v", got)
	}
	if got := members("/v3/aliases/u1/?platform=ios"); !slices.Equal(got, []string{r4}) {
		t.Errorf("u1 on ios names %v, want r4", got)
	}
	if got := members("/v3/aliases/nobody"); len(got) != 0 || got == nil {
		t.Errorf("an unused alias names %v, want []", got)
	}
	f.v3(t, f.app, "DELETE", "/v3/aliases/u1?platform=android,quickapp", nil).wantEmptyOK(t)
	if got := members("/v3/aliases/u1"); !slices.Equal(got, []string{r4}) {
		t.Errorf("after deleting u1 from android devices it names %v", got)
	}
	f.v3(t, f.app, "DELETE", "/v3/aliases/u1/", nil).wantEmptyOK(t)
	if got := members("/v3/aliases/u1"); len(got) != 0 {
		t.Errorf("after DELETE u1 names %v", got)
	}
	if a := f.attrs(t, r4); a.Alias != "" {
		t.Errorf("r4 keeps alias %q", a.Alias)
	}
}

func TestJPushDevicesStatus(t *testing.T) {
	f := newJPushFixture(t, gateway.Config{})
	f.connect(t, f.r1, connectorA)
	other := f.createApp(t)
	foreign := f.jpushRegisterOn(t, other.Key, "android")
	var out map[string]*struct {
		Online bool `json:"online"`
	}
	f.v3(t, f.app, "POST", "/v3/devices/status/", map[string]any{"registration_ids": []string{f.r1, f.r2, foreign, "nope"}}).
		wantOK(t, http.StatusOK, &out)
	if len(out) != 4 || out[f.r1] == nil || !out[f.r1].Online || out[f.r2] == nil || out[f.r2].Online || out[foreign] != nil || out["nope"] != nil {
		t.Errorf("status %v", out)
	}
}
