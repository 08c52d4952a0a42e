package cache

import (
	"errors"
	"fmt"
	"math/bits"
	"runtime"
	"time"
)

// Sentinel errors. Constructors wrap them with %w and a message that says
// which setting or path is at fault.
var (
	// ErrInvalidConfig reports a Config that cannot work.
	ErrInvalidConfig = errors.New("cache: invalid config")
	// ErrSpillUnavailable reports a tier-2 directory that cannot be opened
	// or wiped, for instance because another process holds it.
	ErrSpillUnavailable = errors.New("cache: spill directory unavailable")
)

// Policy chooses which tier-1 entry leaves first when a shard is over its
// share of the byte budget. Expired entries always leave first.
type Policy uint8

const (
	// LRU evicts the least recently used entry (Get or Set). Last use is a
	// per-shard counter stored in the entry; the heap is repaired lazily,
	// when a stale entry reaches its top, so Get does no heap work.
	LRU Policy = iota
	// TTL evicts the entry that expires first; entries without an expiry
	// leave after all that have one, oldest written first.
	TTL
	// LFU evicts the least frequently used entry, with dynamic aging
	// (LFU-DA): an entry's score is its use count plus the score of the
	// last entry its shard evicted when it was stored, so entries that were
	// popular long ago do not stay forever.
	LFU
)

// String returns the policy's name.
func (p Policy) String() string {
	switch p {
	case LRU:
		return "LRU"
	case TTL:
		return "TTL"
	case LFU:
		return "LFU"
	}
	return fmt.Sprintf("Policy(%d)", uint8(p))
}

// Reason says why an entry left the cache, for Config.OnEvict. An entry
// replaced by a Set of the same key has not left: no callback is made.
type Reason uint8

const (
	// Evicted: pushed out for room. In a Tiered cache, an entry evicted
	// from tier 1 moves to tier 2 and is reported only when it leaves
	// tier 2 (for room, or because it could not be written there).
	Evicted Reason = iota + 1
	// Expired: its TTL ran out.
	Expired
	// Invalidated: dropped by Invalidate or DropSource.
	Invalidated
	// Removed: dropped by Delete or Clear.
	Removed
)

// String returns the reason's name.
func (r Reason) String() string {
	switch r {
	case Evicted:
		return "evicted"
	case Expired:
		return "expired"
	case Invalidated:
		return "invalidated"
	case Removed:
		return "removed"
	}
	return fmt.Sprintf("Reason(%d)", uint8(r))
}

// SetOptions are per-entry settings of Set and SetWith.
type SetOptions struct {
	// TTL is how long the entry may be served. Zero or negative means
	// Config.DefaultTTL.
	TTL time.Duration
}

// Defaults of Config, applied to zero fields.
const (
	DefaultMaxBytes       = 64 << 20
	DefaultTombstones     = 1024
	DefaultSpillThreshold = 16 << 10
	DefaultSpillMaxBytes  = 256 << 20
)

