package storetest

import (
	"maps"
	"testing"

	"github.com/heraldpush/herald/dataservice"
)

func counters(t testing.TB, s dataservice.Store, kind dataservice.Kind, key string) map[string]int64 {
	t.Helper()
	got, err := s.Counters(ctx(t), kind, key)
	if err != nil {
		t.Fatalf("Counters(%s, %q): %v", kind, key, err)
	}
	return got
}

func wantValues(t testing.TB, got []int64, want ...int64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("Incr returned %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Incr returned %v, want %v", got, want)
		}
	}
}

func wantCounters(t testing.TB, s dataservice.Store, kind dataservice.Kind, key string, want map[string]int64) {
	t.Helper()
	if got := counters(t, s, kind, key); !maps.Equal(got, want) {
		t.Fatalf("Counters(%s, %q) = %v, want %v", kind, key, got, want)
	}
}

var incrCases = []testCase{
	{name: "creates counters at zero", test: func(t *testing.T, s dataservice.Store) {
		got := incr(t, s, kindCounters, "m", 0,
			dataservice.Delta{Name: "sent", Delta: 3}, dataservice.Delta{Name: "acked", Delta: 0})
		wantValues(t, got, 3, 0)
		wantCounters(t, s, kindCounters, "m", map[string]int64{"sent": 3, "acked": 0})
	}},
	{name: "returns new values in the order of deltas", test: func(t *testing.T, s dataservice.Store) {
		incr(t, s, kindCounters, "m", 0, dataservice.Delta{Name: "a", Delta: 1}, dataservice.Delta{Name: "b", Delta: 10})
		got := incr(t, s, kindCounters, "m", 0,
			dataservice.Delta{Name: "c", Delta: 7}, dataservice.Delta{Name: "b", Delta: 5}, dataservice.Delta{Name: "a", Delta: 2})
		wantValues(t, got, 7, 15, 3)
		wantCounters(t, s, kindCounters, "m", map[string]int64{"a": 3, "b": 15, "c": 7})
	}},
	{name: "negative deltas", test: func(t *testing.T, s dataservice.Store) {
		incr(t, s, kindCounters, "m", 0, dataservice.Delta{Name: "pending", Delta: 5})
		wantValues(t, incr(t, s, kindCounters, "m", 0, dataservice.Delta{Name: "pending", Delta: -7}), -2)
	}},
	{name: "large values", test: func(t *testing.T, s dataservice.Store) {
		const big = 1 << 62
		wantValues(t, incr(t, s, kindCounters, "m", 0, dataservice.Delta{Name: "n", Delta: big}), big)
		wantValues(t, incr(t, s, kindCounters, "m", 0, dataservice.Delta{Name: "n", Delta: -2 * big}), -big)
	}},
	{name: "records are independent", test: func(t *testing.T, s dataservice.Store) {
		incr(t, s, kindCounters, "m1", 0, dataservice.Delta{Name: "sent", Delta: 1})
		incr(t, s, kindCounters, "m2", 0, dataservice.Delta{Name: "sent", Delta: 2})
		wantCounters(t, s, kindCounters, "m1", map[string]int64{"sent": 1})
		wantCounters(t, s, kindCounters, "m2", map[string]int64{"sent": 2})
	}},
}

var countersCases = []testCase{
	{name: "missing record is ErrNotFound", test: func(t *testing.T, s dataservice.Store) {
		_, err := s.Counters(ctx(t), kindCounters, "nobody")
		wantErr(t, err, dataservice.ErrNotFound, "Counters of a missing record")
	}},
	{name: "returns every counter", test: func(t *testing.T, s dataservice.Store) {
		incr(t, s, kindCounters, "m", 0, dataservice.Delta{Name: "sent", Delta: 4})
		incr(t, s, kindCounters, "m", 0, dataservice.Delta{Name: "delivered", Delta: 3})
		incr(t, s, kindCounters, "m", 0, dataservice.Delta{Name: "acked", Delta: 2}, dataservice.Delta{Name: "sent", Delta: 1})
		wantCounters(t, s, kindCounters, "m", map[string]int64{"sent": 5, "delivered": 3, "acked": 2})
	}},
}

var kindCases = []testCase{
	{name: "value kinds are isolated", test: func(t *testing.T, s dataservice.Store) {
		put(t, s, kindValues, "k", "dev", dataservice.WriteOptions{})
		put(t, s, kindOther, "k", "ses", dataservice.WriteOptions{})
		put(t, s, kindOther, "k", "ses", dataservice.WriteOptions{})
		wantRecord(t, s, kindValues, "k", "dev", 1)
		wantRecord(t, s, kindOther, "k", "ses", 2)
		_, err := s.Put(ctx(t), kindGroups, "k", []byte("x"), dataservice.WriteOptions{Generation: 1})
		wantErr(t, err, dataservice.ErrGenerationMismatch, "conditional Put in a kind where the key is missing")
		if existed, err := s.Delete(ctx(t), kindValues, "k", 0); err != nil || !existed {
			t.Fatalf("Delete = %v, %v", existed, err)
		}
		wantRecord(t, s, kindOther, "k", "ses", 2)
	}},
	{name: "scan stays in its kind", test: func(t *testing.T, s dataservice.Store) {
		put(t, s, kindValues, "g/1", "dev", dataservice.WriteOptions{})
		put(t, s, kindOther, "g/2", "ses", dataservice.WriteOptions{})
		got, err := s.Scan(ctx(t), kindValues, "g/", "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if keys, want := scanKeys(got), []string{"g/1"}; !equalStrings(keys, want) {
			t.Fatalf("Scan = %q, want %q", keys, want)
		}
	}},
	{name: "counter kinds are isolated", test: func(t *testing.T, s dataservice.Store) {
		incr(t, s, kindCounters, "m", 0, dataservice.Delta{Name: "sent", Delta: 1})
		incr(t, s, kindCounters2, "m", 0, dataservice.Delta{Name: "sent", Delta: 5})
		wantCounters(t, s, kindCounters, "m", map[string]int64{"sent": 1})
		wantCounters(t, s, kindCounters2, "m", map[string]int64{"sent": 5})
		got, err := s.DeleteMany(ctx(t), kindCounters2, []string{"m"})
		if err != nil || len(got) != 1 || !got[0] {
			t.Fatalf("DeleteMany = %v, %v", got, err)
		}
		wantCounters(t, s, kindCounters, "m", map[string]int64{"sent": 1})
	}},
}
