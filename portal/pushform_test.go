package portal

import (
	"encoding/json"
	"net/url"
	"reflect"
	"testing"
)

func TestFormPush(t *testing.T) {
	for _, tc := range []struct {
		name string
		form url.Values
		want string // the push as JSON; "" when the form is refused
		errs map[string]string
	}{
		{"minimal", url.Values{"content": {"hi"}, "audience": {"all"}}, `{"audience":"all","message":{"content":"hi"}}`, nil},
		{"everything", url.Values{"title": {"T"}, "content": {"C"}, "extras": {"{\n \"a\": [1, 2]\n}"}, "platform": {"web", "ios"},
			"audience": {"filter"}, "registration_id": {"r1\nr2, r3"}, "alias": {"al"}, "tag": {"a"}, "tag_and": {"b\n\n c "}, "tag_not": {"d"}, "segment": {" s1 "},
			"time_to_live": {"0"}, "pacing": {"spread"}, "big_push_duration": {"15"}, "rate": {"9"}, "priority": {"high"}, "collapse_id": {" k "}},
			`{"platform":["web","ios"],"audience":{"registration_id":["r1","r2","r3"],"alias":["al"],"tag":["a"],"tag_and":["b","c"],"tag_not":["d"],"segment":["s1"]},` +
				`"message":{"title":"T","content":"C","extras":{"a":[1,2]}},"options":{"time_to_live":0,"big_push_duration":15,"priority":"high","collapse_id":"k"}}`, nil},
		{"filter with nothing", url.Values{"content": {"x"}, "audience": {"filter"}}, `{"audience":{},"message":{"content":"x"}}`, nil},
		{"extras an array", url.Values{"content": {"x"}, "extras": {"[1]"}}, "", map[string]string{"extras": "message.extras must be a JSON object"}},
		{"ttl not a number", url.Values{"content": {"x"}, "time_to_live": {"1d"}}, "", map[string]string{"time_to_live": `options.time_to_live must be a whole number; got "1d"`}},
		{"rate missing", url.Values{"content": {"x"}, "pacing": {"rate"}}, "", map[string]string{"rate": "options.rate is required with this pacing: messages per second"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newForm(tc.form)
			p := formPush(f)
			if tc.want == "" {
				if p != nil || !reflect.DeepEqual(f.E, tc.errs) {
					t.Errorf("push %v, errors %v; want errors %v", p, f.E, tc.errs)
				}
				return
			}
			if p == nil {
				t.Fatalf("refused: %v", f.E)
			}
			if got := mustJSON(p); got != tc.want {
				t.Errorf("\n got %s\nwant %s", got, tc.want)
			}
		})
	}
}

// A schedule read from the API fills the form that writes it back the same.
func TestScheduleFormRoundTrip(t *testing.T) {
	for _, raw := range []string{
		`{"name":"Once","enabled":true,"trigger":{"single":{"time":"2030-05-01 09:00:00"},"time_zone":"Asia/Shanghai","zone_type":"fixed"},` +
			`"push":{"audience":"all","message":{"title":"T","content":"C","extras":{"k":"v"}},"options":{"time_to_live":60,"rate":5,"priority":"high","collapse_id":"c"}}}`,
		`{"name":"Monthly","enabled":false,"trigger":{"periodical":{"start":"2030-01-01 00:00:00","end":"2030-12-31 23:59:59","time":"09:30:15","time_unit":"month","frequency":3,"point":["1","15"]},"time_zone":"UTC","zone_type":"device"},` +
			`"push":{"platform":["android"],"audience":{"tag":["a","b"],"segment":["s"]},"message":{"content":"C"},"options":{"big_push_duration":30}}}`,
	} {
		var sc schedule
		if err := json.Unmarshal([]byte(raw), &sc); err != nil {
			t.Fatal(err)
		}
		f := newForm(scheduleForm(&sc))
		back := formSchedule(f)
		if back == nil {
			t.Fatalf("%s: refused %v", sc.Name, f.E)
		}
		var want, got any
		json.Unmarshal([]byte(raw), &want)
		json.Unmarshal([]byte(mustJSON(back)), &got)
		// The form normalizes what the API accepts either way.
		w := want.(map[string]any)
		tr := w["trigger"].(map[string]any)
		if tr["zone_type"] == "fixed" {
			delete(tr, "zone_type")
		}
		if p, ok := tr["periodical"].(map[string]any); ok {
			p["frequency"] = float64(3)
		}
		// A push without a time to live is shown with the API's default,
		// which goes back explicitly.
		if o := w["push"].(map[string]any)["options"].(map[string]any); o["time_to_live"] == nil {
			o["time_to_live"] = float64(86400)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %s\nwant %s", sc.Name, mustJSON(got), mustJSON(want))
		}
	}
}

func TestWallTime(t *testing.T) {
	for in, want := range map[string]string{
		"2030-05-01T09:00":    "2030-05-01 09:00:00",
		"2030-05-01T09:00:30": "2030-05-01 09:00:30",
		"2030-05-01":          "2030-05-01 23:59:59",
		"tomorrow":            "tomorrow",
	} {
		if got := wallTime(in, "23:59:59"); got != want {
			t.Errorf("wallTime(%q) = %q, want %q", in, got, want)
		}
	}
}
