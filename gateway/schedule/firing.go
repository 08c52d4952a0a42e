package schedule

import (
	"math"
	"time"

	"github.com/heraldpush/herald/gateway/wallclock"
)

// Firing is one firing of a trigger: when, and, for a trigger in each
// device's local time, the UTC offset (in seconds) of the devices it
// reaches.
type Firing struct {
	At        time.Time
	UTCOffset *int
}

// firingKey orders firings: by time, then offset (fixed-zone firings have
// fixedOff, below every offset).
type firingKey struct {
	at  time.Time
	off int
}

const (
	beforeAll = math.MinInt     // a key before every firing at its time
	fixedOff  = math.MinInt + 1 // the offset of a fixed-zone firing
)

func keyOf(f Firing) firingKey {
	if f.UTCOffset == nil {
		return firingKey{f.At, fixedOff}
	}
	return firingKey{f.At, *f.UTCOffset}
}

func (k firingKey) after(o firingKey) bool {
	return k.at.After(o.at) || k.at.Equal(o.at) && k.off > o.off
}

// First returns the first firing at or after now, or false if there is
// none.
func (t *Trigger) First(now time.Time) (Firing, bool) {
	return t.next(firingKey{now, beforeAll})
}

// Next returns the firing that follows after, or false if there is none.
func (t *Trigger) Next(after Firing) (Firing, bool) {
	return t.next(keyOf(after))
}

func (t *Trigger) next(after firingKey) (Firing, bool) {
	if t.DeviceLocal {
		return t.nextLocal(after)
	}
	loc := t.location()
	if s := t.Single; s != nil {
		at := s.Time
		if !s.Instant {
			at = wallclock.Instant(s.Time, loc)
		}
		if (firingKey{at, fixedOff}).after(after) {
			return Firing{At: at}, true
		}
		return Firing{}, false
	}
	// A day's margin: a DST change moves an occurrence's instant by hours
	// against its wall clock.
	p := t.Periodical
	for w, ok := p.occurrence(wallclock.Read(after.at, loc).Add(-24 * time.Hour)); ok; w, ok = p.occurrence(w.Add(time.Second)) {
		if at := wallclock.Instant(w, loc); (firingKey{at, fixedOff}).after(after) {
			return Firing{At: at}, true
		}
	}
	return Firing{}, false
}

// nextLocal is next for a trigger in each device's local time: an
// occurrence at wall clock w fires for offset o at w - o.
func (t *Trigger) nextLocal(after firingKey) (Firing, bool) {
	offsets := wallclock.UTCOffsets()
	var (
		best  firingKey
		found bool
	)
	consider := func(w time.Time) {
		for _, o := range offsets {
			k := firingKey{w.Add(-time.Duration(o) * time.Second), o}
			if k.after(after) && (!found || best.after(k)) {
				best, found = k, true
			}
		}
	}
	if s := t.Single; s != nil {
		consider(s.Time)
	} else {
		// Only occurrences after after.at+min(offset) can fire after it;
		// once an occurrence's earliest firing (at the largest offset)
		// comes after the best found, later ones cannot beat it.
		minOff, maxOff := time.Duration(offsets[0])*time.Second, time.Duration(offsets[len(offsets)-1])*time.Second
		p := t.Periodical
		from := after.at.UTC().Add(minOff).Truncate(time.Second)
		for w, ok := p.occurrence(from); ok; w, ok = p.occurrence(w.Add(time.Second)) {
			if found && w.Add(-maxOff).After(best.at) {
				break
			}
			consider(w)
		}
	}
	if !found {
		return Firing{}, false
	}
	off := best.off
	return Firing{At: best.at, UTCOffset: &off}, true
}

// Civil dates of wall clocks (UTC), as days since 1970-01-01.
func civilDay(w time.Time) int64 { return floorDiv(w.Unix(), 86400) }

func dayAt(day int64, tod time.Duration) time.Time { return time.Unix(day*86400, 0).UTC().Add(tod) }

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// occurrence returns the first occurrence at or after the wall clock
// from, or false if there is none up to End.
func (p *PeriodicalTrigger) occurrence(from time.Time) (time.Time, bool) {
	if from.Before(p.Start) {
		from = p.Start
	}
	if from.After(p.End) || p.Frequency < 1 {
		return time.Time{}, false
	}
	freq := int64(p.Frequency)
	start, day, end := civilDay(p.Start), civilDay(from), civilDay(p.End)
	// pick returns w if it is an occurrence to return, and whether the
	// search is over (w is one, or past End).
	pick := func(w time.Time) (bool, bool) {
		switch {
		case w.Before(from):
			return false, false
		case w.After(p.End):
			return false, true
		}
		return true, true
	}
	switch p.Unit {
	case UnitDay:
		for k := (day - start + freq - 1) / freq * freq; ; k += freq {
			w := dayAt(start+k, p.TimeOfDay)
			if ok, over := pick(w); over {
				return w, ok
			}
		}
	case UnitWeek:
		monday := start - int64(mondayIndex(dayAt(start, 0).Weekday()))
		wk := floorDiv(day-monday, 7)
		for wk -= wk % freq; monday+7*wk <= end; wk += freq {
			for _, d := range p.Weekdays {
				w := dayAt(monday+7*wk+int64(mondayIndex(d)), p.TimeOfDay)
				if ok, over := pick(w); over {
					return w, ok
				}
			}
		}
	case UnitMonth:
		first := int64(p.Start.Year())*12 + int64(p.Start.Month()) - 1
		m := int64(from.Year())*12 + int64(from.Month()) - 1
		for m -= (m - first) % freq; ; m += freq {
			y, mon := int(m/12), time.Month(m%12+1)
			if time.Date(y, mon, 1, 0, 0, 0, 0, time.UTC).After(p.End) {
				break
			}
			days := time.Date(y, mon+1, 0, 0, 0, 0, 0, time.UTC).Day()
			for _, d := range p.MonthDays {
				if d > days {
					break
				}
				w := time.Date(y, mon, d, 0, 0, 0, 0, time.UTC).Add(p.TimeOfDay)
				if ok, over := pick(w); over {
					return w, ok
				}
			}
		}
	}
	return time.Time{}, false
}
