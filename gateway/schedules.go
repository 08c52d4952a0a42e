package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway/api"
	"github.com/heraldpush/herald/gateway/audience"
	"github.com/heraldpush/herald/gateway/push"
	"github.com/heraldpush/herald/gateway/wallclock"
	"github.com/heraldpush/herald/internal/ids"
)

// The schedules API: pushes an app wants sent later — once, or
// periodically (every n days, weeks on some weekdays, or months on some
// days of the month) — at a time of day read in a fixed time zone or in
// each device's own. A schedule's push is exactly the body POST /v1/push
// takes; each firing sends it once, whatever gateways crash or run side
// by side (see scheduler.go).
//
// The JSON follows JPush's schedule API (trigger.single.time,
// trigger.periodical {start, end, time, time_unit, frequency, point}), so
// that the /v3 face maps onto the same core:
//
//	parse      a face reads its body into a scheduleDef (Trigger, push body)
//	core       g.scheduleCreate, g.scheduleReplace, g.scheduleGet,
//	           g.scheduleList, g.scheduleDelete validate and store it
//	render     readScheduleDef gives the definition back; viewSchedule is
//	           the /v1 shape
//
// Every call is authenticated as an app and sees only that app's
// schedules: another app's schedule is as unknown as one that does not
// exist.

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
	zoneFixed  = "fixed"
	zoneDevice = "device"
)

// weekdayNames are JPush's weekday points, Monday first.
var weekdayNames = []string{"MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"}

// triggerJSON is a Trigger on the wire.
type triggerJSON struct {
	Single     *singleJSON     `json:"single,omitempty"`
	Periodical *periodicalJSON `json:"periodical,omitempty"`
	// TimeZone is an IANA name; absent means UTC.
	TimeZone string `json:"time_zone,omitempty"`
	// ZoneType is "fixed" (the default: times are read in TimeZone) or
	// "device" (in each device's zone).
	ZoneType string `json:"zone_type,omitempty"`
}

type singleJSON struct {
	Time string `json:"time"`
}

