package cache

import (
	"hash/maphash"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// core is the engine behind Memory, Spill and Tiered: tier 1's shards, the
// tier-2 index (kept in the same shards, under the same locks, so that an
// entry moves between tiers atomically with respect to invalidations), and
// the ticket bookkeeping.
//
// Lock order: a shard's lock, then spillStore.mu. No goroutine holds two
// shard locks. Disk I/O and OnEvict calls happen with no lock held: the
// locked part of an operation records them in a work value that finish
// carries out afterwards.
type core struct {
	shards     []shard
	mask       uint64
	seed       maphash.Seed
	policy     Policy
	share      int64 // each shard's part of MaxBytes
	tier1      bool  // false for a Spill alone
	threshold  int   // longest value tier 1 keeps when there is a tier 2
	defaultTTL time.Duration
	now        func() time.Time
	epoch      time.Time
	onEvict    func(key string, value []byte, reason Reason)
	spill      *spillStore // nil without tier 2

	// Drops: DropSource and Clear number themselves in dropSeq; a ticket
	// whose number is older fails if its source was dropped, or the cache
	// cleared, after it.
	dropSeq     atomic.Uint64
	dropMu      sync.Mutex
	clearedAt   uint64            // guarded by dropMu
	sourceDrops map[uint16]uint64 // guarded by dropMu
}

// note is an OnEvict call to make after the locks are released.
type note struct {
	key    string
	value  []byte
	reason Reason
}

// work is what a locked section leaves for finish to do unlocked.
type work struct {
	notes      []note
	puts       []*spillEntry // tier-2 records to write
	dels       []uint64      // tier-2 records to delete
	capVictims []*spillEntry // tier-2 entries evicted for room, to unindex
}

// init sets up c, in place (it holds locks), from a Config that went
// through withDefaults.
func (c *core) init(cfg Config, tier1 bool, spill *spillStore) {
	c.shards = make([]shard, cfg.Shards)
	c.mask = uint64(cfg.Shards - 1)
	c.seed = maphash.MakeSeed()
	c.policy = cfg.Policy
	c.share = cfg.MaxBytes / int64(cfg.Shards)
	c.tier1 = tier1
	c.threshold = cfg.SpillThreshold
	c.defaultTTL = cfg.DefaultTTL
	c.now = cfg.Now
	c.epoch = cfg.Now()
	c.onEvict = cfg.OnEvict
	c.spill = spill
	c.sourceDrops = make(map[uint16]uint64)
	for i := range c.shards {
		c.shards[i].init(cfg.Tombstones, spill != nil)
	}
}

// since is the cache's clock: nanoseconds since it was made, plus one, so
// that it is positive and 0 can mean "never" in entry.expires.
func (c *core) since() int64 {
	d := int64(c.now().Sub(c.epoch)) + 1
	if d < 1 {
		d = 1
	}
	return d
}

func (c *core) expiresAt(now int64, opts SetOptions) int64 {
	ttl := opts.TTL
	if ttl <= 0 {
		ttl = c.defaultTTL
	}
	if ttl <= 0 {
		return 0
	}
	if int64(ttl) > math.MaxInt64-now {
		return math.MaxInt64
	}
	return now + int64(ttl)
}

func (c *core) shardOf(key string) (*shard, uint64) {
	h := maphash.String(c.seed, key)
	return &c.shards[h&c.mask], h
}

func (c *core) note(w *work, key string, value []byte, reason Reason) {
	if c.onEvict != nil {
		w.notes = append(w.notes, note{key, value, reason})
	}
}

// Get returns the value and version stored under key. It never returns an
// expired entry, nor one that an Invalidate, DropSource, Delete or Clear
// that returned before Get was called dropped. The value is the slice
// given to Set, not a copy: the caller must not modify it. A tier-1 hit
// takes a shard read lock and does not allocate; a tier-2 hit reads the
// disk and moves the entry back into tier 1 if it fits.
func (c *core) Get(key string) (value []byte, version uint32, ok bool) {
	s, h := c.shardOf(key)
	s.mu.RLock()
	if e := s.entries[h]; e != nil && e.key == key {
		if e.expires == 0 || c.since() < e.expires {
			switch c.policy {
			case LRU:
				if t := s.tick.Load(); e.hot.Load() < t {
					e.hot.Store(t)
				}
			case LFU:
				e.hot.Add(1)
			}
			value, version = e.value, e.version
			s.mu.RUnlock()
			s.hits.Add(1)
			return value, version, true
		}
		// Expired; and a key in tier 1 is not in tier 2.
		s.mu.RUnlock()
		c.expire(s, h, key)
		s.misses.Add(1)
		return nil, 0, false
	}
	if c.spill != nil {
		return c.getSpilled(s, h, key)
	}
	s.mu.RUnlock()
	s.misses.Add(1)
	return nil, 0, false
}

// Set stores value as the given version of key, read from source, and
// reports whether it did. It refuses version 0, a version older than the
// one cached (in either tier), for a key not cached a version covered by
// an invalidation its shard remembers (see Config.Tombstones), and a value
// too large to keep. Set cannot know when the value was read: use it to
// write through a value the caller knows is current, and Reserve and
// SetWith to read through. The cache keeps key and value without copying
// them; the caller must not modify value afterwards.
func (c *core) Set(key string, value []byte, version uint32, source uint16, opts SetOptions) bool {
	s, h := c.shardOf(key)
	return c.store(s, h, nil, key, value, version, source, opts)
}

// Reserve returns a ticket for storing key, read from source, with
// SetWith. Call it before reading the store. It takes no lock and does not
// allocate.
func (c *core) Reserve(key string, source uint16) Ticket {
	s, h := c.shardOf(key)
	return Ticket{c: c, key: key, hash: h, inv: s.inv.Load(), drops: c.dropSeq.Load(), source: source}
}

// SetWith stores value as the given version of the ticket's key and
// source, like Set, but refuses if since the ticket's Reserve the key was
// invalidated (at any version), the source dropped, or the cache cleared,
// or if more invalidations hit the key's shard than it remembers (see
// Config.Tombstones). A value read from the store after Reserve is
// therefore never stored after the invalidation of a write it missed,
// whatever the timing. The zero Ticket and tickets of other caches are
// refused.
func (c *core) SetWith(t Ticket, value []byte, version uint32, opts SetOptions) bool {
	if t.c != c {
		return false
	}
	return c.store(&c.shards[t.hash&c.mask], t.hash, &t, t.key, value, version, t.source, opts)
}

// ticketValid reports whether nothing that fails t happened since its
// Reserve. The lock of t's shard should be held: DropSource and Clear
// number themselves before they lock the shards to sweep them, so a
// SetWith either sees the drop or stores before the sweep removes it.
func (c *core) ticketValid(s *shard, t *Ticket) bool {
	if c.dropSeq.Load() != t.drops {
		c.dropMu.Lock()
		dropped := c.clearedAt > t.drops || c.sourceDrops[t.source] > t.drops
		c.dropMu.Unlock()
		if dropped {
			return false
		}
	}
	return !s.invalidatedSince(t.hash, t.inv)
}

// store is Set and SetWith (t != nil).
func (c *core) store(s *shard, h uint64, t *Ticket, key string, value []byte, version uint32, source uint16, opts SetOptions) bool {
	if version == 0 {
		return false
	}
	cost := int64(len(key)+len(value)) + EntryOverhead
	toSpill := !c.tier1 || (c.spill != nil && len(value) > c.threshold) || cost > c.share
	if toSpill && (c.spill == nil || spillSize(key, value) > c.spill.maxBytes) {
		return false
	}
	var w work
	s.mu.Lock()
	e := s.lookup(h, key)
	var se *spillEntry
	if s.spilled != nil {
		se = s.spilled[key]
	}
	switch {
	case t != nil && !c.ticketValid(s, t),
		e != nil && e.version > version,
		se != nil && se.version > version,
		t == nil && e == nil && se == nil && s.covered(h, version):
		s.mu.Unlock()
		return false
	}
	now := c.since()
	expires := c.expiresAt(now, opts)
	if se != nil {
		c.unspill(s, se, 0, &w) // replaced: no callback
	}
	stored := true
	if toSpill {
		if e != nil {
			c.detach(s, e) // replaced: no callback
			s.recycle(e)
		}
		stored = c.spillAdd(s, key, value, version, source, expires, &w)
	} else {
		if e != nil {
			c.detach(s, e) // reattached below; out, it cannot be its own victim
		} else {
			e = s.newEntry()
		}
		c.removeExpired(s, now, &w)
		c.makeRoom(s, cost, now, &w)
		e.key, e.value, e.version, e.source, e.expires = key, value, version, source, expires
		c.attach(s, h, e, &w)
	}
	s.publish()
	s.mu.Unlock()
	c.finish(&w)
	return stored
}

// attach puts e, filled in but out of the shard, into the shard under its
// key's hash h, scoring it as just used. Another key with the same hash
// (a 64-bit collision) is evicted. Lock should be held.
func (c *core) attach(s *shard, h uint64, e *entry, w *work) {
	if old := s.entries[h]; old != nil {
		c.drop(s, old, Evicted, w)
	}
	var score uint64
	switch c.policy {
	case LRU:
		// Reads after this write record a later tick than the write.
		score = s.tick.Add(2) - 1
		e.hot.Store(score)
	case LFU:
		// Keep the uses of a replaced entry; a new one starts at the
		// shard's age floor plus this use.
		score = max(e.hot.Load(), s.base) + 1
		e.hot.Store(score)
	case TTL:
		if e.expires != 0 {
			score = uint64(e.expires)
		} else {
			// After every entry that expires, in write order.
			score = 1<<63 | s.tick.Add(1)
		}
	}
	e.hash = h
	s.entries[h] = e
	s.order.push(e, score)
	if e.expires != 0 && c.policy != TTL {
		s.expiry.push(e, uint64(e.expires))
	}
	s.bytes += e.cost()
}

// detach takes e out of the shard's map, heaps and byte count. Lock should
// be held.
func (c *core) detach(s *shard, e *entry) {
	delete(s.entries, e.hash)
	s.order.remove(e)
	if e.index[byExpiry] >= 0 {
		s.expiry.remove(e)
	}
	s.bytes -= e.cost()
}

// drop removes e for reason, reporting it (or, for an eviction with a
// tier 2, moving it there). Lock should be held.
func (c *core) drop(s *shard, e *entry, reason Reason, w *work) {
	c.detach(s, e)
	switch reason {
	case Evicted:
		s.evictions.Add(1)
		if c.spill != nil && c.spillAdd(s, e.key, e.value, e.version, e.source, e.expires, w) {
			break // moved, not gone
		}
		c.note(w, e.key, e.value, reason)
	case Expired:
		s.expirations.Add(1)
		c.note(w, e.key, e.value, reason)
	case Invalidated:
		s.invalidations.Add(1)
		c.note(w, e.key, e.value, reason)
	default:
		c.note(w, e.key, e.value, reason)
	}
	s.recycle(e)
}

// expiredTop returns the entry that expires first if it has expired.
// Lock should be held.
func (c *core) expiredTop(s *shard, now int64) *entry {
	h := &s.expiry
	if c.policy == TTL {
		h = &s.order
	}
	if h.len() == 0 {
		return nil
	}
	if e, _ := h.top(); e.expires != 0 && e.expires <= now {
		return e
	}
	return nil
}

// removeExpired drops the shard's expired tier-1 entries. Lock should be
// held.
func (c *core) removeExpired(s *shard, now int64, w *work) {
	for e := c.expiredTop(s, now); e != nil; e = c.expiredTop(s, now) {
		c.drop(s, e, Expired, w)
	}
}

// makeRoom evicts until need more bytes fit the shard's share. Lock should
// be held.
func (c *core) makeRoom(s *shard, need int64, now int64, w *work) {
	for s.bytes+need > c.share && s.order.len() > 0 {
		if e := c.expiredTop(s, now); e != nil {
			c.drop(s, e, Expired, w)
			continue
		}
		e, score := s.order.top()
		if c.policy != TTL {
			// Lazy repair: the top's score may predate its last uses.
			if hot := e.hot.Load(); hot != score {
				s.order.rekeyTop(hot)
				continue
			}
			if c.policy == LFU {
				s.base = max(s.base, score)
			}
		}
		c.drop(s, e, Evicted, w)
	}
}

// expire removes key from either tier if it has expired.
func (c *core) expire(s *shard, h uint64, key string) {
	var w work
	s.mu.Lock()
	now := c.since()
	if e := s.lookup(h, key); e != nil && e.expires != 0 && e.expires <= now {
		c.drop(s, e, Expired, &w)
	}
	if se := s.spilled[key]; se != nil && se.expires != 0 && se.expires <= now {
		c.unspill(s, se, Expired, &w)
	}
	s.publish()
	s.mu.Unlock()
	c.finish(&w)
}

// RemoveExpired removes every expired entry now, from both tiers, and
// returns how many. Expired entries are never returned by Get, and tier 1
// removes them when a Set in their shard finds them, but until then they
// count in Stats.Bytes: call this periodically if sets are rare.
func (c *core) RemoveExpired() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		var w work
		s.mu.Lock()
		now := c.since()
		before := s.expirations.Load()
		c.removeExpired(s, now, &w)
		for _, se := range s.spilled {
			if se.expires != 0 && se.expires <= now {
				c.unspill(s, se, Expired, &w)
			}
		}
		n += int(s.expirations.Load() - before)
		s.publish()
		s.mu.Unlock()
		c.finish(&w)
	}
	return n
}

