package dataservice

import (
	"context"
	"math"
	"slices"
	"sync"
	"testing"
	"time"
)

// Internal tests of what the concerns of Service share: how ids appear in
// keys and values, and the store calls of the hot paths.

func TestIDKeyOrderAndRoundTrip(t *testing.T) {
	ids := []uint64{0, 1, 9, 10, 99, 1 << 32, 1_700_000_000_000_000, math.MaxUint64 - 1, math.MaxUint64}
	var keys []string
	for _, id := range ids {
		k := idKey(id)
		if len(k) != 20 {
			t.Fatalf("idKey(%d) = %q, want 20 digits", id, k)
		}
		got, ok := parseIDKey(k)
		if !ok || got != id {
			t.Fatalf("parseIDKey(%q) = %d, %v; want %d", k, got, ok, id)
		}
		keys = append(keys, k)
	}
	if !slices.IsSorted(keys) {
		t.Fatalf("keys out of id order: %q", keys)
	}
	for _, bad := range []string{"", "1", "0000000000000000000a", "18446744073709551616", "99999999999999999999", "-0000000000000000001", "000000000000000000001"} {
		if id, ok := parseIDKey(bad); ok {
			t.Errorf("parseIDKey(%q) = %d, true; want false", bad, id)
		}
	}
}

func TestIDAndLastActiveValues(t *testing.T) {
	for _, id := range []uint64{1, 1 << 40, math.MaxUint64} {
		v := encodeID(id)
		if got, ok := decodeID(v); len(v) != 8 || !ok || got != id {
			t.Fatalf("id %d: encoded %x, decoded %d, %v", id, v, got, ok)
		}
	}
	for _, v := range [][]byte{nil, {1, 2, 3}, make([]byte, 9)} {
		if _, ok := decodeID(v); ok {
			t.Errorf("decodeID(%x) succeeded", v)
		}
	}
	at := time.UnixMilli(1_700_000_000_123)
	got, err := decodeLastActive("r1", encodeLastActive(at.Add(456*time.Microsecond)))
	if err != nil || !got.Equal(at) || got.Location() != time.UTC {
		t.Fatalf("last active = %v, %v; want %v in UTC (milliseconds)", got, err, at)
	}
	if _, err := decodeLastActive("r1", []byte{1}); err == nil {
		t.Fatal("decodeLastActive of a short record: no error")
	}
}

// The unicast hot path: a message without a collapse id is one batch, its
// targeted counter included (its day totals are summed in memory); the
// counters of any number of ACKs of messages saved through the same
// Service, with the day totals summed so far, are one more; and
// PutSessions adds one batch, in parallel, for any number of sessions.
func TestStoreCallsOfHotPaths(t *testing.T) {
	ctx := context.Background()
	st := newCountingStore()
	s := New(st)
	m := &Message{ID: 1, AppKey: "app", TTL: time.Hour, Created: time.Now()}
	if err := s.SaveNewMessage(ctx, m, []string{"a", "b", "c"}); err != nil {
		t.Fatal(err)
	}
	if got := st.Calls(); !slices.Equal(got, []string{"PutMany"}) {
		t.Fatalf("SaveNewMessage without collapse id made calls %q", got)
	}
	if err := s.SaveMessage(ctx, &Message{ID: 2, AppKey: "app", TTL: time.Hour, Created: time.Now()}, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	if got := st.Calls()[1:]; !slices.Equal(got, []string{"PutMany"}) {
		t.Fatalf("SaveMessage without collapse id made calls %q", got)
	}
	before := len(st.Calls())
	deltas := []CounterDelta{{MessageID: 1, Counter: CounterDelivered, N: 1}, {MessageID: 2, Counter: CounterDelivered, N: 1}, {MessageID: 1, Counter: CounterClicked, N: 1}}
	if err := s.AddCounters(ctx, deltas); err != nil {
		t.Fatal(err)
	}
	if got := st.Calls()[before:]; !slices.Equal(got, []string{"PutMany"}) {
		t.Fatalf("AddCounters of two messages made calls %q", got)
	}
	st = newCountingStore()
	s = New(st)
	if _, err := s.PutSessions(ctx, []Session{{RegistrationID: "a", Since: time.Now()}, {RegistrationID: "b", Since: time.Now()}}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if got := st.Calls(); !slices.Equal(got, []string{"Put", "Put", "PutMany"}) {
		t.Fatalf("PutSessions of two made calls %q", got)
	}
}

// countingStore records the calls made to it and keeps value records in a
// map, enough for the calls the tests below make. Other methods panic
// (the embedded interface is nil).
type countingStore struct {
	Store
	mu      sync.Mutex
	calls   []string
	records map[string]Record
	opts    map[string]WriteOptions // of the last write of each key
}

func newCountingStore() *countingStore {
	return &countingStore{records: map[string]Record{}, opts: map[string]WriteOptions{}}
}

func (s *countingStore) call(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, name)
}

func (s *countingStore) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := slices.Clone(s.calls)
	slices.Sort(out)
	return out
}

func (s *countingStore) Get(_ context.Context, kind Kind, key string) (Record, error) {
	s.call("Get")
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.records[string(kind)+":"+key]
	if !ok {
		return Record{}, ErrNotFound
	}
	return r, nil
}

func (s *countingStore) put(kind Kind, key string, value []byte, opts WriteOptions) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := string(kind) + ":" + key
	s.records[k] = Record{Key: key, Value: value, Generation: s.records[k].Generation + 1}
	s.opts[k] = opts
}

func (s *countingStore) Put(_ context.Context, kind Kind, key string, value []byte, opts WriteOptions) (uint32, error) {
	s.call("Put")
	s.put(kind, key, value, opts)
	return 1, nil
}

func (s *countingStore) PutMany(_ context.Context, writes []Write) error {
	s.call("PutMany")
	for _, w := range writes {
		s.put(w.Kind, w.Key, w.Value, w.Options)
	}
	return nil
}

func (s *countingStore) Incr(context.Context, Kind, string, []Delta, time.Duration) ([]int64, error) {
	s.call("Incr")
	return []int64{0}, nil
}

func (s *countingStore) Delete(context.Context, Kind, string, uint32) (bool, error) {
	s.call("Delete")
	return true, nil
}
