package cache

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"
)

func TestConfig(t *testing.T) {
	d := DefaultConfig()
	if d.MaxBytes != 64<<20 || d.SpillThreshold != 16<<10 || d.SpillMaxBytes != 256<<20 || d.Policy != LRU {
		t.Errorf("DefaultConfig() = %+v", d)
	}
	if want := 4 * runtime.GOMAXPROCS(0); d.Shards < want || d.Shards >= 2*want || d.Shards&(d.Shards-1) != 0 {
		t.Errorf("DefaultConfig().Shards = %d, want the power of two at or above %d", d.Shards, want)
	}
	for _, tc := range []struct {
		name string
		edit func(*Config)
	}{
		{"unknown policy", func(c *Config) { c.Policy = 9 }},
		{"negative budget", func(c *Config) { c.MaxBytes = -1 }},
		{"shards not a power of two", func(c *Config) { c.Shards = 6 }},
		{"negative shards", func(c *Config) { c.Shards = -4 }},
		{"negative tombstones", func(c *Config) { c.Tombstones = -1 }},
		{"negative default TTL", func(c *Config) { c.DefaultTTL = -time.Second }},
		{"negative threshold", func(c *Config) { c.SpillThreshold = -1 }},
		{"negative spill cap", func(c *Config) { c.SpillMaxBytes = -1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tc.edit(&cfg)
			if _, err := NewMemory(cfg); !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("NewMemory: err = %v, want ErrInvalidConfig", err)
			}
		})
	}
	t.Run("zero config", func(t *testing.T) {
		m := newMemory(t, Config{})
		if !m.Set("k", []byte("v"), 1, 0, SetOptions{}) {
			t.Fatal("Set refused")
		}
		mustGet(t, m, "k", "v", 1)
	})
	t.Run("OpenSpill without SpillDir", func(t *testing.T) {
		if _, err := OpenSpill(Config{}); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("OpenSpill: err = %v, want ErrInvalidConfig", err)
		}
	})
}

func TestVersions(t *testing.T) {
	type step struct {
		op      string // "set", "get", "invalidate", "delete"
		version uint32
		value   string
		want    bool // set: stored; get: hit (at version, value)
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"newer replaces", []step{
			{"set", 3, "a", true}, {"set", 4, "b", true}, {"get", 4, "b", true},
		}},
		{"older refused", []step{
			{"set", 5, "a", true}, {"set", 4, "b", false}, {"get", 5, "a", true},
		}},
		{"same version replaces", []step{
			{"set", 5, "a", true}, {"set", 5, "b", true}, {"get", 5, "b", true},
		}},
		{"version 0 refused", []step{
			{"set", 0, "a", false}, {"get", 0, "", false},
		}},
		{"invalidate older keeps", []step{
			{"set", 5, "a", true}, {"invalidate", 4, "", false}, {"get", 5, "a", true},
		}},
		{"invalidate same drops", []step{
			{"set", 5, "a", true}, {"invalidate", 5, "", false}, {"get", 0, "", false},
		}},
		{"invalidate newer drops", []step{
			{"set", 5, "a", true}, {"invalidate", 9, "", false}, {"get", 0, "", false},
		}},
		{"invalidate any drops", []step{
			{"set", 5, "a", true}, {"invalidate", 0, "", false}, {"get", 0, "", false},
		}},
		{"set covered by a remembered invalidation refused", []step{
			{"invalidate", 7, "", false}, {"set", 6, "a", false}, {"set", 7, "a", false}, {"set", 8, "b", true}, {"get", 8, "b", true},
		}},
		{"set after invalidate any refused", []step{
			{"invalidate", 0, "", false}, {"set", 100, "a", false}, {"get", 0, "", false},
		}},
		{"delete does not leave a tombstone", []step{
			{"set", 5, "a", true}, {"delete", 0, "", true}, {"get", 0, "", false}, {"set", 3, "b", true}, {"get", 3, "b", true},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, f := range cacheFactories() {
				t.Run(f.name, func(t *testing.T) {
					c := f.make(t, DefaultConfig())
					for i, s := range tc.steps {
						switch s.op {
						case "set":
							if got := c.Set("k", []byte(s.value), s.version, 1, SetOptions{}); got != s.want {
								t.Fatalf("step %d: Set(v%d) = %v, want %v", i, s.version, got, s.want)
							}
						case "get":
							if s.want {
								mustGet(t, c, "k", s.value, s.version)
							} else {
								mustMiss(t, c, "k")
							}
						case "invalidate":
							c.Invalidate("k", s.version)
						case "delete":
							if got := c.Delete("k"); got != s.want {
								t.Fatalf("step %d: Delete = %v, want %v", i, got, s.want)
							}
						}
					}
				})
			}
		})
	}
}

