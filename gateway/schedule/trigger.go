package schedule

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heraldpush/herald/gateway/api"
	"github.com/heraldpush/herald/gateway/wallclock"
)

// Trigger says when a schedule fires: once (Single) or periodically
// (Periodical); exactly one is set. Times are wall-clock readings: a
// time.Time whose date and clock fields (in UTC) are read in TimeZone, or,
// with DeviceLocal, in each device's zone.
type Trigger struct {
	Single     *SingleTrigger
	Periodical *PeriodicalTrigger
	// TimeZone is the IANA name of the zone the times are read in, and,
	// with DeviceLocal, the zone of devices that registered none. Empty
	// means UTC.
	TimeZone string
	// DeviceLocal reads the times in each device's own time zone: each
	// occurrence fires once per UTC offset (UTCOffsets), when that offset's
	// clocks reach the time, to the devices at that offset.
	DeviceLocal bool
}

// SingleTrigger fires once.
type SingleTrigger struct {
	// Time is a wall-clock reading, or, with Instant, the instant itself
	// (only in a fixed zone).
	Time    time.Time
	Instant bool
}

// TimeUnit is the period of a PeriodicalTrigger.
type TimeUnit string

// Time units.
const (
	UnitDay   TimeUnit = "day"
	UnitWeek  TimeUnit = "week"
	UnitMonth TimeUnit = "month"
)

// PeriodicalTrigger fires at TimeOfDay on the days it selects, from Start
// to End (wall-clock readings, both included): every Frequency days;
// on Weekdays of every Frequency-th week (weeks start on Monday, counted
// from Start's); or on MonthDays of every Frequency-th month (counted from
// Start's; a month without the day skips it).
type PeriodicalTrigger struct {
	Start, End time.Time
	// TimeOfDay is the time since midnight, in whole seconds.
	TimeOfDay time.Duration
	Unit      TimeUnit
	Frequency int
	// Weekdays (UnitWeek) and MonthDays (UnitMonth, 1 to 31) are sorted
	// and distinct; empty for the other units.
	Weekdays  []time.Weekday
	MonthDays []int
}

// Limits of triggers.
const (
	maxFrequency = 100 // JPush's
	// maxTriggerSpan bounds a periodical trigger, so that computing its
	// firings stays cheap.
	maxTriggerSpan = 10 * 366 * 24 * time.Hour
	wallLayout     = "2006-01-02 15:04:05"
	wallLayoutT    = "2006-01-02T15:04:05"
)

// Zone types of the JSON form.
const (
	ZoneFixed  = "fixed"
	ZoneDevice = "device"
)

// weekdayNames are JPush's weekday points, Monday first.
var weekdayNames = []string{"MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"}

// TriggerJSON is a Trigger on the wire.
type TriggerJSON struct {
	Single     *SingleJSON     `json:"single,omitempty"`
	Periodical *PeriodicalJSON `json:"periodical,omitempty"`
	// TimeZone is an IANA name; absent means UTC.
	TimeZone string `json:"time_zone,omitempty"`
	// ZoneType is "fixed" (the default: times are read in TimeZone) or
	// "device" (in each device's zone).
	ZoneType string `json:"zone_type,omitempty"`
}

type SingleJSON struct {
	Time string `json:"time"`
}

type PeriodicalJSON struct {
	Start     string   `json:"start"`
	End       string   `json:"end"`
	Time      string   `json:"time"`
	TimeUnit  string   `json:"time_unit"`
	Frequency *int     `json:"frequency,omitempty"`
	Point     []string `json:"point,omitempty"`
}

// parseWall reads a wall-clock time: "2006-01-02 15:04:05" or
// "2006-01-02T15:04:05"; or, if instants are allowed, RFC 3339 with an
// offset, returned as is (instant true).
func parseWall(field, s string, allowInstant bool) (t time.Time, instant bool, err error) {
	for _, layout := range []string{wallLayout, wallLayoutT} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, false, nil
		}
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		if !allowInstant {
			return time.Time{}, false, api.Errorf(http.StatusBadRequest, "invalid_field",
				`%s is read in each device's time zone (zone_type "device"): give it without an offset, as "YYYY-MM-DD HH:MM:SS"; got %q`, field, s)
		}
		return t.Truncate(time.Second).UTC(), true, nil
	}
	if s == "" {
		return time.Time{}, false, api.Errorf(http.StatusBadRequest, "missing_field", `%s is required, as "YYYY-MM-DD HH:MM:SS"`, field)
	}
	return time.Time{}, false, api.Errorf(http.StatusBadRequest, "invalid_field",
		`%s must be "YYYY-MM-DD HH:MM:SS" (read in the trigger's time_zone) or RFC 3339 with an offset; got %q`, field, s)
}

