package dataservice

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

var _ ScheduleStore = (*Service)(nil)

// Keys of schedules:
//
//	KindSchedule    <app>/<id>                → scheduleRecord, JSON
//	KindScheduleDue due/<ms>/<app>/<id>       → unix ms of the write, 8 bytes big endian
//
// The due entry of a schedule names its Next.At (unix ms, idKey form, so
// that byte order is time order). A writer puts the entry of the new Next
// before its compare-and-set of the record, and again after it, then
// deletes the entry of the old Next: a crash at any point leaves the entry
// of the record's Next in place, plus at worst a stale one. DueSchedules
// skips stale entries — whose record is gone or has another Next — and
// deletes those older than staleDueAge; a younger one may belong to a
// write in flight, whose compare-and-set is about to make it current.
const (
	dueGroup    = "due/"
	staleDueAge = time.Minute
)

func scheduleKey(app, id string) string { return app + "/" + id }

// dueKey is the due entry of a schedule whose Next is set, "" otherwise.
func dueKey(s Schedule) string {
	if s.Next == nil {
		return ""
	}
	return dueGroup + idKey(uint64(max(0, s.Next.At.UnixMilli()))) + "/" + s.AppKey + "/" + s.ID
}

// parseDueKey splits what dueKey made.
func parseDueKey(k string) (ms uint64, app, id string, ok bool) {
	rest, found := strings.CutPrefix(k, dueGroup)
	if !found || len(rest) < 21 || rest[20] != GroupSeparator {
		return 0, "", "", false
	}
	if ms, ok = parseIDKey(rest[:20]); !ok {
		return 0, "", "", false
	}
	app, id, found = strings.Cut(rest[21:], "/")
	if !found || app == "" || id == "" || strings.IndexByte(id, GroupSeparator) >= 0 {
		return 0, "", "", false
	}
	return ms, app, id, true
}

// scheduleRecord is a Schedule as stored: the key holds its app and id.
type scheduleRecord struct {
	Name       string           `json:"name"`
	Enabled    bool             `json:"enabled"`
	Spec       json.RawMessage  `json:"spec,omitempty"`
	Next       *ScheduleFiring  `json:"next,omitempty"`
	Owner      string           `json:"owner,omitempty"`
	LeaseUntil time.Time        `json:"lease_until"`
	Fired      []ScheduleFiring `json:"fired,omitempty"`
	Missed     int64            `json:"missed,omitempty"`
	Created    time.Time        `json:"created"`
	Updated    time.Time        `json:"updated"`
}

