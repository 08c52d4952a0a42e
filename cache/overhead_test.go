package cache

import (
	"math"
	"runtime"
	"testing"
	"time"
)

// measureOverhead fills a Memory with n entries whose keys and values were
// allocated beforehand and returns the live heap growth per entry.
func measureOverhead(tb testing.TB, n int, ttl time.Duration) float64 {
	tb.Helper()
	keys := make([]string, n)
	values := make([][]byte, n)
	for i := range keys {
		keys[i] = sizedKey(i, 32)
		values[i] = make([]byte, 64)
	}
	cfg := DefaultConfig()
	cfg.MaxBytes = math.MaxInt64 / 2
	m := newMemory(tb, cfg)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range keys {
		if !m.Set(keys[i], values[i], 1, 1, SetOptions{TTL: ttl}) {
			tb.Fatalf("Set %d refused", i)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(keys)
	runtime.KeepAlive(values)
	runtime.KeepAlive(m)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
}

func TestEntryOverhead(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates 300k entries")
	}
	if raceEnabled {
		t.Skip("the race detector changes allocation sizes")
	}
	for _, tc := range []struct {
		name string
		ttl  time.Duration
	}{
		{"no-ttl", 0},
		{"ttl", time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lowest := math.Inf(1)
			for _, n := range []int{60_000, 100_000, 140_000, 200_000, 300_000} {
				got := measureOverhead(t, n, tc.ttl)
				t.Logf("n=%d: %.1f bytes per entry beyond key and value", n, got)
				if got > EntryOverhead {
					t.Errorf("n=%d: measured %.1f bytes per entry, EntryOverhead is %d: raise it", n, got, EntryOverhead)
				}
				lowest = min(lowest, got)
			}
			if lowest < EntryOverhead-64 {
				t.Errorf("measured as little as %.1f bytes per entry, EntryOverhead is %d: lower it", lowest, EntryOverhead)
			}
		})
	}
}
