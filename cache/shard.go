package cache

import (
	"sync"
	"sync/atomic"
)

// EntryOverhead is the memory a tier-1 entry costs beyond its key and
// value bytes, counted against Config.MaxBytes: the entry struct (80
// bytes, its allocation size class), its slot in the shard's map (an
// 8-byte hash and an 8-byte pointer, plus control bytes and the free slots
// a map keeps: 20 to 40 bytes depending on where it is in its growth), its
// item in the score heap (16 bytes, up to 20 with slice growth) and, for
// an entry with a TTL under LRU or LFU, its item in the expiry heap (as
// much again).
//
// TestEntryOverhead measures it: it fills a Memory with entries whose keys
// and values were allocated beforehand and divides the growth of the live
// heap by their count. Over 20,000 to 400,000 entries (Go 1.26, amd64) it
// measured 121 to 138 bytes per entry without TTLs and 139 to 157 with
// them. The constant is the upper bound, rounded up, so that MaxBytes
// bounds the memory tier 1 really uses; the test fails if a change of the
// entry or of Go makes it too small.
const EntryOverhead = 160

// entry is a tier-1 cache entry. It lives in its shard's map and heaps and
// is owned by the shard's lock; hot is also written under the read lock.
// The fields Get reads come first, within the first 64 bytes, so that a
// hit touches one cache line of the entry more often than two.
type entry struct {
	key   string
	value []byte
	// expires is when the entry expires, in the cache's clock (see
	// core.since); 0 means never.
	expires int64
	// hot is the live policy score: under LRU the shard's tick when the
	// entry was last used, under LFU its aged use count; unused under
	// TTL. Get updates it under the read lock.
	hot     atomic.Uint64
	version uint32
	source  uint16
	// index is the entry's position in the score and expiry heaps, -1 if
	// out. Its key in the score heap is its hot as of the last heap repair
	// (never more than hot, so the heap is repaired lazily, when a stale
	// entry reaches the top), or its expiry order under TTL.
	index [2]int32
	hash  uint64 // of key: the entry's map key
}

func (e *entry) cost() int64 { return int64(len(e.key)+len(e.value)) + EntryOverhead }

// tomb remembers the last invalidation of one key hash in a shard.
type tomb struct {
	seq     uint64 // the shard invalidation sequence number it got
	version uint32 // highest version invalidated; 0 means all versions
}

// shard is one independently locked part of the cache.
type shard struct {
	mu sync.RWMutex
	// tick is the LRU clock. It advances on every write to the shard
	// (which is when evictions happen), not on reads: a Get records the
	// current tick in its entry, with a store only if the entry's is
	// older, so repeated reads between two writes cost no atomic
	// read-modify-write. Entries read between the same two writes are
	// equally recent.
	tick   atomic.Uint64
	hits   atomic.Uint64
	misses atomic.Uint64
	// inv numbers the shard's invalidations; Reserve reads it without the
	// lock, it is written under it.
	inv atomic.Uint64

	// Lock should be held for everything below (read lock to read).
	// entries maps the hash of each key to its entry: one hash per
	// lookup, and 16-byte map slots. Lookups check the entry's key; two
	// keys with the same 64-bit hash cannot both be cached (the second
	// evicts the first).
	entries map[uint64]*entry
	order   entryHeap // every entry, by score
	expiry  entryHeap // entries with an expiry, unless the policy is TTL
	bytes   int64     // cost of the entries
	base    uint64    // LFU-DA aging: score of the last entry evicted
	free    *entry    // one entry struct kept for reuse by the next Set

	// The last len(ring) invalidations: ring holds their key hashes by
	// sequence number, tombs the latest per hash still in the ring.
	ring  []uint64
	tombs map[uint64]tomb

	// spilled indexes the shard's keys that are in tier 2 (nil without
	// tier 2). A key is in at most one of entries and spilled.
	spilled map[string]*spillEntry

	// Counters and mirrors for Stats.
	nEntries      atomic.Int64
	nBytes        atomic.Int64
	evictions     atomic.Uint64
	expirations   atomic.Uint64
	invalidations atomic.Uint64
	spillHits     atomic.Uint64

	_ [64]byte // keep the next shard's lock off this shard's cache lines
}

func (s *shard) init(window int, tier2 bool) {
	s.entries = make(map[uint64]*entry)
	s.order.which, s.expiry.which = byScore, byExpiry
	s.ring = make([]uint64, window)
	s.tombs = make(map[uint64]tomb)
	if tier2 {
		s.spilled = make(map[string]*spillEntry)
	}
}

// lookup returns key's entry, given its hash h. Lock should be held.
func (s *shard) lookup(h uint64, key string) *entry {
	if e := s.entries[h]; e != nil && e.key == key {
		return e
	}
	return nil
}

// newEntry returns a zeroed entry, reusing the last one removed. Lock
// should be held.
func (s *shard) newEntry() *entry {
	e := s.free
	if e == nil {
		return &entry{index: [2]int32{-1, -1}}
	}
	s.free = nil
	return e
}

// recycle keeps e for the next newEntry; e must be out of the map and the
// heaps, and referenced from nowhere else. Lock should be held.
func (s *shard) recycle(e *entry) {
	e.key, e.value = "", nil
	e.hot.Store(0)
	e.expires, e.version, e.source, e.hash = 0, 0, 0, 0
	e.index = [2]int32{-1, -1}
	s.free = e
}

// publish mirrors the shard's size for Stats. Lock should be held.
func (s *shard) publish() {
	s.nEntries.Store(int64(len(s.entries)))
	s.nBytes.Store(s.bytes)
}

// remember records an invalidation of hash h up to version (0: all).
// Lock should be held.
func (s *shard) remember(h uint64, version uint32) {
	seq := s.inv.Load() + 1
	window := uint64(len(s.ring))
	if window == 0 {
		s.inv.Store(seq)
		return
	}
	slot := seq % window
	if seq > window {
		// The invalidation numbered seq-window leaves the ring; forget
		// its hash unless that hash was invalidated again since.
		old := s.ring[slot]
		if t, ok := s.tombs[old]; ok && t.seq <= seq-window {
			delete(s.tombs, old)
		}
	}
	s.ring[slot] = h
	t, ok := s.tombs[h]
	switch {
	case !ok, version == 0:
		t.version = version
	case t.version != 0 && version > t.version:
		t.version = version
	}
	t.seq = seq
	s.tombs[h] = t
	s.inv.Store(seq)
}

// invalidatedSince reports whether hash h may have been invalidated after
// the shard's invalidation number seq: true if it was, or if too many
// invalidations came since to tell. Lock should be held.
func (s *shard) invalidatedSince(h, seq uint64) bool {
	cur := s.inv.Load()
	if cur == seq {
		return false
	}
	if cur-seq > uint64(len(s.ring)) {
		return true
	}
	t, ok := s.tombs[h]
	return ok && t.seq > seq
}

// covered reports whether a remembered invalidation of hash h covers
// version. Lock should be held.
func (s *shard) covered(h uint64, version uint32) bool {
	t, ok := s.tombs[h]
	return ok && (t.version == 0 || version <= t.version)
}
