package gateway_test

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/heraldpush/herald/gateway"
	"github.com/heraldpush/herald/gateway/jpush"
	"github.com/heraldpush/herald/internal/ids"
)

// jpushScheduleView is a schedule as JPush shows it (Java's
// ScheduleResult).
type jpushScheduleView struct {
	ScheduleID string         `json:"schedule_id"`
	Name       string         `json:"name"`
	Enabled    *bool          `json:"enabled"`
	Trigger    map[string]any `json:"trigger"`
	Push       map[string]any `json:"push"`
}

// beijing formats t as JPush's schedule times, in Beijing time.
func beijing(t time.Time) string {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return t.In(loc).Format("2006-01-02 15:04:05")
}

func TestJPushSchedules(t *testing.T) {
	f := newJPushFixture(t, gateway.Config{})
	later := beijing(time.Now().Add(48 * time.Hour))
	push := map[string]any{"platform": "all", "audience": map[string]any{"tag": []string{"sz"}},
		"notification": map[string]any{"alert": "Hello, JPush!"}, "message": map[string]any{}, "options": map[string]any{"time_to_live": 60, "apns_production": "false"}}

	// Create, as JPush's docs and the Java SDK send it.
	var created struct {
		ScheduleID string `json:"schedule_id"`
		Name       string `json:"name"`
	}
	f.v3(t, f.app, "POST", "/v3/schedules", map[string]any{"cid": "ignored", "name": "定时推送示例", "enabled": true,
		"trigger": map[string]any{"single": map[string]any{"time": later}}, "push": push}).wantOK(t, http.StatusOK, &created)
	if created.Name != "定时推送示例" || len(created.ScheduleID) != 36 {
		t.Fatalf("created %+v", created)
	}
	var v jpushScheduleView
	f.v3(t, f.app, "GET", "/v3/schedules/"+created.ScheduleID, nil).wantOK(t, http.StatusOK, &v)
	if v.ScheduleID != created.ScheduleID || v.Enabled == nil || !*v.Enabled ||
		!jpushSameJSON(t, v.Trigger, map[string]any{"single": map[string]any{"time": later}}) || !jpushSameJSON(t, v.Push, push) {
		t.Errorf("schedule %+v", v)
	}

	// A periodical one, created by the Python SDK (trailing slash).
	periodical := map[string]any{"periodical": map[string]any{
		"start": beijing(time.Now()), "end": beijing(time.Now().Add(60 * 24 * time.Hour)), "time": "12:00:00",
		"time_unit": "WEEK", "frequency": 2, "point": []string{"WED", "FRI"}}}
	var second struct {
		ScheduleID string `json:"schedule_id"`
	}
	f.v3(t, f.app, "POST", "/v3/schedules/", map[string]any{"name": "weekly", "enabled": true, "trigger": periodical, "push": push}).
		wantOK(t, http.StatusOK, &second)
	var v2 jpushScheduleView
	f.v3(t, f.app, "GET", "/v3/schedules/"+second.ScheduleID, nil).wantOK(t, http.StatusOK, &v2)
	p, _ := v2.Trigger["periodical"].(map[string]any)
	if p["time_unit"] != "week" || p["frequency"] != 2.0 || p["time"] != "12:00:00" || len(v2.Trigger) != 1 {
		t.Errorf("periodical trigger %v", v2.Trigger)
	}

	// The list, oldest first, as Java's ScheduleListResult reads it.
	var list struct {
		TotalCount int                 `json:"total_count"`
		TotalPages int                 `json:"total_pages"`
		Page       int                 `json:"page"`
		Schedules  []jpushScheduleView `json:"schedules"`
	}
	f.v3(t, f.app, "GET", "/v3/schedules?page=1", nil).wantOK(t, http.StatusOK, &list)
	// (Oldest first, to the millisecond: both may have been created in
	// the same one.)
	if list.TotalCount != 2 || list.TotalPages != 1 || list.Page != 1 || len(list.Schedules) != 2 ||
		!slices.Equal(sorted(list.Schedules[0].ScheduleID, list.Schedules[1].ScheduleID), sorted(created.ScheduleID, second.ScheduleID)) {
		t.Errorf("list %+v", list)
	}
	f.v3(t, f.app, "GET", "/v3/schedules?page=2", nil).wantOK(t, http.StatusOK, &list)
	if list.Page != 2 || len(list.Schedules) != 0 || list.TotalCount != 2 {
		t.Errorf("page 2 %+v", list)
	}

	// PUT replaces the sections it has, each whole.
	v = jpushScheduleView{}
	f.v3(t, f.app, "PUT", "/v3/schedules/"+created.ScheduleID, map[string]any{"name": "renamed"}).wantOK(t, http.StatusOK, &v)
	if v.Name != "renamed" || !jpushSameJSON(t, v.Push, push) {
		t.Errorf("after renaming %+v", v)
	}
	newPush := map[string]any{"platform": "all", "audience": "all", "message": map[string]any{"msg_content": "m"}}
	v = jpushScheduleView{}
	f.v3(t, f.app, "PUT", "/v3/schedules/"+created.ScheduleID, map[string]any{"push": newPush, "enabled": false}).wantOK(t, http.StatusOK, &v)
	if !jpushSameJSON(t, v.Push, newPush) || *v.Enabled || v.Name != "renamed" {
		t.Errorf("after the new push %+v", v)
	}
	var msgIDs struct {
		Count  *int     `json:"count"`
		MsgIDs []string `json:"msgids"`
	}
	f.v3(t, f.app, "GET", "/v3/schedules/"+created.ScheduleID+"/msg_ids", nil).wantOK(t, http.StatusOK, &msgIDs)
	if msgIDs.Count == nil || *msgIDs.Count != 0 || msgIDs.MsgIDs == nil {
		t.Errorf("msg_ids of a schedule that never fired: %+v", msgIDs)
	}

	// DELETE, then it is gone.
	f.v3(t, f.app, "DELETE", "/v3/schedules/"+created.ScheduleID, nil).wantEmptyOK(t)
	f.v3(t, f.app, "GET", "/v3/schedules/"+created.ScheduleID, nil).wantJPushError(t, http.StatusNotFound, 8104)
	f.v3(t, f.app, "DELETE", "/v3/schedules/"+created.ScheduleID, nil).wantJPushError(t, http.StatusNotFound, 8104)
}

