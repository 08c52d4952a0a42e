package dataservice

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ScheduleStore holds push schedules: pushes an app wants sent at a time
// or periodically. The store keeps each schedule with its next firing and
// the latest past ones; when and what it fires (the Spec) is the
// gateway's, which fires due schedules.
//
// A schedule belongs to one app; its id is unique within the app only, and
// methods taking an app and an id see that app's schedules only: another
// app's schedule is ErrNotFound, like one that does not exist. Every write
// of a schedule is a compare-and-set of its record, so gateways that race
// to fire the same schedule, or a firing that races with an update through
// the API, never both win. Arguments failing the rules of Schedule, app
// keys that are empty or hold '/', and ids failing CheckScheduleID fail with
// ErrInvalid before any effect.
type ScheduleStore interface {
	// CreateSchedule stores a new schedule of s.AppKey under s.ID, with
	// Created and Updated set to the service's clock (the values passed
	// are ignored), and returns it as stored, with its Generation. A
	// schedule with Next is listed by DueSchedules once Next.At has
	// come. ErrExists if the app has a schedule with that id, ErrLimit
	// if it has s.AppLimit schedules already (quota.go).
	CreateSchedule(ctx context.Context, s Schedule) (Schedule, error)
	// Schedule returns a schedule of app with its Generation, or
	// ErrNotFound.
	Schedule(ctx context.Context, app, id string) (Schedule, error)
	// Schedules returns up to limit (1 to MaxPage) schedules of app in
	// ascending byte order of id, starting after the id after (empty:
	// from the first), each with its Generation.
	Schedules(ctx context.Context, app, after string, limit int) ([]Schedule, error)
	// UpdateSchedule replaces a schedule if its generation is still
	// s.Generation and returns it as stored, with its new Generation. It
	// keeps the stored Created; Updated is the caller's. Fired keeps its
	// newest MaxScheduleFired firings. ErrGenerationMismatch if the
	// schedule changed since it was read (read it again), ErrNotFound if
	// it does not exist, ErrInvalid if s.Generation is 0 (update only what
	// Schedule, Schedules or DueSchedules returned).
	UpdateSchedule(ctx context.Context, s Schedule) (Schedule, error)
	// DeleteSchedule deletes a schedule of app and reports whether it
	// existed. Of concurrent deletes of one schedule exactly one reports
	// true. A firing under way may still complete (its update then fails
	// with ErrNotFound); no other firing happens.
	DeleteSchedule(ctx context.Context, app, id string) (bool, error)
	// DueSchedules returns up to limit (1 to MaxPage) schedules, of every
	// app, whose Next.At is at or before until, by ascending Next.At
	// (then app and id), each with its Generation, and the cursor of the
	// next page: pass it as after to continue, empty when there is no
	// more. after is empty for the first page.
	DueSchedules(ctx context.Context, until time.Time, after string, limit int) ([]Schedule, string, error)
}

// KindScheduleDue is the index of schedules by next firing:
// "due/<unix ms, 20 digits>/<app_key>/<schedule_id>" → the unix ms the
// entry was written, 8 bytes big endian. Schedules themselves are
// KindSchedule records (store.go): "<app_key>/<schedule_id>" → Schedule.
const KindScheduleDue Kind = "sdu"

// Limits of schedules.
const (
	// MaxScheduleIDLen bounds a schedule id, in bytes.
	MaxScheduleIDLen = 64
	// MaxScheduleNameLen bounds a schedule's name, in bytes: JPush's 255.
	MaxScheduleNameLen = 255
	// MaxScheduleSpecLen bounds a schedule's Spec, in bytes.
	MaxScheduleSpecLen = 256 << 10
	// MaxScheduleFired is how many past firings a schedule keeps.
	MaxScheduleFired = 100
	// maxScheduleKeyLen bounds app key and id together, so that the due
	// entry's key ("due/", 20 digits, two separators) stays a valid key.
	maxScheduleKeyLen = MaxKeyLen - len(dueGroup) - 20 - 2
)

// Schedule is a push an app wants sent at a time or periodically, and
// where its firing stands.
type Schedule struct {
	// ID names the schedule within its app (CheckScheduleID).
	ID     string `json:"id"`
	AppKey string `json:"app_key"`
	// Name is for people: 1 to MaxScheduleNameLen bytes of UTF-8 without
	// control characters.
	Name    string `json:"name"`
	Enabled bool   `json:"enabled"`
	// Spec says when the schedule fires and what it sends: the gateway's,
	// stored verbatim. Empty, or valid JSON of at most MaxScheduleSpecLen
	// bytes.
	Spec json.RawMessage `json:"spec,omitempty"`
	// Next is the next firing; nil when the schedule fires no more. A
	// firing whose MsgID is set is claimed: Owner is sending it until
	// LeaseUntil, after which another gateway may take it over (and send
	// the same message id again, which stores nothing twice).
	Next       *ScheduleFiring `json:"next,omitempty"`
	Owner      string          `json:"owner,omitempty"`
	LeaseUntil time.Time       `json:"lease_until"`
	// Fired are the latest past firings, oldest first, at most
	// MaxScheduleFired.
	Fired []ScheduleFiring `json:"fired,omitempty"`
	// Missed counts the firings that were skipped because no gateway
	// could send them in time.
	Missed int64 `json:"missed,omitempty"`
	// Created is set by the service; Updated is the caller's (the
	// gateway sets it when the definition changes).
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	// Generation is the store generation the schedule was read at, for
	// UpdateSchedule.
	Generation uint32 `json:"-"`
	// AppLimit, read by CreateSchedule only and not stored, is the most
	// schedules AppKey may have: creating one more fails with ErrLimit.
	// Zero means no limit.
	AppLimit int `json:"app_limit,omitempty"`
}

