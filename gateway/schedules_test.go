package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway"
	"github.com/heraldpush/herald/internal/ids"
)

// --- The API ---

// scheduleOut is a schedule as the API shows it.
type scheduleOut struct {
	ScheduleID string `json:"schedule_id"`
	Name       string `json:"name"`
	Enabled    bool   `json:"enabled"`
	Trigger    struct {
		Single *struct {
			Time string `json:"time"`
		} `json:"single"`
		Periodical *struct {
			Start     string   `json:"start"`
			End       string   `json:"end"`
			Time      string   `json:"time"`
			TimeUnit  string   `json:"time_unit"`
			Frequency int      `json:"frequency"`
			Point     []string `json:"point"`
		} `json:"periodical"`
		TimeZone string `json:"time_zone"`
		ZoneType string `json:"zone_type"`
	} `json:"trigger"`
	Push          json.RawMessage `json:"push"`
	NextFire      *time.Time      `json:"next_fire"`
	NextUTCOffset string          `json:"next_utc_offset"`
	Firings       []firingOut     `json:"firings"`
	Missed        int64           `json:"missed"`
	Created       time.Time       `json:"created"`
	Updated       time.Time       `json:"updated"`
}

type firingOut struct {
	Time      time.Time `json:"time"`
	UTCOffset string    `json:"utc_offset"`
	MsgID     string    `json:"msg_id"`
	Error     string    `json:"error"`
}

func schedulePath(id string) string { return "/v1/schedules/" + url.PathEscape(id) }

func (e *env) postSchedule(tb testing.TB, a app, body any) response {
	tb.Helper()
	return e.do(tb, request{method: "POST", path: "/v1/schedules", auth: a.auth(), body: jsonBody(tb, body)})
}

func (e *env) postScheduleOK(tb testing.TB, a app, body any) scheduleOut {
	tb.Helper()
	var s scheduleOut
	e.postSchedule(tb, a, body).wantOK(tb, http.StatusCreated, &s)
	return s
}

func (e *env) getSchedule(tb testing.TB, a app, id string) scheduleOut {
	tb.Helper()
	var s scheduleOut
	e.do(tb, request{method: "GET", path: schedulePath(id), auth: a.auth()}).wantOK(tb, http.StatusOK, &s)
	return s
}

// secondsAhead is the wall clock d from now, rounded up to a whole second,
// in UTC, as schedules take it.
func secondsAhead(d time.Duration) time.Time {
	return time.Now().UTC().Add(d).Truncate(time.Second).Add(time.Second)
}

func singleAt(at time.Time) map[string]any {
	return map[string]any{"single": map[string]any{"time": at.UTC().Format("2006-01-02 15:04:05")}}
}

// scheduleBody is a schedule pushing content to the listed devices at at.
func scheduleBody(name string, at time.Time, rids []string, content string) map[string]any {
	return map[string]any{"name": name, "trigger": singleAt(at), "push": pushBody(rids, content)}
}

