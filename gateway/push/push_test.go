package push_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway/api"
	"github.com/heraldpush/herald/gateway/audience"
	"github.com/heraldpush/herald/gateway/push"
)

var limits = push.Limits{MaxPayload: 64, MaxRecipients: 3, DefaultTTL: time.Hour, MaxTTL: 10 * time.Hour}

func decode(t *testing.T, body string) *push.Request {
	t.Helper()
	req, err := push.Decode([]byte(body))
	if err != nil {
		t.Fatalf("Decode(%s): %v", body, err)
	}
	return req
}

func TestPlanKeepsWhatTheRequestSays(t *testing.T) {
	plan, err := limits.Plan(decode(t, `{"platform": ["ios"], "audience": {"tag": ["b", "a", "b"]},
		"message": {"title": "T", "content": "C", "extras": { "k" : 1 }},
		"options": {"time_to_live": 60, "rate": 5, "priority": "high", "collapse_id": "c1", "cid": "x-1"}}`))
	if err != nil {
		t.Fatal(err)
	}
	m := plan.Message
	if m.Title != "T" || m.Content != "C" || string(m.Extras) != `{"k":1}` || m.TTL != time.Minute ||
		m.Priority != dataservice.PriorityHigh || m.CollapseID != "c1" {
		t.Errorf("message %+v", m)
	}
	if got := plan.Audience; strings.Join(got.Tag, ",") != "a,b" || strings.Join(got.Platform, ",") != "ios" || got.All {
		t.Errorf("audience %+v: want tags a,b (sorted, distinct) on ios", got)
	}
	if plan.Rate != 5 || plan.CID != "x-1" || plan.Inline() || plan.Broadcast() {
		t.Errorf("plan %+v", plan)
	}

	plan, err = limits.Plan(decode(t, `{"audience": "all", "message": {"content": "hi"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if !plan.Broadcast() || plan.Message.TTL != limits.DefaultTTL {
		t.Errorf("\"all\" without pacing: broadcast %v, ttl %v; want a broadcast with the default TTL", plan.Broadcast(), plan.Message.TTL)
	}
	plan, err = limits.Plan(decode(t, `{"audience": {"registration_id": ["r2", "r1"]}, "message": {"content": "hi"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if !plan.Inline() || plan.Broadcast() {
		t.Errorf("a list of devices: inline %v, broadcast %v; want inline", plan.Inline(), plan.Broadcast())
	}
	plan.Local = audience.LocalTime{UTCOffset: new(int)}
	if plan.Inline() {
		t.Error("a firing in each device's local time is sent inline; want through a task")
	}
}

func TestPlanRefusesWithTheAPIError(t *testing.T) {
	for _, tc := range []struct {
		name, body, code, says string
	}{
		{"no audience", `{"message": {"content": "x"}}`, "missing_field", "audience is required"},
		{"no message", `{"audience": "all"}`, "missing_field", "message is required"},
		{"empty content", `{"audience": "all", "message": {"content": ""}}`, "missing_field", "message.content"},
		{"extras not an object", `{"audience": "all", "message": {"content": "x", "extras": [1]}}`, "invalid_field", "message.extras"},
		{"too big", `{"audience": "all", "message": {"content": "` + strings.Repeat("x", 65) + `"}}`, "payload_too_large", "at most 64"},
		{"too many ids", `{"audience": {"registration_id": ["a", "b", "c", "d"]}, "message": {"content": "x"}}`, "too_many_registration_ids", "at most 3"},
		{"ttl over the max", `{"audience": "all", "message": {"content": "x"}, "options": {"time_to_live": 36001}}`, "invalid_field", "time_to_live"},
		{"rate and spread", `{"audience": "all", "message": {"content": "x"}, "options": {"rate": 1, "big_push_duration": 1}}`, "invalid_field", "not both"},
		{"bad priority", `{"audience": "all", "message": {"content": "x"}, "options": {"priority": "urgent"}}`, "invalid_field", "priority"},
		{"collapse online only", `{"audience": "all", "message": {"content": "x"}, "options": {"collapse_id": "c", "time_to_live": 0}}`, "invalid_field", "collapse_id"},
		{"bad cid", `{"audience": "all", "message": {"content": "x"}, "options": {"cid": "a/b"}}`, "invalid_field", "cid"},
		{"unknown platform", `{"platform": ["symbian"], "audience": "all", "message": {"content": "x"}}`, "invalid_field", "platform[0]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := limits.Plan(decode(t, tc.body))
			var ae *api.Error
			if !errors.As(err, &ae) || ae.Code != tc.code || !strings.Contains(ae.Message, tc.says) {
				t.Fatalf("Plan = %v; want %s saying %q", err, tc.code, tc.says)
			}
		})
	}
}

func TestDecodeIsStrict(t *testing.T) {
	for _, body := range []string{``, `null`, `[]`, `{"audience": "all", "nope": 1}`, `{} {}`} {
		if _, err := push.Decode([]byte(body)); err == nil {
			t.Errorf("Decode(%q) accepted", body)
		}
	}
}
