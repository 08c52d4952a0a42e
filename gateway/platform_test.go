package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway"
)

// platformEnv is an app whose devices are on several platforms, with known
// tags and aliases; and1, ios1 (connector A) and web1 (connector B) are
// online, the others offline. Its segment "vips on ios or web" is the
// devices tagged vip on ios or web.
type platformEnv struct {
	*env
	app     app
	rids    map[string]string // name → registration id
	segment string
}

var platformDevices = []struct {
	name, platform string
	tags           []string
	alias          string
	connector      string // "" for offline
}{
	{"and1", "android", []string{"vip"}, "and1", connectorA},
	{"and2", "android", []string{"beta"}, "", ""},
	{"ios1", "ios", []string{"vip", "beta"}, "ios1", connectorA},
	{"ios2", "ios", nil, "ios2", ""},
	{"web1", "web", []string{"vip"}, "web1", connectorB},
	{"hmos1", "hmos", []string{"beta"}, "", ""},
}

func newPlatformEnv(t *testing.T, cfg gateway.Config) *platformEnv {
	t.Helper()
	e := &platformEnv{env: newEnv(t, cfg), rids: map[string]string{}}
	e.app = e.createApp(t)
	for _, d := range platformDevices {
		rid := e.jpushRegisterOn(t, e.app.Key, d.platform)
		e.rids[d.name] = rid
		if len(d.tags) > 0 {
			e.jpushTag(t, e.app.Key, rid, d.tags...)
		}
		if d.alias != "" {
			e.jpushSetAlias(t, e.app.Key, rid, d.alias)
		}
		if d.connector != "" {
			e.connect(t, rid, d.connector)
		}
	}
	e.segment = e.createSegmentOK(t, e.app, map[string]any{"name": "vips on ios or web", "tags": []string{"vip"}, "platforms": []string{"ios", "web"}}).SegmentID
	return e
}

// ids returns the registration ids of the named devices.
func (e *platformEnv) ids(names ...string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = e.rids[n]
	}
	return out
}

