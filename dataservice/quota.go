package dataservice

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Limits per app: an app may have at most so many schedules and segments,
// as the caller of CreateSchedule and CreateSegment says (AppLimit, from
// the gateway's configuration), so that one app cannot fill the store, or
// the memory of whoever lists them. (An app has one webhook at most by
// construction: WebhookStore keeps one record per app.)
//
// What an app has is counted in a counter record per app and thing,
// changed by one atomic increment when one is created (taking a place, or
// failing with ErrLimit) or deleted: creating stays one read and one
// increment however many the app has. The count is made, by counting the
// records, the first time it is needed (apps older than the count), also
// without a limit, so that a limit set later finds it right. A crash
// between the increment and the write it counts leaves the count one too
// high; an app that seems to reach its limit has its records counted
// again, at most once per recountInterval, so such places come back. A
// recount racing with a deletion may leave the count one too low, which
// lets the app have one more than its limit until a later recount.

// KindAppUsage counts what each app has of what a limit per app bounds:
// "<app_key>/<what>" → counter record {"n": how many, "recounted": unix
// seconds of the last count of the records}.
const KindAppUsage Kind = "use"

// recountInterval is how often, at most, an app at its limit has its
// records counted again.
const recountInterval = time.Minute

// quota is one thing limits per app bound.
type quota struct {
	what string // for the key and for people: "schedules"
	kind Kind   // its records, keyed "<app_key>/<id>"
}

var (
	scheduleQuota = quota{"schedules", KindSchedule}
	segmentQuota  = quota{"segments", KindSegment}
)

// usageKey is the counter record of q for app.
func usageKey(q quota, app string) string { return app + "/" + q.what }

// countPage is how many records count reads at a time.
const countPage = 100

// count counts app's records of q, a page at a time.
func (s *Service) count(ctx context.Context, q quota, app string) (int64, error) {
	var n int64
	after := ""
	for {
		rs, err := s.store.Scan(ctx, q.kind, app+"/", after, countPage)
		if err != nil {
			return 0, fmt.Errorf("counting the %s of app %s: %w", q.what, app, err)
		}
		n += int64(len(rs))
		if len(rs) < countPage {
			return n, nil
		}
		after = rs[len(rs)-1].Key
	}
}

// ensureUsage makes sure app's count of q exists, counting its records
// if not.
func (s *Service) ensureUsage(ctx context.Context, q quota, app string) error {
	key := usageKey(q, app)
	if _, err := s.store.Counters(ctx, KindAppUsage, key); !errors.Is(err, ErrNotFound) {
		return err
	}
	n, err := s.count(ctx, q, app)
	if err != nil {
		return err
	}
	err = s.store.PutMany(ctx, []Write{{Kind: KindAppUsage, Key: key,
		Deltas:  []Delta{{Name: "n", Delta: n}, {Name: "recounted", Delta: s.now().Unix()}},
		Options: WriteOptions{CreateOnly: true}}})
	if errors.Is(err, ErrExists) {
		return nil // another call counted them meanwhile
	}
	return err
}

// takeSlot counts one more of q for app, about to be created, or fails
// with ErrLimit if app has max already (max ≤ 0: no limit). The caller
// gives the slot back with freeSlot if it creates nothing.
func (s *Service) takeSlot(ctx context.Context, q quota, app string, max int) error {
	if err := s.ensureUsage(ctx, q, app); err != nil {
		return err
	}
	v, err := s.store.Incr(ctx, KindAppUsage, usageKey(q, app), []Delta{{Name: "n", Delta: 1}}, 0)
	if err != nil {
		return fmt.Errorf("counting the %s of app %s: %w", q.what, app, err)
	}
	if max <= 0 || v[0] <= int64(max) {
		return nil
	}
	if ok, err := s.recount(ctx, q, app, v[0], max); err != nil || ok {
		if err != nil {
			s.freeSlot(ctx, q, app)
		}
		return err
	}
	s.freeSlot(ctx, q, app)
	return fmt.Errorf("%w: app %s has %d %s, the most it may have", ErrLimit, app, max, q.what)
}

// recount counts app's records of q again, unless that was done within
// recountInterval, and corrects the count, which was counted (this
// slot included) when the caller saw it over max. It reports whether
// the slot is free after all.
func (s *Service) recount(ctx context.Context, q quota, app string, counted int64, max int) (bool, error) {
	key := usageKey(q, app)
	c, err := s.store.Counters(ctx, KindAppUsage, key)
	if err != nil {
		return false, err
	}
	now := s.now().Unix()
	if now-c["recounted"] < int64(recountInterval/time.Second) {
		return false, nil
	}
	n, err := s.count(ctx, q, app)
	if err != nil {
		return false, err
	}
	// n + 1 with the slot taken, which the caller keeps or gives back.
	if _, err := s.store.Incr(ctx, KindAppUsage, key, []Delta{{Name: "n", Delta: n + 1 - counted}, {Name: "recounted", Delta: now - c["recounted"]}}, 0); err != nil {
		return false, err
	}
	return n < int64(max), nil
}

// freeSlot counts one fewer of q for app: one was deleted, or was not
// created after takeSlot. A failure leaves the count too high, which a
// recount corrects.
func (s *Service) freeSlot(ctx context.Context, q quota, app string) {
	_, _ = s.store.Incr(context.WithoutCancel(ctx), KindAppUsage, usageKey(q, app), []Delta{{Name: "n", Delta: -1}}, 0)
}
