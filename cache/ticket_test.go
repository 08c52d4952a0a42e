package cache

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestTickets(t *testing.T) {
	for _, tc := range []struct {
		name    string
		between func(c Cache) // after Reserve("k", 1), before SetWith
		stored  bool
	}{
		{"nothing", func(Cache) {}, true},
		{"key invalidated", func(c Cache) { c.Invalidate("k", 0) }, false},
		{"key invalidated at an older version", func(c Cache) { c.Invalidate("k", 1) }, false},
		{"other key invalidated", func(c Cache) { c.Invalidate("other", 0) }, true},
		{"source dropped", func(c Cache) { c.DropSource(1) }, false},
		{"other source dropped", func(c Cache) { c.DropSource(2) }, true},
		{"cleared", func(c Cache) { c.Clear() }, false},
		{"key deleted", func(c Cache) { c.Delete("k") }, true},
		{"newer version stored", func(c Cache) { c.Set("k", []byte("newer"), 9, 1, SetOptions{}) }, false},
		{"older version stored", func(c Cache) { c.Set("k", []byte("older"), 3, 1, SetOptions{}) }, true},
		{"invalidated then dropped other source", func(c Cache) { c.DropSource(2); c.Invalidate("k", 0) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, f := range cacheFactories() {
				t.Run(f.name, func(t *testing.T) {
					c := f.make(t, DefaultConfig())
					for _, size := range []int{10, 20 << 10} { // tier 1 and tier 2 in a Tiered cache
						c.Clear()
						tk := c.Reserve("k", 1)
						if tk.Key() != "k" || tk.Source() != 1 {
							t.Fatalf("ticket for %q from %d, want k from 1", tk.Key(), tk.Source())
						}
						tc.between(c)
						value := strings.Repeat("v", size)
						if got := c.SetWith(tk, []byte(value), 5, SetOptions{}); got != tc.stored {
							t.Fatalf("size %d: SetWith = %v, want %v", size, got, tc.stored)
						}
						if tc.stored {
							mustGet(t, c, "k", value, 5)
						}
					}
				})
			}
		})
	}
}

func TestTicketMisuse(t *testing.T) {
	a, b := newMemory(t, DefaultConfig()), newMemory(t, DefaultConfig())
	if a.SetWith(Ticket{}, []byte("v"), 1, SetOptions{}) {
		t.Error("SetWith with the zero Ticket stored")
	}
	if a.SetWith(b.Reserve("k", 1), []byte("v"), 1, SetOptions{}) {
		t.Error("SetWith with another cache's ticket stored")
	}
	tk := a.Reserve("k", 1)
	if a.SetWith(tk, []byte("v"), 0, SetOptions{}) {
		t.Error("SetWith of version 0 stored")
	}
	// A ticket is a value: it can be spent more than once, each time
	// under the same rules.
	if !a.SetWith(tk, []byte("v"), 1, SetOptions{}) || !a.SetWith(tk, []byte("w"), 2, SetOptions{}) {
		t.Error("SetWith of a valid ticket refused")
	}
	a.Invalidate("k", 0)
	if a.SetWith(tk, []byte("x"), 3, SetOptions{}) {
		t.Error("SetWith after an invalidation stored")
	}
}

// A ticket taken before more invalidations than the shard remembers
// fails: the cache can no longer tell whether one was for its key.
func TestTicketWindow(t *testing.T) {
	for _, tc := range []struct {
		others int
		stored bool
	}{{3, true}, {4, true}, {5, false}, {100, false}} {
		t.Run(fmt.Sprintf("others=%d", tc.others), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Shards, cfg.Tombstones = 1, 4
			m := newMemory(t, cfg)
			tk := m.Reserve("k", 1)
			for i := range tc.others {
				m.Invalidate(keyN(i), 0)
			}
			if got := m.SetWith(tk, []byte("v"), 1, SetOptions{}); got != tc.stored {
				t.Fatalf("SetWith = %v, want %v", got, tc.stored)
			}
		})
	}
}