// Delete drops key from either tier, with reason Removed, and reports
// whether it was cached. It leaves no tombstone and fails no ticket.
func (c *core) Delete(key string) bool {
	s, h := c.shardOf(key)
	var w work
	s.mu.Lock()
	e := s.lookup(h, key)
	if e != nil {
		c.drop(s, e, Removed, &w)
	}
	se := s.spilled[key]
	if se != nil {
		c.unspill(s, se, Removed, &w)
	}
	s.publish()
	s.mu.Unlock()
	c.finish(&w)
	return e != nil || se != nil
}

// Invalidate drops key from either tier if its cached version is at most
// version (any version if version is 0), with reason Invalidated. It also
// fails the key's outstanding tickets, and remembers the invalidation so
// that a later Set of a covered version is refused while the shard
// remembers it. Pass the generation the write produced, or 0 for a
// deletion or when it is unknown: a cached value of that very generation
// is dropped too, which costs at worst one extra miss.
func (c *core) Invalidate(key string, version uint32) {
	s, h := c.shardOf(key)
	var w work
	s.mu.Lock()
	s.remember(h, version)
	if e := s.lookup(h, key); e != nil && (version == 0 || e.version <= version) {
		c.drop(s, e, Invalidated, &w)
	}
	if se := s.spilled[key]; se != nil && (version == 0 || se.version <= version) {
		c.unspill(s, se, Invalidated, &w)
	}
	s.publish()
	s.mu.Unlock()
	c.finish(&w)
}