// parseTimeOfDay reads "15:04:05" or "15:04".
func parseTimeOfDay(field, s string) (time.Duration, error) {
	for _, layout := range []string{"15:04:05", "15:04"} {
		if t, err := time.Parse(layout, s); err == nil {
			return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute + time.Duration(t.Second())*time.Second, nil
		}
	}
	if s == "" {
		return 0, api.Errorf(http.StatusBadRequest, "missing_field", `%s is required: the time of day, as "HH:MM:SS"`, field)
	}
	return 0, api.Errorf(http.StatusBadRequest, "invalid_field", `%s must be a time of day, "HH:MM:SS" from 00:00:00 to 23:59:59; got %q`, field, s)
}

// trigger validates the JSON form and returns the Trigger it says. It
// does not look at the clock: a stored trigger always parses again.
func (tj *TriggerJSON) Trigger() (Trigger, error) {
	var t Trigger
	if tj == nil {
		return t, api.Errorf(http.StatusBadRequest, "missing_field", `trigger is required: {"single": {"time": "YYYY-MM-DD HH:MM:SS"}} or {"periodical": {…}}`)
	}
	switch tj.ZoneType {
	case "", ZoneFixed:
	case ZoneDevice:
		t.DeviceLocal = true
	default:
		return t, api.Errorf(http.StatusBadRequest, "invalid_field", `trigger.zone_type must be "fixed" (times read in time_zone) or "device" (in each device's time zone); got %q`, tj.ZoneType)
	}
	loc, err := wallclock.Zone(tj.TimeZone)
	if err != nil {
		return t, api.Errorf(http.StatusBadRequest, "invalid_field", `trigger.time_zone must be an IANA time zone name such as "Asia/Shanghai"; %q is not one`, tj.TimeZone)
	}
	if tj.TimeZone != "UTC" {
		t.TimeZone = tj.TimeZone
	}
	switch {
	case tj.Single == nil && tj.Periodical == nil:
		return t, api.Errorf(http.StatusBadRequest, "missing_field", "trigger needs single (one time) or periodical (repeated)")
	case tj.Single != nil && tj.Periodical != nil:
		return t, api.Errorf(http.StatusBadRequest, "invalid_field", "trigger has both single and periodical; give one")
	case tj.Single != nil:
		at, instant, err := parseWall("trigger.single.time", tj.Single.Time, !t.DeviceLocal)
		if err != nil {
			return t, err
		}
		t.Single = &SingleTrigger{Time: at, Instant: instant}
		return t, nil
	}
	p, err := tj.Periodical.periodical(loc, t.DeviceLocal)
	if err != nil {
		return t, err
	}
	t.Periodical = p
	return t, nil
}