// ScheduleFiring is one firing of a schedule: one push, sent at At. Times
// are kept with millisecond precision.
type ScheduleFiring struct {
	At time.Time `json:"at"`
	// UTCOffset, if set, makes the firing reach only the devices whose
	// local time is this many seconds east of UTC at At: a firing of a
	// schedule in each device's local time.
	UTCOffset *int `json:"utc_offset,omitempty"`
	// MsgID is the id of the message the firing sends, chosen when the
	// firing is claimed, so that a firing retried after a crash sends the
	// same message. Zero for a firing not claimed, or that sent nothing.
	MsgID uint64 `json:"msg_id,string,omitempty"`
	// Error says why a past firing sent nothing.
	Error string `json:"error,omitempty"`
}

// CheckScheduleID validates a schedule id: 1 to MaxScheduleIDLen bytes of
// UTF-8 without '/' (the group separator of the schedule keys) and without
// control characters.
func CheckScheduleID(id string) error {
	return checkToken("schedule id", id, MaxScheduleIDLen, unicode.IsControl)
}

// CheckScheduleName validates a schedule's name: 1 to MaxScheduleNameLen
// bytes of UTF-8 without control characters.
func CheckScheduleName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty schedule name", ErrInvalid)
	case len(name) > MaxScheduleNameLen:
		return fmt.Errorf("%w: schedule name of %d bytes; at most %d are allowed", ErrInvalid, len(name), MaxScheduleNameLen)
	case !utf8.ValidString(name):
		return fmt.Errorf("%w: schedule name is not valid UTF-8", ErrInvalid)
	case strings.IndexFunc(name, unicode.IsControl) >= 0:
		return fmt.Errorf("%w: schedule name %q contains a control character", ErrInvalid, name)
	}
	return nil
}

// checkScheduleKey validates the app and id naming a schedule.
func checkScheduleKey(app, id string) error {
	if err := checkAppKey(app); err != nil {
		return err
	}
	if err := CheckScheduleID(id); err != nil {
		return err
	}
	if len(app)+len(id) > maxScheduleKeyLen {
		return fmt.Errorf("%w: app key and schedule id take %d bytes together; at most %d are allowed", ErrInvalid, len(app)+len(id), maxScheduleKeyLen)
	}
	return nil
}

// normalizeSchedule returns s with its times at millisecond precision in
// UTC and Fired cut to its newest MaxScheduleFired, in slices of its own,
// or the first rule s breaks.
func normalizeSchedule(s Schedule) (Schedule, error) {
	if err := checkScheduleKey(s.AppKey, s.ID); err != nil {
		return s, err
	}
	if err := CheckScheduleName(s.Name); err != nil {
		return s, err
	}
	switch {
	case len(s.Spec) > MaxScheduleSpecLen:
		return s, fmt.Errorf("%w: schedule spec of %d bytes; at most %d are allowed", ErrInvalid, len(s.Spec), MaxScheduleSpecLen)
	case len(s.Spec) > 0 && !json.Valid(s.Spec):
		return s, fmt.Errorf("%w: schedule spec is not valid JSON", ErrInvalid)
	case s.Missed < 0:
		return s, fmt.Errorf("%w: negative missed count %d", ErrInvalid, s.Missed)
	case len(s.Owner) > MaxKeyLen || !utf8.ValidString(s.Owner):
		return s, fmt.Errorf("%w: owner must be at most %d bytes of UTF-8", ErrInvalid, MaxKeyLen)
	case s.Next != nil && s.Next.At.IsZero():
		return s, fmt.Errorf("%w: next firing without a time", ErrInvalid)
	}
	if len(s.Spec) > 0 {
		s.Spec = append(json.RawMessage(nil), s.Spec...)
	}
	if s.Next != nil {
		next := normalizeFiring(*s.Next)
		s.Next = &next
	}
	fired := s.Fired[max(0, len(s.Fired)-MaxScheduleFired):]
	s.Fired = nil
	for _, f := range fired {
		s.Fired = append(s.Fired, normalizeFiring(f))
	}
	s.LeaseUntil = milli(s.LeaseUntil)
	return s, nil
}

func normalizeFiring(f ScheduleFiring) ScheduleFiring {
	f.At = milli(f.At)
	if f.UTCOffset != nil {
		o := *f.UTCOffset
		f.UTCOffset = &o
	}
	return f
}

// milli returns t at millisecond precision in UTC; the zero time stays
// zero.
func milli(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return time.UnixMilli(t.UnixMilli()).UTC()
}