// DropSource drops every entry read from source, from both tiers, with
// reason Invalidated, and fails the outstanding tickets of source, for a
// process that missed part of source's invalidation stream. It visits
// every entry, shard by shard: it is meant for the rare gap, not routine
// use.
func (c *core) DropSource(source uint16) {
	c.dropMu.Lock()
	seq := c.dropSeq.Load() + 1
	c.sourceDrops[source] = seq
	c.dropSeq.Store(seq)
	c.dropMu.Unlock()
	for i := range c.shards {
		s := &c.shards[i]
		var w work
		s.mu.Lock()
		for _, e := range s.entries {
			if e.source == source {
				c.drop(s, e, Invalidated, &w)
			}
		}
		for _, se := range s.spilled {
			if se.source == source {
				c.unspill(s, se, Invalidated, &w)
			}
		}
		s.publish()
		s.mu.Unlock()
		c.finish(&w)
	}
}

// Clear drops every entry, from both tiers, with reason Removed, and
// fails every outstanding ticket.
func (c *core) Clear() {
	c.dropMu.Lock()
	seq := c.dropSeq.Load() + 1
	c.clearedAt = seq
	c.dropSeq.Store(seq)
	c.dropMu.Unlock()
	for i := range c.shards {
		s := &c.shards[i]
		var w work
		s.mu.Lock()
		if c.onEvict != nil {
			w.notes = make([]note, 0, len(s.entries)+len(s.spilled))
			for _, e := range s.entries {
				w.notes = append(w.notes, note{e.key, e.value, Removed})
			}
		}
		s.entries = make(map[uint64]*entry)
		s.order.items, s.expiry.items = nil, nil
		s.bytes = 0
		if s.spilled != nil {
			for _, se := range s.spilled {
				c.unspill(s, se, Removed, &w)
			}
			s.spilled = make(map[string]*spillEntry)
		}
		s.publish()
		s.mu.Unlock()
		c.finish(&w)
	}
}

// Stats returns the cache's counters. It takes no lock.
func (c *core) Stats() Stats {
	var st Stats
	for i := range c.shards {
		s := &c.shards[i]
		st.Entries += s.nEntries.Load()
		st.Bytes += s.nBytes.Load()
		st.Hits += s.hits.Load()
		st.Misses += s.misses.Load()
		st.Evictions += s.evictions.Load()
		st.Expirations += s.expirations.Load()
		st.Invalidations += s.invalidations.Load()
		st.SpillHits += s.spillHits.Load()
	}
	if c.spill != nil {
		st.SpillEntries = c.spill.entries.Load()
		st.SpillBytes = c.spill.bytes.Load()
		st.SpillEvictions = c.spill.evictions.Load()
		st.SpillErrors = c.spill.errors.Load()
	}
	return st
}

// finish does what a locked section left: tier-2 I/O, then callbacks.
func (c *core) finish(w *work) {
	if c.spill != nil && (len(w.puts) > 0 || len(w.dels) > 0 || len(w.capVictims) > 0) {
		c.spill.finish(c, w)
	}
	for _, n := range w.notes {
		c.onEvict(n.key, n.value, n.reason)
	}
}
