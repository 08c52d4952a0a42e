package portal

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// The compose form and what it becomes: a push (POST /v1/push), an
// audience with its platforms (POST /v1/audiences/estimate), a schedule
// (POST and PUT /v1/schedules), and back, to edit a schedule in the same
// form.

// platformNames are the platforms a push can be limited to.
var platformNames = []string{"android", "ios", "hmos", "quickapp", "web", "desktop", "other"}

// weekdayNames are the points of a weekly trigger.
var weekdayNames = []string{"MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"}

// composeFields maps the API's messages about a push or schedule to the
// compose form's inputs.
var composeFields = fieldMap{
	"message":                        "content",
	"message.title":                  "title",
	"message.content":                "content",
	"message.extras":                 "extras",
	"code:payload_too_large":         "content",
	"platform":                       "platform",
	"audience":                       "audience",
	"audience.registration_id":       "registration_id",
	"audience.alias":                 "alias",
	"audience.tag":                   "tag",
	"audience.tag_and":               "tag_and",
	"audience.tag_not":               "tag_not",
	"audience.segment":               "segment",
	"code:unknown_segment":           "segment",
	"code:too_many_registration_ids": "registration_id",
	"code:unknown_registration_id":   "registration_id",
	"options.time_to_live":           "time_to_live",
	"options.rate":                   "rate",
	"options.big_push_duration":      "big_push_duration",
	"options.priority":               "priority",
	"options.collapse_id":            "collapse_id",
	"name":                           "schedule_name",
	"trigger":                        "schedule_kind",
	"trigger.single":                 "once_time",
	"trigger.single.time":            "once_time",
	"trigger.periodical":             "start",
	"trigger.periodical.start":       "start",
	"trigger.periodical.end":         "end",
	"trigger.periodical.time":        "at_time",
	"trigger.periodical.time_unit":   "time_unit",
	"trigger.periodical.frequency":   "frequency",
	"trigger.periodical.point":       "point",
	"trigger.time_zone":              "time_zone",
	"trigger.zone_type":              "device_time",
}

// testFields is composeFields for "send test", whose audience is the
// test device's registration id.
var testFields = func() fieldMap {
	m := fieldMap{}
	for k, v := range composeFields {
		m[k] = v
	}
	m["audience.registration_id"] = "test_registration_id"
	m["code:unknown_registration_id"] = "test_registration_id"
	m["audience"] = "test_registration_id"
	return m
}()