// waitFirings polls the schedule until it has n firings.
func (e *env) waitFirings(tb testing.TB, a app, id string, n int) scheduleOut {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s := e.getSchedule(tb, a, id)
		if len(s.Firings) >= n {
			return s
		}
		if time.Now().After(deadline) {
			tb.Fatalf("schedule %s has %d firings after 20s, want %d: %+v", id, len(s.Firings), n, s)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func parseMsgID(tb testing.TB, s string) uint64 {
	tb.Helper()
	id, err := ids.ParseMessageID(s)
	if err != nil {
		tb.Fatalf("msg_id %q: %v", s, err)
	}
	return id
}

var uuidShape = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestScheduleCRUD(t *testing.T) {
	e := newEnv(t, gateway.Config{ScheduleScan: time.Hour})
	a, other := e.createApp(t), e.createApp(t)
	at := time.Date(2030, 1, 2, 9, 0, 0, 0, time.UTC)
	push := `{"audience": {"tag": ["vip"]}, "message": {"content": "<b>sale</b> & more"}, "options": {"time_to_live": 60}}`
	body := `{"name": "sale", "trigger": {"single": {"time": "2030-01-02 17:00:00"}, "time_zone": "Asia/Shanghai"}, "push": ` + push + `}`
	before := time.Now().Add(-time.Second)
	s := e.postScheduleOK(t, a, body)
	if !uuidShape.MatchString(s.ScheduleID) || s.Name != "sale" || !s.Enabled {
		t.Fatalf("created %+v", s)
	}
	if s.Trigger.Single == nil || s.Trigger.Single.Time != "2030-01-02 17:00:00" || s.Trigger.TimeZone != "Asia/Shanghai" || s.Trigger.ZoneType != "fixed" {
		t.Fatalf("trigger %+v, want the single time as given, in Asia/Shanghai, fixed", s.Trigger)
	}
	if !sameJSON(s.Push, []byte(push)) {
		t.Fatalf("push %s, want %s as given", s.Push, push)
	}
	stored, err := e.data.Schedule(context.Background(), a.Key, s.ScheduleID)
	if err != nil || !bytes.Contains(stored.Spec, []byte("<b>sale</b> & more")) {
		t.Fatalf("stored spec %s (%v): want the push's bytes as given", stored.Spec, err)
	}
	if s.NextFire == nil || !s.NextFire.Equal(at) || s.NextUTCOffset != "" || len(s.Firings) != 0 || s.Missed != 0 {
		t.Fatalf("next_fire %v (offset %q), firings %v; want %v and none", s.NextFire, s.NextUTCOffset, s.Firings, at)
	}
	if s.Created.Before(before) || !s.Updated.Equal(s.Created) {
		t.Fatalf("created %v, updated %v", s.Created, s.Updated)
	}
	if got := e.getSchedule(t, a, s.ScheduleID); !reflectEqualJSON(t, got, s) {
		t.Fatalf("GET = %+v\nwant %+v", got, s)
	}
	e.do(t, request{method: "GET", path: schedulePath(s.ScheduleID), auth: other.auth()}).wantError(t, http.StatusNotFound, "unknown_schedule", s.ScheduleID)
	e.do(t, request{method: "GET", path: schedulePath("nope"), auth: a.auth()}).wantError(t, http.StatusNotFound, "unknown_schedule")

	// A periodical one in each device's local time, disabled.
	p := e.postScheduleOK(t, a, map[string]any{
		"name": "weekly", "enabled": false,
		"trigger": map[string]any{"periodical": map[string]any{"start": "2030-01-01 00:00:00", "end": "2030-12-31 23:59:59", "time": "09:30",
			"time_unit": "WEEK", "point": []string{"fri", "MON", "mon"}}, "zone_type": "device"},
		"push": map[string]any{"audience": "all", "message": map[string]any{"content": "weekly"}},
	})
	pt := p.Trigger.Periodical
	if pt == nil || pt.Time != "09:30:00" || pt.TimeUnit != "week" || pt.Frequency != 1 || !slices.Equal(pt.Point, []string{"MON", "FRI"}) ||
		p.Trigger.ZoneType != "device" || p.Trigger.TimeZone != "UTC" || p.Enabled || p.NextFire != nil {
		t.Fatalf("periodical created as %+v (trigger %+v)", p, pt)
	}

	// Listing, paged.
	third := e.postScheduleOK(t, a, scheduleBody("third", at, []string{"r1"}, "x"))
	want := []string{s.ScheduleID, p.ScheduleID, third.ScheduleID}
	slices.Sort(want)
	var listed []string
	path := "/v1/schedules?limit=2"
	for path != "" {
		var page struct {
			Schedules []scheduleOut `json:"schedules"`
			Next      *string       `json:"next"`
		}
		e.do(t, request{method: "GET", path: path, auth: a.auth()}).wantOK(t, http.StatusOK, &page)
		for _, s := range page.Schedules {
			listed = append(listed, s.ScheduleID)
		}
		path = ""
		if page.Next != nil {
			path = "/v1/schedules?limit=2&after=" + url.QueryEscape(*page.Next)
		}
	}
	if !slices.Equal(listed, want) {
		t.Fatalf("listed %v, want %v", listed, want)
	}
	var none struct {
		Schedules []scheduleOut `json:"schedules"`
	}
	e.do(t, request{method: "GET", path: "/v1/schedules", auth: other.auth()}).wantOK(t, http.StatusOK, &none)
	if none.Schedules == nil || len(none.Schedules) != 0 {
		t.Fatalf("another app lists %+v, want []", none.Schedules)
	}
	e.do(t, request{method: "GET", path: "/v1/schedules?limit=0", auth: a.auth()}).wantError(t, http.StatusBadRequest, "invalid_parameter", "limit")

	// PUT replaces the whole definition; id, created and past firings stay.
	later := time.Date(2031, 6, 1, 8, 0, 0, 0, time.UTC)
	r := e.do(t, request{method: "PUT", path: schedulePath(s.ScheduleID), auth: a.auth(), body: jsonBody(t, scheduleBody("renamed", later, []string{"r1"}, "y"))})
	var replaced scheduleOut
	r.wantOK(t, http.StatusOK, &replaced)
	if replaced.ScheduleID != s.ScheduleID || replaced.Name != "renamed" || !replaced.Created.Equal(s.Created) || !replaced.Updated.After(s.Updated) ||
		replaced.NextFire == nil || !replaced.NextFire.Equal(later) || replaced.Trigger.TimeZone != "UTC" {
		t.Fatalf("replaced %+v", replaced)
	}
	disabled := scheduleBody("renamed", later, []string{"r1"}, "y")
	disabled["enabled"] = false
	e.do(t, request{method: "PUT", path: schedulePath(s.ScheduleID), auth: a.auth(), body: jsonBody(t, disabled)}).wantOK(t, http.StatusOK, &replaced)
	if replaced.Enabled || replaced.NextFire != nil {
		t.Fatalf("disabled: %+v", replaced)
	}
	e.do(t, request{method: "PUT", path: schedulePath(s.ScheduleID), auth: other.auth(), body: jsonBody(t, disabled)}).wantError(t, http.StatusNotFound, "unknown_schedule")

	// DELETE.
	e.do(t, request{method: "DELETE", path: schedulePath(s.ScheduleID), auth: other.auth()}).wantError(t, http.StatusNotFound, "unknown_schedule")
	e.do(t, request{method: "DELETE", path: schedulePath(s.ScheduleID), auth: a.auth()}).wantOK(t, http.StatusOK, nil)
	e.do(t, request{method: "GET", path: schedulePath(s.ScheduleID), auth: a.auth()}).wantError(t, http.StatusNotFound, "unknown_schedule")
	e.do(t, request{method: "DELETE", path: schedulePath(s.ScheduleID), auth: a.auth()}).wantError(t, http.StatusNotFound, "unknown_schedule")

	for _, tc := range []struct{ method, path, allow string }{
		{"PATCH", schedulePath(p.ScheduleID), "GET, PUT, DELETE"},
		{"DELETE", "/v1/schedules", "POST, GET"},
	} {
		r := e.do(t, request{method: tc.method, path: tc.path, auth: a.auth()})
		r.wantError(t, http.StatusMethodNotAllowed, "method_not_allowed")
		if allow := r.header.Get("Allow"); allow != tc.allow {
			t.Errorf("%s %s: Allow = %q, want %q", tc.method, tc.path, allow, tc.allow)
		}
	}
	e.do(t, request{method: "GET", path: "/v1/schedules"}).wantError(t, http.StatusUnauthorized, "unauthorized")
}

// reflectEqualJSON compares two values by their JSON.
func reflectEqualJSON(tb testing.TB, a, b any) bool {
	tb.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		tb.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		tb.Fatal(err)
	}
	return bytes.Equal(ja, jb)
}

func TestScheduleValidation(t *testing.T) {
	e := newEnv(t, gateway.Config{ScheduleScan: time.Hour})
	a := e.createApp(t)
	future := "2030-01-02 09:00:00"
	push := map[string]any{"audience": "all", "message": map[string]any{"content": "x"}}
	single := map[string]any{"single": map[string]any{"time": future}}
	periodical := func(change map[string]any) map[string]any {
		p := map[string]any{"start": "2030-01-01 00:00:00", "end": "2030-06-01 00:00:00", "time": "09:00:00", "time_unit": "week", "point": []string{"MON"}}
		for k, v := range change {
			if v == nil {
				delete(p, k)
			} else {
				p[k] = v
			}
		}
		return map[string]any{"periodical": p}
	}
	body := func(trigger any, push any) map[string]any {
		return map[string]any{"name": "n", "trigger": trigger, "push": push}
	}
	tests := []struct {
		name   string
		body   any
		status int
		code   string
		hints  []string
	}{
		{"empty body", "", 400, "invalid_json", nil},
		{"unknown field", `{"name":"n","trigger":{"single":{"time":"` + future + `"}},"push":{"audience":"all","message":{"content":"x"}},"cron":"* * *"}`, 400, "unknown_field", []string{"cron"}},
		{"no name", map[string]any{"trigger": single, "push": push}, 400, "missing_field", []string{"name"}},
		{"name with a line break", map[string]any{"name": "a\nb", "trigger": single, "push": push}, 400, "invalid_field", []string{"name"}},
		{"name too long", map[string]any{"name": strings.Repeat("n", 256), "trigger": single, "push": push}, 400, "invalid_field", []string{"255"}},
		{"no trigger", map[string]any{"name": "n", "push": push}, 400, "missing_field", []string{"trigger"}},
		{"empty trigger", body(map[string]any{}, push), 400, "missing_field", []string{"single", "periodical"}},
		{"both kinds", body(map[string]any{"single": single["single"], "periodical": periodical(nil)["periodical"]}, push), 400, "invalid_field", []string{"both"}},
		{"unknown trigger field", body(map[string]any{"single": map[string]any{"time": future, "zone": "x"}}, push), 400, "unknown_field", []string{"zone"}},
		{"bad zone type", body(map[string]any{"single": single["single"], "zone_type": "server"}, push), 400, "invalid_field", []string{"zone_type", "device"}},
		{"unknown time zone", body(map[string]any{"single": single["single"], "time_zone": "Mars/Olympus"}, push), 400, "invalid_field", []string{"time_zone", "Mars/Olympus"}},
		{"bad time", body(map[string]any{"single": map[string]any{"time": "2030/01/02 09:00"}}, push), 400, "invalid_field", []string{"trigger.single.time", "YYYY-MM-DD HH:MM:SS"}},
		{"no time", body(map[string]any{"single": map[string]any{}}, push), 400, "missing_field", []string{"trigger.single.time"}},
		{"impossible date", body(map[string]any{"single": map[string]any{"time": "2030-02-30 09:00:00"}}, push), 400, "invalid_field", []string{"trigger.single.time"}},
		{"time in the past", body(map[string]any{"single": map[string]any{"time": "2020-01-01 00:00:00"}}, push), 400, "invalid_field", []string{"never fires", "past"}},
		{"offset in local time", body(map[string]any{"single": map[string]any{"time": "2030-01-02T09:00:00+08:00"}, "zone_type": "device"}, push), 400, "invalid_field", []string{"without an offset"}},
		{"end before start", body(periodical(map[string]any{"end": "2029-01-01 00:00:00"}), push), 400, "invalid_field", []string{"end", "after start"}},
		{"over ten years", body(periodical(map[string]any{"end": "2045-01-01 00:00:00"}), push), 400, "invalid_field", []string{"10 years"}},
		{"no start", body(periodical(map[string]any{"start": nil}), push), 400, "missing_field", []string{"trigger.periodical.start"}},
		{"bad time of day", body(periodical(map[string]any{"time": "25:00:00"}), push), 400, "invalid_field", []string{"trigger.periodical.time"}},
		{"no time of day", body(periodical(map[string]any{"time": nil}), push), 400, "missing_field", []string{"trigger.periodical.time"}},
		{"unknown unit", body(periodical(map[string]any{"time_unit": "year"}), push), 400, "invalid_field", []string{"time_unit", "year"}},
		{"no unit", body(periodical(map[string]any{"time_unit": nil}), push), 400, "missing_field", []string{"time_unit"}},
		{"week without points", body(periodical(map[string]any{"point": nil}), push), 400, "missing_field", []string{"point", "MON"}},
		{"bad weekday", body(periodical(map[string]any{"point": []string{"MON", "MONDAY"}}), push), 400, "invalid_field", []string{"point[1]", "MONDAY"}},
		{"day with points", body(periodical(map[string]any{"time_unit": "day"}), push), 400, "invalid_field", []string{"point", "day"}},
		{"month day 32", body(periodical(map[string]any{"time_unit": "month", "point": []string{"1", "32"}}), push), 400, "invalid_field", []string{"point[1]", "31"}},
		{"month day 0", body(periodical(map[string]any{"time_unit": "month", "point": []string{"0"}}), push), 400, "invalid_field", []string{"point[0]"}},
		{"month day not a number", body(periodical(map[string]any{"time_unit": "month", "point": []string{"1st"}}), push), 400, "invalid_field", []string{"point[0]"}},
		{"point not strings", body(periodical(map[string]any{"time_unit": "month", "point": []int{1}}), push), 400, "invalid_field", []string{"point"}},
		{"frequency 0", body(periodical(map[string]any{"frequency": 0}), push), 400, "invalid_field", []string{"frequency", "100"}},
		{"frequency 101", body(periodical(map[string]any{"frequency": 101}), push), 400, "invalid_field", []string{"frequency"}},
		{"frequency not whole", body(periodical(map[string]any{"frequency": 1.5}), push), 400, "invalid_field", []string{"frequency"}},
		{"no matching day", body(periodical(map[string]any{"time_unit": "month", "point": []string{"31"}, "start": "2030-02-01 00:00:00", "end": "2030-02-28 00:00:00"}), push), 400, "invalid_field", []string{"never fires"}},
		{"ended", body(periodical(map[string]any{"start": "2020-01-01 00:00:00", "end": "2020-06-01 00:00:00"}), push), 400, "invalid_field", []string{"never fires", "end"}},
		{"no push", map[string]any{"name": "n", "trigger": single}, 400, "missing_field", []string{"push"}},
		{"push without audience", body(single, map[string]any{"message": map[string]any{"content": "x"}}), 400, "missing_field", []string{"push:", "audience"}},
		{"push without content", body(single, map[string]any{"audience": "all", "message": map[string]any{}}), 400, "missing_field", []string{"push:", "content"}},
		{"push with an unknown field", body(single, map[string]any{"audience": "all", "message": map[string]any{"content": "x"}, "when": 1}), 400, "unknown_field", []string{"push:", "when"}},
		{"push with a bad audience", body(single, map[string]any{"audience": map[string]any{"tag": []string{"a/b"}}, "message": map[string]any{"content": "x"}}), 400, "invalid_field", []string{"push:", "audience.tag[0]"}},
		{"push with a cid", body(single, map[string]any{"audience": "all", "message": map[string]any{"content": "x"}, "options": map[string]any{"cid": "c1"}}), 400, "invalid_field", []string{"cid"}},
		{"push to an unknown segment", body(single, map[string]any{"audience": map[string]any{"segment": []string{"0123456789abcdef"}}, "message": map[string]any{"content": "x"}}), 400, "unknown_segment", []string{"push:"}},
		{"push too large", body(single, map[string]any{"audience": "all", "message": map[string]any{"content": strings.Repeat("x", 4097)}}), 413, "payload_too_large", []string{"push:"}},
		{"push not an object", body(single, []int{1}), 400, "invalid_field", []string{"push"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := e.sideEffects()
			e.postSchedule(t, a, tc.body).wantError(t, tc.status, tc.code, tc.hints...)
			e.wantNoChange(t, before)
		})
	}
	// The same bodies are refused by PUT, which leaves the schedule as it
	// was.
	s := e.postScheduleOK(t, a, body(single, push))
	for _, tc := range tests[1:] {
		before := e.sideEffects()
		e.do(t, request{method: "PUT", path: schedulePath(s.ScheduleID), auth: a.auth(), body: jsonBody(t, tc.body)}).wantError(t, tc.status, tc.code)
		e.wantNoChange(t, before)
	}
	if got := e.getSchedule(t, a, s.ScheduleID); !reflectEqualJSON(t, got, s) {
		t.Fatalf("rejected PUTs changed the schedule: %+v\nwas %+v", got, s)
	}
}

// --- Firing ---

// startGateway starts another gateway over e's data and connectors, as
// another process would be, with message ids of node. Its stop function
// may be called more than once.
func (e *env) startGateway(tb testing.TB, cfg gateway.Config, node int) (*gateway.Gateway, func()) {
	tb.Helper()
	gen, err := ids.NewGenerator(node)
	if err != nil {
		tb.Fatal(err)
	}
	cfg.AdminTokenHash = sha256Token(adminToken)
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	system := actor.NewActorSystem()
	gw := gateway.New(cfg, gateway.Deps{Data: e.data, Cluster: e.cluster, Receipts: e.receipts, IDs: gen, System: system})
	var once sync.Once
	stop := func() {
		once.Do(func() {
			gw.Close()
			system.Shutdown()
		})
	}
	tb.Cleanup(stop)
	return gw, stop
}

// waitDone waits for the task of message id to end, and fails unless it
// ended done.
func (e *env) waitDone(t *testing.T, id uint64) dataservice.Task {
	t.Helper()
	task := e.waitTask(t, id)
	if task.State != dataservice.TaskDone {
		t.Fatalf("task %d ended %s: %s", id, task.State, task.Error)
	}
	return task
}

func TestSingleScheduleFiresOnce(t *testing.T) {
	e := newEnv(t, gateway.Config{ScheduleScan: 20 * time.Millisecond})
	a := e.createApp(t)
	rids := e.registerDevices(t, a.Key, 3)
	e.connect(t, rids[0], connectorA)
	e.connect(t, rids[1], connectorB)
	at := secondsAhead(time.Second)
	s := e.postScheduleOK(t, a, scheduleBody("once", at, rids, "on time"))
	if len(e.delivered(0)) != 0 || len(e.cluster.Deliveries()) != 0 {
		t.Fatal("a schedule sent at once")
	}
	fired := e.waitFirings(t, a, s.ScheduleID, 1)
	f := fired.Firings[0]
	if len(fired.Firings) != 1 || !f.Time.Equal(at) || f.MsgID == "" || f.Error != "" || fired.NextFire != nil {
		t.Fatalf("after firing: %+v", fired)
	}
	id := parseMsgID(t, f.MsgID)
	if sent := ids.Time(id); sent.Before(at) {
		t.Fatalf("message %d was made at %v, before the schedule's time %v", id, sent, at)
	}
	if task := e.waitDone(t, id); task.Targeted != 3 {
		t.Fatalf("targeted %d, want 3", task.Targeted)
	}
	if got := e.delivered(id); !slices.Equal(got, slices.Sorted(slices.Values(rids[:2]))) {
		t.Fatalf("delivered to %v, want the two online devices", got)
	}
	if m := e.message(t, id); m.Content != "on time" || m.AppKey != a.Key {
		t.Fatalf("sent %+v", m)
	}
	for _, rid := range rids {
		if !e.inboxHas(t, rid, id) {
			t.Fatalf("%s has no copy", rid)
		}
	}
	var rep map[string]any
	e.do(t, request{method: "GET", path: "/v1/messages/" + f.MsgID, auth: a.auth()}).wantOK(t, http.StatusOK, &rep)
	if rep["targeted"] != float64(3) {
		t.Fatalf("report %v", rep)
	}
	// Fired, the schedule is due no more.
	if due, _, err := e.data.DueSchedules(context.Background(), time.Now().Add(time.Hour), "", 10); err != nil || len(due) != 0 {
		t.Fatalf("still due: %v %v", due, err)
	}
}

// A disabled or deleted schedule does not fire; one beside them does.
func TestDisabledAndDeletedSchedulesDoNotFire(t *testing.T) {
	e := newEnv(t, gateway.Config{ScheduleScan: 20 * time.Millisecond})
	a := e.createApp(t)
	rids := e.registerDevices(t, a.Key, 1)
	e.connect(t, rids[0], connectorA)
	at := secondsAhead(time.Second)
	disabled := e.postScheduleOK(t, a, scheduleBody("disabled", at, rids, "disabled"))
	deleted := e.postScheduleOK(t, a, scheduleBody("deleted", at, rids, "deleted"))
	kept := e.postScheduleOK(t, a, scheduleBody("kept", at, rids, "kept"))
	off := scheduleBody("disabled", at, rids, "disabled")
	off["enabled"] = false
	e.do(t, request{method: "PUT", path: schedulePath(disabled.ScheduleID), auth: a.auth(), body: jsonBody(t, off)}).wantOK(t, http.StatusOK, nil)
	e.do(t, request{method: "DELETE", path: schedulePath(deleted.ScheduleID), auth: a.auth()}).wantOK(t, http.StatusOK, nil)

	fired := e.waitFirings(t, a, kept.ScheduleID, 1)
	e.waitDone(t, parseMsgID(t, fired.Firings[0].MsgID))
	if s := e.getSchedule(t, a, disabled.ScheduleID); len(s.Firings) != 0 || s.NextFire != nil {
		t.Fatalf("the disabled schedule: %+v", s)
	}
	for _, d := range e.cluster.Deliveries() {
		if d.msg.Content != "kept" {
			t.Fatalf("%q was sent", d.msg.Content)
		}
	}
}

// plantClaim makes the next firing of schedule id look claimed by a
// gateway that died: a message id chosen, the lease run out.
func (e *env) plantClaim(tb testing.TB, appKey, id string, msgID uint64) dataservice.Schedule {
	tb.Helper()
	ctx := context.Background()
	s, err := e.data.Schedule(ctx, appKey, id)
	if err != nil {
		tb.Fatal(err)
	}
	next := *s.Next
	next.MsgID = msgID
	s.Next, s.Owner, s.LeaseUntil = &next, "g99:dead", time.Now().Add(-time.Second)
	if s, err = e.data.UpdateSchedule(ctx, s); err != nil {
		tb.Fatal(err)
	}
	return s
}

// A firing whose gateway died at any step is completed by another, and
// its message is sent once.
func TestFiringResumesAfterACrash(t *testing.T) {
	for _, stage := range []string{"after the claim", "after storing the message", "after creating the task"} {
		t.Run(stage, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, gateway.Config{ScheduleScan: time.Hour}) // creates schedules, fires none
			a := e.createApp(t)
			rids := e.registerDevices(t, a.Key, 3)
			for _, rid := range rids {
				e.connect(t, rid, connectorA)
			}
			at := secondsAhead(time.Second)
			s := e.postScheduleOK(t, a, scheduleBody("crash", at, rids, "scheduled"))
			const msgID = 9_000_000_001
			e.plantClaim(t, a.Key, s.ScheduleID, msgID)
			ctx := context.Background()
			content := "scheduled"
			if stage != "after the claim" {
				// What the dead gateway stored: this, not a new message,
				// is what goes out.
				content = "stored before the crash"
				aud, _ := json.Marshal(map[string]any{"registration_id": slices.Sorted(slices.Values(rids))})
				m := &dataservice.Message{ID: msgID, AppKey: a.Key, Content: content, TTL: time.Hour, Created: time.Now(), Audience: aud}
				if err := e.data.SaveMessage(ctx, m, nil); err != nil {
					t.Fatal(err)
				}
			}
			if stage == "after creating the task" {
				if err := e.data.CreateTask(ctx, dataservice.Task{ID: msgID, AppKey: a.Key, State: dataservice.TaskRunning,
					Owner: "g99:dead", LeaseUntil: time.Now().Add(-time.Second), Created: time.Now(), Updated: time.Now()}); err != nil {
					t.Fatal(err)
				}
			}
			e.startGateway(t, gateway.Config{ScheduleScan: 20 * time.Millisecond, TaskScan: 50 * time.Millisecond, TaskLease: time.Second}, 2)

			fired := e.waitFirings(t, a, s.ScheduleID, 1)
			if len(fired.Firings) != 1 || fired.Firings[0].MsgID != "9000000001" || fired.NextFire != nil {
				t.Fatalf("after the takeover: %+v", fired)
			}
			if task := e.waitDone(t, msgID); task.Targeted != 3 {
				t.Fatalf("targeted %d, want 3", task.Targeted)
			}
			for _, d := range e.cluster.Deliveries() {
				if d.msg.ID != msgID || d.msg.Content != content {
					t.Fatalf("sent message %d %q; want only %d %q", d.msg.ID, d.msg.Content, uint64(msgID), content)
				}
			}
			if got := e.delivered(msgID); !slices.Equal(got, slices.Sorted(slices.Values(rids))) {
				t.Fatalf("delivered to %v, want every device once", got)
			}
		})
	}
}