// A plain Set of a cached key compares versions only: the cached entry
// was accepted after any invalidation the shard remembers.
func TestSetOfCachedKeyAfterTombstone(t *testing.T) {
	m := newMemory(t, DefaultConfig())
	m.Invalidate("k", 0)
	tk := m.Reserve("k", 1)
	if !m.SetWith(tk, []byte("a"), 2, SetOptions{}) {
		t.Fatal("SetWith after the invalidation refused")
	}
	if !m.Set("k", []byte("b"), 3, 1, SetOptions{}) {
		t.Fatal("Set of a newer version of a cached key refused")
	}
	mustGet(t, m, "k", "b", 3)
}

func TestTombstoneBound(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Shards, cfg.Tombstones = 1, 4
	m := newMemory(t, cfg)
	m.Invalidate("k", 0)
	for i := range 3 {
		m.Invalidate(keyN(i), 0)
	}
	if m.Set("k", []byte("a"), 1, 1, SetOptions{}) {
		t.Fatal("Set refused while its tombstone is among the last 4 invalidations")
	}
	m.Invalidate(keyN(3), 0)
	if !m.Set("k", []byte("a"), 1, 1, SetOptions{}) {
		t.Fatal("Set refused after its tombstone left the window")
	}
}

// costOf is the accounted cost of an entry.
func costOf(key string, value []byte) int64 { return int64(len(key)+len(value)) + EntryOverhead }

func TestBudget(t *testing.T) {
	t.Run("exact", func(t *testing.T) {
		m := newMemory(t, DefaultConfig())
		model := map[string]int64{}
		check := func(step string) {
			t.Helper()
			var sum int64
			for _, c := range model {
				sum += c
			}
			if st := m.Stats(); st.Bytes != sum || st.Entries != int64(len(model)) {
				t.Fatalf("after %s: Stats = %d entries, %d bytes; want %d, %d", step, st.Entries, st.Bytes, len(model), sum)
			}
		}
		set := func(key string, n int, version uint32) {
			v := make([]byte, n)
			if !m.Set(key, v, version, 1, SetOptions{}) {
				t.Fatalf("Set(%q) refused", key)
			}
			model[key] = costOf(key, v)
			check("set " + key)
		}
		set("a", 10, 1)
		set("bb", 100, 1)
		set("ccc", 1000, 1)
		set("a", 5000, 2) // replace, larger
		set("bb", 1, 2)   // replace, smaller
		m.Delete("a")
		delete(model, "a")
		check("delete a")
		m.Invalidate("bb", 2)
		delete(model, "bb")
		check("invalidate bb")
		m.Invalidate("ccc", 0)
		delete(model, "ccc")
		check("invalidate ccc")
		set("ddd", 10, 1)
		m.Clear()
		clear(model)
		check("clear")
	})
	for _, p := range []Policy{LRU, LFU, TTL} {
		t.Run("bounded/"+p.String(), func(t *testing.T) {
			clock := newFakeClock()
			model := map[string]int64{}
			cfg := DefaultConfig()
			cfg.Policy, cfg.Shards, cfg.MaxBytes, cfg.Now = p, 4, 16<<10, clock.Now
			cfg.OnEvict = func(key string, _ []byte, _ Reason) { delete(model, key) }
			m := newMemory(t, cfg)
			r := rand.New(rand.NewPCG(1, 2))
			for i := range 20_000 {
				key := keyN(r.IntN(300))
				switch op := r.IntN(10); {
				case op < 6:
					v := make([]byte, r.IntN(1500))
					ttl := time.Duration(r.IntN(3)) * time.Second
					if m.Set(key, v, uint32(i+1), 1, SetOptions{TTL: ttl}) {
						model[key] = costOf(key, v)
					}
				case op < 8:
					m.Get(key)
				case op == 8:
					_, cached := model[key]
					if m.Delete(key) != cached {
						t.Fatalf("op %d: Delete(%q) disagrees with the model", i, key)
					}
				default:
					clock.Advance(100 * time.Millisecond)
				}
				st := m.Stats()
				if st.Bytes > cfg.MaxBytes {
					t.Fatalf("op %d: Bytes %d > MaxBytes %d", i, st.Bytes, cfg.MaxBytes)
				}
				var sum int64
				for _, c := range model {
					sum += c
				}
				if st.Bytes != sum || st.Entries != int64(len(model)) {
					t.Fatalf("op %d: Stats = %d entries, %d bytes; model %d, %d", i, st.Entries, st.Bytes, len(model), sum)
				}
			}
		})
	}
	t.Run("too large refused", func(t *testing.T) {
		cfg := DefaultConfig()
		cfg.Shards, cfg.MaxBytes = 4, 4096
		m := newMemory(t, cfg)
		if m.Set("k", make([]byte, 1024-EntryOverhead), 1, 1, SetOptions{}) {
			t.Error("Set of an entry larger than a shard's share stored")
		}
		if !m.Set("k", make([]byte, 1024-EntryOverhead-1), 1, 1, SetOptions{}) {
			t.Error("Set of an entry exactly a shard's share refused")
		}
	})
}

