package gateway

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway/api"
	"github.com/heraldpush/herald/gateway/audience"
	"github.com/heraldpush/herald/gateway/push"
	"github.com/heraldpush/herald/gateway/wallclock"
)

// When and how schedules fire.
//
// A trigger yields firings in a fixed order (by time, then UTC offset).
// The store keeps each schedule's next firing, indexed by time; every
// gateway looks for due ones each ScheduleScan and fires them in three
// compare-and-set steps on the schedule:
//
//  1. claim: the firing gets a message id, an owner and a lease;
//  2. send: the message is stored under that id (create-only) and its
//     push task created (create-only, keyed by the id);
//  3. advance: the firing joins the past ones and the next is computed.
//
// Only one gateway wins a claim. One that dies after it leaves the claim
// to expire; whoever takes it over sends the same message id, which
// stores and starts nothing twice. So each firing sends its message once,
// across restarts and with any number of gateways. A firing more than
// ScheduleGrace late when it could be claimed (no gateway ran) is skipped
// and counted missed.

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

// Scheduler tuning.
const (
	schedulePage = 100 // due schedules read per call
	// scheduleWorkers bounds the schedules fired at once by one gateway.
	scheduleWorkers = 8
	// maxFiringsPerPass bounds the firings of one schedule sent in one
	// scan (a trigger in local time has several at one instant); the
	// rest wait for the next scan.
	maxFiringsPerPass = 64
	// maxMissedCount bounds the firings counted one by one when a
	// schedule skips what it missed; the rest are skipped uncounted.
	maxMissedCount = 100_000
)

// scheduler fires this gateway's share of the due schedules. Its loop runs
// in its own goroutine; each due schedule is fired by one goroutine at a
// time.
type scheduler struct {
	g      *Gateway
	ctx    context.Context // canceled by close
	cancel context.CancelFunc
	done   chan struct{}
}

func newScheduler(g *Gateway) *scheduler {
	ctx, cancel := context.WithCancel(context.Background())
	return &scheduler{g: g, ctx: ctx, cancel: cancel, done: make(chan struct{})}
}