// A PUT while a firing is under way lets it complete; the firings after it
// follow the new definition.
func TestReplaceDuringAFiring(t *testing.T) {
	e := newEnv(t, gateway.Config{ScheduleScan: time.Hour})
	a := e.createApp(t)
	rids := e.registerDevices(t, a.Key, 1)
	at := secondsAhead(time.Second)
	s := e.postScheduleOK(t, a, scheduleBody("old", at, rids, "old"))
	const msgID = 9_000_000_002
	ctx := context.Background()
	claimed := e.plantClaim(t, a.Key, s.ScheduleID, msgID)
	claimed.LeaseUntil = time.Now().Add(1500 * time.Millisecond) // a live gateway is sending it
	if _, err := e.data.UpdateSchedule(ctx, claimed); err != nil {
		t.Fatal(err)
	}
	later := secondsAhead(time.Hour)
	var replaced scheduleOut
	e.do(t, request{method: "PUT", path: schedulePath(s.ScheduleID), auth: a.auth(), body: jsonBody(t, scheduleBody("new", later, rids, "new"))}).
		wantOK(t, http.StatusOK, &replaced)
	if replaced.Name != "new" || replaced.NextFire == nil || !replaced.NextFire.Equal(at) {
		t.Fatalf("replaced during a firing: %+v; want the firing at %v kept", replaced, at)
	}
	// The sender dies; another gateway completes the firing when its
	// lease runs out.
	e.startGateway(t, gateway.Config{ScheduleScan: 20 * time.Millisecond}, 2)
	fired := e.waitFirings(t, a, s.ScheduleID, 1)
	if fired.Firings[0].MsgID != "9000000002" || fired.NextFire == nil || !fired.NextFire.Equal(later) {
		t.Fatalf("after the firing: %+v; want msg_id %d, then the new time %v", fired, uint64(msgID), later)
	}
	e.waitDone(t, msgID)
	if m := e.message(t, msgID); m.Content != "new" {
		t.Fatalf("the firing sent %q; the definition at the time it was sent is the new one", m.Content)
	}
}

