package dataservice

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// memoryService is a Service over a small in-memory Store with a clock the
// test moves.
func memoryService(t *testing.T) (*Service, *time.Time) {
	t.Helper()
	now := time.UnixMilli(1_800_000_000_000).UTC()
	s := New(newMemStore())
	s.SetClock(func() time.Time { return now })
	return s, &now
}

func TestDueKeyRoundTripAndOrder(t *testing.T) {
	at := time.UnixMilli(1_800_000_000_123)
	var keys []string
	for _, tc := range []struct {
		at      time.Time
		app, id string
	}{
		{at, "app", "a"},
		{at, "app", "b"},
		{at, "app0", "a"},
		{at.Add(time.Millisecond), "app", "a"},
		{at.Add(1000 * time.Hour), "a", "0eac1b80-c2ac-4b69-948b-c65b34b96512"},
	} {
		k := dueKey(Schedule{AppKey: tc.app, ID: tc.id, Next: &ScheduleFiring{At: tc.at}})
		ms, app, id, ok := parseDueKey(k)
		if !ok || ms != uint64(tc.at.UnixMilli()) || app != tc.app || id != tc.id {
			t.Fatalf("parseDueKey(%q) = %d, %q, %q, %v", k, ms, app, id, ok)
		}
		keys = append(keys, k)
	}
	if !slices.IsSorted(keys) {
		t.Fatalf("due keys out of (time, app, id) order: %q", keys)
	}
	if k := dueKey(Schedule{AppKey: "app", ID: "a"}); k != "" {
		t.Fatalf("a schedule without Next has due key %q", k)
	}
	for _, bad := range []string{"", "due/", "due/00000000000000000001", "due/00000000000000000001/app", "due/00000000000000000001/app/",
		"due/0000000000000000000x/app/a", "due/00000000000000000001/app/a/b", "due/00000000000000000001//a", "sch/00000000000000000001/app/a"} {
		if _, _, _, ok := parseDueKey(bad); ok {
			t.Errorf("parseDueKey(%q) accepted it", bad)
		}
	}
}