// splitList splits a list input: one item per line or separated by
// commas, blanks dropped.
func splitList(s string) []string {
	var out []string
	for _, line := range strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' || r == ',' }) {
		if item := strings.TrimSpace(line); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// formPlatform returns the platform of a push: "all" unless some boxes are
// checked (nil then means "all", the API's default).
func formPlatform(f *form) any {
	var list []string
	for _, p := range f.V["platform"] {
		if p != "" && p != "all" {
			list = append(list, p)
		}
	}
	if len(list) == 0 {
		return nil
	}
	return list
}

// formAudience returns the audience the form builds: "all", or the kinds
// it fills in, which AND together.
func formAudience(f *form) any {
	if f.Get("audience") != "filter" {
		return "all"
	}
	a := audienceObject{
		RegistrationID: splitList(f.Get("registration_id")),
		Alias:          splitList(f.Get("alias")),
		Tag:            splitList(f.Get("tag")),
		TagAnd:         splitList(f.Get("tag_and")),
		TagNot:         splitList(f.Get("tag_not")),
	}
	if s := strings.TrimSpace(f.Get("segment")); s != "" {
		a.Segment = []string{s}
	}
	return a
}

// estimateRequest is the body of POST /v1/audiences/estimate.
type estimateRequest struct {
	Platform any `json:"platform,omitempty"`
	Audience any `json:"audience"`
}

// formInt reads an optional whole number of field name into f's errors.
func formInt(f *form, name, what string) *int64 {
	s := strings.TrimSpace(f.Get(name))
	if s == "" {
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f.E[name] = what + " must be a whole number; got " + strconv.Quote(s)
		return nil
	}
	return &n
}

// formPush returns the push the form describes, or nil with f's errors
// set where the form cannot say a push (the gateway judges the rest).
func formPush(f *form) *pushBody {
	p := &pushBody{Platform: formPlatform(f), Audience: formAudience(f)}
	p.Message.Title = f.Get("title")
	p.Message.Content = f.Get("content")
	if x := strings.TrimSpace(f.Get("extras")); x != "" {
		var v any
		if err := json.Unmarshal([]byte(x), &v); err != nil {
			f.E["extras"] = "message.extras is not valid JSON: " + strings.TrimPrefix(err.Error(), "json: ")
		} else if _, ok := v.(map[string]any); !ok {
			f.E["extras"] = "message.extras must be a JSON object"
		} else {
			var buf bytes.Buffer
			json.Compact(&buf, []byte(x))
			p.Message.Extras = buf.Bytes()
		}
	}
	o := &pushOptions{
		TimeToLive: formInt(f, "time_to_live", "options.time_to_live"),
		Priority:   f.Get("priority"),
		CollapseID: strings.TrimSpace(f.Get("collapse_id")),
	}
	if o.Priority == "normal" {
		o.Priority = ""
	}
	switch f.Get("pacing") {
	case "rate":
		o.Rate = formInt(f, "rate", "options.rate")
		if o.Rate == nil && f.E["rate"] == "" {
			f.E["rate"] = "options.rate is required with this pacing: messages per second"
		}
	case "spread":
		o.BigPushDuration = formInt(f, "big_push_duration", "options.big_push_duration")
		if o.BigPushDuration == nil && f.E["big_push_duration"] == "" {
			f.E["big_push_duration"] = "options.big_push_duration is required with this pacing: minutes"
		}
	}
	if *o != (pushOptions{}) {
		p.Options = o
	}
	if len(f.E) > 0 {
		return nil
	}
	return p
}

// formSchedule returns the schedule the form describes (its push from
// formPush), or nil with f's errors set.
func formSchedule(f *form) *scheduleBody {
	push := formPush(f)
	s := &scheduleBody{Name: strings.TrimSpace(f.Get("schedule_name")), Enabled: f.Get("enabled") != "false"}
	t := &s.Trigger
	t.TimeZone = strings.TrimSpace(f.Get("time_zone"))
	if f.Get("device_time") == "on" {
		t.ZoneType = "device"
	}
	switch f.Get("schedule_kind") {
	case "periodic":
		pt := &periodicalTrigger{
			Start:    wallTime(f.Get("start"), "00:00:00"),
			End:      wallTime(f.Get("end"), "23:59:59"),
			Time:     f.Get("at_time"),
			TimeUnit: f.Get("time_unit"),
		}
		if n := formInt(f, "frequency", "trigger.periodical.frequency"); n != nil {
			pt.Frequency = int(*n)
		}
		switch pt.TimeUnit {
		case "week":
			pt.Point = f.V["point_week"]
		case "month":
			pt.Point = splitList(f.Get("point_month"))
		}
		t.Periodical = pt
	default:
		t.Single = &singleTrigger{Time: wallTime(f.Get("once_time"), "")}
	}
	if push == nil || len(f.E) > 0 {
		return nil
	}
	s.Push = *push
	return s
}

// wallTime turns what a date or datetime-local input sends
// ("2026-05-01", "2026-05-01T09:00") into the API's "YYYY-MM-DD
// HH:MM:SS"; the time of day clock is used for a date alone. Anything
// else is passed on as typed, for the gateway to judge.
func wallTime(s, clock string) string {
	s = strings.TrimSpace(s)
	if t, err := time.Parse("2006-01-02", s); err == nil && clock != "" {
		return t.Format("2006-01-02") + " " + clock
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.Format("2006-01-02 15:04:05")
		}
	}
	return s
}

// composeDefaults are the values of a fresh compose form.
func composeDefaults() url.Values {
	return url.Values{
		"audience":      {"all"},
		"time_to_live":  {"86400"},
		"pacing":        {"none"},
		"priority":      {"normal"},
		"schedule_kind": {"once"},
		"time_unit":     {"day"},
		"frequency":     {"1"},
		"time_zone":     {"UTC"},
	}
}

