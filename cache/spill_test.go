package cache

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestSpillThreshold(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SpillThreshold = 100
	c := newTiered(t, cfg)
	small, large := strings.Repeat("s", 100), strings.Repeat("L", 101)
	c.Set("small", []byte(small), 1, 1, SetOptions{})
	c.Set("large", []byte(large), 1, 1, SetOptions{})
	if st := c.Stats(); st.Entries != 1 || st.SpillEntries != 1 {
		t.Fatalf("Stats = %+v, want 1 entry in each tier", st)
	}
	if want := spillSize("large", []byte(large)); c.Stats().SpillBytes != want {
		t.Fatalf("SpillBytes = %d, want %d", c.Stats().SpillBytes, want)
	}
	mustGet(t, c, "large", large, 1)
	mustGet(t, c, "small", small, 1)
	// A value over the threshold is not promoted.
	if st := c.Stats(); st.SpillHits != 1 || st.Hits != 2 || st.SpillEntries != 1 || st.Entries != 1 {
		t.Fatalf("Stats = %+v, want 1 spill hit of 2, nothing promoted", st)
	}
	// Moving between tiers by rewriting.
	c.Set("large", []byte("now small"), 2, 1, SetOptions{})
	c.Set("small", []byte(large), 2, 1, SetOptions{})
	if st := c.Stats(); st.Entries != 1 || st.SpillEntries != 1 {
		t.Fatalf("Stats = %+v, want 1 entry in each tier", st)
	}
	mustGet(t, c, "large", "now small", 2)
	mustGet(t, c, "small", large, 2)
	// An older version is refused whichever tier holds the newer one.
	if c.Set("small", []byte("x"), 1, 1, SetOptions{}) || c.Set("large", []byte(large), 1, 1, SetOptions{}) {
		t.Fatal("Set of an older version stored")
	}
}

// tinyTiered returns a Tiered cache whose tier 1 holds three entries of
// keyN keys and 8-byte values in one shard.
func tinyTiered(t *testing.T, log *evictLog, clock *fakeClock) (*Tiered, Config) {
	cfg := DefaultConfig()
	cfg.Shards = 1
	cfg.MaxBytes = 3 * costOf(keyN(0), make([]byte, 8))
	if log != nil {
		cfg.OnEvict = log.record
	}
	if clock != nil {
		cfg.Now = clock.Now
	}
	return newTiered(t, cfg), cfg
}

func value8(i int) []byte { return []byte(keyN(i))[2:] }

func TestSpillEviction(t *testing.T) {
	var log evictLog
	c, _ := tinyTiered(t, &log, nil)
	for i := range 5 {
		c.Set(keyN(i), value8(i), 1, 1, SetOptions{})
	}
	if st := c.Stats(); st.Entries != 3 || st.Evictions != 2 || st.SpillEntries != 2 {
		t.Fatalf("Stats = %+v, want 3 entries, 2 evicted to tier 2", st)
	}
	if ev := log.take(); len(ev) != 0 {
		t.Fatalf("callbacks %+v for entries moved to tier 2", ev)
	}
	// The oldest two are in tier 2; a hit promotes, evicting the LRU
	// entry of tier 1 into tier 2.
	mustGet(t, c, keyN(0), string(value8(0)), 1)
	if st := c.Stats(); st.SpillHits != 1 || st.Entries != 3 || st.SpillEntries != 2 || st.Evictions != 3 {
		t.Fatalf("Stats = %+v after a tier-2 hit, want it promoted and another entry spilled", st)
	}
	for i := range 5 {
		mustGet(t, c, keyN(i), string(value8(i)), 1)
	}
	c.Clear()
	if ev := log.take(); len(ev) != 5 {
		t.Fatalf("Clear made %d callbacks, want 5", len(ev))
	}
}

