package gateway_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/heraldpush/herald/gateway"
)

// An app may have at most MaxSchedules schedules and MaxSegments
// segments: one more is a 409 saying so, on both faces; another app is
// not affected, and deleting one frees a place.
func TestLimitsPerApp(t *testing.T) {
	e := newEnv(t, gateway.Config{ScheduleScan: time.Hour, MaxSchedules: 2, MaxSegments: 2})
	a, other := e.createApp(t), e.createApp(t)
	at := time.Now().Add(48 * time.Hour)
	first := e.postScheduleOK(t, a, scheduleBody("one", at, []string{"r1"}, "hi"))
	e.postScheduleOK(t, a, scheduleBody("two", at, []string{"r1"}, "hi"))
	e.postSchedule(t, a, scheduleBody("three", at, []string{"r1"}, "hi")).wantError(t, http.StatusConflict, "too_many_schedules", "2 schedules")
	e.v3(t, a, "POST", "/v3/schedules", map[string]any{"name": "three", "enabled": true,
		"trigger": map[string]any{"single": map[string]any{"time": beijing(at)}},
		"push":    map[string]any{"platform": "all", "audience": "all", "notification": map[string]any{"alert": "hi"}}}).
		wantJPushError(t, http.StatusConflict, 8100, "2 schedules")
	e.postScheduleOK(t, other, scheduleBody("other", at, []string{"r1"}, "hi"))
	e.do(t, request{method: "DELETE", path: schedulePath(first.ScheduleID), auth: a.auth()}).wantOK(t, http.StatusOK, nil)
	e.postScheduleOK(t, a, scheduleBody("three", at, []string{"r1"}, "hi"))

	seg := map[string]any{"name": "vip", "tags": []string{"vip"}}
	s1 := e.createSegmentOK(t, a, seg)
	e.createSegmentOK(t, a, seg)
	e.createSegment(t, a, seg).wantError(t, http.StatusConflict, "too_many_segments", "2 segments")
	e.createSegmentOK(t, other, seg)
	e.segmentCall(t, a, "DELETE", s1.SegmentID, nil).wantOK(t, http.StatusOK, nil)
	e.createSegmentOK(t, a, seg)
}

// The defaults are documented figures, and a negative limit is none.
func TestLimitsPerAppDefaults(t *testing.T) {
	cfg := gateway.DefaultConfig()
	if cfg.MaxSchedules != gateway.DefaultMaxSchedules || cfg.MaxSegments != gateway.DefaultMaxSegments {
		t.Fatalf("defaults: %d schedules, %d segments", cfg.MaxSchedules, cfg.MaxSegments)
	}
	e := newEnv(t, gateway.Config{ScheduleScan: time.Hour, MaxSchedules: -1})
	a := e.createApp(t)
	for range 3 {
		e.postScheduleOK(t, a, scheduleBody("s", time.Now().Add(time.Hour), []string{"r1"}, "hi"))
	}
}
