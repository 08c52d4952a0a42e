package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway"
	"github.com/heraldpush/herald/gateway/jpush"
	"github.com/heraldpush/herald/internal/ids"
)

// jpushFixture is an app with devices for the /v3 tests:
//
//	r1 android  tags sz, vip  alias u1
//	r2 ios      tags sz       alias u2
//	r3 android  tags bj
//
// and a segment of the vip devices.
type jpushFixture struct {
	*env
	app        app
	r1, r2, r3 string
	segment    string
}

func newJPushFixture(tb testing.TB, cfg gateway.Config) *jpushFixture {
	tb.Helper()
	e := newEnv(tb, cfg)
	f := &jpushFixture{env: e, app: e.createApp(tb)}
	f.r1 = e.jpushRegisterOn(tb, f.app.Key, "android")
	f.r2 = e.jpushRegisterOn(tb, f.app.Key, "ios")
	f.r3 = e.jpushRegisterOn(tb, f.app.Key, "android")
	e.jpushTag(tb, f.app.Key, f.r1, "sz", "vip")
	e.jpushTag(tb, f.app.Key, f.r2, "sz")
	e.jpushTag(tb, f.app.Key, f.r3, "bj")
	e.jpushSetAlias(tb, f.app.Key, f.r1, "u1")
	e.jpushSetAlias(tb, f.app.Key, f.r2, "u2")
	f.segment = e.createSegmentOK(tb, f.app, map[string]any{"name": "vips", "tags": []string{"vip"}}).SegmentID
	return f
}

func sorted(s ...string) []string { return slices.Sorted(slices.Values(s)) }

func TestJPushPushAudiences(t *testing.T) {
	f := newJPushFixture(t, gateway.Config{})
	other := f.createApp(t)
	foreign := f.jpushRegisterOn(t, other.Key, "android")

	for _, c := range []struct {
		name     string
		audience any
		want     any // the audience stored with the message
	}{
		{"all", "all", `"all"`},
		{"registration_id", map[string]any{"registration_id": []string{f.r2, f.r1, f.r2}}, map[string]any{"registration_id": sorted(f.r1, f.r2)}},
		{"registration_id drops devices of other apps", map[string]any{"registration_id": []string{f.r1, foreign, "no-such-device"}}, map[string]any{"registration_id": []string{f.r1}}},
		{"alias", map[string]any{"alias": []string{"u2", "u1"}}, map[string]any{"alias": []string{"u1", "u2"}}},
		{"tag", map[string]any{"tag": []string{"sz", "bj"}}, map[string]any{"tag": []string{"bj", "sz"}}},
		{"tag_and", map[string]any{"tag_and": []string{"vip", "sz"}}, map[string]any{"tag_and": []string{"sz", "vip"}}},
		{"tag_not", map[string]any{"tag_not": []string{"bj"}}, map[string]any{"tag_not": []string{"bj"}}},
		{"kinds together", map[string]any{"tag": []string{"sz"}, "tag_and": []string{"vip"}, "tag_not": []string{"bj"}, "alias": []string{"u1"}},
			map[string]any{"alias": []string{"u1"}, "tag": []string{"sz"}, "tag_and": []string{"vip"}, "tag_not": []string{"bj"}}},
		{"segment", map[string]any{"segment": []string{f.segment}}, map[string]any{"segment": []string{f.segment}}},
		{"empty lists are absent kinds", map[string]any{"tag": []string{}, "alias": []string{"u1"}, "abtest": []string{}}, map[string]any{"alias": []string{"u1"}}},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, m := f.jpushPushOK(t, f.app, map[string]any{
				"platform": "all", "audience": c.audience, "notification": map[string]any{"alert": "hi"},
			})
			if res.SendNo != "0" {
				t.Errorf("sendno %q, want \"0\" when the push gives none", res.SendNo)
			}
			if m.AppKey != f.app.Key || m.Content != "hi" {
				t.Errorf("stored message %+v", m)
			}
			if !jpushSameJSON(t, m.Audience, c.want) {
				t.Errorf("stored audience %s, want %v", m.Audience, c.want)
			}
		})
	}
}