func TestSpillEvictionSkipsExpired(t *testing.T) {
	var log evictLog
	clock := newFakeClock()
	c, _ := tinyTiered(t, &log, clock)
	c.Set(keyN(0), value8(0), 1, 1, SetOptions{TTL: time.Second})
	c.Set(keyN(1), value8(1), 1, 1, SetOptions{})
	c.Set(keyN(2), value8(2), 1, 1, SetOptions{})
	clock.Advance(time.Second)
	c.Set(keyN(3), value8(3), 1, 1, SetOptions{})
	if st := c.Stats(); st.SpillEntries != 0 || st.Expirations != 1 {
		t.Fatalf("Stats = %+v, want the expired entry gone, not spilled", st)
	}
	if ev := log.take(); len(ev) != 1 || ev[0].key != keyN(0) || ev[0].reason != Expired {
		t.Fatalf("callbacks = %+v, want %s expired", ev, keyN(0))
	}
}

func TestSpillCap(t *testing.T) {
	var log evictLog
	cfg := DefaultConfig()
	cfg.OnEvict = log.record
	cfg.SpillMaxBytes = 3 * spillSize(keyN(0), value8(0))
	s := openSpill(t, cfg)
	for i := range 3 {
		s.Set(keyN(i), value8(i), 1, 1, SetOptions{})
	}
	// Rewriting key 0 makes it the newest: key 1 is now the oldest.
	s.Set(keyN(0), value8(0), 2, 1, SetOptions{})
	s.Set(keyN(3), value8(3), 1, 1, SetOptions{})
	s.Set(keyN(4), value8(4), 1, 1, SetOptions{})
	ev := log.take()
	if len(ev) != 2 || ev[0] != (evictEvent{keyN(1), "", true, Evicted}) || ev[1] != (evictEvent{keyN(2), "", true, Evicted}) {
		t.Fatalf("callbacks = %+v, want keys 1 and 2 evicted, values nil", ev)
	}
	if st := s.Stats(); st.SpillEntries != 3 || st.SpillBytes != cfg.SpillMaxBytes || st.SpillEvictions != 2 {
		t.Fatalf("Stats = %+v, want 3 records at the cap, 2 evicted", st)
	}
	mustMiss(t, s, keyN(1))
	mustMiss(t, s, keyN(2))
	mustGet(t, s, keyN(0), string(value8(0)), 2)
	mustGet(t, s, keyN(3), string(value8(3)), 1)
	mustGet(t, s, keyN(4), string(value8(4)), 1)
	if s.Set("big", make([]byte, cfg.SpillMaxBytes), 1, 1, SetOptions{}) {
		t.Fatal("Set of a record over the whole cap stored")
	}
}

// dirBytes is the size of the LevelDB files in dir.
func dirBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var n int64
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if info, err := e.Info(); err == nil && !e.IsDir() && e.Name() != "LOG" && e.Name() != "foreign.txt" {
			n += info.Size()
		}
	}
	return n
}