// TestTicketRace runs writers that bump a key's version in a fake store
// and invalidate it, against readers that read through the cache with
// Reserve, a store read and SetWith, while the cache evicts, spills and
// promotes. Once Invalidate(key, g) has returned, no Get may return a
// version of key older than g.
func TestTicketRace(t *testing.T) {
	const (
		keys    = 24
		writers = 4
		readers = 8
	)
	writes, reads := 600, 3000
	if testing.Short() {
		writes, reads = 100, 500
	}
	for _, f := range cacheFactories() {
		t.Run(f.name, func(t *testing.T) {
			cfg := DefaultConfig()
			// Small budgets: tier 1 evicts into tier 2, which evicts for
			// its cap; one value in four is over the spill threshold.
			cfg.Shards, cfg.MaxBytes = 2, 2*4*costOf(keyN(0), make([]byte, 40))
			cfg.SpillThreshold, cfg.SpillMaxBytes = 64, 12*spillSize(keyN(0), make([]byte, 100))
			c := f.make(t, cfg)

			var store, floor [keys]atomic.Uint32
			for i := range store {
				store[i].Store(1)
			}
			value := func(k int, version uint32) []byte {
				v := fmt.Sprintf("%s@%d;", keyN(k), version)
				if version%4 == 0 {
					v += strings.Repeat("#", 100-len(v))
				}
				return []byte(v)
			}
			var wg sync.WaitGroup
			var stale, served, stored atomic.Int64
			for w := range writers {
				wg.Go(func() {
					r := rand.New(rand.NewPCG(uint64(w), 1))
					for range writes {
						k := r.IntN(keys)
						g := store[k].Add(1) // the write
						c.Invalidate(keyN(k), g)
						for f := floor[k].Load(); f < g && !floor[k].CompareAndSwap(f, g); f = floor[k].Load() {
						}
						switch r.IntN(100) {
						case 0:
							c.DropSource(uint16(r.IntN(3)))
						case 1:
							c.Clear()
						}
					}
				})
			}
			for rd := range readers {
				wg.Go(func() {
					r := rand.New(rand.NewPCG(uint64(rd), 2))
					for range reads {
						k := r.IntN(keys)
						key := keyN(k)
						atLeast := floor[k].Load()
						if v, ver, ok := c.Get(key); ok {
							served.Add(1)
							if ver < atLeast {
								stale.Add(1)
								t.Errorf("Get(%q) = v%d after Invalidate(%d) returned", key, ver, atLeast)
							}
							if string(v) != string(value(k, ver)) {
								t.Errorf("Get(%q) = %q for v%d", key, v, ver)
							}
							continue
						}
						tk := c.Reserve(key, uint16(k%3))
						ver := store[k].Load() // the store read
						if r.IntN(4) == 0 {
							runtime.Gosched() // widen the race window
						}
						if c.SetWith(tk, value(k, ver), ver, SetOptions{}) {
							stored.Add(1)
						}
					}
				})
			}
			wg.Wait()
			t.Logf("%d hits, %d read-through stores, %d stale; %+v", served.Load(), stored.Load(), stale.Load(), c.Stats())
			if served.Load() == 0 || stored.Load() == 0 {
				t.Error("the test exercised nothing")
			}
			checkSettled(t, c, cfg)
		})
	}
}

// checkSettled checks the invariants of an idle cache: budgets hold, and
// Clear empties both tiers.
func checkSettled(t *testing.T, c Cache, cfg Config) {
	t.Helper()
	st := c.Stats()
	if _, memoryLess := c.(*Spill); !memoryLess && st.Bytes > cfg.MaxBytes {
		t.Errorf("Bytes %d > MaxBytes %d", st.Bytes, cfg.MaxBytes)
	}
	if st.SpillBytes > cfg.SpillMaxBytes {
		t.Errorf("SpillBytes %d > SpillMaxBytes %d", st.SpillBytes, cfg.SpillMaxBytes)
	}
	c.Clear()
	if st := c.Stats(); st.Entries != 0 || st.Bytes != 0 || st.SpillEntries != 0 || st.SpillBytes != 0 {
		t.Errorf("after Clear: %+v", st)
	}
}

// TestConcurrentOps runs every operation at once, with TTLs under a moving
// clock and a callback that calls the cache, for the race detector.
func TestConcurrentOps(t *testing.T) {
	ops := 3000
	if testing.Short() {
		ops = 500
	}
	for _, f := range cacheFactories() {
		for _, p := range []Policy{LRU, LFU, TTL} {
			t.Run(f.name+"/"+p.String(), func(t *testing.T) {
				clock := newFakeClock()
				cfg := DefaultConfig()
				cfg.Policy, cfg.Now, cfg.Shards = p, clock.Now, 4
				cfg.MaxBytes = 4 * 6 * costOf(keyN(0), make([]byte, 64))
				cfg.SpillThreshold, cfg.SpillMaxBytes = 200, 64<<10
				var c Cache
				var callbacks atomic.Int64
				cfg.OnEvict = func(key string, _ []byte, _ Reason) {
					callbacks.Add(1)
					c.Get(key)
				}
				c = f.make(t, cfg)
				var wg sync.WaitGroup
				for g := range 8 {
					wg.Go(func() {
						r := rand.New(rand.NewPCG(uint64(g), 3))
						for i := range ops {
							key := keyN(r.IntN(64))
							switch r.IntN(20) {
							case 0:
								c.Invalidate(key, uint32(r.IntN(10)))
							case 1:
								c.Delete(key)
							case 2:
								clock.Advance(100 * time.Millisecond)
							case 3:
								if r.IntN(20) == 0 {
									c.DropSource(uint16(r.IntN(4)))
								}
							case 4:
								if r.IntN(50) == 0 {
									c.Clear()
								}
							case 5:
								c.(interface{ RemoveExpired() int }).RemoveExpired()
							case 6, 7, 8, 9:
								tk := c.Reserve(key, uint16(r.IntN(4)))
								c.SetWith(tk, make([]byte, r.IntN(300)), uint32(i+1), SetOptions{TTL: time.Duration(r.IntN(3)) * time.Second})
							case 10, 11, 12:
								c.Set(key, make([]byte, r.IntN(300)), uint32(i+1), uint16(r.IntN(4)), SetOptions{})
							default:
								c.Get(key)
							}
							if i%100 == 0 {
								c.Stats()
							}
						}
					})
				}
				wg.Wait()
				if callbacks.Load() == 0 {
					t.Error("no callback made")
				}
				checkSettled(t, c, cfg)
			})
		}
	}
}