// TestJPushPushPlatforms checks that platform restricts a push to the
// devices on the Herald platforms JPush's names map onto: winphone has no
// Herald devices, and web, desktop and other devices have no JPush name.
func TestJPushPushPlatforms(t *testing.T) {
	f := newJPushFixture(t, gateway.Config{})
	web := f.jpushRegisterOn(t, f.app.Key, "web")
	hmos := f.jpushRegisterOn(t, f.app.Key, "hmos")
	f.jpushTag(t, f.app.Key, web, "sz")
	f.jpushTag(t, f.app.Key, hmos, "sz")
	f.connect(t, f.r1, connectorA)
	f.connect(t, f.r2, connectorA)
	f.connect(t, web, connectorB)
	online := []string{f.r1, f.r2, web}
	every := []string{f.r1, f.r2, f.r3, web, hmos}

	for _, c := range []struct {
		name     string
		platform any
		audience any
		want     any      // the audience stored with the message
		reached  []string // the devices targeted
	}{
		{"all", "all", map[string]any{"tag": []string{"sz"}}, map[string]any{"tag": []string{"sz"}}, []string{f.r1, f.r2, web, hmos}},
		{"one platform", []string{"ios"}, "all", map[string]any{"platform": []string{"ios"}}, []string{f.r2}},
		{"winphone beside another matches none of its own", []string{"winphone", "android"}, map[string]any{"tag": []string{"sz"}},
			map[string]any{"tag": []string{"sz"}, "platform": []string{"android"}}, []string{f.r1}},
		{"every JPush platform leaves Herald's web devices out", []string{"android", "ios", "hmos", "quickapp", "winphone"}, map[string]any{"tag": []string{"sz"}},
			map[string]any{"tag": []string{"sz"}, "platform": []string{"android", "hmos", "ios", "quickapp"}}, []string{f.r1, f.r2, hmos}},
		{"registration ids on other platforms are dropped", []string{"ios"}, map[string]any{"registration_id": []string{f.r1, f.r2}},
			map[string]any{"registration_id": sorted(f.r1, f.r2), "platform": []string{"ios"}}, []string{f.r2}},
		{"alias", []string{"hmos", "ios"}, map[string]any{"alias": []string{"u1", "u2"}},
			map[string]any{"alias": []string{"u1", "u2"}, "platform": []string{"hmos", "ios"}}, []string{f.r2}},
		{"segment", []string{"android"}, map[string]any{"segment": []string{f.segment}},
			map[string]any{"segment": []string{f.segment}, "platform": []string{"android"}}, []string{f.r1}},
	} {
		t.Run(c.name, func(t *testing.T) {
			res, m := f.jpushPushOK(t, f.app, map[string]any{"platform": c.platform, "audience": c.audience, "notification": map[string]any{"alert": "hi"}})
			if !jpushSameJSON(t, m.Audience, c.want) {
				t.Errorf("stored audience %s, want %v", m.Audience, c.want)
			}
			if m.Broadcast {
				t.Fatal("a push with a platform list is a broadcast")
			}
			id, _ := ids.ParseMessageID(res.MsgID)
			if _, err := f.data.Task(context.Background(), id); err == nil {
				f.waitDone(t, id)
			}
			rep, err := f.data.Report(context.Background(), id)
			if err != nil || rep.Targeted != int64(len(c.reached)) {
				t.Errorf("report %+v, %v: want %d targeted", rep, err, len(c.reached))
			}
			var wantDelivered []string
			for _, rid := range c.reached {
				if slices.Contains(online, rid) {
					wantDelivered = append(wantDelivered, rid)
				}
			}
			if got := f.delivered(id); !slices.Equal(got, sorted(wantDelivered...)) {
				t.Errorf("delivered to %v, want %v", got, sorted(wantDelivered...))
			}
			for _, rid := range every {
				if got, want := f.inboxHas(t, rid, id), slices.Contains(c.reached, rid); got != want {
					t.Errorf("%s has a copy: %v, want %v", rid, got, want)
				}
			}
		})
	}

	t.Run("schedules", func(t *testing.T) {
		later := beijing(time.Now().Add(48 * time.Hour))
		var created struct {
			ScheduleID string `json:"schedule_id"`
		}
		f.v3(t, f.app, "POST", "/v3/schedules", map[string]any{"name": "ios", "enabled": true,
			"trigger": map[string]any{"single": map[string]any{"time": later}},
			"push":    map[string]any{"platform": []string{"winphone", "ios"}, "audience": "all", "notification": map[string]any{"alert": "x"}}}).
			wantOK(t, http.StatusOK, &created)
		// Its firings send the /v1 push it shows there.
		var v1 struct {
			Push struct {
				Platform []string `json:"platform"`
			} `json:"push"`
		}
		f.do(t, request{method: "GET", path: "/v1/schedules/" + created.ScheduleID, auth: f.app.auth()}).wantOK(t, http.StatusOK, &v1)
		if !slices.Equal(v1.Push.Platform, []string{"ios"}) {
			t.Errorf("the schedule fires platform %v, want [ios]", v1.Push.Platform)
		}
		before := f.sideEffects()
		f.v3(t, f.app, "POST", "/v3/schedules", map[string]any{"name": "winphone", "enabled": true,
			"trigger": map[string]any{"single": map[string]any{"time": later}},
			"push":    map[string]any{"platform": []string{"winphone"}, "audience": "all", "notification": map[string]any{"alert": "x"}}}).
			wantJPushError(t, http.StatusBadRequest, 8100, "winphone")
		f.wantNoChange(t, before)
	})
}

