package wallclock

import (
	"errors"
	"slices"
	"sync"
	"time"
)

// zones caches the time zones loaded by name (time.LoadLocation reads the
// zone database on each call). Only zones that exist are kept, so that
// names from requests cannot grow it: there are a few hundred.
var zones sync.Map

// Zone returns the time zone of an IANA name; "" is UTC. "Local" is
// refused: the server's own zone means nothing to an app.
func Zone(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	if l, ok := zones.Load(name); ok {
		return l.(*time.Location), nil
	}
	if len(name) > 64 || name == "Local" {
		return nil, errors.New("not an IANA time zone name")
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, err
	}
	zones.Store(name, loc)
	return loc, nil
}

// Read returns the wall-clock reading of t in loc.
func Read(t time.Time, loc *time.Location) time.Time {
	t = t.In(loc)
	return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, time.UTC)
}

// Instant returns the instant at which loc's clocks read w. A reading
// that happens twice (clocks set back) is its first; one that never
// happens (clocks set forward) is read with the offset before the change,
// so 02:30 in a gap from 02:00 to 03:00 becomes 03:30.
func Instant(w time.Time, loc *time.Location) time.Time {
	if loc == time.UTC {
		return w
	}
	var offsets []int
	for _, d := range []time.Duration{-14 * time.Hour, 0, 14 * time.Hour} {
		if _, o := w.Add(d).In(loc).Zone(); !slices.Contains(offsets, o) {
			offsets = append(offsets, o)
		}
	}
	var best, earliest time.Time
	for _, o := range offsets {
		at := w.Add(-time.Duration(o) * time.Second)
		if earliest.IsZero() || at.Before(earliest) {
			earliest = at
		}
		if _, actual := at.In(loc).Zone(); actual == o && (best.IsZero() || at.Before(best)) {
			best = at
		}
	}
	if !best.IsZero() {
		return best
	}
	// In a gap: the earliest candidate falls before the change, so its
	// offset is the one before.
	_, before := earliest.In(loc).Zone()
	return w.Add(-time.Duration(before) * time.Second)
}

// utcOffsets are the offsets from UTC, in seconds, ascending, that time
// zones of the tz database have, daylight saving time included (a test
// checks them against the zones).
var utcOffsets = func() []int {
	var out []int
	for _, hm := range [][2]int{
		{-12, 0}, {-11, 0}, {-10, 0}, {-9, -30}, {-9, 0}, {-8, 0}, {-7, 0}, {-6, 0}, {-5, 0}, {-4, 0}, {-3, -30}, {-3, 0},
		{-2, -30}, {-2, 0}, {-1, 0}, {0, 0}, {1, 0}, {2, 0}, {3, 0}, {3, 30}, {4, 0}, {4, 30}, {5, 0}, {5, 30}, {5, 45},
		{6, 0}, {6, 30}, {7, 0}, {8, 0}, {8, 45}, {9, 0}, {9, 30}, {10, 0}, {10, 30}, {11, 0}, {12, 0}, {12, 45}, {13, 0},
		{13, 45}, {14, 0},
	} {
		out = append(out, hm[0]*3600+hm[1]*60)
	}
	return out
}()

// UTCOffsets returns the offsets from UTC, in seconds, ascending, that
// clocks of the tz database's zones can be at: a schedule in each
// device's local time fires once per offset.
func UTCOffsets() []int { return slices.Clone(utcOffsets) }
