package cache

// Cache is what Memory, Spill and Tiered have in common: what the
// dataservice client reads through and the invalidation stream
// invalidates.
type Cache interface {
	// Get returns the value and version stored under key. It never returns
	// an expired entry, nor one dropped by an Invalidate, DropSource or
	// Clear that returned before Get was called. The value is shared: the
	// caller must not modify it.
	Get(key string) (value []byte, version uint32, ok bool)

	// Set stores value as the given version of key, read from source, and
	// reports whether it did. It refuses a version older than the one
	// cached, and, for a key not cached, a version covered by an
	// invalidation the shard still remembers (Config.Tombstones), and a
	// value too large to keep. It cannot know when the value was read:
	// read-through code must use Reserve and SetWith instead. The cache
	// keeps value without copying it.
	Set(key string, value []byte, version uint32, source uint16, opts SetOptions) bool

	// Reserve returns a ticket for storing key, read from source, with
	// SetWith. Call it before reading the store.
	Reserve(key string, source uint16) Ticket

	// SetWith stores value as the given version of the ticket's key, like
	// Set, unless since the ticket's Reserve the key was invalidated (any
	// version), its source dropped, or the cache cleared. A value read
	// from the store after Reserve therefore never overwrites a later
	// write's invalidation, whatever the timing. The zero Ticket, and a
	// ticket of another cache, are refused.
	SetWith(t Ticket, value []byte, version uint32, opts SetOptions) bool

	// Delete drops key (reason Removed) and reports whether it was cached.
	// Unlike Invalidate, it does not affect tickets.
	Delete(key string) bool

	// Invalidate drops key if its cached version is at most version (any
	// version if version is 0), with reason Invalidated, and fails every
	// outstanding ticket of key. Pass the generation a write produced (or
	// 0 for a deletion or when unknown): a cached value of that very
	// generation is dropped too, which costs one extra miss at worst.
	Invalidate(key string, version uint32)

	// DropSource drops every entry read from source, with reason
	// Invalidated, and fails every outstanding ticket of source: for a
	// process that follows source's invalidation stream and missed part
	// of it.
	DropSource(source uint16)

	// Clear drops every entry, with reason Removed, and fails every
	// outstanding ticket.
	Clear()

	// Stats returns counters; it takes no lock.
	Stats() Stats
}

var (
	_ Cache = (*Memory)(nil)
	_ Cache = (*Spill)(nil)
	_ Cache = (*Tiered)(nil)
)

// Stats are a cache's counters, summed over its shards without locking (so
// a snapshot taken during writes may be off by the writes in flight).
// Counters count since the cache was made.
type Stats struct {
	// Entries and Bytes describe tier 1: entries held and their accounted
	// cost (see Config.MaxBytes), expired entries not yet removed
	// included. Bytes never exceeds MaxBytes.
	Entries int64
	Bytes   int64
	// Hits counts Gets that found a value, in either tier; Misses those
	// that did not.
	Hits   uint64
	Misses uint64
	// Evictions counts entries pushed out of tier 1 for room (moved to
	// tier 2 in a Tiered cache).
	Evictions uint64
	// Expirations counts expired entries removed, from either tier.
	Expirations uint64
	// Invalidations counts entries dropped by Invalidate and DropSource,
	// from either tier.
	Invalidations uint64

	// SpillEntries and SpillBytes describe tier 2: records held and their
	// accounted size (see Config.SpillMaxBytes).
	SpillEntries int64
	SpillBytes   int64
	// SpillHits counts the Hits served by tier 2.
	SpillHits uint64
	// SpillEvictions counts records pushed out of tier 2 for room.
	SpillEvictions uint64
	// SpillErrors counts failed tier-2 reads and writes; each failure
	// costs a miss or an entry, never a wrong value.
	SpillErrors uint64
}

// Ticket is a lease on one key of one cache, taken by Reserve before a
// store read and spent by SetWith after it. It is a small value: copy it
// freely; it holds nothing that needs releasing. The zero Ticket is
// invalid.
type Ticket struct {
	c      *core
	key    string
	hash   uint64
	inv    uint64 // the shard's invalidation sequence at Reserve
	drops  uint64 // the cache's drop sequence (DropSource, Clear) at Reserve
	source uint16
}

// Key returns the key the ticket was taken for.
func (t Ticket) Key() string { return t.key }

// Source returns the source the ticket was taken for.
func (t Ticket) Source() uint16 { return t.source }