// Config configures a Memory, Spill or Tiered cache. Zero fields take the
// defaults; DefaultConfig returns them filled in.
type Config struct {
	// Policy orders tier-1 evictions. Zero value means LRU.
	Policy Policy

	// MaxBytes is tier 1's byte budget, split evenly among the shards. An
	// entry costs len(key) + len(value) + EntryOverhead; a shard evicts
	// until a new entry fits its share, and refuses (or, in a Tiered
	// cache, sends to tier 2) an entry larger than its whole share. Zero
	// means 64 MiB.
	MaxBytes int64

	// Shards is the number of independently locked parts of tier 1, a
	// power of two. More shards mean less lock contention and a coarser
	// budget split. Zero means 4×GOMAXPROCS rounded up to a power of two.
	Shards int

	// DefaultTTL is the lifetime of entries stored without
	// SetOptions.TTL. Zero means they do not expire.
	DefaultTTL time.Duration

	// OnEvict, if set, is called once for every entry that leaves the
	// cache, with its key, value and why; value is nil for an entry that
	// was on disk in tier 2 (it is not read back only to be reported). It
	// is called outside every lock, by the goroutine whose call caused the
	// departure, and may call the cache. Close drops entries without
	// calling it. Zero value means no callback.
	OnEvict func(key string, value []byte, reason Reason)

	// Now is the clock for TTLs. Zero means time.Now. Tests inject a fake
	// clock here instead of sleeping.
	Now func() time.Time

	// Tombstones is how many recent invalidations each shard remembers.
	// SetWith of a ticket taken before more than this many invalidations
	// hit its shard fails (the cache can no longer tell whether one was
	// for its key); Set of a key that is not cached is refused if a
	// remembered invalidation covers its version. Each costs about 48
	// bytes per shard, outside MaxBytes. Zero means 1024.
	Tombstones int

	// SpillDir is tier 2's LevelDB directory; it is created if missing,
	// and its LevelDB files are deleted when the cache opens (a spill may
	// be stale across restarts). Other files in it are left alone. Only
	// one cache at a time can use a directory. Empty means no tier 2 for
	// New; OpenSpill requires it.
	SpillDir string

	// SpillThreshold is the largest value tier 1 holds in a Tiered cache:
	// longer values go straight to tier 2. Zero means 16 KiB.
	SpillThreshold int

	// SpillMaxBytes caps tier 2: it counts len(key) + len(value) +
	// SpillRecordOverhead per record and deletes the oldest written
	// records beyond it. Disk use is higher by LevelDB's write
	// amplification until compactions reclaim deleted records. Zero means
	// 256 MiB.
	SpillMaxBytes int64
}

// DefaultConfig returns the defaults, with Shards computed from the
// current GOMAXPROCS. SpillDir is empty: tier 2 is off until set.
func DefaultConfig() Config {
	return Config{
		Policy:         LRU,
		MaxBytes:       DefaultMaxBytes,
		Shards:         defaultShards(),
		Tombstones:     DefaultTombstones,
		SpillThreshold: DefaultSpillThreshold,
		SpillMaxBytes:  DefaultSpillMaxBytes,
	}
}

func defaultShards() int {
	n := 4 * runtime.GOMAXPROCS(0)
	return 1 << bits.Len(uint(n-1))
}

// withDefaults fills zero fields and validates the rest.
func (c Config) withDefaults() (Config, error) {
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
	}
	if c.Shards == 0 {
		c.Shards = defaultShards()
	}
	if c.Tombstones == 0 {
		c.Tombstones = DefaultTombstones
	}
	if c.SpillThreshold == 0 {
		c.SpillThreshold = DefaultSpillThreshold
	}
	if c.SpillMaxBytes == 0 {
		c.SpillMaxBytes = DefaultSpillMaxBytes
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	switch {
	case c.Policy > LFU:
		return c, fmt.Errorf("%w: unknown Policy %d", ErrInvalidConfig, c.Policy)
	case c.MaxBytes < 0:
		return c, fmt.Errorf("%w: MaxBytes %d is negative", ErrInvalidConfig, c.MaxBytes)
	case c.Shards < 0 || c.Shards&(c.Shards-1) != 0 || c.Shards > 1<<16:
		return c, fmt.Errorf("%w: Shards %d is not a power of two up to 65536", ErrInvalidConfig, c.Shards)
	case c.Tombstones < 0:
		return c, fmt.Errorf("%w: Tombstones %d is negative", ErrInvalidConfig, c.Tombstones)
	case c.DefaultTTL < 0:
		return c, fmt.Errorf("%w: DefaultTTL %v is negative", ErrInvalidConfig, c.DefaultTTL)
	case c.SpillThreshold < 0:
		return c, fmt.Errorf("%w: SpillThreshold %d is negative", ErrInvalidConfig, c.SpillThreshold)
	case c.SpillMaxBytes < 0:
		return c, fmt.Errorf("%w: SpillMaxBytes %d is negative", ErrInvalidConfig, c.SpillMaxBytes)
	}
	return c, nil
}