func TestJPushScheduleFires(t *testing.T) {
	f := newJPushFixture(t, gateway.Config{ScheduleScan: 50 * time.Millisecond, JPush: jpush.Config{RateLimits: jpush.RateLimits{Schedule: -1}}})
	soon := beijing(time.Now().Add(2 * time.Second))
	var created struct {
		ScheduleID string `json:"schedule_id"`
	}
	f.v3(t, f.app, "POST", "/v3/schedules", map[string]any{"name": "soon", "enabled": true,
		"trigger": map[string]any{"single": map[string]any{"time": soon}},
		"push": map[string]any{"platform": "all", "audience": map[string]any{"registration_id": []string{f.r1}},
			"notification": map[string]any{"android": map[string]any{"alert": "A", "title": "T", "extras": map[string]any{"k": "v"}}}}}).
		wantOK(t, http.StatusOK, &created)
	var msgIDs struct {
		Count  int      `json:"count"`
		MsgIDs []string `json:"msgids"`
	}
	jpushWaitFor(t, "the schedule to fire", func() bool {
		f.v3(t, f.app, "GET", "/v3/schedules/"+created.ScheduleID+"/msg_ids", nil).wantOK(t, http.StatusOK, &msgIDs)
		return msgIDs.Count == 1
	})
	id, err := ids.ParseMessageID(msgIDs.MsgIDs[0])
	if err != nil {
		t.Fatal(err)
	}
	m := f.message(t, id)
	if m.Title != "T" || m.Content != "A" || !jpushSameJSON(t, m.Extras, map[string]any{"k": "v", "_jpush": map[string]any{"type": "notification"}}) {
		t.Errorf("the firing sent %q %q %s", m.Title, m.Content, m.Extras)
	}
	var received []map[string]any
	f.v3(t, f.app, "GET", "/v3/received?msg_ids="+strconv.FormatUint(id, 10), nil).wantOK(t, http.StatusOK, &received)
	if len(received) != 1 {
		t.Errorf("received %v", received)
	}
	if _, err := f.data.Message(context.Background(), id); err != nil {
		t.Fatal(err)
	}
}

