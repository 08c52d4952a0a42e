package schedule

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway/api"
	"github.com/heraldpush/herald/gateway/audience"
	"github.com/heraldpush/herald/gateway/push"
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

// Start begins looking for due schedules: at once, then every
// ScheduleScan.
func (sc *Service) Start() {
	go func() {
		defer close(sc.done)
		t := time.NewTicker(sc.cfg.Scan)
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
func (sc *Service) Close() {
	sc.cancel()
	<-sc.done
}

// owner names this gateway in claims: the owner of its tasks.

// mayTake reports whether this gateway may fire s's next firing: it is
// not claimed, or claimed by this gateway (now or in an earlier run), or
// its claim expired.
func (sc *Service) mayTake(s dataservice.Schedule, now time.Time) bool {
	return s.Next.MsgID == 0 || sc.owner.Holds(s.Owner) || !now.Before(s.LeaseUntil) || sc.owner.SameNode(s.Owner)
}

// scan fires the schedules that are due.
func (sc *Service) scan() {
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, scheduleWorkers)
	after := ""
	for {
		ctx, cancel := context.WithTimeout(sc.ctx, sc.cfg.Lease)
		now := time.Now()
		due, next, err := sc.data.DueSchedules(ctx, now, after, schedulePage)
		cancel()
		if err != nil {
			if sc.ctx.Err() == nil {
				sc.log.Warn("listing due schedules failed", "err", err)
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
func (sc *Service) fire(s dataservice.Schedule) {
	for range maxFiringsPerPass {
		ctx, cancel := context.WithTimeout(sc.ctx, sc.cfg.Lease)
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
func (sc *Service) fireNext(ctx context.Context, s dataservice.Schedule) (dataservice.Schedule, bool) {
	now := time.Now()
	if s.Next == nil || s.Next.At.After(now) || !sc.mayTake(s, now) {
		return s, false
	}
	log := sc.log.With("app", s.AppKey, "schedule", s.ID)
	def, err := ReadDef(s)
	if err != nil {
		// Nothing can fire it: end it, saying why.
		log.Error("a schedule cannot be read; it fires no more", "err", err)
		done := *s.Next
		done.MsgID, done.Error = 0, "the schedule's definition is unreadable; replace it with PUT /v1/schedules/{schedule_id}"
		return sc.advance(ctx, s, s.Next.MsgID, done, nil)
	}
	if s.Next.MsgID == 0 && now.Sub(s.Next.At) > sc.cfg.Grace {
		return sc.skipMissed(ctx, s, &def, now)
	}

	// 1. Claim.
	claim := s
	firing := *s.Next
	if firing.MsgID == 0 {
		firing.MsgID = sc.ids.Next()
	}
	claim.Next, claim.Owner, claim.LeaseUntil = &firing, sc.owner.String(), now.Add(sc.cfg.Lease)
	claimed, err := sc.data.UpdateSchedule(ctx, claim)
	if err != nil {
		if !errors.Is(err, dataservice.ErrGenerationMismatch) && !api.IsNotFound(err) && ctx.Err() == nil {
			log.Warn("claiming a schedule's firing failed", "err", err)
		}
		return s, false // someone else was quicker, or the schedule changed: the next scan reads it again
	}

	// 2. Send.
	done := firing
	if err := sc.send(ctx, claimed.AppKey, &def, firing); err != nil {
		var ae *api.Error
		switch {
		case errors.As(err, &ae):
			done.Error = ae.Error()
		case errors.Is(err, dataservice.ErrInvalid):
			done.Error = "the push could not be stored: " + err.Error()
		case time.Since(firing.At) <= sc.cfg.Grace:
			// The claim stays this gateway's: the next scan sends again
			// (or another gateway, once the lease runs out).
			if ctx.Err() == nil {
				log.Warn("sending a schedule's firing failed; will retry", "msg_id", firing.MsgID, "err", err)
			}
			return claimed, false
		default:
			done.Error = fmt.Sprintf("not sent within %v of its time: storage unavailable", sc.cfg.Grace)
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
		log.Info("schedule fired", "at", firing.At, "utc_offset", FormatOffset(firing.UTCOffset), "msg_id", done.MsgID)
	}
	return s, more
}

// advance records the claimed firing (message id claimedID) as done and
// moves the schedule on to next — or, if the definition changed meanwhile,
// to the next firing of the new one (none if it was disabled). It gives up
// if another gateway advanced it first, or it was deleted.
func (sc *Service) advance(ctx context.Context, s dataservice.Schedule, claimedID uint64, done dataservice.ScheduleFiring, next *dataservice.ScheduleFiring) (dataservice.Schedule, bool) {
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
			if def, err := ReadDef(s); err == nil {
				if f, ok := def.Trigger.Next(Firing{At: done.At, UTCOffset: done.UTCOffset}); ok {
					n.Next = storedFiring(f)
				}
			}
		}
		updated, err := sc.data.UpdateSchedule(ctx, n)
		if err == nil {
			return updated, true
		}
		if !errors.Is(err, dataservice.ErrGenerationMismatch) {
			if !api.IsNotFound(err) && ctx.Err() == nil {
				sc.log.Warn("recording a schedule's firing failed; it is sent again (the same message) and recorded later", "schedule", s.ID, "err", err)
			}
			return s, false
		}
		if s, err = sc.data.Schedule(ctx, s.AppKey, s.ID); err != nil {
			return s, false
		}
	}
	return s, false
}

// skipMissed moves a schedule whose next firing is more than ScheduleGrace
// late past every such firing, counting them missed.
func (sc *Service) skipMissed(ctx context.Context, s dataservice.Schedule, def *Def, now time.Time) (dataservice.Schedule, bool) {
	cutoff := now.Add(-sc.cfg.Grace)
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
	updated, err := sc.data.UpdateSchedule(ctx, n)
	if err != nil {
		return s, false
	}
	sc.log.Warn("a schedule missed firings: no gateway ran in time", "app", s.AppKey, "schedule", s.ID,
		"missed", missed, "from", s.Next.At, "grace", sc.cfg.Grace)
	return updated, true
}

// send stores the message of a firing under the id its claim chose and
// creates its push task (the Sender's work); both writes are create-only,
// so a firing sent again (after a crash, or by two gateways at once)
// sends its message once. A schedule always sends through a task, even to
// a list of devices, for that reason.
func (sc *Service) send(ctx context.Context, appKey string, def *Def, f dataservice.ScheduleFiring) error {
	req, err := push.Decode(def.Push)
	if err != nil {
		return api.Prefixed("push: ", err)
	}
	plan, err := sc.limits.Plan(req)
	if err != nil {
		return api.Prefixed("push: ", err)
	}
	if f.UTCOffset != nil {
		off := *f.UTCOffset
		plan.Local = audience.LocalTime{UTCOffset: &off, DefaultZone: def.Trigger.TimeZone, At: f.At}
	}
	return api.Prefixed("push: ", sc.sender.SendFiring(ctx, &dataservice.App{Key: appKey}, plan, f.MsgID))
}