func encodeSchedule(s Schedule) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // Spec holds the caller's bytes: keep them verbatim
	err := enc.Encode(scheduleRecord{
		Name: s.Name, Enabled: s.Enabled, Spec: s.Spec, Next: s.Next, Owner: s.Owner, LeaseUntil: s.LeaseUntil,
		Fired: s.Fired, Missed: s.Missed, Created: s.Created, Updated: s.Updated,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: encode schedule %s: %v", ErrInvalid, s.ID, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

func decodeSchedule(app, id string, r Record) (Schedule, error) {
	var v scheduleRecord
	if err := json.Unmarshal(r.Value, &v); err != nil {
		return Schedule{}, fmt.Errorf("dataservice: corrupt schedule record %s: %w", scheduleKey(app, id), err)
	}
	return Schedule{
		ID: id, AppKey: app, Name: v.Name, Enabled: v.Enabled, Spec: v.Spec, Next: v.Next, Owner: v.Owner,
		LeaseUntil: v.LeaseUntil, Fired: v.Fired, Missed: v.Missed, Created: v.Created, Updated: v.Updated,
		Generation: r.Generation,
	}, nil
}

// putDue writes a due entry, stamped with the service's clock.
func (s *Service) putDue(ctx context.Context, key string) error {
	if _, err := s.store.Put(ctx, KindScheduleDue, key, encodeID(uint64(s.now().UnixMilli())), WriteOptions{}); err != nil {
		return fmt.Errorf("due entry %s: %w", key, err)
	}
	return nil
}

// CreateSchedule implements ScheduleStore: the due entry (if Next is set),
// then the record, create-only.
func (s *Service) CreateSchedule(ctx context.Context, sc Schedule) (Schedule, error) {
	sc, err := normalizeSchedule(sc)
	if err != nil {
		return Schedule{}, fmt.Errorf("create schedule %q: %w", sc.ID, err)
	}
	sc.Created = milli(s.now())
	sc.Updated = sc.Created
	v, err := encodeSchedule(sc)
	if err != nil {
		return Schedule{}, err
	}
	if err := s.takeSlot(ctx, scheduleQuota, sc.AppKey, sc.AppLimit); err != nil {
		return Schedule{}, fmt.Errorf("create schedule %s: %w", sc.ID, err)
	}
	if due := dueKey(sc); due != "" {
		if err := s.putDue(ctx, due); err != nil {
			s.freeSlot(ctx, scheduleQuota, sc.AppKey)
			return Schedule{}, fmt.Errorf("create schedule %s of app %s: %w", sc.ID, sc.AppKey, err)
		}
	}
	gen, err := s.store.Put(ctx, KindSchedule, scheduleKey(sc.AppKey, sc.ID), v, WriteOptions{CreateOnly: true})
	if err != nil {
		s.freeSlot(ctx, scheduleQuota, sc.AppKey)
		return Schedule{}, fmt.Errorf("create schedule %s of app %s: %w", sc.ID, sc.AppKey, err)
	}
	sc.Generation, sc.AppLimit = gen, 0
	return sc, nil
}

// readSchedule returns a schedule with its generation.
func (s *Service) readSchedule(ctx context.Context, app, id string) (Schedule, error) {
	r, err := s.store.Get(ctx, KindSchedule, scheduleKey(app, id))
	if err != nil {
		return Schedule{}, fmt.Errorf("schedule %s of app %s: %w", id, app, err)
	}
	return decodeSchedule(app, id, r)
}

// Schedule implements ScheduleStore.
func (s *Service) Schedule(ctx context.Context, app, id string) (Schedule, error) {
	if err := checkScheduleKey(app, id); err != nil {
		return Schedule{}, fmt.Errorf("schedule %q: %w", id, err)
	}
	return s.readSchedule(ctx, app, id)
}

// Schedules implements ScheduleStore.
func (s *Service) Schedules(ctx context.Context, app, after string, limit int) ([]Schedule, error) {
	if err := checkAppKey(app); err != nil {
		return nil, fmt.Errorf("schedules: %w", err)
	}
	if after != "" {
		if err := CheckScheduleID(after); err != nil {
			return nil, fmt.Errorf("schedules of app %s after %q: %w", app, after, err)
		}
	}
	if err := checkPage(limit); err != nil {
		return nil, fmt.Errorf("schedules of app %s: %w", app, err)
	}
	prefix, from := app+"/", ""
	if after != "" {
		from = scheduleKey(app, after)
	}
	recs, err := s.store.Scan(ctx, KindSchedule, prefix, from, limit)
	if err != nil {
		return nil, fmt.Errorf("schedules of app %s: %w", app, err)
	}
	out := make([]Schedule, len(recs))
	for i, r := range recs {
		if out[i], err = decodeSchedule(app, r.Key[len(prefix):], r); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// UpdateSchedule implements ScheduleStore: a read of the record (for its
// Created and the due entry of its Next), then, if Next moves, the new due
// entry, the compare-and-set, the new entry again and the deletion of the
// old one (see dueGroup).
func (s *Service) UpdateSchedule(ctx context.Context, sc Schedule) (Schedule, error) {
	sc, err := normalizeSchedule(sc)
	if err != nil {
		return Schedule{}, fmt.Errorf("update schedule %q: %w", sc.ID, err)
	}
	if sc.Generation == 0 {
		return Schedule{}, fmt.Errorf("update schedule %s: %w: no generation (update a schedule read with Schedule, Schedules or DueSchedules)", sc.ID, ErrInvalid)
	}
	old, err := s.readSchedule(ctx, sc.AppKey, sc.ID)
	if err != nil {
		return Schedule{}, fmt.Errorf("update %w", err)
	}
	if old.Generation != sc.Generation {
		return Schedule{}, fmt.Errorf("update schedule %s of app %s: %w", sc.ID, sc.AppKey, ErrGenerationMismatch)
	}
	sc.Created = old.Created
	v, err := encodeSchedule(sc)
	if err != nil {
		return Schedule{}, err
	}
	oldDue, newDue := dueKey(old), dueKey(sc)
	moved := newDue != "" && newDue != oldDue
	if moved {
		if err := s.putDue(ctx, newDue); err != nil {
			return Schedule{}, fmt.Errorf("update schedule %s of app %s: %w", sc.ID, sc.AppKey, err)
		}
	}
	key := scheduleKey(sc.AppKey, sc.ID)
	gen, err := s.store.Put(ctx, KindSchedule, key, v, WriteOptions{Generation: sc.Generation})
	if errors.Is(err, ErrGenerationMismatch) {
		// A conditional write of a missing record mismatches too: tell
		// the two apart.
		if _, gerr := s.store.Get(ctx, KindSchedule, key); errors.Is(gerr, ErrNotFound) {
			err = gerr
		}
	}
	if err != nil {
		return Schedule{}, fmt.Errorf("update schedule %s of app %s: %w", sc.ID, sc.AppKey, err)
	}
	// Best effort, both: the write succeeded (see dueGroup).
	if moved {
		_ = s.putDue(ctx, newDue)
	}
	if oldDue != "" && oldDue != newDue {
		_, _ = s.store.Delete(ctx, KindScheduleDue, oldDue, 0)
	}
	sc.Generation = gen
	return sc, nil
}

// DeleteSchedule implements ScheduleStore: the record, then (best effort) its
// due entry; a due entry left behind is stale, and DueSchedules deletes it.
func (s *Service) DeleteSchedule(ctx context.Context, app, id string) (bool, error) {
	if err := checkScheduleKey(app, id); err != nil {
		return false, fmt.Errorf("delete schedule %q: %w", id, err)
	}
	// Counted before, so that the count is right after.
	if err := s.ensureUsage(ctx, scheduleQuota, app); err != nil {
		return false, fmt.Errorf("delete schedule %s of app %s: %w", id, app, err)
	}
	old, err := s.readSchedule(ctx, app, id)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("delete %w", err)
	}
	existed, err := s.store.Delete(ctx, KindSchedule, scheduleKey(app, id), 0)
	if err != nil {
		return false, fmt.Errorf("delete schedule %s of app %s: %w", id, app, err)
	}
	if existed {
		s.freeSlot(ctx, scheduleQuota, app)
	}
	if due := dueKey(old); existed && due != "" {
		_, _ = s.store.Delete(ctx, KindScheduleDue, due, 0)
	}
	return existed, nil
}

// DueSchedules implements ScheduleStore: a Scan of the due entries up to
// until, then a GetMany of their schedules. Stale entries are skipped, and
// deleted once older than staleDueAge; skipped entries are made up for by
// reading further.
func (s *Service) DueSchedules(ctx context.Context, until time.Time, after string, limit int) ([]Schedule, string, error) {
	if err := checkPage(limit); err != nil {
		return nil, "", fmt.Errorf("due schedules: %w", err)
	}
	if after != "" {
		if _, _, _, ok := parseDueKey(after); !ok {
			return nil, "", fmt.Errorf("due schedules: %w: %q is not a cursor DueSchedules returned", ErrInvalid, after)
		}
	}
	untilMS := uint64(max(0, until.UnixMilli()))
	staleBefore := uint64(max(0, s.now().Add(-staleDueAge).UnixMilli()))
	out := make([]Schedule, 0, min(limit, 256))
	from := after
	for len(out) < limit {
		want := limit - len(out)
		entries, err := s.store.Scan(ctx, KindScheduleDue, dueGroup, from, want)
		if err != nil {
			return nil, "", fmt.Errorf("due schedules: %w", err)
		}
		keys := make([]string, 0, len(entries))
		parsed := make([][2]string, 0, len(entries))
		pastUntil := false
		for _, e := range entries {
			ms, app, id, ok := parseDueKey(e.Key)
			if !ok {
				return nil, "", fmt.Errorf("dataservice: corrupt due schedule entry %q", e.Key)
			}
			if ms > untilMS {
				pastUntil = true
				break
			}
			keys = append(keys, scheduleKey(app, id))
			parsed = append(parsed, [2]string{app, id})
		}
		if len(keys) > 0 {
			recs, err := s.store.GetMany(ctx, KindSchedule, keys)
			if err != nil {
				return nil, "", fmt.Errorf("due schedules: %w", err)
			}
			for i, r := range recs {
				e := entries[i]
				if r.Exists() {
					sc, err := decodeSchedule(parsed[i][0], parsed[i][1], r)
					if err != nil {
						return nil, "", err
					}
					if dueKey(sc) == e.Key {
						out = append(out, sc)
						continue
					}
				}
				if written, ok := decodeID(e.Value); !ok || written < staleBefore {
					// Only this entry, as read: best effort, the next
					// call tries again.
					_, _ = s.store.Delete(ctx, KindScheduleDue, e.Key, e.Generation)
				}
			}
			from = entries[len(keys)-1].Key
		}
		if pastUntil || len(entries) < want {
			return out, "", nil
		}
	}
	return out, from, nil
}