func TestEvictionOrder(t *testing.T) {
	type step struct {
		op  string // "set", "get"
		key string
		ttl time.Duration
	}
	for _, tc := range []struct {
		policy Policy
		steps  []step
		want   []string // evicted keys, in order
	}{
		{LRU, []step{
			{"set", "a", 0}, {"set", "b", 0}, {"set", "c", 0},
			{"get", "a", 0},
			{"set", "d", 0}, // evicts b: a was read after it
			{"set", "e", 0}, // evicts c: a was read after c's write
			{"set", "f", 0}, // evicts a
			{"get", "d", 0},
			{"set", "g", 0}, // evicts e: d was read
		}, []string{"b", "c", "a", "e"}},
		{LFU, []step{
			{"set", "a", 0}, {"set", "b", 0}, {"set", "c", 0}, // 1, 1, 1
			{"get", "a", 0}, {"get", "a", 0}, {"get", "a", 0}, // a 4
			{"get", "c", 0},                  // c 2
			{"set", "d", 0},                  // evicts b (1); age floor 1, d 2
			{"get", "d", 0},                  // d 3
			{"set", "e", 0},                  // evicts c (2); floor 2, e 3
			{"get", "e", 0}, {"get", "e", 0}, // e 5
			{"set", "f", 0},                  // evicts d (3); floor 3, f 4
			{"get", "f", 0}, {"get", "f", 0}, // f 6
			{"set", "g", 0}, // evicts a (4): its old popularity has aged out
		}, []string{"b", "c", "d", "a"}},
		{TTL, []step{
			{"set", "a", 30 * time.Second}, {"set", "b", 10 * time.Second}, {"set", "c", 20 * time.Second},
			{"get", "b", 0},
			{"set", "d", 40 * time.Second}, // evicts b: first to expire, though just read
			{"set", "e", 0},                // evicts c
			{"set", "f", 0},                // evicts a
			{"set", "g", 0},                // evicts d: entries without TTL leave last
			{"set", "h", 0},                // evicts e: oldest written without TTL
		}, []string{"b", "c", "a", "d", "e"}},
	} {
		t.Run(tc.policy.String(), func(t *testing.T) {
			var log evictLog
			cfg := DefaultConfig()
			cfg.Policy, cfg.Shards, cfg.Now = tc.policy, 1, newFakeClock().Now
			cfg.MaxBytes = 3 * costOf("a", make([]byte, 10))
			cfg.OnEvict = log.record
			m := newMemory(t, cfg)
			for i, s := range tc.steps {
				switch s.op {
				case "set":
					if !m.Set(s.key, make([]byte, 10), 1, 1, SetOptions{TTL: s.ttl}) {
						t.Fatalf("step %d: Set(%q) refused", i, s.key)
					}
				case "get":
					if _, _, ok := m.Get(s.key); !ok {
						t.Fatalf("step %d: Get(%q) missed", i, s.key)
					}
				}
			}
			var got []string
			for _, ev := range log.take() {
				if ev.reason != Evicted {
					t.Errorf("%q left for %v, want evicted", ev.key, ev.reason)
				}
				got = append(got, ev.key)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("evicted %v, want %v", got, tc.want)
			}
			if st := m.Stats(); st.Evictions != uint64(len(tc.want)) || st.Entries != 3 {
				t.Errorf("Stats = %+v, want %d evictions and 3 entries", st, len(tc.want))
			}
		})
	}
}