func TestSpillWipeAtOpen(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "spill")
	cfg := DefaultConfig()
	cfg.SpillDir = dir
	s, err := OpenSpill(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 200 {
		s.Set(keyN(i), make([]byte, 4<<10), 1, 1, SetOptions{})
	}
	if _, err := OpenSpill(cfg); !errors.Is(err, ErrSpillUnavailable) {
		t.Fatalf("second OpenSpill of the same directory: err = %v, want ErrSpillUnavailable", err)
	}
	if _, err := New(cfg); !errors.Is(err, ErrSpillUnavailable) {
		t.Fatalf("New on a directory in use: err = %v, want ErrSpillUnavailable", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	before := dirBytes(t, dir)
	if before < 200*4<<10 {
		t.Fatalf("LevelDB files hold %d bytes, want at least the 800 KiB written", before)
	}
	foreign := filepath.Join(dir, "foreign.txt")
	if err := os.WriteFile(foreign, []byte("not ours"), 0o644); err != nil {
		t.Fatal(err)
	}

	s = openSpill(t, cfg)
	if after := dirBytes(t, dir); after >= before/10 {
		t.Fatalf("LevelDB files hold %d bytes after reopening, %d before: not wiped", after, before)
	}
	if b, err := os.ReadFile(foreign); err != nil || string(b) != "not ours" {
		t.Fatalf("foreign file: %q, %v; want it left alone", b, err)
	}
	mustMiss(t, s, keyN(0))
	s.Set(keyN(0), []byte("fresh"), 1, 1, SetOptions{})
	mustGet(t, s, keyN(0), "fresh", 1)
}

func TestSpillInvalidation(t *testing.T) {
	var log evictLog
	cfg := DefaultConfig()
	cfg.SpillThreshold = 16
	cfg.OnEvict = log.record
	c := newTiered(t, cfg)
	large := func(i int) []byte { return []byte(strings.Repeat(keyN(i), 4)) }
	for i := range 6 {
		c.Set(keyN(i), large(i), 5, uint16(i%2), SetOptions{})
	}
	if st := c.Stats(); st.SpillEntries != 6 || st.Entries != 0 {
		t.Fatalf("Stats = %+v, want everything in tier 2", st)
	}
	c.Invalidate(keyN(0), 4)
	mustGet(t, c, keyN(0), string(large(0)), 5)
	c.Invalidate(keyN(0), 5)
	mustMiss(t, c, keyN(0))
	c.DropSource(1) // keys 1, 3, 5
	for i := 1; i < 6; i++ {
		if i%2 == 1 {
			mustMiss(t, c, keyN(i))
		} else {
			mustGet(t, c, keyN(i), string(large(i)), 5)
		}
	}
	ev := log.take()
	if len(ev) != 4 {
		t.Fatalf("callbacks = %+v, want 4", ev)
	}
	for _, e := range ev {
		if e.reason != Invalidated || !e.nilVal {
			t.Errorf("callback %+v, want invalidated with a nil value", e)
		}
	}
	// A tier-2 SetWith is refused after an invalidation, like a tier-1 one.
	tk := c.Reserve(keyN(9), 0)
	c.Invalidate(keyN(9), 0)
	if c.SetWith(tk, large(9), 1, SetOptions{}) {
		t.Fatal("SetWith of a spilled value after an invalidation stored")
	}
	if st := c.Stats(); st.SpillEntries != 2 || st.Invalidations != 4 {
		t.Fatalf("Stats = %+v, want 2 records left and 4 invalidations", st)
	}
	c.Clear()
	mustMiss(t, c, keyN(2))
	if st := c.Stats(); st.SpillEntries != 0 || st.SpillBytes != 0 {
		t.Fatalf("Stats = %+v after Clear", st)
	}
}

func TestSpillExpiry(t *testing.T) {
	var log evictLog
	clock := newFakeClock()
	cfg := DefaultConfig()
	cfg.Now, cfg.OnEvict = clock.Now, log.record
	s := openSpill(t, cfg)
	s.Set("a", []byte("1"), 1, 1, SetOptions{TTL: time.Second})
	s.Set("b", []byte("2"), 1, 1, SetOptions{TTL: time.Second})
	s.Set("c", []byte("3"), 1, 1, SetOptions{})
	clock.Advance(time.Second)
	mustMiss(t, s, "a")
	if n := s.RemoveExpired(); n != 1 {
		t.Fatalf("RemoveExpired = %d, want 1 (b)", n)
	}
	mustGet(t, s, "c", "3", 1)
	ev := log.take()
	if len(ev) != 2 || ev[0].reason != Expired || ev[1].reason != Expired {
		t.Fatalf("callbacks = %+v, want a and b expired", ev)
	}
	if st := s.Stats(); st.Expirations != 2 || st.SpillEntries != 1 {
		t.Fatalf("Stats = %+v", st)
	}
}

func TestSpillClosed(t *testing.T) {
	cfg := DefaultConfig()
	cfg.SpillThreshold = 4
	cfg.SpillDir = t.TempDir()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.Set("large", []byte("123456"), 1, 1, SetOptions{})
	c.Set("small", []byte("1"), 1, 1, SetOptions{})
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	mustMiss(t, c, "large")
	if c.Set("large", []byte("123456"), 2, 1, SetOptions{}) {
		t.Fatal("Set into a closed tier 2 stored")
	}
	if st := c.Stats(); st.SpillEntries != 0 || st.SpillBytes != 0 {
		t.Fatalf("Stats = %+v after Close", st)
	}
}

func TestTieredWithoutSpill(t *testing.T) {
	c, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if !c.Set("k", make([]byte, 100<<10), 1, 1, SetOptions{}) {
		t.Fatal("Set of a value over the spill threshold refused without a tier 2")
	}
	if st := c.Stats(); st.Entries != 1 || st.SpillEntries != 0 {
		t.Fatalf("Stats = %+v", st)
	}
}