// A firing more than ScheduleGrace late (no gateway ran) is skipped,
// counted missed, and the schedule goes on.
func TestMissedFiringsAreSkipped(t *testing.T) {
	e := newEnv(t, gateway.Config{ScheduleScan: 20 * time.Millisecond})
	a := e.createApp(t)
	rids := e.registerDevices(t, a.Key, 1)
	twoHoursAgo := time.Now().UTC().Add(-2 * time.Hour).Truncate(time.Second)
	s := e.postScheduleOK(t, a, map[string]any{
		"name": "daily",
		"trigger": map[string]any{"periodical": map[string]any{
			"start": twoHoursAgo.Add(-72 * time.Hour).Format("2006-01-02 15:04:05"), "end": twoHoursAgo.Add(72 * time.Hour).Format("2006-01-02 15:04:05"),
			"time": twoHoursAgo.Format("15:04:05"), "time_unit": "day"}},
		"push": pushBody(rids, "daily"),
	})
	tomorrow := twoHoursAgo.Add(24 * time.Hour)
	if s.NextFire == nil || !s.NextFire.Equal(tomorrow) {
		t.Fatalf("next_fire %v, want %v", s.NextFire, tomorrow)
	}
	// The schedule as a gateway that stopped before today's firing left it.
	ctx := context.Background()
	stored, err := e.data.Schedule(ctx, a.Key, s.ScheduleID)
	if err != nil {
		t.Fatal(err)
	}
	stored.Next = &dataservice.ScheduleFiring{At: twoHoursAgo}
	if _, err := e.data.UpdateSchedule(ctx, stored); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := e.getSchedule(t, a, s.ScheduleID)
		if got.Missed == 1 {
			if len(got.Firings) != 0 || got.NextFire == nil || !got.NextFire.Equal(tomorrow) {
				t.Fatalf("after skipping: %+v", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the missed firing was not skipped: %+v", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(e.cluster.Deliveries()); n != 0 {
		t.Fatalf("%d deliveries of a missed firing", n)
	}
}

// A schedule in each device's local time fires one task per UTC offset,
// when that offset's clocks reach the time, to the devices at that offset.
func TestLocalTimeScheduleReachesEachZone(t *testing.T) {
	e := newEnv(t, gateway.Config{ScheduleScan: 20 * time.Millisecond})
	a := e.createApp(t)
	zoneOf := map[string]string{} // rid → zone
	byZone := map[string]string{} // zone → rid
	for _, zone := range []string{"Asia/Kathmandu", "Asia/Kolkata", "Asia/Karachi", "Asia/Shanghai", "America/New_York", ""} {
		var d device
		e.do(t, request{method: "POST", path: "/v1/devices", body: jsonBody(t, map[string]string{"app_key": a.Key, "platform": "android", "timezone": zone})}).
			wantOK(t, http.StatusCreated, &d)
		zoneOf[d.RID], byZone[zone] = zone, d.RID
		e.connect(t, d.RID, connectorA)
	}
	// 09:00-ish local time, reached at UTC+5 two seconds from now; at
	// UTC+5:30 and UTC+5:45 it came 30 and 45 minutes ago.
	local := time.Now().UTC().Add(5*time.Hour + 2*time.Second).Truncate(time.Second)
	s := e.postScheduleOK(t, a, map[string]any{
		"name":    "local",
		"trigger": map[string]any{"single": map[string]any{"time": local.Format("2006-01-02 15:04:05")}, "zone_type": "device", "time_zone": "Asia/Tashkent"},
		"push":    map[string]any{"audience": "all", "message": map[string]any{"content": "good morning"}},
	})
	if s.NextFire == nil || !s.NextFire.Equal(local.Add(-5*time.Hour)) || s.NextUTCOffset != "+05:00" {
		t.Fatalf("next %v %s, want %v +05:00", s.NextFire, s.NextUTCOffset, local.Add(-5*time.Hour))
	}
	// As if it had been created an hour ago: due from UTC+5:45 on.
	ctx := context.Background()
	stored, err := e.data.Schedule(ctx, a.Key, s.ScheduleID)
	if err != nil {
		t.Fatal(err)
	}
	off := 5*3600 + 45*60
	stored.Next = &dataservice.ScheduleFiring{At: local.Add(-time.Duration(off) * time.Second), UTCOffset: &off}
	if _, err := e.data.UpdateSchedule(ctx, stored); err != nil {
		t.Fatal(err)
	}

	fired := e.waitFirings(t, a, s.ScheduleID, 3)
	want := []struct {
		offset string
		zones  []string
	}{ // newest first
		{"+05:00", []string{"", "Asia/Karachi"}}, // no zone: the schedule's, Asia/Tashkent
		{"+05:30", []string{"Asia/Kolkata"}},
		{"+05:45", []string{"Asia/Kathmandu"}},
	}
	if len(fired.Firings) != len(want) || fired.NextFire == nil || !fired.NextFire.Equal(local.Add(-4*time.Hour-30*time.Minute)) || fired.NextUTCOffset != "+04:30" {
		t.Fatalf("after firing: %+v", fired)
	}
	for i, w := range want {
		f := fired.Firings[i]
		id := parseMsgID(t, f.MsgID)
		if f.UTCOffset != w.offset {
			t.Fatalf("firing %d: offset %s, want %s", i, f.UTCOffset, w.offset)
		}
		task := e.waitDone(t, id)
		var zones []string
		for _, rid := range e.delivered(id) {
			zones = append(zones, zoneOf[rid])
		}
		slices.Sort(zones)
		if !slices.Equal(zones, w.zones) || task.Targeted != int64(len(w.zones)) {
			t.Fatalf("the %s firing reached zones %q (targeted %d), want %q", w.offset, zones, task.Targeted, w.zones)
		}
	}
}

// Two gateways on one dataservice fire each occurrence once, also when one
// of them stops half-way.
func TestTwoGatewaysFireEachOnce(t *testing.T) {
	cfg := gateway.Config{ScheduleScan: 20 * time.Millisecond, TaskScan: 50 * time.Millisecond, TaskLease: time.Second}
	e := newEnv(t, cfg)
	_, stopB := e.startGateway(t, cfg, 2)
	a := e.createApp(t)
	rids := e.registerDevices(t, a.Key, 4)
	for _, rid := range rids {
		e.connect(t, rid, connectorA)
	}
	const waves, perWave = 3, 4
	var scheduleIDs []string
	for i := range waves * perWave {
		at := secondsAhead(time.Duration(i/perWave) * time.Second)
		s := e.postScheduleOK(t, a, scheduleBody(fmt.Sprint("s", i), at, rids, fmt.Sprint("occurrence ", i)))
		scheduleIDs = append(scheduleIDs, s.ScheduleID)
	}
	// Stop gateway B once the first wave went out; what it was sending
	// then is completed by A.
	deadline := time.Now().Add(20 * time.Second)
	for {
		n := 0
		for _, id := range scheduleIDs {
			if len(e.getSchedule(t, a, id).Firings) > 0 {
				n++
			}
		}
		if n >= perWave {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d schedules fired", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	stopB()

	sent := map[uint64]bool{}
	for _, id := range scheduleIDs {
		s := e.waitFirings(t, a, id, 1)
		if len(s.Firings) != 1 || s.Firings[0].MsgID == "" || s.NextFire != nil {
			t.Fatalf("schedule %s: %+v", s.Name, s)
		}
		msgID := parseMsgID(t, s.Firings[0].MsgID)
		if sent[msgID] {
			t.Fatalf("two schedules sent message %d", msgID)
		}
		sent[msgID] = true
		e.waitDone(t, msgID)
	}
	// Every device got exactly the messages of the firings: one per
	// occurrence (a task taken over may hand a page to a connector twice;
	// the message id is the same, and devices drop the copy).
	for _, rid := range rids {
		got := map[uint64]bool{}
		for _, d := range e.cluster.Deliveries() {
			if slices.Contains(d.rids, rid) {
				got[d.msg.ID] = true
			}
		}
		if len(got) != len(sent) {
			t.Fatalf("%s got %d messages, want the %d of the firings", rid, len(got), len(sent))
		}
		for id := range got {
			if !sent[id] {
				t.Fatalf("%s got message %d, which no firing recorded", rid, id)
			}
		}
	}
}

// --- Fuzzing the body ---

// scheduleErrorCodes are the codes a schedule body may be rejected with.
var scheduleErrorCodes = map[string]int{
	"unknown_field":             http.StatusBadRequest,
	"invalid_json":              http.StatusBadRequest,
	"invalid_field":             http.StatusBadRequest,
	"missing_field":             http.StatusBadRequest,
	"too_many_registration_ids": http.StatusBadRequest,
	"unknown_segment":           http.StatusBadRequest,
	"payload_too_large":         http.StatusRequestEntityTooLarge,
	"request_too_large":         http.StatusRequestEntityTooLarge,
}

// newScheduleFuzzEnv is a gateway with the fuzz app and one schedule of
// it, whose scheduler fires nothing while the fuzzer runs.
func newScheduleFuzzEnv(tb testing.TB) (*env, string) {
	tb.Helper()
	e := newEnv(tb, gateway.Config{ScheduleScan: time.Hour})
	if err := e.data.CreateApp(context.Background(), dataservice.App{Key: fuzzAppKey, SecretHash: sha256Token(fuzzAppSecret), Created: time.Now()}); err != nil {
		tb.Fatal(err)
	}
	a := app{Key: fuzzAppKey, Secret: fuzzAppSecret}
	s := e.postScheduleOK(tb, a, scheduleBody("replaced by the fuzzer", time.Date(2040, 1, 1, 0, 0, 0, 0, time.UTC), []string{fuzzOnA}, "x"))
	return e, s.ScheduleID
}

// acceptedSchedule is how encoding/json reads an accepted body.
type acceptedSchedule struct {
	Name    string          `json:"name"`
	Enabled *bool           `json:"enabled"`
	Push    json.RawMessage `json:"push"`
}

// FuzzScheduleBody posts arbitrary bodies to POST /v1/schedules, then puts
// the same body to PUT /v1/schedules/{id}. Whatever the body, both answer
// JSON and agree: the schedule the body defines, stored as shown, firing
// in the future if enabled; or the same 4xx error with a known code,
// having changed nothing.
func FuzzScheduleBody(f *testing.F) {
	e, fixed := newScheduleFuzzEnv(f)
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
		ctx := context.Background()
		before := e.sideEffects()
		was, err := e.data.Schedule(ctx, fuzzAppKey, fixed)
		if err != nil {
			t.Fatal(err)
		}
		created := call(t, "POST", "/v1/schedules", body)
		replaced := call(t, "PUT", schedulePath(fixed), body)

		if created.Code != http.StatusCreated {
			var ae, ae2 apiError
			if err := json.Unmarshal(created.Body.Bytes(), &ae); err != nil || ae.Error == nil || ae.Error.Message == "" {
				t.Fatalf("status %d without an error object: %s", created.Code, created.Body)
			}
			if want, known := scheduleErrorCodes[ae.Error.Code]; !known || want != created.Code {
				t.Fatalf("status %d with code %q (%s); want a known code with its status", created.Code, ae.Error.Code, ae.Error.Message)
			}
			if err := json.Unmarshal(replaced.Body.Bytes(), &ae2); err != nil || ae2.Error == nil || replaced.Code != created.Code || ae2.Error.Code != ae.Error.Code {
				t.Fatalf("POST rejected the body with %d %s, PUT answered %d %s", created.Code, ae.Error.Code, replaced.Code, replaced.Body)
			}
			e.wantNoChange(t, before)
			if now, err := e.data.Schedule(ctx, fuzzAppKey, fixed); err != nil || now.Generation != was.Generation {
				t.Fatalf("rejected with %s, yet the schedule changed: %+v %v", ae.Error.Code, now, err)
			}
			return
		}
		if replaced.Code != http.StatusOK {
			t.Fatalf("POST accepted the body, PUT answered %d %s", replaced.Code, replaced.Body)
		}
		var req acceptedSchedule
		if err := json.Unmarshal(body, &req); err != nil {
			t.Fatalf("accepted a body encoding/json cannot read: %v", err)
		}
		var push bytes.Buffer
		if err := json.Compact(&push, req.Push); err != nil {
			t.Fatalf("accepted a push that is not JSON: %v", err)
		}
		enabled := req.Enabled == nil || *req.Enabled
		var views [2]scheduleOut
		for i, rec := range []*httptest.ResponseRecorder{created, replaced} {
			v := &views[i]
			if err := json.Unmarshal(rec.Body.Bytes(), v); err != nil {
				t.Fatal(err)
			}
			if v.Name != req.Name || v.Enabled != enabled || !sameJSON(v.Push, push.Bytes()) {
				t.Fatalf("answered %+v for %s", v, body)
			}
			if enabled != (v.NextFire != nil) || (v.NextFire != nil && v.NextFire.Before(time.Now().Add(-time.Minute))) {
				t.Fatalf("enabled %v, next_fire %v", enabled, v.NextFire)
			}
			s, err := e.data.Schedule(ctx, fuzzAppKey, v.ScheduleID)
			if err != nil {
				t.Fatal(err)
			}
			if s.Name != v.Name || s.Enabled != v.Enabled || (s.Next == nil) != (v.NextFire == nil) || (s.Next != nil && !s.Next.At.Equal(*v.NextFire)) {
				t.Fatalf("stored %+v, answered %+v", s, v)
			}
		}
		if views[1].ScheduleID != fixed || !views[1].Created.Equal(was.Created) || !reflectEqualJSON(t, views[0].Trigger, views[1].Trigger) {
			t.Fatalf("PUT answered %+v; want schedule %s created %v, with the trigger POST stored: %+v", views[1], fixed, was.Created, views[0].Trigger)
		}
		// The trigger shown is one the API takes back as it is.
		again := map[string]any{"name": req.Name, "enabled": false, "trigger": views[0].Trigger, "push": json.RawMessage(push.Bytes())}
		if rec := call(t, "PUT", schedulePath(fixed), mustJSON(t, again)); rec.Code != http.StatusOK {
			t.Fatalf("the trigger shown, %+v, is refused: %s", views[0].Trigger, rec.Body)
		}
	})
}

func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestScheduleSeedCorpus checks that each seed of FuzzScheduleBody still
// meets the case it was written for.
func TestScheduleSeedCorpus(t *testing.T) {
	e, _ := newScheduleFuzzEnv(t)
	want := map[string]string{ // seed file → error code, "" for accepted
		"valid_single":              "",
		"valid_single_instant":      "",
		"valid_weekly":              "",
		"valid_monthly":             "",
		"valid_local_time":          "",
		"valid_disabled_past":       "",
		"valid_case_insensitive":    "",
		"valid_jpush_shape":         "",
		"unknown_field_top":         "unknown_field",
		"unknown_field_push":        "unknown_field",
		"invalid_json_truncated":    "invalid_json",
		"invalid_json_empty":        "invalid_json",
		"null_body":                 "missing_field",
		"array_body":                "invalid_field",
		"missing_name":              "missing_field",
		"missing_push":              "missing_field",
		"invalid_time":              "invalid_field",
		"invalid_past":              "invalid_field",
		"invalid_unit":              "invalid_field",
		"invalid_point":             "invalid_field",
		"invalid_frequency":         "invalid_field",
		"invalid_zone":              "invalid_field",
		"invalid_cid":               "invalid_field",
		"unknown_segment":           "unknown_segment",
		"payload_too_large":         "payload_too_large",
		"too_many_registration_ids": "too_many_registration_ids",
	}
	a := app{Key: fuzzAppKey, Secret: fuzzAppSecret}
	checkSeeds(t, seedCase{target: "FuzzScheduleBody", want: want, okStatus: http.StatusCreated, codes: scheduleErrorCodes,
		send: func(t *testing.T, body []byte) response { return e.postSchedule(t, a, body) }})
}