func TestJPushPushContent(t *testing.T) {
	f := newJPushFixture(t, gateway.Config{})
	notification := map[string]any{"type": "notification"}
	for _, c := range []struct {
		name         string
		platform     any
		notification any
		message      any
		title        string
		content      string
		extras       any
	}{
		{name: "alert for every platform", platform: "all", notification: map[string]any{"alert": "Hi"},
			content: "Hi", extras: map[string]any{"_jpush": notification}},
		{name: "android's notification first, extras of every platform merged",
			platform: "all",
			notification: map[string]any{
				"android": map[string]any{"alert": "A", "title": "T", "builder_id": 3, "extras": map[string]any{"k": 1}},
				"ios":     map[string]any{"alert": "I", "sound": "default", "badge": "+1", "extras": map[string]any{"k": 2, "i": 3}},
			},
			title: "T", content: "A", extras: map[string]any{"k": 1, "i": 3, "_jpush": notification}},
		{name: "the targeted platform's notification",
			platform: []string{"ios"},
			notification: map[string]any{
				"android": map[string]any{"alert": "A", "title": "T", "extras": map[string]any{"k": 1}},
				"ios":     map[string]any{"alert": "I", "extras": map[string]any{"k": 2, "i": 3}},
			},
			content: "I", extras: map[string]any{"k": 2, "i": 3, "_jpush": notification}},
		{name: "a platform without an alert takes notification.alert",
			platform:     []string{"android", "ios"},
			notification: map[string]any{"alert": "G", "android": map[string]any{"title": "T"}},
			title:        "T", content: "G", extras: map[string]any{"_jpush": notification}},
		{name: "a platform's alert overrides notification.alert",
			platform:     []string{"android"},
			notification: map[string]any{"alert": "alert", "android": map[string]any{"alert": "android alert"}},
			content:      "android alert", extras: map[string]any{"_jpush": notification}},
		{name: "iOS alert dictionary",
			platform:     []string{"ios"},
			notification: map[string]any{"ios": map[string]any{"alert": map[string]any{"title": "IT", "subtitle": "S", "body": "IB"}}},
			title:        "IT", content: "IB", extras: map[string]any{"_jpush": notification}},
		{name: "custom message alone",
			platform: "all",
			message:  map[string]any{"msg_content": "M", "title": "MT", "content_type": "text", "extras": map[string]any{"a": "b"}},
			title:    "MT", content: "M", extras: map[string]any{"a": "b", "_jpush": map[string]any{"type": "message", "content_type": "text"}}},
		{name: "notification and custom message",
			platform:     "all",
			notification: map[string]any{"alert": "N"},
			message:      map[string]any{"msg_content": "M", "extras": map[string]any{"x": 1}},
			content:      "N",
			extras: map[string]any{"_jpush": map[string]any{"type": "notification",
				"message": map[string]any{"msg_content": "M", "extras": map[string]any{"x": 1}}}}},
		{name: "a notification with an empty alert leaves the custom message",
			platform:     "all",
			notification: map[string]any{"android": map[string]any{"alert": ""}},
			message:      map[string]any{"msg_content": "M"},
			content:      "M", extras: map[string]any{"_jpush": map[string]any{"type": "message"}}},
		{name: "extras with markup are kept as sent",
			platform:     "all",
			notification: map[string]any{"android": map[string]any{"alert": "x", "extras": map[string]any{"html": "<b>&amp;</b>"}}},
			content:      "x", extras: map[string]any{"html": "<b>&amp;</b>", "_jpush": notification}},
	} {
		t.Run(c.name, func(t *testing.T) {
			body := map[string]any{"platform": c.platform, "audience": "all"}
			if c.notification != nil {
				body["notification"] = c.notification
			}
			if c.message != nil {
				body["message"] = c.message
			}
			_, m := f.jpushPushOK(t, f.app, body)
			if m.Title != c.title || m.Content != c.content {
				t.Errorf("title %q content %q, want %q %q", m.Title, m.Content, c.title, c.content)
			}
			if !jpushSameJSON(t, m.Extras, c.extras) {
				t.Errorf("extras %s, want %v", m.Extras, c.extras)
			}
		})
	}
}