// dueEntries returns the keys of every due entry.
func dueEntries(t *testing.T, s *Service) []string {
	t.Helper()
	recs, err := s.store.Scan(context.Background(), KindScheduleDue, dueGroup, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, r := range recs {
		keys = append(keys, r.Key)
	}
	return keys
}

// Every write leaves exactly the due entry of the schedule's Next.
func TestScheduleWritesKeepOneDueEntry(t *testing.T) {
	s, now := memoryService(t)
	ctx := context.Background()
	sc, err := s.CreateSchedule(ctx, Schedule{ID: "s", AppKey: "app", Name: "n", Next: &ScheduleFiring{At: now.Add(time.Hour)}})
	if err != nil {
		t.Fatal(err)
	}
	for i, next := range []*ScheduleFiring{
		{At: now.Add(2 * time.Hour)},           // moved
		{At: now.Add(2 * time.Hour), MsgID: 7}, // claimed: same entry
		nil,                                    // no more firings
		{At: now.Add(-time.Minute)},            // back, in the past
		{At: now.Add(-time.Minute + time.Nanosecond)}, // the same millisecond
	} {
		sc.Next = next
		if sc, err = s.UpdateSchedule(ctx, sc); err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
		want := []string{}
		if k := dueKey(sc); k != "" {
			want = append(want, k)
		}
		if got := dueEntries(t, s); !slices.Equal(nonNilStrings(got), want) {
			t.Fatalf("after update %d (next %+v): due entries %q, want %q", i, next, got, want)
		}
	}
	if existed, err := s.DeleteSchedule(ctx, "app", "s"); err != nil || !existed {
		t.Fatalf("DeleteSchedule = %v, %v", existed, err)
	}
	if got := dueEntries(t, s); len(got) != 0 {
		t.Fatalf("due entries after the delete: %q", got)
	}
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// DueSchedules skips entries that do not name their schedule's Next, and
// deletes them once they are old enough not to belong to a write in
// flight.
func TestStaleDueEntries(t *testing.T) {
	s, now := memoryService(t)
	ctx := context.Background()
	live, err := s.CreateSchedule(ctx, Schedule{ID: "live", AppKey: "app", Name: "n", Next: &ScheduleFiring{At: now.Add(-time.Second)}})
	if err != nil {
		t.Fatal(err)
	}
	past := now.Add(-time.Hour)
	orphans := []string{
		dueKey(Schedule{AppKey: "app", ID: "gone", Next: &ScheduleFiring{At: past}}), // no such schedule
		dueKey(Schedule{AppKey: "app", ID: "live", Next: &ScheduleFiring{At: past}}), // another time than live's Next
	}
	for _, k := range orphans {
		if err := s.putDue(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	due := func() []string {
		t.Helper()
		out, next, err := s.DueSchedules(ctx, *now, "", 10)
		if err != nil || next != "" {
			t.Fatalf("DueSchedules = %v, %q, %v", out, next, err)
		}
		var ids []string
		for _, sc := range out {
			ids = append(ids, sc.ID)
		}
		return ids
	}
	// Young: possibly a write in flight; skipped, kept.
	*now = now.Add(staleDueAge - time.Second)
	if got := due(); !slices.Equal(got, []string{"live"}) {
		t.Fatalf("due %v, want [live]", got)
	}
	if got := dueEntries(t, s); len(got) != 3 {
		t.Fatalf("young stale entries were deleted: %q", got)
	}
	// Old: deleted.
	*now = now.Add(2 * time.Second)
	if got := due(); !slices.Equal(got, []string{"live"}) {
		t.Fatalf("due %v, want [live]", got)
	}
	if got := dueEntries(t, s); !slices.Equal(got, []string{dueKey(live)}) {
		t.Fatalf("due entries %q, want only live's", got)
	}
}

// A page full of stale entries does not end the listing early.
func TestDueSchedulesReadsPastStaleEntries(t *testing.T) {
	s, now := memoryService(t)
	ctx := context.Background()
	for i := range 5 {
		if err := s.putDue(ctx, dueKey(Schedule{AppKey: "app", ID: string(rune('a' + i)), Next: &ScheduleFiring{At: now.Add(-time.Hour)}})); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.CreateSchedule(ctx, Schedule{ID: "z", AppKey: "app", Name: "n", Next: &ScheduleFiring{At: now.Add(-time.Minute)}}); err != nil {
		t.Fatal(err)
	}
	out, next, err := s.DueSchedules(ctx, *now, "", 2)
	if err != nil || len(out) != 1 || out[0].ID != "z" || next != "" {
		t.Fatalf("DueSchedules(limit 2) = %+v, %q, %v; want [z] and no more", out, next, err)
	}
}

// The stored record keeps Spec's bytes as they are.
func TestScheduleRecordKeepsSpecVerbatim(t *testing.T) {
	spec := json.RawMessage(`{"content":"<b>&</b> \u2028 é"}`)
	v, err := encodeSchedule(Schedule{ID: "s", AppKey: "app", Name: "n", Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(v, spec) {
		t.Fatalf("record %s does not hold the spec %s verbatim", v, spec)
	}
	got, err := decodeSchedule("app", "s", Record{Value: v, Generation: 3})
	if err != nil || string(got.Spec) != string(spec) || got.ID != "s" || got.AppKey != "app" || got.Generation != 3 {
		t.Fatalf("decodeSchedule = %+v, %v", got, err)
	}
	if _, err := decodeSchedule("app", "s", Record{Value: []byte("{"), Generation: 1}); err == nil {
		t.Fatal("a corrupt record decoded")
	}
}

// memStore keeps value records in a map: the Store methods schedules use
// (Get, GetMany, Put, Delete, Scan), with the contract's conditions.
// Other methods panic (the embedded interface is nil).
type memStore struct {
	Store
	mu       sync.Mutex
	records  map[string]Record           // kind + "\x00" + key
	counters map[string]map[string]int64 // kind + "\x00" + key → counter records
}

func newMemStore() *memStore {
	return &memStore{records: map[string]Record{}, counters: map[string]map[string]int64{}}
}

// Counters, Incr and PutMany of counter writes: what the counts of limits
// per app use (quota.go).
func (s *memStore) Counters(_ context.Context, kind Kind, key string) (map[string]int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.counters[memKey(kind, key)]
	if !ok {
		return nil, ErrNotFound
	}
	return maps.Clone(c), nil
}

func (s *memStore) Incr(_ context.Context, kind Kind, key string, deltas []Delta, _ time.Duration) ([]int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := memKey(kind, key)
	if s.counters[k] == nil {
		s.counters[k] = map[string]int64{}
	}
	out := make([]int64, len(deltas))
	for i, d := range deltas {
		s.counters[k][d.Name] += d.Delta
		out[i] = s.counters[k][d.Name]
	}
	return out, nil
}

func (s *memStore) PutMany(ctx context.Context, writes []Write) error {
	for _, w := range writes {
		if len(w.Deltas) == 0 {
			panic("memStore: PutMany of a record write")
		}
		s.mu.Lock()
		_, exists := s.counters[memKey(w.Kind, w.Key)]
		s.mu.Unlock()
		if w.Options.CreateOnly && exists {
			return ErrExists
		}
		if _, err := s.Incr(ctx, w.Kind, w.Key, w.Deltas, 0); err != nil {
			return err
		}
	}
	return nil
}

func memKey(kind Kind, key string) string { return string(kind) + "\x00" + key }

func (s *memStore) Get(_ context.Context, kind Kind, key string) (Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.records[memKey(kind, key)]
	if !ok {
		return Record{}, ErrNotFound
	}
	return r, nil
}

func (s *memStore) GetMany(ctx context.Context, kind Kind, keys []string) ([]Record, error) {
	out := make([]Record, len(keys))
	for i, k := range keys {
		out[i], _ = s.Get(ctx, kind, k)
	}
	return out, nil
}

func (s *memStore) Put(_ context.Context, kind Kind, key string, value []byte, opts WriteOptions) (uint32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := memKey(kind, key)
	r, ok := s.records[k]
	switch {
	case opts.CreateOnly && ok:
		return 0, ErrExists
	case opts.Generation != 0 && r.Generation != opts.Generation:
		return 0, ErrGenerationMismatch
	}
	r = Record{Key: key, Value: slices.Clone(value), Generation: r.Generation + 1}
	s.records[k] = r
	return r.Generation, nil
}

func (s *memStore) Delete(_ context.Context, kind Kind, key string, generation uint32) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := memKey(kind, key)
	r, ok := s.records[k]
	if generation != 0 && r.Generation != generation {
		return false, ErrGenerationMismatch
	}
	delete(s.records, k)
	return ok, nil
}

func (s *memStore) Scan(_ context.Context, kind Kind, prefix, after string, limit int) ([]Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Record
	for k, r := range s.records {
		if strings.HasPrefix(k, memKey(kind, prefix)) && r.Key > after {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b Record) int { return strings.Compare(a.Key, b.Key) })
	return out[:min(limit, len(out))], nil
}