func (pj *PeriodicalJSON) periodical(loc *time.Location, deviceLocal bool) (*PeriodicalTrigger, error) {
	p := &PeriodicalTrigger{Frequency: 1}
	var (
		err     error
		instant bool
	)
	if p.Start, instant, err = parseWall("trigger.periodical.start", pj.Start, !deviceLocal); err != nil {
		return nil, err
	} else if instant {
		p.Start = wallclock.Read(p.Start, loc)
	}
	if p.End, instant, err = parseWall("trigger.periodical.end", pj.End, !deviceLocal); err != nil {
		return nil, err
	} else if instant {
		p.End = wallclock.Read(p.End, loc)
	}
	switch {
	case !p.End.After(p.Start):
		return nil, api.Errorf(http.StatusBadRequest, "invalid_field", "trigger.periodical.end (%s) must come after start (%s)", p.End.Format(wallLayout), p.Start.Format(wallLayout))
	case p.End.Sub(p.Start) > maxTriggerSpan:
		return nil, api.Errorf(http.StatusBadRequest, "invalid_field", "trigger.periodical spans %d days from start to end; at most 10 years are allowed", int(p.End.Sub(p.Start).Hours()/24))
	}
	if p.TimeOfDay, err = parseTimeOfDay("trigger.periodical.time", pj.Time); err != nil {
		return nil, err
	}
	if pj.Frequency != nil {
		if f := *pj.Frequency; f < 1 || f > maxFrequency {
			return nil, api.Errorf(http.StatusBadRequest, "invalid_field", "trigger.periodical.frequency is how many time units apart firings are, 1 to %d; got %d", maxFrequency, f)
		}
		p.Frequency = *pj.Frequency
	}
	switch TimeUnit(strings.ToLower(pj.TimeUnit)) {
	case UnitDay:
		p.Unit = UnitDay
		if len(pj.Point) > 0 {
			return nil, api.Errorf(http.StatusBadRequest, "invalid_field", `trigger.periodical.point must be absent with time_unit "day": every day (or every frequency-th day) fires`)
		}
	case UnitWeek:
		p.Unit = UnitWeek
		if len(pj.Point) == 0 {
			return nil, api.Errorf(http.StatusBadRequest, "missing_field", `trigger.periodical.point is required with time_unit "week": the weekdays, e.g. ["MON", "FRI"]`)
		}
		for i, s := range pj.Point {
			d := slices.Index(weekdayNames, strings.ToUpper(s))
			if d < 0 {
				return nil, api.Errorf(http.StatusBadRequest, "invalid_field", `trigger.periodical.point[%d] must be a weekday, one of MON, TUE, WED, THU, FRI, SAT, SUN; got %q`, i, s)
			}
			p.Weekdays = append(p.Weekdays, time.Weekday((d+1)%7))
		}
		slices.SortFunc(p.Weekdays, func(a, b time.Weekday) int { return mondayIndex(a) - mondayIndex(b) })
		p.Weekdays = slices.Compact(p.Weekdays)
	case UnitMonth:
		p.Unit = UnitMonth
		if len(pj.Point) == 0 {
			return nil, api.Errorf(http.StatusBadRequest, "missing_field", `trigger.periodical.point is required with time_unit "month": the days of the month, e.g. ["1", "15"]`)
		}
		for i, s := range pj.Point {
			d, err := strconv.Atoi(s)
			if err != nil || d < 1 || d > 31 || len(s) > 2 {
				return nil, api.Errorf(http.StatusBadRequest, "invalid_field", `trigger.periodical.point[%d] must be a day of the month, "1" to "31" (or "01"); got %q`, i, s)
			}
			p.MonthDays = append(p.MonthDays, d)
		}
		slices.Sort(p.MonthDays)
		p.MonthDays = slices.Compact(p.MonthDays)
	case "":
		return nil, api.Errorf(http.StatusBadRequest, "missing_field", `trigger.periodical.time_unit is required: "day", "week" or "month"`)
	default:
		return nil, api.Errorf(http.StatusBadRequest, "invalid_field", `trigger.periodical.time_unit must be "day", "week" or "month"; got %q`, pj.TimeUnit)
	}
	return p, nil
}

// mondayIndex numbers weekdays from Monday (0) to Sunday (6).
func mondayIndex(d time.Weekday) int { return (int(d) + 6) % 7 }

// json returns the canonical JSON form of t.
func (t Trigger) JSON() TriggerJSON {
	tj := TriggerJSON{TimeZone: t.TimeZone, ZoneType: ZoneFixed}
	if tj.TimeZone == "" {
		tj.TimeZone = "UTC"
	}
	if t.DeviceLocal {
		tj.ZoneType = ZoneDevice
	}
	if s := t.Single; s != nil {
		tj.Single = &SingleJSON{Time: s.Time.Format(wallLayout)}
		if s.Instant {
			tj.Single.Time = s.Time.UTC().Format(time.RFC3339)
		}
		return tj
	}
	p := t.Periodical
	freq := p.Frequency
	pj := &PeriodicalJSON{
		Start: p.Start.Format(wallLayout), End: p.End.Format(wallLayout),
		Time:     time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).Add(p.TimeOfDay).Format("15:04:05"),
		TimeUnit: string(p.Unit), Frequency: &freq,
	}
	for _, d := range p.Weekdays {
		pj.Point = append(pj.Point, weekdayNames[mondayIndex(d)])
	}
	for _, d := range p.MonthDays {
		pj.Point = append(pj.Point, strconv.Itoa(d))
	}
	tj.Periodical = pj
	return tj
}

// location returns the zone of t.
func (t Trigger) location() *time.Location {
	loc, err := wallclock.Zone(t.TimeZone)
	if err != nil {
		return time.UTC // not reached: triggers are validated
	}
	return loc
}
