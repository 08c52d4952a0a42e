package dataservice

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

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

func TestCursorRecord(t *testing.T) {
	for _, c := range []BroadcastCursor{
		{RegistrationID: "r1"},
		{RegistrationID: "r1", Sent: 1_700_000_000_000_000, Acked: 1_699_999_999_999_999},
		{RegistrationID: "r1", Sent: math.MaxUint64, Acked: math.MaxUint64},
	} {
		v := encodeCursor(c)
		if len(v) != 17 || v[0] != cursorRecordVersion {
			t.Fatalf("encodeCursor(%+v) = %x", c, v)
		}
		got, err := decodeCursor("r1", v)
		if err != nil || got != c {
			t.Fatalf("decodeCursor = %+v, %v; want %+v", got, err, c)
		}
	}
	good := encodeCursor(BroadcastCursor{Sent: 2, Acked: 1})
	for name, v := range map[string][]byte{
		"empty":          nil,
		"version 0":      append([]byte{0}, good[1:]...),
		"future version": append([]byte{2}, good[1:]...),
		"truncated":      good[:16],
		"trailing bytes": append(slices.Clone(good), 0),
	} {
		if _, err := decodeCursor("r1", v); err == nil {
			t.Errorf("decodeCursor of %s record: no error", name)
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

func TestTaskRecordKeepsSpecVerbatim(t *testing.T) {
	task := Task{
		ID: 42, AppKey: "app", State: TaskCanceling, Cursor: "c", Targeted: 3,
		Spec:       json.RawMessage(`{"html":"<a href=\"x\">&amp;</a>","n":1}`),
		Error:      "<&>",
		LeaseUntil: time.UnixMilli(1_700_000_000_000).UTC(),
		Generation: 9,
	}
	v, err := encodeTask(&task)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(v, task.Spec) || bytes.Contains(v, []byte(`\u003c`)) || bytes.HasSuffix(v, []byte("\n")) {
		t.Fatalf("task record %s does not hold Spec verbatim", v)
	}
	if bytes.Contains(v, []byte("generation")) || bytes.Contains(v, []byte(`"9"`)) {
		t.Fatalf("task record %s stores the generation", v)
	}
	got, err := decodeTask(42, Record{Value: v, Generation: 5})
	if err != nil || got.Generation != 5 || string(got.Spec) != string(task.Spec) || got.Error != task.Error || !got.LeaseUntil.Equal(task.LeaseUntil) {
		t.Fatalf("decodeTask = %+v, %v", got, err)
	}
	task.Spec = json.RawMessage(`{"unterminated":`)
	if _, err := encodeTask(&task); !errors.Is(err, ErrInvalid) {
		t.Fatalf("encodeTask of a bad Spec: %v, want ErrInvalid", err)
	}
	if _, err := decodeTask(1, Record{Value: []byte("{"), Generation: 1}); err == nil {
		t.Fatal("decodeTask of a corrupt record: no error")
	}
}

func TestCheckCollapseIDAndCID(t *testing.T) {
	for _, tc := range []struct {
		s             string
		collapse, cid bool // valid as a collapse id, as a cid
	}{
		{"score", true, true},
		{"订单 #42", true, true},
		{strings.Repeat("x", 64), true, true},
		{strings.Repeat("é", 32), true, true},
		{strings.Repeat("x", 65), false, false},
		{"", false, false},
		{"a/b", false, false},
		{"a\x00b", false, false},
		{"a\tb", false, false},
		{"bad\xff", false, false},
		{"a\u00a0b", true, false}, // no-break space: not a control character, not printable
		{"a\u200bb", true, false}, // zero-width space (format)
	} {
		if err := CheckCollapseID(tc.s); (err == nil) != tc.collapse || (err != nil && !errors.Is(err, ErrInvalid)) {
			t.Errorf("CheckCollapseID(%q) = %v, want valid %v", tc.s, err, tc.collapse)
		}
		if err := CheckCID(tc.s); (err == nil) != tc.cid || (err != nil && !errors.Is(err, ErrInvalid)) {
			t.Errorf("CheckCID(%q) = %v, want valid %v", tc.s, err, tc.cid)
		}
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

// The unicast hot path: a message without a collapse id is one batch, its
// targeted counter included; the counters of any number of ACKs are one
// more; and PutSessions adds one batch, in parallel, for any number of
// sessions.
func TestStoreCallsOfHotPaths(t *testing.T) {
	ctx := context.Background()
	st := newCountingStore()
	s := New(st)
	m := &Message{ID: 1, AppKey: "app", TTL: time.Hour, Created: time.Now()}
	if err := s.SaveMessage(ctx, m, []string{"a", "b", "c"}); err != nil {
		t.Fatal(err)
	}
	if got := st.Calls(); !slices.Equal(got, []string{"PutMany"}) {
		t.Fatalf("SaveMessage without collapse id made calls %q", got)
	}
	st = newCountingStore()
	s = New(st)
	deltas := []CounterDelta{{MessageID: 1, Counter: CounterDelivered, N: 1}, {MessageID: 2, Counter: CounterDelivered, N: 1}, {MessageID: 1, Counter: CounterClicked, N: 1}}
	if err := s.AddCounters(ctx, deltas); err != nil {
		t.Fatal(err)
	}
	if got := st.Calls(); !slices.Equal(got, []string{"PutMany"}) {
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

func TestFinishedTaskLivesPastItsMessage(t *testing.T) {
	ctx := context.Background()
	now := time.UnixMilli(1_700_000_000_000)
	for _, tc := range []struct {
		name    string
		message *Message
		want    time.Duration
	}{
		{"message alive", &Message{ID: 7, AppKey: "app", TTL: 2 * time.Hour, Created: now.Add(-time.Hour)}, time.Hour + ReportRetention},
		{"message gone", nil, ReportRetention},
		{"clocks disagree", &Message{ID: 7, AppKey: "app", TTL: time.Hour, Created: now.Add(-time.Hour - ReportRetention - time.Hour)}, time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newCountingStore()
			s := New(st)
			s.now = func() time.Time { return now }
			if tc.message != nil {
				st.put(KindMessage, messageKey(7), encodeMessage(tc.message), WriteOptions{})
			}
			task := Task{ID: 7, AppKey: "app", State: TaskRunning}
			st.put(KindTask, taskKey(7), []byte(`{}`), WriteOptions{})
			task.Generation = 1
			task.State = TaskDone
			if _, err := s.UpdateTask(ctx, task); err != nil {
				t.Fatal(err)
			}
			if got := st.opts[string(KindTask)+":"+taskKey(7)]; got.TTL != tc.want || got.Generation != 1 {
				t.Fatalf("finished task written with %+v, want TTL %v at generation 1", got, tc.want)
			}
			if calls := st.Calls(); !slices.Contains(calls, "Delete") {
				t.Fatalf("the active entry was not deleted: calls %q", calls)
			}
		})
	}
}