func TestExpiry(t *testing.T) {
	for _, p := range []Policy{LRU, LFU, TTL} {
		t.Run(p.String(), func(t *testing.T) {
			clock := newFakeClock()
			var log evictLog
			cfg := DefaultConfig()
			cfg.Policy, cfg.Now, cfg.OnEvict, cfg.DefaultTTL = p, clock.Now, log.record, time.Minute
			cfg.Shards = 1
			m := newMemory(t, cfg)
			m.Set("short", []byte("s"), 1, 1, SetOptions{TTL: 10 * time.Second})
			m.Set("default", []byte("d"), 1, 1, SetOptions{})
			clock.Advance(10*time.Second - time.Nanosecond)
			mustGet(t, m, "short", "s", 1)
			clock.Advance(time.Nanosecond)
			mustMiss(t, m, "short")
			mustMiss(t, m, "short")
			if ev := log.take(); len(ev) != 1 || ev[0] != (evictEvent{"short", "s", false, Expired}) {
				t.Fatalf("callbacks after expiry = %+v, want one Expired", ev)
			}
			mustGet(t, m, "default", "d", 1)

			// Expired entries Get has not seen are removed by the next
			// Set in their shard, or by RemoveExpired.
			m.Set("long", []byte("l"), 1, 1, SetOptions{TTL: time.Hour})
			clock.Advance(time.Minute)
			if st := m.Stats(); st.Entries != 2 {
				t.Fatalf("Entries = %d before any removal, want 2", st.Entries)
			}
			m.Set("other", []byte("o"), 1, 1, SetOptions{})
			if ev := log.take(); len(ev) != 1 || ev[0].key != "default" || ev[0].reason != Expired {
				t.Fatalf("callbacks after Set = %+v, want default expired", ev)
			}
			m.Set("brief", []byte("b"), 1, 1, SetOptions{TTL: time.Second})
			clock.Advance(time.Second)
			if n := m.RemoveExpired(); n != 1 {
				t.Fatalf("RemoveExpired = %d, want 1", n)
			}
			if ev := log.take(); len(ev) != 1 || ev[0].key != "brief" {
				t.Fatalf("callbacks after RemoveExpired = %+v, want brief", ev)
			}
			if st := m.Stats(); st.Expirations != 3 || st.Entries != 2 {
				t.Fatalf("Stats = %+v, want 3 expirations and 2 entries", st)
			}
			mustGet(t, m, "long", "l", 1)
		})
	}
}

func TestCallbacks(t *testing.T) {
	for _, tc := range []struct {
		name   string
		act    func(c Cache, clock *fakeClock)
		reason Reason // 0: no callback
	}{
		{"evicted", func(c Cache, _ *fakeClock) {
			for i := range 5 {
				c.Set(fmt.Sprintf("f%d", i), []byte("filler"), 1, 1, SetOptions{})
			}
		}, Evicted},
		{"expired", func(c Cache, clock *fakeClock) { clock.Advance(2 * time.Hour); c.Get("k") }, Expired},
		{"invalidated", func(c Cache, _ *fakeClock) { c.Invalidate("k", 0) }, Invalidated},
		{"source dropped", func(c Cache, _ *fakeClock) { c.DropSource(7) }, Invalidated},
		{"deleted", func(c Cache, _ *fakeClock) { c.Delete("k") }, Removed},
		{"cleared", func(c Cache, _ *fakeClock) { c.Clear() }, Removed},
		{"newer version invalidated", func(c Cache, _ *fakeClock) { c.Invalidate("k", 6) }, Invalidated},
		{"replaced", func(c Cache, _ *fakeClock) { c.Set("k", []byte("new"), 6, 7, SetOptions{}) }, 0},
		{"other source dropped", func(c Cache, _ *fakeClock) { c.DropSource(8) }, 0},
		{"older version invalidated", func(c Cache, _ *fakeClock) { c.Invalidate("k", 4) }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newFakeClock()
			var log evictLog
			cfg := DefaultConfig()
			cfg.Shards, cfg.Now, cfg.OnEvict = 1, clock.Now, log.record
			cfg.MaxBytes = 3 * costOf("f0", []byte("filler"))
			m := newMemory(t, cfg)
			m.Set("k", []byte("old"), 5, 7, SetOptions{TTL: time.Hour})
			tc.act(m, clock)
			var got []evictEvent
			for _, ev := range log.take() {
				if ev.key == "k" {
					got = append(got, ev)
				}
			}
			if tc.reason == 0 {
				if len(got) != 0 {
					t.Fatalf("callbacks for k = %+v, want none", got)
				}
				return
			}
			if want := (evictEvent{"k", "old", false, tc.reason}); len(got) != 1 || got[0] != want {
				t.Fatalf("callbacks for k = %+v, want once %+v", got, want)
			}
		})
	}
}