type periodicalJSON struct {
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
func (tj *triggerJSON) trigger() (Trigger, error) {
	var t Trigger
	if tj == nil {
		return t, api.Errorf(http.StatusBadRequest, "missing_field", `trigger is required: {"single": {"time": "YYYY-MM-DD HH:MM:SS"}} or {"periodical": {…}}`)
	}
	switch tj.ZoneType {
	case "", zoneFixed:
	case zoneDevice:
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

func (pj *periodicalJSON) periodical(loc *time.Location, deviceLocal bool) (*PeriodicalTrigger, error) {
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
func (t Trigger) json() triggerJSON {
	tj := triggerJSON{TimeZone: t.TimeZone, ZoneType: zoneFixed}
	if tj.TimeZone == "" {
		tj.TimeZone = "UTC"
	}
	if t.DeviceLocal {
		tj.ZoneType = zoneDevice
	}
	if s := t.Single; s != nil {
		tj.Single = &singleJSON{Time: s.Time.Format(wallLayout)}
		if s.Instant {
			tj.Single.Time = s.Time.UTC().Format(time.RFC3339)
		}
		return tj
	}
	p := t.Periodical
	freq := p.Frequency
	pj := &periodicalJSON{
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

// scheduleDef is a schedule's definition, as an API face hands it to the
// core: what POST creates and PUT replaces.
type scheduleDef struct {
	Name    string
	Enabled bool
	Trigger Trigger
	// Push is a body of POST /v1/push (a face with another push shape
	// converts it, e.g. by marshalling a push.Request).
	Push json.RawMessage
	// Source, if not nil, is kept with the schedule and given back by
	// readScheduleDef: the /v3 face keeps JPush's push object there, to
	// show it as it was sent.
	Source json.RawMessage
}

// scheduleSpec is the Spec stored with a schedule.
type scheduleSpec struct {
	Trigger triggerJSON     `json:"trigger"`
	Push    json.RawMessage `json:"push"`
	Source  json.RawMessage `json:"source,omitempty"`
}

// readScheduleDef returns the definition of a stored schedule.
func readScheduleDef(s dataservice.Schedule) (scheduleDef, error) {
	var spec scheduleSpec
	if err := json.Unmarshal(s.Spec, &spec); err != nil {
		return scheduleDef{}, fmt.Errorf("gateway: schedule %s of app %s has a corrupt spec: %w", s.ID, s.AppKey, err)
	}
	t, err := spec.Trigger.trigger()
	if err != nil {
		return scheduleDef{}, fmt.Errorf("gateway: schedule %s of app %s has an invalid trigger: %w", s.ID, s.AppKey, err)
	}
	return scheduleDef{Name: s.Name, Enabled: s.Enabled, Trigger: t, Push: spec.Push, Source: spec.Source}, nil
}

// pushError says that a push problem is in the schedule's push.
func pushError(err error) error {
	var ae *api.Error
	if errors.As(err, &ae) {
		return &api.Error{Status: ae.Status, Code: ae.Code, Message: "push: " + ae.Message}
	}
	return err
}

// checkSchedule validates a definition for app and returns its Spec and,
// if it is enabled, its first firing from now. An enabled schedule that
// would never fire is an error.
func (g *Gateway) checkSchedule(ctx context.Context, app *dataservice.App, def *scheduleDef, now time.Time) (json.RawMessage, *dataservice.ScheduleFiring, error) {
	if def.Name == "" {
		return nil, nil, api.Errorf(http.StatusBadRequest, "missing_field", "name is required: 1 to %d bytes of UTF-8 naming the schedule", dataservice.MaxScheduleNameLen)
	}
	if dataservice.CheckScheduleName(def.Name) != nil {
		return nil, nil, api.Errorf(http.StatusBadRequest, "invalid_field", "name must be 1 to %d bytes of UTF-8 without control characters (tabs, line breaks…); got %d bytes", dataservice.MaxScheduleNameLen, len(def.Name))
	}
	// The stored form is the canonical JSON; what it says is what fires.
	tj := def.Trigger.json()
	trig, err := tj.trigger()
	if err != nil {
		return nil, nil, err // a face built an invalid Trigger
	}
	def.Trigger = trig
	req, err := push.Decode(def.Push)
	if err != nil {
		return nil, nil, pushError(err)
	}
	plan, err := g.limits.Plan(req)
	if err != nil {
		return nil, nil, pushError(err)
	}
	if plan.CID != "" {
		return nil, nil, api.Errorf(http.StatusBadRequest, "invalid_field", "push: options.cid is not allowed in a schedule: each firing is sent exactly once already")
	}
	// Fail now, not at the first firing, if the audience names what does
	// not exist (a segment).
	if err := audience.NewResolver(g.data, app.Key, plan.Audience, audience.LocalTime{}).Prepare(ctx); err != nil {
		return nil, nil, pushError(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, def.Push); err != nil {
		return nil, nil, api.Errorf(http.StatusBadRequest, "invalid_json", "push: %v", err)
	}
	// Kept verbatim: escaping '<', '>' and '&' would grow the push past
	// the payload limit it was checked against.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(scheduleSpec{Trigger: tj, Push: compact.Bytes(), Source: def.Source}); err != nil {
		return nil, nil, api.Errorf(http.StatusBadRequest, "invalid_json", "the schedule cannot be stored: %v", err)
	}
	spec := bytes.TrimSuffix(buf.Bytes(), []byte{'\n'})
	if len(spec) > dataservice.MaxScheduleSpecLen {
		return nil, nil, api.Errorf(http.StatusRequestEntityTooLarge, "request_too_large", "the schedule takes %d bytes; at most %d are allowed", len(spec), dataservice.MaxScheduleSpecLen)
	}
	if !def.Enabled {
		return spec, nil, nil
	}
	f, ok := def.Trigger.First(now)
	if !ok {
		return nil, nil, api.Errorf(http.StatusBadRequest, "invalid_field", "the trigger never fires again: %s; give a time to come (or send \"enabled\": false)", def.Trigger.describeEnd(now))
	}
	return spec, storedFiring(f), nil
}

// storedFiring is f as the store keeps it.
func storedFiring(f Firing) *dataservice.ScheduleFiring {
	return &dataservice.ScheduleFiring{At: f.At, UTCOffset: f.UTCOffset}
}

// describeEnd says why a trigger has no firing from now.
func (t Trigger) describeEnd(now time.Time) string {
	switch {
	case t.Single != nil && t.DeviceLocal:
		return fmt.Sprintf("%s has passed in every time zone", t.Single.Time.Format(wallLayout))
	case t.Single != nil:
		return fmt.Sprintf("%s is in the past (now is %s there)", t.json().Single.Time, wallclock.Read(now, t.location()).Format(wallLayout))
	case t.Periodical.End.Before(wallclock.Read(now, t.location())):
		return fmt.Sprintf("its end %s has passed", t.Periodical.End.Format(wallLayout))
	}
	return "no day from start to end matches its points"
}

// newScheduleID returns a random UUID (version 4), the shape of JPush's
// schedule ids.
func newScheduleID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// scheduleIDAttempts bounds the ids tried for a new schedule; two random
// 122-bit ids never collide in practice.
const scheduleIDAttempts = 3

func errUnknownSchedule(id string) error {
	return api.Errorf(http.StatusNotFound, "unknown_schedule", "this app has no schedule with schedule_id %q; GET /v1/schedules lists them", id)
}

// scheduleCreate validates def and stores it as a new schedule of app.
func (g *Gateway) scheduleCreate(ctx context.Context, app *dataservice.App, def scheduleDef) (dataservice.Schedule, error) {
	now := time.Now()
	spec, first, err := g.checkSchedule(ctx, app, &def, now)
	if err != nil {
		return dataservice.Schedule{}, err
	}
	s := dataservice.Schedule{AppKey: app.Key, Name: def.Name, Enabled: def.Enabled, Spec: spec, Next: first}
	for range scheduleIDAttempts {
		s.ID = newScheduleID()
		var created dataservice.Schedule
		if created, err = g.data.CreateSchedule(ctx, s); err == nil {
			return created, nil
		}
		if !errors.Is(err, dataservice.ErrExists) {
			break
		}
	}
	return dataservice.Schedule{}, err
}

// scheduleGet returns a schedule of app, or the API's 404.
func (g *Gateway) scheduleGet(ctx context.Context, app *dataservice.App, id string) (dataservice.Schedule, error) {
	if dataservice.CheckScheduleID(id) != nil {
		return dataservice.Schedule{}, errUnknownSchedule(id)
	}
	s, err := g.data.Schedule(ctx, app.Key, id)
	if api.IsNotFound(err) || errors.Is(err, dataservice.ErrInvalid) {
		return s, errUnknownSchedule(id)
	}
	return s, err
}

// scheduleList returns up to limit schedules of app after the id after,
// and the after of the next page (nil on the last).
func (g *Gateway) scheduleList(ctx context.Context, app *dataservice.App, after string, limit int) ([]dataservice.Schedule, *string, error) {
	ss, err := g.data.Schedules(ctx, app.Key, after, limit+1)
	if err != nil {
		return nil, nil, err
	}
	if len(ss) <= limit {
		return ss, nil, nil
	}
	ss = ss[:limit]
	return ss, &ss[limit-1].ID, nil
}

// replaceAttempts bounds the rounds of a replacement racing with firings.
const replaceAttempts = 10

// scheduleReplace replaces the definition of a schedule of app; its past
// firings and created time stay. A firing under way completes; the
// firings after it follow the new definition.
func (g *Gateway) scheduleReplace(ctx context.Context, app *dataservice.App, id string, def scheduleDef) (dataservice.Schedule, error) {
	if dataservice.CheckScheduleID(id) != nil {
		return dataservice.Schedule{}, errUnknownSchedule(id)
	}
	now := time.Now()
	spec, first, err := g.checkSchedule(ctx, app, &def, now)
	if err != nil {
		return dataservice.Schedule{}, err
	}
	for range replaceAttempts {
		cur, err := g.scheduleGet(ctx, app, id)
		if err != nil {
			return dataservice.Schedule{}, err
		}
		next := cur
		next.Name, next.Enabled, next.Spec, next.Updated = def.Name, def.Enabled, spec, now
		if cur.Next == nil || cur.Next.MsgID == 0 {
			next.Next, next.Owner, next.LeaseUntil = first, "", time.Time{}
		}
		updated, err := g.data.UpdateSchedule(ctx, next)
		switch {
		case err == nil:
			return updated, nil
		case api.IsNotFound(err):
			return dataservice.Schedule{}, errUnknownSchedule(id)
		case !errors.Is(err, dataservice.ErrGenerationMismatch):
			return dataservice.Schedule{}, err
		}
	}
	return dataservice.Schedule{}, api.Errorf(http.StatusConflict, "conflict", "schedule %s kept changing while it was replaced; retry", id)
}

// scheduleDelete deletes a schedule of app. A firing under way completes.
func (g *Gateway) scheduleDelete(ctx context.Context, app *dataservice.App, id string) error {
	if dataservice.CheckScheduleID(id) != nil {
		return errUnknownSchedule(id)
	}
	existed, err := g.data.DeleteSchedule(ctx, app.Key, id)
	if err != nil {
		return err
	}
	if !existed {
		return errUnknownSchedule(id)
	}
	return nil
}

// scheduleRequest is the body of POST /v1/schedules and PUT
// /v1/schedules/{schedule_id}: the whole definition.
type scheduleRequest struct {
	Name string `json:"name"`
	// Enabled is true when absent.
	Enabled *bool        `json:"enabled"`
	Trigger *triggerJSON `json:"trigger"`
	// Push is read by decodePush, after the trigger, for messages that
	// name it.
	Push json.RawMessage `json:"push"`
}

// def returns the definition the body gives, its trigger validated.
func (req *scheduleRequest) def() (scheduleDef, error) {
	t, err := req.Trigger.trigger()
	if err != nil {
		return scheduleDef{}, err
	}
	def := scheduleDef{Name: req.Name, Enabled: req.Enabled == nil || *req.Enabled, Trigger: t, Push: req.Push}
	return def, nil
}

// scheduleView is a schedule as the /v1 API shows it.
type scheduleView struct {
	ScheduleID string          `json:"schedule_id"`
	Name       string          `json:"name"`
	Enabled    bool            `json:"enabled"`
	Trigger    triggerJSON     `json:"trigger"`
	Push       json.RawMessage `json:"push"`
	// NextFire is when the schedule fires next, null if never again;
	// NextUTCOffset the UTC offset of the devices that firing reaches
	// (zone_type "device" only).
	NextFire      *time.Time `json:"next_fire"`
	NextUTCOffset string     `json:"next_utc_offset,omitempty"`
	// Firings are the latest past firings, newest first.
	Firings []firingView `json:"firings"`
	// Missed counts firings skipped because no gateway ran in time.
	Missed  int64     `json:"missed"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// firingView is a past firing: the message it sent (read its report at
// GET /v1/messages/{msg_id}), or why it sent none.
type firingView struct {
	Time      time.Time `json:"time"`
	UTCOffset string    `json:"utc_offset,omitempty"`
	MsgID     string    `json:"msg_id,omitempty"`
	Error     string    `json:"error,omitempty"`
}

// formatOffset writes a UTC offset in seconds as "+05:30".
func formatOffset(off *int) string {
	if off == nil {
		return ""
	}
	sign, o := '+', *off
	if o < 0 {
		sign, o = '-', -o
	}
	return fmt.Sprintf("%c%02d:%02d", sign, o/3600, o%3600/60)
}

func viewSchedule(s dataservice.Schedule) (scheduleView, error) {
	def, err := readScheduleDef(s)
	if err != nil {
		return scheduleView{}, err
	}
	v := scheduleView{
		ScheduleID: s.ID, Name: s.Name, Enabled: s.Enabled, Trigger: def.Trigger.json(), Push: def.Push,
		Firings: make([]firingView, 0, len(s.Fired)), Missed: s.Missed, Created: s.Created.UTC(), Updated: s.Updated.UTC(),
	}
	if s.Next != nil {
		at := s.Next.At.UTC()
		v.NextFire, v.NextUTCOffset = &at, formatOffset(s.Next.UTCOffset)
	}
	for _, f := range slices.Backward(s.Fired) {
		fv := firingView{Time: f.At.UTC(), UTCOffset: formatOffset(f.UTCOffset), Error: f.Error}
		if f.MsgID != 0 {
			fv.MsgID = ids.FormatMessageID(f.MsgID)
		}
		v.Firings = append(v.Firings, fv)
	}
	return v, nil
}

func (g *Gateway) writeSchedule(w http.ResponseWriter, status int, s dataservice.Schedule) error {
	v, err := viewSchedule(s)
	if err != nil {
		return err
	}
	api.WriteJSON(w, status, v)
	return nil
}

// readScheduleRequest decodes and validates the body of POST and PUT.
func (g *Gateway) readScheduleRequest(w http.ResponseWriter, r *http.Request) (scheduleDef, error) {
	var req scheduleRequest
	if err := api.DecodeBody(w, r, g.cfg.MaxBody, &req); err != nil {
		return scheduleDef{}, err
	}
	return req.def()
}

func (g *Gateway) createSchedule(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	def, err := g.readScheduleRequest(w, r)
	if err != nil {
		return err
	}
	s, err := g.scheduleCreate(r.Context(), app, def)
	if err != nil {
		return err
	}
	return g.writeSchedule(w, http.StatusCreated, s)
}

type schedulesResponse struct {
	Schedules []scheduleView `json:"schedules"`
	Next      *string        `json:"next,omitempty"`
}

func validScheduleID(s string) bool { return dataservice.CheckScheduleID(s) == nil }

func (g *Gateway) listSchedules(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	after, limit, err := api.Page(r, validScheduleID)
	if err != nil {
		return err
	}
	ss, next, err := g.scheduleList(r.Context(), app, after, limit)
	if err != nil {
		return err
	}
	resp := schedulesResponse{Schedules: make([]scheduleView, 0, len(ss)), Next: next}
	for _, s := range ss {
		v, err := viewSchedule(s)
		if err != nil {
			return err
		}
		resp.Schedules = append(resp.Schedules, v)
	}
	api.WriteJSON(w, http.StatusOK, resp)
	return nil
}

func (g *Gateway) scheduleInfo(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	s, err := g.scheduleGet(r.Context(), app, r.PathValue("schedule_id"))
	if err != nil {
		return err
	}
	return g.writeSchedule(w, http.StatusOK, s)
}

func (g *Gateway) updateSchedule(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	def, err := g.readScheduleRequest(w, r)
	if err != nil {
		return err
	}
	s, err := g.scheduleReplace(r.Context(), app, r.PathValue("schedule_id"), def)
	if err != nil {
		return err
	}
	return g.writeSchedule(w, http.StatusOK, s)
}

func (g *Gateway) deleteSchedule(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	if err := g.scheduleDelete(r.Context(), app, r.PathValue("schedule_id")); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}
