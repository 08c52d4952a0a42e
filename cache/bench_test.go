package cache

import (
	"math/rand/v2"
	"sync/atomic"
	"testing"
)

const (
	benchEntries  = 100_000
	benchKeyLen   = 64
	benchValueLen = 256
)

func benchKeys(n, keyLen int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = sizedKey(i, keyLen)
	}
	return keys
}

// warmMemory returns a Memory holding benchEntries entries of 64-byte keys
// and 256-byte values, and the keys.
func warmMemory(b *testing.B, policy Policy) (*Memory, []string) {
	cfg := DefaultConfig()
	cfg.Policy = policy
	m := newMemory(b, cfg)
	keys := benchKeys(benchEntries, benchKeyLen)
	value := make([]byte, benchValueLen)
	for _, k := range keys {
		if !m.Set(k, value, 1, 1, SetOptions{}) {
			b.Fatal("warm-up Set refused")
		}
	}
	if st := m.Stats(); st.Entries != benchEntries {
		b.Fatalf("warm cache holds %d entries, want %d (budget too small?)", st.Entries, benchEntries)
	}
	return m, keys
}

// BenchmarkTier1Get reads hits from a warm Memory of 100k entries (64-byte
// keys, 256-byte values), visiting every key in a scattered order, so
// that hits mostly miss the CPU caches. keys=same looks up with the very
// strings stored (their bytes compare equal by pointer); keys=copies with
// equal strings at other addresses, as a caller that builds its keys does
// (the stored key's bytes are read to compare).
func BenchmarkTier1Get(b *testing.B) {
	for _, p := range []Policy{LRU, LFU, TTL} {
		for _, copies := range []bool{false, true} {
			name := "policy=" + p.String() + "/keys=same"
			if copies {
				name = "policy=" + p.String() + "/keys=copies"
			}
			b.Run(name, func(b *testing.B) {
				m, keys := warmMemory(b, p)
				if copies {
					keys = benchKeys(benchEntries, benchKeyLen)
				}
				var seeds atomic.Uint64
				b.ReportAllocs()
				b.ResetTimer()
				b.RunParallel(func(pb *testing.PB) {
					r := rand.New(rand.NewPCG(seeds.Add(1), 42))
					i := r.IntN(len(keys))
					for pb.Next() {
						if _, _, ok := m.Get(keys[i]); !ok {
							b.Fatal("miss")
						}
						i += 7919 // a prime stride: every key, no locality
						if i >= len(keys) {
							i -= len(keys)
						}
					}
				})
			})
		}
	}
}

// BenchmarkTier1Set stores into a full Memory: replace overwrites cached
// keys; insert stores keys the cache does not hold, each evicting one.
func BenchmarkTier1Set(b *testing.B) {
	for _, mode := range []string{"replace", "insert"} {
		b.Run("mode="+mode, func(b *testing.B) {
			m, keys := warmMemory(b, LRU)
			if mode == "insert" {
				// Twice as many keys as fit, cycled in order: each Set is
				// of a key evicted long ago.
				cfg := DefaultConfig()
				cfg.MaxBytes = int64(benchEntries) * (benchKeyLen + benchValueLen + EntryOverhead)
				m = newMemory(b, cfg)
				keys = benchKeys(2*benchEntries, benchKeyLen)
			}
			value := make([]byte, benchValueLen)
			var seeds atomic.Uint64
			var version atomic.Uint32
			version.Store(1)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				i := int(seeds.Add(1)) * 104729 % len(keys)
				v := version.Add(1)
				for pb.Next() {
					m.Set(keys[i], value, v, 1, SetOptions{})
					if i++; i == len(keys) {
						i = 0
					}
				}
			})
		})
	}
}

// BenchmarkTier2Get reads 4 KiB values from a Spill (tier 2 alone, so
// every Get reads the disk).
func BenchmarkTier2Get(b *testing.B) {
	const n, size = 20_000, 4 << 10
	cfg := DefaultConfig()
	s := openSpill(b, cfg)
	keys := benchKeys(n, benchKeyLen)
	value := make([]byte, size)
	for i := range value {
		value[i] = byte(i)
	}
	for _, k := range keys {
		if !s.Set(k, value, 1, 1, SetOptions{}) {
			b.Fatal("Set refused")
		}
	}
	var seeds atomic.Uint64
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := rand.New(rand.NewPCG(seeds.Add(1), 7))
		for pb.Next() {
			if v, _, ok := s.Get(keys[r.IntN(n)]); !ok || len(v) != size {
				b.Fatal("miss")
			}
		}
	})
}

// BenchmarkTier2Set writes 4 KiB values into a Spill capped at 16 MiB, so
// that most writes also evict the oldest record.
func BenchmarkTier2Set(b *testing.B) {
	const n, size = 20_000, 4 << 10
	cfg := DefaultConfig()
	cfg.SpillMaxBytes = 16 << 20
	s := openSpill(b, cfg)
	keys := benchKeys(n, benchKeyLen)
	value := make([]byte, size)
	var seeds atomic.Uint64
	b.SetBytes(size)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := rand.New(rand.NewPCG(seeds.Add(1), 9))
		v := uint32(seeds.Load())
		for pb.Next() {
			v++
			s.Set(keys[r.IntN(n)], value, v, 1, SetOptions{})
		}
	})
}