// start begins looking for due schedules: at once, then every
// ScheduleScan.
func (sc *scheduler) start() {
	go func() {
		defer close(sc.done)
		t := time.NewTicker(sc.g.cfg.ScheduleScan)
		defer t.Stop()
		for {
			sc.scan()
			select {
			case <-sc.ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// close stops the loop and the firings under way: their claims expire and
// another gateway (or this one, restarted) completes them.
func (sc *scheduler) close() {
	sc.cancel()
	<-sc.done
}

// owner names this gateway in claims: the owner of its tasks.
func (sc *scheduler) owner() string { return sc.g.owner.String() }

// mayTake reports whether this gateway may fire s's next firing: it is
// not claimed, or claimed by this gateway (now or in an earlier run), or
// its claim expired.
func (sc *scheduler) mayTake(s dataservice.Schedule, now time.Time) bool {
	return s.Next.MsgID == 0 || s.Owner == sc.owner() || !now.Before(s.LeaseUntil) || sc.g.owner.SameNode(s.Owner)
}

// scan fires the schedules that are due.
func (sc *scheduler) scan() {
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, scheduleWorkers)
	after := ""
	for {
		ctx, cancel := context.WithTimeout(sc.ctx, sc.g.cfg.TaskLease)
		now := time.Now()
		due, next, err := sc.g.data.DueSchedules(ctx, now, after, schedulePage)
		cancel()
		if err != nil {
			if sc.ctx.Err() == nil {
				sc.g.log.Warn("listing due schedules failed", "err", err)
			}
			return
		}
		for _, s := range due {
			if !sc.mayTake(s, now) {
				continue // another gateway is sending it
			}
			select {
			case slots <- struct{}{}:
			case <-sc.ctx.Done():
				return
			}
			wg.Go(func() {
				defer func() { <-slots }()
				sc.fire(s)
			})
		}
		if next == "" {
			return
		}
		after = next
	}
}

// fire sends the due firings of s, one after another.
func (sc *scheduler) fire(s dataservice.Schedule) {
	for range maxFiringsPerPass {
		ctx, cancel := context.WithTimeout(sc.ctx, sc.g.cfg.TaskLease)
		var more bool
		s, more = sc.fireNext(ctx, s)
		cancel()
		if !more {
			return
		}
	}
}

// fireNext sends the next firing of s if it is due and no other gateway is
// sending it, and returns s as it then is and whether to look at s again.
func (sc *scheduler) fireNext(ctx context.Context, s dataservice.Schedule) (dataservice.Schedule, bool) {
	now := time.Now()
	if s.Next == nil || s.Next.At.After(now) || !sc.mayTake(s, now) {
		return s, false
	}
	log := sc.g.log.With("app", s.AppKey, "schedule", s.ID)
	def, err := readScheduleDef(s)
	if err != nil {
		// Nothing can fire it: end it, saying why.
		log.Error("a schedule cannot be read; it fires no more", "err", err)
		done := *s.Next
		done.MsgID, done.Error = 0, "the schedule's definition is unreadable; replace it with PUT /v1/schedules/{schedule_id}"
		return sc.advance(ctx, s, s.Next.MsgID, done, nil)
	}
	if s.Next.MsgID == 0 && now.Sub(s.Next.At) > sc.g.cfg.ScheduleGrace {
		return sc.skipMissed(ctx, s, &def, now)
	}

	// 1. Claim.
	claim := s
	firing := *s.Next
	if firing.MsgID == 0 {
		firing.MsgID = sc.g.ids.Next()
	}
	claim.Next, claim.Owner, claim.LeaseUntil = &firing, sc.owner(), now.Add(sc.g.cfg.TaskLease)
	claimed, err := sc.g.data.UpdateSchedule(ctx, claim)
	if err != nil {
		if !errors.Is(err, dataservice.ErrGenerationMismatch) && !api.IsNotFound(err) && ctx.Err() == nil {
			log.Warn("claiming a schedule's firing failed", "err", err)
		}
		return s, false // someone else was quicker, or the schedule changed: the next scan reads it again
	}

	// 2. Send.
	done := firing
	if err := sc.g.sendFiring(ctx, claimed.AppKey, &def, firing); err != nil {
		var ae *api.Error
		switch {
		case errors.As(err, &ae):
			done.Error = ae.Error()
		case errors.Is(err, dataservice.ErrInvalid):
			done.Error = "the push could not be stored: " + err.Error()
		case time.Since(firing.At) <= sc.g.cfg.ScheduleGrace:
			// The claim stays this gateway's: the next scan sends again
			// (or another gateway, once the lease runs out).
			if ctx.Err() == nil {
				log.Warn("sending a schedule's firing failed; will retry", "msg_id", firing.MsgID, "err", err)
			}
			return claimed, false
		default:
			done.Error = fmt.Sprintf("not sent within %v of its time: storage unavailable", sc.g.cfg.ScheduleGrace)
		}
		log.Warn("a schedule's firing sent nothing", "at", firing.At, "reason", done.Error, "err", err)
		done.MsgID = 0
	}

	// 3. Advance.
	next, ok := def.Trigger.Next(Firing{At: firing.At, UTCOffset: firing.UTCOffset})
	var nextFiring *dataservice.ScheduleFiring
	if ok {
		nextFiring = storedFiring(next)
	}
	s, more := sc.advance(ctx, claimed, firing.MsgID, done, nextFiring)
	if more && done.MsgID != 0 {
		log.Info("schedule fired", "at", firing.At, "utc_offset", formatOffset(firing.UTCOffset), "msg_id", done.MsgID)
	}
	return s, more
}

// advance records the claimed firing (message id claimedID) as done and
// moves the schedule on to next — or, if the definition changed meanwhile,
// to the next firing of the new one (none if it was disabled). It gives up
// if another gateway advanced it first, or it was deleted.
func (sc *scheduler) advance(ctx context.Context, s dataservice.Schedule, claimedID uint64, done dataservice.ScheduleFiring, next *dataservice.ScheduleFiring) (dataservice.Schedule, bool) {
	spec := s.Spec
	for range replaceAttempts {
		if s.Next == nil || s.Next.MsgID != claimedID {
			return s, false // advanced by another gateway
		}
		n := s
		n.Fired = append(slices.Clone(s.Fired), done)
		n.Next, n.Owner, n.LeaseUntil = next, "", time.Time{}
		if !s.Enabled {
			n.Next = nil
		} else if string(s.Spec) != string(spec) {
			// Replaced while the firing was sent: what follows is the new
			// definition's.
			n.Next = nil
			if def, err := readScheduleDef(s); err == nil {
				if f, ok := def.Trigger.Next(Firing{At: done.At, UTCOffset: done.UTCOffset}); ok {
					n.Next = storedFiring(f)
				}
			}
		}
		updated, err := sc.g.data.UpdateSchedule(ctx, n)
		if err == nil {
			return updated, true
		}
		if !errors.Is(err, dataservice.ErrGenerationMismatch) {
			if !api.IsNotFound(err) && ctx.Err() == nil {
				sc.g.log.Warn("recording a schedule's firing failed; it is sent again (the same message) and recorded later", "schedule", s.ID, "err", err)
			}
			return s, false
		}
		if s, err = sc.g.data.Schedule(ctx, s.AppKey, s.ID); err != nil {
			return s, false
		}
	}
	return s, false
}

// skipMissed moves a schedule whose next firing is more than ScheduleGrace
// late past every such firing, counting them missed.
func (sc *scheduler) skipMissed(ctx context.Context, s dataservice.Schedule, def *scheduleDef, now time.Time) (dataservice.Schedule, bool) {
	cutoff := now.Add(-sc.g.cfg.ScheduleGrace)
	f, ok := Firing{At: s.Next.At, UTCOffset: s.Next.UTCOffset}, true
	var missed int64
	for ok && f.At.Before(cutoff) && missed < maxMissedCount {
		missed++
		f, ok = def.Trigger.Next(f)
	}
	if ok && f.At.Before(cutoff) {
		f, ok = def.Trigger.First(cutoff)
	}
	n := s
	n.Missed += missed
	n.Next = nil
	if ok && s.Enabled {
		n.Next = storedFiring(f)
	}
	updated, err := sc.g.data.UpdateSchedule(ctx, n)
	if err != nil {
		return s, false
	}
	sc.g.log.Warn("a schedule missed firings: no gateway ran in time", "app", s.AppKey, "schedule", s.ID,
		"missed", missed, "from", s.Next.At, "grace", sc.g.cfg.ScheduleGrace)
	return updated, true
}

// sendFiring stores the message of a firing under the id its claim chose
// and creates its push task; both writes are create-only, so a firing
// sent again (after a crash, or by two gateways at once) sends its message
// once. A schedule always sends through a task, even to a list of
// devices, for that reason.
func (g *Gateway) sendFiring(ctx context.Context, appKey string, def *scheduleDef, f dataservice.ScheduleFiring) error {
	req, err := push.Decode(def.Push)
	if err != nil {
		return pushError(err)
	}
	plan, err := g.limits.Plan(req)
	if err != nil {
		return pushError(err)
	}
	if f.UTCOffset != nil {
		off := *f.UTCOffset
		plan.Local = audience.LocalTime{UTCOffset: &off, DefaultZone: def.Trigger.TimeZone, At: f.At}
	}
	return pushError(g.send(ctx, &dataservice.App{Key: appKey}, plan, f.MsgID, firing))
}
