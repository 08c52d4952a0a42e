package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

// Kinds used by the suite. Value, counter and list records never share a
// kind, as the contract requires.
const (
	kindValues   = dataservice.KindDevice
	kindOther    = dataservice.KindSession
	kindGroups   = dataservice.KindInbox
	kindCounters = dataservice.KindCounter
	kindLists    = dataservice.KindRecent
	// kindCounters2 and kindLists2 are second counter and list kinds for the
	// isolation tests.
	kindCounters2 dataservice.Kind = "cn2"
	kindLists2    dataservice.Kind = "rc2"
)

// Timing of the TTL tests.
const (
	shortTTL      = 1500 * time.Millisecond
	ttlTolerance  = time.Second      // resolution of a backend's expiry
	expiryTimeout = 10 * time.Second // how long a TTL test waits for expiry
	pollInterval  = 20 * time.Millisecond
)

// open returns a new store from newStore that is closed when t ends.
func open(t testing.TB, newStore func(testing.TB) dataservice.Store) dataservice.Store {
	t.Helper()
	s := newStore(t)
	if s == nil {
		t.Fatal("storetest: newStore returned nil")
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil && !errors.Is(err, dataservice.ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// ctx returns a context for one test's calls.
func ctx(t testing.TB) context.Context {
	return t.Context()
}

func put(t testing.TB, s dataservice.Store, kind dataservice.Kind, key, value string, opts dataservice.WriteOptions) uint32 {
	t.Helper()
	gen, err := s.Put(ctx(t), kind, key, []byte(value), opts)
	if err != nil {
		t.Fatalf("Put(%s, %q, %+v): %v", kind, key, opts, err)
	}
	return gen
}

func get(t testing.TB, s dataservice.Store, kind dataservice.Kind, key string) dataservice.Record {
	t.Helper()
	r, err := s.Get(ctx(t), kind, key)
	if err != nil {
		t.Fatalf("Get(%s, %q): %v", kind, key, err)
	}
	return r
}

// wantRecord fails t unless s holds key with value and generation.
func wantRecord(t testing.TB, s dataservice.Store, kind dataservice.Kind, key, value string, generation uint32) {
	t.Helper()
	r := get(t, s, kind, key)
	if r.Key != key || string(r.Value) != value || r.Generation != generation {
		t.Fatalf("Get(%s, %q) = {Key %q, Value %q, Generation %d}, want {%q, %q, %d}",
			kind, key, r.Key, r.Value, r.Generation, key, value, generation)
	}
}

// wantMissing fails t unless Get reports ErrNotFound for key.
func wantMissing(t testing.TB, s dataservice.Store, kind dataservice.Kind, key string) {
	t.Helper()
	r, err := s.Get(ctx(t), kind, key)
	if !errors.Is(err, dataservice.ErrNotFound) {
		t.Fatalf("Get(%s, %q) = %+v, %v; want ErrNotFound", kind, key, r, err)
	}
}

// wantErr fails t unless err wraps target.
func wantErr(t testing.TB, err, target error, call string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error %v, want one wrapping %v", call, err, target)
	}
}

func incr(t testing.TB, s dataservice.Store, kind dataservice.Kind, key string, ttl time.Duration, deltas ...dataservice.Delta) []int64 {
	t.Helper()
	got, err := s.Incr(ctx(t), kind, key, deltas, ttl)
	if err != nil {
		t.Fatalf("Incr(%s, %q, %v, %v): %v", kind, key, deltas, ttl, err)
	}
	if len(got) != len(deltas) {
		t.Fatalf("Incr(%s, %q, %v) returned %d values, want %d", kind, key, deltas, len(got), len(deltas))
	}
	return got
}

func putManyOK(t testing.TB, s dataservice.Store, writes ...dataservice.Write) {
	t.Helper()
	if err := s.PutMany(ctx(t), writes); err != nil {
		t.Fatalf("PutMany(%+v): %v", writes, err)
	}
}

// scanKeys returns the keys of records.
func scanKeys(records []dataservice.Record) []string {
	keys := make([]string, len(records))
	for i, r := range records {
		keys[i] = r.Key
	}
	return keys
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// eventually polls cond until it returns nil, and fails t with cond's last
// error if that takes longer than timeout.
func eventually(t testing.TB, timeout time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %v: %v", timeout, err)
		}
		select {
		case <-tick.C:
		case <-t.Context().Done():
			t.Fatalf("test ended while waiting: %v", err)
		}
	}
}

// gone returns a condition, for eventually, that holds once Get reports
// key missing.
func gone(t testing.TB, s dataservice.Store, kind dataservice.Kind, key string) func() error {
	return func() error {
		_, err := s.Get(ctx(t), kind, key)
		switch {
		case errors.Is(err, dataservice.ErrNotFound):
			return nil
		case err != nil:
			return fmt.Errorf("Get(%s, %q): %w", kind, key, err)
		default:
			return fmt.Errorf("%s %q still exists", kind, key)
		}
	}
}

// wantExpires fails t unless r expires ttl after a write done between
// before and after, within the tolerance.
func wantExpires(t testing.TB, r dataservice.Record, before, after time.Time, ttl time.Duration) {
	t.Helper()
	lo, hi := before.Add(ttl-ttlTolerance), after.Add(ttl+ttlTolerance)
	if r.Expires.Before(lo) || r.Expires.After(hi) {
		t.Fatalf("record %q expires %v, want between %v and %v", r.Key, r.Expires, lo, hi)
	}
}

func sameBytes(a []byte, b string) bool { return bytes.Equal(a, []byte(b)) }