// A callback that calls back into the cache must not deadlock: callbacks
// run after every lock is released.
func TestCallbackReentry(t *testing.T) {
	for _, f := range cacheFactories() {
		t.Run(f.name, func(t *testing.T) {
			clock := newFakeClock()
			cfg := DefaultConfig()
			cfg.Shards, cfg.Now = 1, clock.Now
			cfg.MaxBytes = 3 * costOf("key-000000", make([]byte, 8))
			var c Cache
			calls := 0
			cfg.OnEvict = func(key string, _ []byte, reason Reason) {
				calls++
				c.Get(key)
				c.Stats()
				c.Delete("unrelated")
				if reason != Removed {
					c.Set("from-callback", []byte("x"), 1, 2, SetOptions{})
				}
				c.Reserve(key, 1)
				c.Invalidate("nothing", 0)
			}
			c = f.make(t, cfg)
			done := make(chan struct{})
			go func() {
				defer close(done)
				for i := range 20 {
					c.Set(keyN(i), make([]byte, 8), 1, 1, SetOptions{TTL: time.Duration(i%3) * time.Second})
					if i%5 == 0 {
						clock.Advance(time.Second)
						c.Get(keyN(i - 1))
					}
				}
				c.Invalidate(keyN(19), 0)
				c.DropSource(1)
				c.Set("x", []byte("y"), 1, 1, SetOptions{})
				c.Clear()
			}()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("deadlock: a callback calling the cache did not return")
			}
			if calls == 0 {
				t.Fatal("no callback made")
			}
		})
	}
}

// cacheFactory makes a cache for tests that every kind must pass.
type cacheFactory struct {
	name string
	make func(testing.TB, Config) Cache
}

func cacheFactories() []cacheFactory {
	return []cacheFactory{
		{"memory", func(tb testing.TB, cfg Config) Cache { return newMemory(tb, cfg) }},
		{"tiered", func(tb testing.TB, cfg Config) Cache { return newTiered(tb, cfg) }},
		{"spill", func(tb testing.TB, cfg Config) Cache { return openSpill(tb, cfg) }},
	}
}

func TestAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, p := range []Policy{LRU, LFU, TTL} {
		t.Run(p.String(), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Policy = p
			m := newMemory(t, cfg)
			value := make([]byte, 256)
			for i := range 1000 {
				m.Set(keyN(i), value, 1, 1, SetOptions{TTL: time.Duration(i%2) * time.Hour})
			}
			key := keyN(7)
			if n := testing.AllocsPerRun(1000, func() { m.Get(key) }); n != 0 {
				t.Errorf("Get: %v allocations", n)
			}
			if n := testing.AllocsPerRun(1000, func() { m.Get("absent") }); n != 0 {
				t.Errorf("Get of a missing key: %v allocations", n)
			}
			var tk Ticket
			if n := testing.AllocsPerRun(1000, func() { tk = m.Reserve(key, 1) }); n != 0 {
				t.Errorf("Reserve: %v allocations", n)
			}
			if n := testing.AllocsPerRun(1000, func() { m.SetWith(tk, value, 2, SetOptions{}) }); n != 0 {
				t.Errorf("SetWith replacing a key: %v allocations", n)
			}
		})
	}
}

// Two keys with the same 64-bit hash cannot both be in tier 1: the second
// evicts the first. Real collisions are too rare to find, so the test
// stores a key under another's hash through the internal store.
func TestHashCollision(t *testing.T) {
	var log evictLog
	cfg := DefaultConfig()
	cfg.OnEvict = log.record
	m := newMemory(t, cfg)
	m.Set("a", []byte("1"), 1, 1, SetOptions{})
	s, h := m.shardOf("a")
	if !m.store(s, h, nil, "b", []byte("2"), 1, 1, SetOptions{}) {
		t.Fatal("store of the colliding key refused")
	}
	mustMiss(t, m, "a")
	if ev := log.take(); len(ev) != 1 || ev[0] != (evictEvent{"a", "1", false, Evicted}) {
		t.Fatalf("callbacks = %+v, want a evicted", ev)
	}
	s.mu.RLock()
	e := s.lookup(h, "b")
	s.mu.RUnlock()
	if e == nil || string(e.value) != "2" {
		t.Fatal("colliding key not stored under the shared hash")
	}
	if st := m.Stats(); st.Entries != 1 || st.Bytes != costOf("b", []byte("2")) {
		t.Fatalf("Stats = %+v, want the one colliding entry", st)
	}
}