func TestJPushPushOptions(t *testing.T) {
	f := newJPushFixture(t, gateway.Config{})
	ctx := context.Background()
	push := func(t *testing.T, audience any, options any) (jpushPushResult, dataservice.Message) {
		t.Helper()
		return f.jpushPushOK(t, f.app, map[string]any{"platform": "all", "audience": audience,
			"notification": map[string]any{"alert": "hi"}, "options": options})
	}
	rids := map[string]any{"registration_id": []string{f.r1}}

	t.Run("time_to_live", func(t *testing.T) {
		for _, c := range []struct {
			options any
			want    time.Duration
		}{
			{map[string]any{"time_to_live": 60}, time.Minute},
			{map[string]any{"time_to_live": 0}, 0},
			{map[string]any{"time_to_live": "600"}, 10 * time.Minute},
			{map[string]any{}, 24 * time.Hour},
			{nil, 24 * time.Hour},
		} {
			if _, m := push(t, rids, c.options); m.TTL != c.want {
				t.Errorf("options %v: TTL %v, want %v", c.options, m.TTL, c.want)
			}
		}
	})
	t.Run("sendno is echoed", func(t *testing.T) {
		for _, c := range []struct {
			sendno any
			want   string
		}{{18, "18"}, {"19", "19"}, {0, "0"}, {2147483647, "2147483647"}} {
			if res, _ := push(t, rids, map[string]any{"sendno": c.sendno}); res.SendNo != c.want {
				t.Errorf("sendno %v answered as %q, want %q", c.sendno, res.SendNo, c.want)
			}
		}
	})
	t.Run("apns_collapse_id", func(t *testing.T) {
		if _, m := push(t, rids, map[string]any{"apns_collapse_id": "score", "time_to_live": 100}); m.CollapseID != "score" {
			t.Errorf("collapse id %q, want score", m.CollapseID)
		}
	})
	t.Run("big_push_duration paces a task", func(t *testing.T) {
		res, m := push(t, map[string]any{"tag": []string{"sz"}}, map[string]any{"big_push_duration": 5})
		task, err := f.data.Task(ctx, m.ID)
		if err != nil {
			t.Fatalf("no task for a paced push %s: %v", res.MsgID, err)
		}
		if task.Rate < 1 {
			t.Errorf("task rate %d, want a paced send", task.Rate)
		}
	})
	t.Run("options Herald ignores are accepted", func(t *testing.T) {
		push(t, rids, map[string]any{
			"apns_production": false, "third_party_channel": map[string]any{"huawei": map[string]any{"distribution": "jpush"}},
			"classification": 1, "target_event": []string{"x"}, "test_message": true,
		})
		push(t, rids, map[string]any{"apns_production": "false"})
	})
	t.Run("cid makes a push idempotent", func(t *testing.T) {
		var cids struct {
			CIDList []string `json:"cidlist"`
		}
		f.v3(t, f.app, "GET", "/v3/push/cid", nil).wantOK(t, http.StatusOK, &cids)
		if len(cids.CIDList) != 1 {
			t.Fatalf("cidlist %v, want one cid by default", cids.CIDList)
		}
		body := map[string]any{"cid": cids.CIDList[0], "platform": "all", "audience": rids, "notification": map[string]any{"alert": "once"}}
		before := len(f.cluster.Deliveries())
		first, m := f.jpushPushOK(t, f.app, body)
		// The device acknowledges it: its inbox copy goes.
		if _, err := f.data.RemoveInbox(ctx, []dataservice.InboxCopy{{RegistrationID: f.r1, MessageID: m.ID}}); err != nil {
			t.Fatal(err)
		}
		again, _ := f.jpushPushOK(t, f.app, body)
		if first.MsgID != again.MsgID {
			t.Errorf("the same cid answered msg_id %s then %s", first.MsgID, again.MsgID)
		}
		if n := len(f.cluster.Deliveries()) - before; n > 1 {
			t.Errorf("%d deliveries for one cid; the retry must send nothing", n)
		}
		e, err := f.data.Inbox(ctx, f.r1, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if slices.ContainsFunc(e, func(c dataservice.InboxEntry) bool { return c.MessageID == m.ID }) {
			t.Errorf("after the retry the device's inbox holds message %d again; the copy it acknowledged must not come back", m.ID)
		}
	})
}

func TestJPushCIDs(t *testing.T) {
	f := newJPushFixture(t, gateway.Config{})
	shape := regexp.MustCompile(`^` + f.app.Key + `-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	for _, path := range []string{"/v3/push/cid?count=3", "/v3/push/cid?count=3&type=schedule", "/v3/push/validate?count=3&type=push"} {
		var out struct {
			CIDList []string `json:"cidlist"`
		}
		f.v3(t, f.app, "GET", path, nil).wantOK(t, http.StatusOK, &out)
		if len(out.CIDList) != 3 {
			t.Fatalf("%s: cidlist %v, want 3", path, out.CIDList)
		}
		for _, c := range out.CIDList {
			if !shape.MatchString(c) {
				t.Errorf("%s: cid %q is not {app_key}-{uuid}", path, c)
			}
		}
		if out.CIDList[0] == out.CIDList[1] || out.CIDList[1] == out.CIDList[2] {
			t.Errorf("%s: cids repeat: %v", path, out.CIDList)
		}
	}
	for _, q := range []string{"count=0", "count=1001", "count=x", "type=other"} {
		f.v3(t, f.app, "GET", "/v3/push/cid?"+q, nil).wantJPushError(t, http.StatusBadRequest, 1003)
	}
}

func TestJPushValidateSendsNothing(t *testing.T) {
	f := newJPushFixture(t, gateway.Config{})
	before := f.sideEffects()
	var res jpushPushResult
	f.v3(t, f.app, "POST", "/v3/push/validate", map[string]any{
		"platform": "all", "audience": map[string]any{"tag": []string{"sz"}},
		"notification": map[string]any{"alert": "hi"}, "options": map[string]any{"sendno": 7},
	}).wantOK(t, http.StatusOK, &res)
	if res.SendNo != "7" || res.MsgID != "0" {
		t.Errorf("validate answered %+v, want sendno 7 and msg_id 0", res)
	}
	f.wantNoChange(t, before)
	f.v3(t, f.app, "POST", "/v3/push/validate", map[string]any{
		"platform": "all", "audience": map[string]any{"tag": []string{"nobody"}}, "notification": map[string]any{"alert": "hi"},
	}).wantJPushError(t, http.StatusBadRequest, 1011)
}

// TestJPushPushErrors sends bad pushes: each gets JPush's code and status,
// a msg_id naming the failed call, and changes nothing.
func TestJPushPushErrors(t *testing.T) {
	f := newJPushFixture(t, gateway.Config{MaxBody: 16 << 10})
	other := f.createApp(t)
	foreign := f.jpushRegisterOn(t, other.Key, "android")
	old := f.pushOK(t, other, pushBody([]string{foreign}, "theirs"))
	valid := func(mod func(b map[string]any)) map[string]any {
		b := map[string]any{"platform": "all", "audience": map[string]any{"registration_id": []string{f.r1}},
			"notification": map[string]any{"alert": "hi"}}
		mod(b)
		return b
	}
	big := strings.Repeat("x", 4000)
	for _, c := range []struct {
		name   string
		body   any
		status int
		code   int
		hint   string
	}{
		{"empty body", "", 400, 1002, "empty"},
		{"malformed JSON", `{"platform":`, 400, 1003, "JSON"},
		{"array body", `[]`, 400, 1003, "object"},
		{"unknown key", valid(func(b map[string]any) { b["priority"] = 1 }), 400, 1009, "priority"},
		{"no platform", valid(func(b map[string]any) { delete(b, "platform") }), 400, 1002, "platform"},
		{"unknown platform", valid(func(b map[string]any) { b["platform"] = []string{"android", "symbian"} }), 400, 1003, "symbian"},
		{"platform not all", valid(func(b map[string]any) { b["platform"] = "every" }), 400, 1003, "platform"},
		{"no audience", valid(func(b map[string]any) { delete(b, "audience") }), 400, 1002, "audience"},
		{"audience string", valid(func(b map[string]any) { b["audience"] = "everyone" }), 400, 1003, "audience"},
		{"abtest", valid(func(b map[string]any) { b["audience"] = map[string]any{"abtest": []string{"t1"}} }), 400, 1003, "abtest"},
		{"unknown audience kind", valid(func(b map[string]any) { b["audience"] = map[string]any{"city": []string{"sz"}} }), 400, 1003, "city"},
		{"audience kind not a list", valid(func(b map[string]any) { b["audience"] = map[string]any{"tag": "sz"} }), 400, 1003, "audience.tag"},
		{"empty audience", valid(func(b map[string]any) { b["audience"] = map[string]any{"tag": []string{}} }), 400, 1002, "audience"},
		{"bad tag", valid(func(b map[string]any) { b["audience"] = map[string]any{"tag": []string{"a/b"}} }), 400, 1003, "audience.tag[0]"},
		{"too many registration ids", valid(func(b map[string]any) {
			rids := make([]string, 1001)
			for i := range rids {
				rids[i] = fmt.Sprintf("rid-%d", i)
			}
			b["audience"] = map[string]any{"registration_id": rids}
		}), 400, 1003, "1000"},
		{"unknown segment", valid(func(b map[string]any) { b["audience"] = map[string]any{"segment": []string{"0123456789abcdef"}} }), 400, 1003, "segment"},
		{"no notification or message", valid(func(b map[string]any) { delete(b, "notification") }), 400, 1002, "notification"},
		{"notification without alert", valid(func(b map[string]any) { b["notification"] = map[string]any{"android": map[string]any{"title": "t"}} }), 400, 1002, "alert"},
		{"alert not a string", valid(func(b map[string]any) { b["notification"] = map[string]any{"alert": 3} }), 400, 1003, "notification.alert"},
		{"message without msg_content", valid(func(b map[string]any) { b["message"] = map[string]any{"title": "t"} }), 400, 1002, "msg_content"},
		{"extras not an object", valid(func(b map[string]any) {
			b["notification"] = map[string]any{"android": map[string]any{"alert": "a", "extras": []int{1}}}
		}), 400, 1003, "notification.android.extras"},
		{"reserved extras key", valid(func(b map[string]any) {
			b["message"] = map[string]any{"msg_content": "m", "extras": map[string]any{"_jpush": 1}}
		}), 400, 1003, "_jpush"},
		{"payload too big", valid(func(b map[string]any) {
			b["notification"] = map[string]any{"alert": big}
			b["message"] = map[string]any{"msg_content": big}
		}), 400, 1005, "bytes"},
		{"body too big", valid(func(b map[string]any) { b["notification"] = map[string]any{"alert": strings.Repeat("y", 17<<10)} }), 400, 1005, "bytes"},
		{"negative time_to_live", valid(func(b map[string]any) { b["options"] = map[string]any{"time_to_live": -1} }), 400, 1003, "time_to_live"},
		{"time_to_live over ten days", valid(func(b map[string]any) { b["options"] = map[string]any{"time_to_live": 864001} }), 400, 1003, "time_to_live"},
		{"fractional time_to_live", valid(func(b map[string]any) { b["options"] = map[string]any{"time_to_live": 1.5} }), 400, 1003, "time_to_live"},
		{"big_push_duration zero", valid(func(b map[string]any) { b["options"] = map[string]any{"big_push_duration": 0} }), 400, 1003, "big_push_duration"},
		{"sendno not a number", valid(func(b map[string]any) { b["options"] = map[string]any{"sendno": "x1"} }), 400, 1003, "sendno"},
		{"apns_production not a boolean", valid(func(b map[string]any) { b["options"] = map[string]any{"apns_production": "maybe"} }), 400, 1003, "apns_production"},
		{"collapse id online only", valid(func(b map[string]any) {
			b["options"] = map[string]any{"apns_collapse_id": "c", "time_to_live": 0}
		}), 400, 1003, "apns_collapse_id"},
		{"override of an unknown message", valid(func(b map[string]any) { b["options"] = map[string]any{"override_msg_id": 12345} }), 400, 1003, "override_msg_id"},
		{"override of another app's message", valid(func(b map[string]any) { b["options"] = map[string]any{"override_msg_id": old} }), 400, 1003, "override_msg_id"},
		{"cid with a slash", valid(func(b map[string]any) { b["cid"] = "a/b" }), 400, 1003, "cid"},
		{"no device of the app", valid(func(b map[string]any) {
			b["audience"] = map[string]any{"registration_id": []string{foreign, "nope"}}
		}), 400, 1011, "registration"},
		{"a tag no device has", valid(func(b map[string]any) { b["audience"] = map[string]any{"tag": []string{"nobody"}} }), 400, 1011, "audience"},
		{"an alias no device has", valid(func(b map[string]any) { b["audience"] = map[string]any{"alias": []string{"nobody"}} }), 400, 1011, "audience"},
		{"winphone alone", valid(func(b map[string]any) { b["platform"] = []string{"winphone"} }), 400, 1011, "winphone"},
		{"no listed device on the platform", valid(func(b map[string]any) { b["platform"] = []string{"ios", "hmos"} }), 400, 1011, "ios, hmos"},
		{"no device of the audience on the platform", valid(func(b map[string]any) {
			b["platform"] = []string{"quickapp"}
			b["audience"] = map[string]any{"tag": []string{"sz"}}
		}), 400, 1011, "quickapp"},
		{"kinds with no device in common", valid(func(b map[string]any) {
			b["audience"] = map[string]any{"tag": []string{"bj"}, "alias": []string{"u1"}}
		}), 400, 1011, "audience"},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := f.sideEffects()
			for _, path := range []string{"/v3/push", "/v3/push/validate"} {
				b := f.v3(t, f.app, "POST", path, c.body).wantJPushError(t, c.status, c.code, c.hint)
				if b.MsgID == nil {
					t.Errorf("%s: a failed push carries no msg_id: %s", path, "")
				} else if _, err := ids.ParseMessageID(*b.MsgID); err != nil {
					t.Errorf("%s: msg_id %q of the failed call is not a decimal id", path, *b.MsgID)
				}
			}
			f.wantNoChange(t, before)
		})
	}
}

func TestJPushAuthAndRouting(t *testing.T) {
	f := newJPushFixture(t, gateway.Config{})
	wrong := basic(f.app.Key, "000000000000000000000000")
	for _, c := range []struct {
		method, path  string
		missing, fail int // codes without credentials and with wrong ones
	}{
		{"POST", "/v3/push", 1004, 1004},
		{"POST", "/v3/push/validate", 1004, 1004},
		{"GET", "/v3/push/cid", 1004, 1004},
		{"GET", "/v3/devices/" + f.r1, 7001, 7004},
		{"GET", "/v3/tags", 7001, 7004},
		{"GET", "/v3/aliases/u1", 7001, 7004},
		{"GET", "/v3/received?msg_ids=1", 3001, 3001},
	} {
		for _, auth := range []struct {
			header string
			code   int
		}{{"", c.missing}, {wrong, c.fail}} {
			r := f.do(t, request{method: c.method, path: c.path, auth: auth.header, body: jsonBody(t, "{}")})
			r.wantJPushError(t, http.StatusUnauthorized, auth.code)
			if r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s: a 401 without WWW-Authenticate", c.method, c.path)
			}
			if r.header.Get("X-Rate-Limit-Quota") != "" {
				t.Errorf("%s %s: an unauthenticated call counted against an app", c.method, c.path)
			}
		}
	}

	r := f.v3(t, f.app, "GET", "/v3/push", nil)
	r.wantJPushError(t, http.StatusMethodNotAllowed, 1001)
	if r.header.Get("Allow") != "POST" {
		t.Errorf("Allow %q, want POST", r.header.Get("Allow"))
	}
	f.v3(t, f.app, "PUT", "/v3/devices/"+f.r1, "{}").wantJPushError(t, http.StatusMethodNotAllowed, 7002)
	f.v3(t, f.app, "GET", "/v3/nothing", nil).wantJPushError(t, http.StatusNotFound, 1003)
	f.v3(t, f.app, "GET", "/v3/messages?msg_ids=1", nil).wantJPushError(t, http.StatusNotFound, 1003)
	// /v1 keeps its own errors.
	f.do(t, request{method: "GET", path: "/v1/nothing"}).wantError(t, http.StatusNotFound, "not_found")
}

func TestJPushRateLimit(t *testing.T) {
	now := time.Date(2026, 11, 21, 10, 0, 30, 0, time.UTC)
	f := newJPushFixture(t, gateway.Config{JPush: jpush.Config{RateLimits: jpush.RateLimits{Push: 2, Device: 1, Report: -1}, Now: func() time.Time { return now }}})
	push := map[string]any{"platform": "all", "audience": "all", "notification": map[string]any{"alert": "hi"}}

	wantHeaders := func(t *testing.T, r response, quota, remaining int) {
		t.Helper()
		for h, want := range map[string]string{
			"X-Rate-Limit-Quota": strconv.Itoa(quota), "X-Rate-Limit-Remaining": strconv.Itoa(remaining), "X-Rate-Limit-Reset": "30",
		} {
			if got := r.header.Get(h); got != want {
				t.Errorf("%s: %q, want %q", h, got, want)
			}
		}
	}
	r := f.v3(t, f.app, "POST", "/v3/push/validate", push)
	r.wantOK(t, http.StatusOK, nil)
	wantHeaders(t, r, 2, 1)
	r = f.v3(t, f.app, "POST", "/v3/push/validate", "{") // a failed call counts too
	r.wantJPushError(t, http.StatusBadRequest, 1003)
	wantHeaders(t, r, 2, 0)

	before := f.sideEffects()
	r = f.v3(t, f.app, "POST", "/v3/push", push)
	r.wantJPushError(t, http.StatusTooManyRequests, 2002, "Rate limit")
	wantHeaders(t, r, 2, 0)
	if r.header.Get("Retry-After") != "30" {
		t.Errorf("Retry-After %q, want 30", r.header.Get("Retry-After"))
	}
	f.wantNoChange(t, before)

	// Each part of the API has its own count, and each app.
	r = f.v3(t, f.app, "GET", "/v3/tags", nil)
	r.wantOK(t, http.StatusOK, nil)
	wantHeaders(t, r, 1, 0)
	f.v3(t, f.app, "GET", "/v3/tags", nil).wantJPushError(t, http.StatusTooManyRequests, 2002)
	other := f.createApp(t)
	f.v3(t, other, "GET", "/v3/tags", nil).wantOK(t, http.StatusOK, nil)
	// A negative quota lifts the limit and the headers.
	for range 3 {
		r = f.v3(t, f.app, "GET", "/v3/received?msg_ids=1", nil)
		r.wantOK(t, http.StatusOK, nil)
		if q := r.header.Get("X-Rate-Limit-Quota"); q != "" {
			t.Fatalf("X-Rate-Limit-Quota %q on an unlimited part", q)
		}
	}

	// The next minute allows the quota again.
	now = now.Add(30 * time.Second)
	r = f.v3(t, f.app, "POST", "/v3/push/validate", push)
	r.wantOK(t, http.StatusOK, nil)
	if got := r.header.Get("X-Rate-Limit-Remaining"); got != "1" {
		t.Errorf("X-Rate-Limit-Remaining %q in a new window, want 1", got)
	}
}

func TestJPushOverride(t *testing.T) {
	f := newJPushFixture(t, gateway.Config{})
	// r3 is offline: the first push waits in its inbox.
	first, m1 := f.jpushPushOK(t, f.app, map[string]any{"platform": "all", "audience": map[string]any{"registration_id": []string{f.r3}},
		"notification": map[string]any{"alert": "score 1:0"}})
	if !f.inboxHas(t, f.r3, m1.ID) {
		t.Fatal("the first push is not in the offline device's inbox")
	}
	_, m2 := f.jpushPushOK(t, f.app, map[string]any{"platform": "all", "audience": map[string]any{"registration_id": []string{f.r3}},
		"notification": map[string]any{"alert": "score 2:0"}, "options": map[string]any{"override_msg_id": first.MsgID}})
	if f.inboxHas(t, f.r3, m1.ID) {
		t.Error("the overridden message is still in the inbox")
	}
	if !f.inboxHas(t, f.r3, m2.ID) {
		t.Error("the overriding message is not in the inbox")
	}
	x := jpushExtrasOf(t, m2)
	if meta, _ := x["_jpush"].(map[string]any); meta["override_msg_id"] != first.MsgID {
		t.Errorf("extras %s do not name the overridden message", m2.Extras)
	}
	if n := f.receipts.sums(m1.ID)[dataservice.CounterWithdrawn]; n != 1 {
		t.Errorf("%d copies of the overridden message counted withdrawn, want 1", n)
	}
	if w := f.cluster.Withdrawals(); !slices.Contains(w, m1.ID) {
		t.Errorf("connectors were not told to withdraw the overridden message: %v", w)
	}
}

func TestJPushReceived(t *testing.T) {
	f := newJPushFixture(t, gateway.Config{})
	ctx := context.Background()
	_, stored := f.jpushPushOK(t, f.app, map[string]any{"platform": "all", "audience": map[string]any{"registration_id": []string{f.r1, f.r3}},
		"notification": map[string]any{"alert": "hi"}})
	_, online := f.jpushPushOK(t, f.app, map[string]any{"platform": "all", "audience": map[string]any{"registration_id": []string{f.r1}},
		"notification": map[string]any{"alert": "hi"}, "options": map[string]any{"time_to_live": 0}})
	if err := f.data.AddCounters(ctx, []dataservice.CounterDelta{
		{MessageID: stored.ID, Counter: dataservice.CounterDelivered, N: 2},
		{MessageID: online.ID, Counter: dataservice.CounterSent, N: 1},
	}); err != nil {
		t.Fatal(err)
	}
	other := f.createApp(t)
	theirs := f.pushOK(t, other, pushBody([]string{f.jpushRegisterOn(t, other.Key, "ios")}, "x"))
	query := fmt.Sprintf("?msg_ids=%d,%d,%d,%d", stored.ID, online.ID, theirs, 999)

	var received []map[string]any
	f.v3(t, f.app, "GET", "/v3/received"+query, nil).wantOK(t, http.StatusOK, &received)
	want := fmt.Sprintf(`[
		{"msg_id":%d,"android_received":2,"ios_apns_sent":null,"ios_apns_received":null,"ios_msg_received":null,"wp_mpns_sent":null},
		{"msg_id":%d,"android_received":1,"ios_apns_sent":null,"ios_apns_received":null,"ios_msg_received":null,"wp_mpns_sent":null},
		{"msg_id":%d,"android_received":null,"ios_apns_sent":null,"ios_apns_received":null,"ios_msg_received":null,"wp_mpns_sent":null},
		{"msg_id":999,"android_received":null,"ios_apns_sent":null,"ios_apns_received":null,"ios_msg_received":null,"wp_mpns_sent":null}]`,
		stored.ID, online.ID, theirs)
	if !jpushSameJSON(t, received, want) {
		t.Errorf("received %v, want %s", received, want)
	}

	var detail []map[string]any
	f.v3(t, f.app, "GET", "/v3/received/detail"+query, nil).wantOK(t, http.StatusOK, &detail)
	if len(detail) != 4 || detail[0]["msg_id"] != strconv.FormatUint(stored.ID, 10) || detail[0]["jpush_received"] != 2.0 ||
		detail[1]["jpush_received"] != 1.0 || detail[2]["jpush_received"] != nil || detail[0]["android_pns_sent"] != nil {
		t.Errorf("detail %v", detail)
	}
	if _, ok := detail[0]["ios_apns_received"]; !ok {
		t.Errorf("detail entries lack ios_apns_received: %v", detail[0])
	}

	for _, c := range []struct {
		query string
		code  int
	}{
		{"", 1002},
		{"?msg_ids=", 1002},
		{"?msg_ids=,", 1002},
		{"?msg_ids=abc", 1003},
		{"?msg_ids=1,-2", 1003},
		{"?msg_ids=" + strings.Repeat("1,", 101), 1003},
	} {
		f.v3(t, f.app, "GET", "/v3/received"+c.query, nil).wantJPushError(t, http.StatusBadRequest, c.code)
	}
}