// names returns the names of the devices rids, sorted.
func (e *platformEnv) names(rids []string) []string {
	var out []string
	for name, rid := range e.rids {
		if slices.Contains(rids, rid) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// online returns those of names that have a session.
func online(names []string) []string {
	var out []string
	for _, d := range platformDevices {
		if d.connector != "" && slices.Contains(names, d.name) {
			out = append(out, d.name)
		}
	}
	slices.Sort(out)
	return out
}

// wantReached checks that message id targeted exactly the devices named
// want: counted targeted, handed to their connector if online (and never
// as a connector fan-out), a copy in every inbox of theirs and no other.
func (e *platformEnv) wantReached(t *testing.T, id uint64, want []string) {
	t.Helper()
	want = slices.Sorted(slices.Values(want))
	rep, err := e.data.Report(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Targeted != int64(len(want)) {
		t.Errorf("targeted %d, want %d (%v)", rep.Targeted, len(want), want)
	}
	for _, d := range e.cluster.Deliveries() {
		if d.msg.ID == id && len(d.rids) == 0 {
			t.Errorf("message %d was fanned out by connector %s, which does not know the devices' platforms", id, d.connector)
		}
	}
	if got := e.names(e.delivered(id)); !slices.Equal(got, online(want)) {
		t.Errorf("delivered to %v, want %v", got, online(want))
	}
	for _, d := range platformDevices {
		if got, wantCopy := e.inboxHas(t, e.rids[d.name], id), slices.Contains(want, d.name); got != wantCopy {
			t.Errorf("%s (%s) has a copy: %v, want %v", d.name, d.platform, got, wantCopy)
		}
	}
}

// storedAudience decodes the audience stored with message id.
func (e *env) storedAudience(t *testing.T, id uint64) map[string]any {
	t.Helper()
	m := e.message(t, id)
	var aud map[string]any
	if err := json.Unmarshal(m.Audience, &aud); err != nil {
		t.Fatalf("stored audience %s is not an object: %v", m.Audience, err)
	}
	return aud
}

// platformsOf returns the platform list of a stored audience.
func platformsOf(aud map[string]any) []string {
	list, _ := aud["platform"].([]any)
	var out []string
	for _, p := range list {
		s, _ := p.(string)
		out = append(out, s)
	}
	return out
}

// The push's platforms AND with every kind of audience; what is stored
// with the message says them, and only the devices on them are counted
// and sent to.
func TestPushPlatformFiltersEveryAudienceKind(t *testing.T) {
	e := newPlatformEnv(t, gateway.Config{})
	every := []string{"android", "ios", "hmos", "quickapp", "web", "desktop", "other"}
	tests := []struct {
		name     string
		platform any
		audience any
		options  map[string]any
		inline   bool     // sent while the call waits, without a task
		stored   []string // the platforms stored with the audience
		want     []string
	}{
		{name: "all on one platform", platform: []string{"ios"}, audience: "all",
			stored: []string{"ios"}, want: []string{"ios1", "ios2"}},
		{name: "all on two platforms", platform: []string{"web", "ios", "web"}, audience: "all",
			stored: []string{"ios", "web"}, want: []string{"ios1", "ios2", "web1"}},
		{name: "registration ids, sent at once", platform: []string{"android"},
			audience: map[string]any{"registration_id": e.ids("and1", "ios1", "web1", "and2")},
			inline:   true, stored: []string{"android"}, want: []string{"and1", "and2"}},
		{name: "registration ids, paced", platform: []string{"android"},
			audience: map[string]any{"registration_id": e.ids("and1", "ios1", "web1", "and2")}, options: map[string]any{"rate": 1000},
			stored: []string{"android"}, want: []string{"and1", "and2"}},
		{name: "alias", platform: []string{"ios", "web"}, audience: map[string]any{"alias": []string{"and1", "ios1", "web1"}},
			stored: []string{"ios", "web"}, want: []string{"ios1", "web1"}},
		{name: "tag", platform: []string{"android", "hmos"}, audience: map[string]any{"tag": []string{"beta"}},
			stored: []string{"android", "hmos"}, want: []string{"and2", "hmos1"}},
		{name: "tag_and", platform: []string{"ios"}, audience: map[string]any{"tag_and": []string{"vip", "beta"}},
			stored: []string{"ios"}, want: []string{"ios1"}},
		{name: "tag_not alone", platform: []string{"android", "ios"}, audience: map[string]any{"tag_not": []string{"beta"}},
			stored: []string{"android", "ios"}, want: []string{"and1", "ios2"}},
		{name: "segment with platforms of its own", platform: []string{"android", "ios"}, audience: map[string]any{"segment": []string{e.segment}},
			stored: []string{"android", "ios"}, want: []string{"ios1"}},
		{name: "kinds together", platform: []string{"web"}, audience: map[string]any{"tag": []string{"vip"}, "alias": []string{"web1", "and1"}},
			stored: []string{"web"}, want: []string{"web1"}},
		{name: "paced all on a platform", platform: []string{"hmos", "android"}, audience: "all", options: map[string]any{"rate": 1000},
			stored: []string{"android", "hmos"}, want: []string{"and1", "and2", "hmos1"}},
		{name: "no device on the platform", platform: []string{"desktop"}, audience: map[string]any{"tag": []string{"vip"}},
			stored: []string{"desktop"}, want: nil},
		{name: "every platform listed is no restriction", platform: every, audience: map[string]any{"tag": []string{"vip"}},
			stored: nil, want: []string{"and1", "ios1", "web1"}},
		{name: "all, said", platform: "all", audience: map[string]any{"tag": []string{"beta"}},
			stored: nil, want: []string{"and2", "hmos1", "ios1"}},
		{name: "null is all", platform: nil, audience: map[string]any{"tag": []string{"beta"}},
			stored: nil, want: []string{"and2", "hmos1", "ios1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			body := map[string]any{"platform": tc.platform, "audience": tc.audience, "message": map[string]any{"content": tc.name}}
			if tc.options != nil {
				body["options"] = tc.options
			}
			id := e.pushOK(t, e.app, body)
			_, err := e.data.Task(context.Background(), id)
			switch {
			case tc.inline && !errors.Is(err, dataservice.ErrNotFound):
				t.Fatalf("a list of devices went through a task (%v)", err)
			case !tc.inline:
				e.waitDone(t, id)
			}
			if m := e.message(t, id); m.Broadcast {
				t.Fatal("stored as a broadcast")
			}
			if aud := e.storedAudience(t, id); !slices.Equal(platformsOf(aud), tc.stored) {
				t.Errorf("stored audience %v, want platforms %v", aud, tc.stored)
			}
			e.wantReached(t, id, tc.want)
		})
	}
}

// "all" on every platform stays a broadcast that the connectors fan out;
// on some platforms it goes device by device.
func TestPushPlatformBroadcast(t *testing.T) {
	e := newPlatformEnv(t, gateway.Config{})
	all := e.pushOK(t, e.app, map[string]any{"platform": []string{"other", "desktop", "web", "quickapp", "hmos", "ios", "android"},
		"audience": "all", "message": map[string]any{"content": "everyone"}})
	e.waitDone(t, all)
	if m := e.message(t, all); !m.Broadcast || string(m.Audience) != `"all"` {
		t.Fatalf("all on every platform stored as %+v, want a broadcast to \"all\"", m)
	}
	if got := e.delivered(all); len(got) != 0 {
		t.Fatalf("a broadcast was handed to devices %v one by one", got)
	}

	some := e.pushOK(t, e.app, map[string]any{"platform": []string{"web", "android"}, "audience": "all", "message": map[string]any{"content": "some"}})
	task := e.waitDone(t, some)
	m := e.message(t, some)
	if m.Broadcast || string(m.Audience) != `{"platform":["android","web"]}` {
		t.Fatalf("all on some platforms stored as broadcast %v, audience %s", m.Broadcast, m.Audience)
	}
	if task.Targeted != 3 {
		t.Fatalf("task targeted %d, want 3", task.Targeted)
	}
	e.wantReached(t, some, []string{"and1", "and2", "web1"})
	if listed, err := e.data.AppBroadcasts(context.Background(), e.app.Key, 0, 10); err != nil || !slices.Equal(listed, []uint64{all}) {
		t.Fatalf("app broadcasts %v, %v: want only the push to every platform", listed, err)
	}
}

// A list sent at once drops its devices on other platforms; the report,
// the copies and a cancel count only the others.
func TestPushPlatformListSentAtOnce(t *testing.T) {
	e := newPlatformEnv(t, gateway.Config{})
	id := e.pushOK(t, e.app, map[string]any{"platform": []string{"ios"}, "audience": map[string]any{"registration_id": e.ids("and1", "ios1", "ios2")},
		"message": map[string]any{"content": "ios only"}})
	e.wantReached(t, id, []string{"ios1", "ios2"})
	if sums := e.receipts.sums(id); sums[dataservice.CounterStoredOffline] != 1 {
		t.Fatalf("receipts %v: want ios2 alone counted stored_offline", sums)
	}
	// The device left out is reported not targeted.
	var st struct {
		State string `json:"state"`
	}
	e.do(t, request{method: "GET", path: "/v1/messages/" + formatID(id) + "/devices/" + e.rids["and1"], auth: e.app.auth()}).wantOK(t, http.StatusOK, &st)
	if st.State != "not_targeted" {
		t.Errorf("and1 is %q on a push to ios devices, want not_targeted", st.State)
	}
	e.do(t, request{method: "DELETE", path: "/v1/messages/" + formatID(id), auth: e.app.auth()}).wantOK(t, http.StatusAccepted, nil)
	if sums := e.receipts.sums(id); sums[dataservice.CounterWithdrawn] != 2 {
		t.Fatalf("withdrawn %d, want the 2 copies sent", sums[dataservice.CounterWithdrawn])
	}

	t.Run("no listed device on the platforms", func(t *testing.T) {
		before := e.sideEffects()
		id := e.pushOK(t, e.app, map[string]any{"platform": []string{"ios", "hmos"}, "audience": map[string]any{"registration_id": e.ids("and1", "web1")},
			"message": map[string]any{"content": "nobody"}})
		e.wantReached(t, id, nil)
		if after := e.sideEffects(); after.deliveries != before.deliveries || after.receipts != before.receipts {
			t.Fatal("a push to no device delivered or counted something")
		}
	})

	t.Run("the same cid sends once", func(t *testing.T) {
		body := map[string]any{"platform": []string{"android"}, "audience": map[string]any{"registration_id": e.ids("and1", "ios1")},
			"message": map[string]any{"content": "once"}, "options": map[string]any{"cid": "platform-once"}}
		first, second := e.pushOK(t, e.app, body), e.pushOK(t, e.app, body)
		if first != second {
			t.Fatalf("msg_ids %d and %d for one cid", first, second)
		}
		e.wantReached(t, first, []string{"and1"})
	})

	t.Run("devices of other apps are still refused", func(t *testing.T) {
		other := e.createApp(t)
		foreign := e.jpushRegisterOn(t, other.Key, "ios")
		before := e.sideEffects()
		e.push(t, e.app, map[string]any{"platform": []string{"android"}, "audience": map[string]any{"registration_id": []string{e.rids["and1"], foreign}},
			"message": map[string]any{"content": "x"}}).wantError(t, http.StatusBadRequest, "unknown_registration_id", foreign)
		e.wantNoChange(t, before)
	})
}

func formatID(id uint64) string { return strconv.FormatUint(id, 10) }

// Estimates and validation count only the devices on the platforms.
func TestPlatformEstimateAndValidate(t *testing.T) {
	e := newPlatformEnv(t, gateway.Config{})
	type estimate struct {
		Valid    bool  `json:"valid"`
		Estimate int64 `json:"estimate"`
		Exact    bool  `json:"exact"`
	}
	for _, tc := range []struct {
		name     string
		platform any
		audience any
		want     int64
	}{
		{"all, every platform", nil, "all", 6},
		{"all on ios", []string{"ios"}, "all", 2},
		{"all on platforms without devices", []string{"desktop", "quickapp"}, "all", 0},
		{"tag on ios and web", []string{"ios", "web"}, map[string]any{"tag": []string{"vip"}}, 2},
		{"registration ids on android", []string{"android"}, map[string]any{"registration_id": e.ids("and1", "ios1", "and2")}, 2},
		{"alias on hmos", []string{"hmos"}, map[string]any{"alias": []string{"and1", "ios1"}}, 0},
		{"segment on web", []string{"web"}, map[string]any{"segment": []string{e.segment}}, 1},
		{"tag_not on android", []string{"android"}, map[string]any{"tag_not": []string{"vip"}}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.sideEffects()
			var est estimate
			e.do(t, request{method: "POST", path: "/v1/audiences/estimate", auth: e.app.auth(),
				body: jsonBody(t, map[string]any{"platform": tc.platform, "audience": tc.audience})}).wantOK(t, http.StatusOK, &est)
			if est.Estimate != tc.want || !est.Exact {
				t.Errorf("estimate %+v, want exactly %d", est, tc.want)
			}
			var v estimate
			e.do(t, request{method: "POST", path: "/v1/push/validate", auth: e.app.auth(),
				body: jsonBody(t, map[string]any{"platform": tc.platform, "audience": tc.audience, "message": map[string]any{"content": "x"}})}).
				wantOK(t, http.StatusOK, &v)
			if !v.Valid || v.Estimate != tc.want || !v.Exact {
				t.Errorf("validate %+v, want valid with exactly %d", v, tc.want)
			}
			e.wantNoChange(t, before)
		})
	}
}

// A bad platform is refused by every call that takes one, naming what to
// fix, and changes nothing.
func TestPlatformRejected(t *testing.T) {
	e := newPlatformEnv(t, gateway.Config{})
	for _, tc := range []struct {
		name     string
		platform string // the JSON value of platform
		audience string
		code     string
		hints    []string
	}{
		{"a platform as a string", `"android"`, `"all"`, "invalid_field", []string{"platform", `"all"`, `"android"`}},
		{"all in capitals", `"ALL"`, `"all"`, "invalid_field", []string{"platform", `"all"`}},
		{"an empty list", `[]`, `"all"`, "invalid_field", []string{"platform", "no platform", "android, ios"}},
		{"a JPush platform Herald has not", `["winphone"]`, `"all"`, "invalid_field", []string{"platform[0]", "winphone", "android, ios, hmos, quickapp, web, desktop, other"}},
		{"a name in capitals", `["ios","Android"]`, `"all"`, "invalid_field", []string{"platform[1]", "Android"}},
		{"an empty name", `["ios",""]`, `"all"`, "invalid_field", []string{"platform[1]"}},
		{"a long name is cut between characters", `["` + strings.Repeat("é", 40) + `"]`, `"all"`, "invalid_field", []string{"platform[0]", "éé…"}},
		{"a number in the list", `["ios",1]`, `"all"`, "invalid_field", []string{"platform", "array"}},
		{"an object", `{"ios":true}`, `"all"`, "invalid_field", []string{"platform", "array"}},
		{"a number", `5`, `"all"`, "invalid_field", []string{"platform"}},
		{"a boolean", `true`, `"all"`, "invalid_field", []string{"platform"}},
		{"platform inside the audience", `"all"`, `{"tag":["vip"],"platform":["ios"]}`, "unknown_field", []string{"audience.platform", "beside audience"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			push := `{"platform":` + tc.platform + `,"audience":` + tc.audience + `,"message":{"content":"x"}}`
			for _, call := range []struct {
				path, body string
				prefix     string // of the message
			}{
				{"/v1/push", push, ""},
				{"/v1/push/validate", push, ""},
				{"/v1/audiences/estimate", `{"platform":` + tc.platform + `,"audience":` + tc.audience + `}`, ""},
				{"/v1/schedules", `{"name":"bad","trigger":{"single":{"time":"2035-01-01 00:00:00"}},"push":` + push + `}`, "push: "},
			} {
				before := e.sideEffects()
				r := e.do(t, request{method: "POST", path: call.path, auth: e.app.auth(), body: strings.NewReader(call.body)})
				msg := r.wantError(t, http.StatusBadRequest, tc.code, tc.hints...)
				if !strings.HasPrefix(msg, call.prefix) || !utf8.ValidString(msg) || len(msg) > 300 {
					t.Errorf("%s: message %q does not start with %q, or is not short valid UTF-8", call.path, msg, call.prefix)
				}
				e.wantNoChange(t, before)
			}
		})
	}
}

// A schedule keeps its push's platforms, shows them, and each firing
// reaches the devices on them only.
func TestScheduleFiringKeepsPlatform(t *testing.T) {
	e := newPlatformEnv(t, gateway.Config{ScheduleScan: 20 * time.Millisecond})
	push := map[string]any{"platform": []string{"web", "ios"}, "audience": map[string]any{"tag": []string{"vip"}}, "message": map[string]any{"content": "scheduled"}}
	s := e.postScheduleOK(t, e.app, map[string]any{"name": "vips on ios and web", "trigger": singleAt(secondsAhead(time.Second)), "push": push})
	var shown struct {
		Platform []string `json:"platform"`
	}
	if err := json.Unmarshal(s.Push, &shown); err != nil || !slices.Equal(shown.Platform, []string{"web", "ios"}) {
		t.Fatalf("the schedule shows push %s, want the platforms as sent (%v)", s.Push, err)
	}
	fired := e.waitFirings(t, e.app, s.ScheduleID, 1)
	if f := fired.Firings[0]; f.MsgID == "" || f.Error != "" {
		t.Fatalf("firing %+v", f)
	}
	id := parseMsgID(t, fired.Firings[0].MsgID)
	e.waitDone(t, id)
	if aud := e.storedAudience(t, id); !slices.Equal(platformsOf(aud), []string{"ios", "web"}) {
		t.Fatalf("fired message's audience %v, want platforms ios and web", aud)
	}
	e.wantReached(t, id, []string{"ios1", "web1"})
}

// A task taken over after its gateway died resolves the same devices: the
// platforms are stored with its message's audience.
func TestResumedTaskKeepsPlatform(t *testing.T) {
	e := newPlatformEnv(t, gateway.Config{TaskScan: 50 * time.Millisecond, TaskLease: time.Second})
	ctx := context.Background()
	m := &dataservice.Message{ID: 7_000_000_001, AppKey: e.app.Key, Content: "resumed", TTL: time.Hour, Created: time.Now(),
		Audience: []byte(`{"tag":["vip","beta"],"platform":["ios","web"]}`)}
	if err := e.data.SaveMessage(ctx, m, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.data.CreateTask(ctx, dataservice.Task{ID: m.ID, AppKey: e.app.Key, State: dataservice.TaskRunning,
		Owner: "g99:dead", LeaseUntil: time.Now().Add(-time.Second), Created: time.Now(), Updated: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if task := e.waitDone(t, m.ID); task.Owner == "g99:dead" || task.Targeted != 2 {
		t.Fatalf("resumed task ended %+v, want 2 targeted by a new owner", task)
	}
	for _, d := range platformDevices {
		if got, want := e.inboxHas(t, e.rids[d.name], m.ID), d.name == "ios1" || d.name == "web1"; got != want {
			t.Errorf("%s (%s) has a copy: %v, want %v", d.name, d.platform, got, want)
		}
	}
}

// The document describes platform wherever a push or an estimate takes
// it, as the handlers read and answer it.
func TestOpenAPIDescribesPlatform(t *testing.T) {
	d := loadOpenAPI(t)
	e := newPlatformEnv(t, gateway.Config{})
	c := &conformance{e: e.env, doc: d, ops: d.operations(t)}
	a := e.app.auth()
	c.call(t, exchange{op: "POST /v1/push", path: "/v1/push", auth: a, status: 200, body: map[string]any{
		"platform": []string{"ios", "android"}, "audience": map[string]any{"registration_id": e.ids("and1", "web1")}, "message": map[string]any{"content": "hi"},
	}})
	c.call(t, exchange{op: "POST /v1/push", path: "/v1/push", auth: a, status: 200, body: map[string]any{
		"platform": "all", "audience": "all", "message": map[string]any{"content": "hi"},
	}})
	c.call(t, exchange{op: "POST /v1/push", path: "/v1/push", auth: a, status: 400, badRequest: true, body: map[string]any{
		"platform": []string{"winphone"}, "audience": "all", "message": map[string]any{"content": "hi"},
	}})
	c.call(t, exchange{op: "POST /v1/push/validate", path: "/v1/push/validate", auth: a, status: 200, body: map[string]any{
		"platform": []string{"web"}, "audience": map[string]any{"tag": []string{"vip"}}, "message": map[string]any{"content": "hi"},
	}})
	c.call(t, exchange{op: "POST /v1/audiences/estimate", path: "/v1/audiences/estimate", auth: a, status: 200, body: map[string]any{
		"platform": []string{"hmos"}, "audience": "all",
	}})
	c.call(t, exchange{op: "POST /v1/audiences/estimate", path: "/v1/audiences/estimate", auth: a, status: 400, badRequest: true, body: map[string]any{
		"platform": []string{}, "audience": "all",
	}})
	var s struct {
		ID string `json:"schedule_id"`
	}
	c.call(t, exchange{op: "POST /v1/schedules", path: "/v1/schedules", auth: a, status: 201, body: map[string]any{
		"name": "later", "trigger": map[string]any{"single": map[string]any{"time": "2035-01-01 00:00:00"}},
		"push": map[string]any{"platform": []string{"ios"}, "audience": "all", "message": map[string]any{"content": "later"}},
	}}).decode(t, &s)
	c.call(t, exchange{op: "GET /v1/schedules/{schedule_id}", path: "/v1/schedules/" + s.ID, auth: a, status: 200})
	c.call(t, exchange{op: "POST /v3/schedules", path: "/v3/schedules", auth: a, status: 200, body: map[string]any{
		"name": "from v3", "enabled": true, "trigger": map[string]any{"single": map[string]any{"time": "2035-01-01 08:00:00"}},
		"push": map[string]any{"platform": []string{"ios", "winphone"}, "audience": "all", "notification": map[string]any{"alert": "Hi"}},
	}}).decode(t, &s)
	// Through /v1, a /v3 schedule shows the /v1 push it fires.
	c.call(t, exchange{op: "GET /v1/schedules/{schedule_id}", path: "/v1/schedules/" + s.ID, auth: a, status: 200})
}