func TestJPushScheduleErrors(t *testing.T) {
	f := newJPushFixture(t, gateway.Config{})
	later := beijing(time.Now().Add(time.Hour))
	push := map[string]any{"platform": "all", "audience": "all", "notification": map[string]any{"alert": "x"}}
	valid := func(mod func(b map[string]any)) map[string]any {
		b := map[string]any{"name": "n", "enabled": true, "trigger": map[string]any{"single": map[string]any{"time": later}}, "push": push}
		mod(b)
		return b
	}
	for _, c := range []struct {
		name   string
		body   any
		status int
		code   int
	}{
		{"no trigger", valid(func(b map[string]any) { delete(b, "trigger") }), 400, 8100},
		{"no push", valid(func(b map[string]any) { delete(b, "push") }), 400, 8100},
		{"no name", valid(func(b map[string]any) { delete(b, "name") }), 400, 8100},
		{"unknown key", valid(func(b map[string]any) { b["when"] = 1 }), 400, 8100},
		{"a time in the past", valid(func(b map[string]any) {
			b["trigger"] = map[string]any{"single": map[string]any{"time": beijing(time.Now().Add(-time.Hour))}}
		}), 400, 8100},
		{"a time without seconds", valid(func(b map[string]any) {
			b["trigger"] = map[string]any{"single": map[string]any{"time": "2099-02-15 13:16"}}
		}), 400, 8100},
		{"an unknown trigger field", valid(func(b map[string]any) {
			b["trigger"] = map[string]any{"once": map[string]any{"time": later}}
		}), 400, 8100},
		{"day with points", valid(func(b map[string]any) {
			b["trigger"] = map[string]any{"periodical": map[string]any{"start": later, "end": "2099-01-01 00:00:00", "time": "12:00:00", "time_unit": "day", "point": []string{"MON"}}}
		}), 400, 8100},
		{"an invalid push", valid(func(b map[string]any) { b["push"] = map[string]any{"platform": "all", "audience": "all"} }), 400, 8100},
		{"a push with an unknown key", valid(func(b map[string]any) {
			b["push"] = map[string]any{"platform": "all", "audience": "all", "notification": map[string]any{"alert": "x"}, "when": 1}
		}), 400, 8100},
		{"override in a schedule", valid(func(b map[string]any) {
			b["push"] = map[string]any{"platform": "all", "audience": "all", "notification": map[string]any{"alert": "x"}, "options": map[string]any{"override_msg_id": 1}}
		}), 400, 8100},
		{"malformed", "{", 400, 8100},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := f.sideEffects()
			f.v3(t, f.app, "POST", "/v3/schedules", c.body).wantJPushError(t, c.status, c.code)
			f.wantNoChange(t, before)
		})
	}
	f.v3(t, f.app, "GET", "/v3/schedules/0eac1b80-c2ac-4b69-948b-c65b34b96512", nil).wantJPushError(t, http.StatusNotFound, 8104)
	f.v3(t, f.app, "PUT", "/v3/schedules/0eac1b80-c2ac-4b69-948b-c65b34b96512", map[string]any{"name": "x"}).wantJPushError(t, http.StatusNotFound, 8104)
	f.v3(t, f.app, "GET", "/v3/schedules?page=0", nil).wantJPushError(t, http.StatusBadRequest, 8100)
	f.do(t, request{method: "GET", path: "/v3/schedules"}).wantJPushError(t, http.StatusUnauthorized, 8101)
	f.v3(t, f.app, "PATCH", "/v3/schedules", nil).wantJPushError(t, http.StatusMethodNotAllowed, 8100)

	// An empty update changes nothing.
	var created struct {
		ScheduleID string `json:"schedule_id"`
	}
	f.v3(t, f.app, "POST", "/v3/schedules", valid(func(map[string]any) {})).wantOK(t, http.StatusOK, &created)
	f.v3(t, f.app, "PUT", "/v3/schedules/"+created.ScheduleID, map[string]any{}).wantJPushError(t, http.StatusBadRequest, 8100)
}