// scheduleForm returns the compose form's values for schedule sc, to edit
// it.
func scheduleForm(sc *schedule) url.Values {
	v := pushForm(&sc.Push)
	v.Set("schedule_id", sc.ScheduleID)
	v.Set("schedule_name", sc.Name)
	v.Set("enabled", strconv.FormatBool(sc.Enabled))
	t := sc.Trigger
	v.Set("time_zone", t.TimeZone)
	if t.TimeZone == "" {
		v.Set("time_zone", "UTC")
	}
	if t.ZoneType == "device" {
		v.Set("device_time", "on")
	}
	switch {
	case t.Single != nil:
		v.Set("schedule_kind", "once")
		v.Set("once_time", inputDateTime(t.Single.Time))
	case t.Periodical != nil:
		pt := t.Periodical
		v.Set("schedule_kind", "periodic")
		v.Set("start", inputDate(pt.Start))
		v.Set("end", inputDate(pt.End))
		at := pt.Time
		if len(at) == 8 && strings.HasSuffix(at, ":00") {
			at = at[:5]
		}
		v.Set("at_time", at)
		v.Set("time_unit", strings.ToLower(pt.TimeUnit))
		v.Set("frequency", strconv.Itoa(max(pt.Frequency, 1)))
		if strings.EqualFold(pt.TimeUnit, "week") {
			for _, d := range pt.Point {
				v.Add("point_week", strings.ToUpper(d))
			}
		} else {
			v.Set("point_month", strings.Join(pt.Point, ", "))
		}
	}
	return v
}

// pushForm returns the compose form's values for push p.
func pushForm(p *pushBody) url.Values {
	v := composeDefaults()
	v.Set("title", p.Message.Title)
	v.Set("content", p.Message.Content)
	if len(p.Message.Extras) > 0 && string(p.Message.Extras) != "null" {
		var buf bytes.Buffer
		if json.Indent(&buf, p.Message.Extras, "", "  ") == nil {
			v.Set("extras", buf.String())
		}
	}
	if list, ok := p.Platform.([]any); ok {
		for _, x := range list {
			if s, ok := x.(string); ok {
				v.Add("platform", s)
			}
		}
	}
	if obj, ok := p.Audience.(map[string]any); ok {
		v.Set("audience", "filter")
		for _, kind := range []string{"registration_id", "alias", "tag", "tag_and", "tag_not", "segment"} {
			list, _ := obj[kind].([]any)
			var items []string
			for _, x := range list {
				if s, ok := x.(string); ok {
					items = append(items, s)
				}
			}
			if len(items) > 0 {
				v.Set(kind, strings.Join(items, "\n"))
			}
		}
	}
	if o := p.Options; o != nil {
		if o.TimeToLive != nil {
			v.Set("time_to_live", strconv.FormatInt(*o.TimeToLive, 10))
		}
		switch {
		case o.Rate != nil:
			v.Set("pacing", "rate")
			v.Set("rate", strconv.FormatInt(*o.Rate, 10))
		case o.BigPushDuration != nil:
			v.Set("pacing", "spread")
			v.Set("big_push_duration", strconv.FormatInt(*o.BigPushDuration, 10))
		}
		if o.Priority != "" {
			v.Set("priority", o.Priority)
		}
		v.Set("collapse_id", o.CollapseID)
	}
	return v
}

// inputDateTime turns the API's "YYYY-MM-DD HH:MM:SS" (or RFC 3339) into
// a datetime-local input's value.
func inputDateTime(s string) string {
	if t, err := time.Parse("2006-01-02 15:04:05", s); err == nil {
		return t.Format("2006-01-02T15:04:05")
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC().Format("2006-01-02T15:04:05")
	}
	return s
}

// inputDate returns the date of the API's "YYYY-MM-DD HH:MM:SS".
func inputDate(s string) string {
	if len(s) >= 10 {
		return s[:10]
	}
	return s
}
