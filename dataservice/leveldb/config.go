package leveldb

import (
	"log/slog"
	"time"
)

// Config configures a Store. The zero value of every field except Dir
// selects the default of DefaultConfig.
//
// The memory defaults are deliberately small. The store usually shares its
// process with a connector that holds some 18,000 device connections, each
// with its own buffers, and every mebibyte LevelDB keeps resident is taken
// from them. The working set of Herald (sessions, inboxes, counters of
// in-flight messages) is small and mostly recent, so it is served from the
// write buffer and the operating system's page cache, not the block cache.
type Config struct {
	// Dir is the directory holding the database. It is created if missing.
	// Only one Store at a time may open it. Required.
	Dir string

	// Sync makes every write fsync the journal before it returns. False, the
	// default, survives a crash of the process but a crash of the machine may
	// lose the last writes; true survives both at a large cost in write
	// throughput.
	Sync bool

	// BlockCacheBytes is the capacity of the cache of uncompressed table
	// blocks. Zero means 4 MiB; negative is invalid.
	BlockCacheBytes int

	// WriteBufferBytes is the size the in-memory table reaches before it is
	// written to disk. Up to two of them (one being flushed) are resident, and
	// the journal replayed at start-up is at most this long. Zero means 2 MiB;
	// negative is invalid.
	WriteBufferBytes int

	// SweepInterval is how often expired records are reclaimed from disk.
	// Expired records are invisible at once regardless. Zero means 1s;
	// negative disables the sweeper.
	SweepInterval time.Duration

	// RecoveryBackoff is the longest pause between two attempts to make
	// the store write again after its writes failed (a full disk, a
	// read-only file system); the first comes after 100ms and each
	// failed attempt doubles the pause. Zero means 5s.
	RecoveryBackoff time.Duration

	// Log receives what happens to the store: writes starting to fail,
	// and working again. Nil means slog.Default().
	Log *slog.Logger

	// files reaches the directory; nil means the operating system's.
	// Tests inject faults through it.
	files files
}

// Defaults of Config.
const (
	DefaultBlockCacheBytes  = 4 << 20
	DefaultWriteBufferBytes = 2 << 20
	DefaultSweepInterval    = time.Second
	DefaultRecoveryBackoff  = 5 * time.Second
)

// DefaultConfig returns the configuration used for zero fields. Dir is empty
// and must be set.
func DefaultConfig() Config {
	return Config{
		BlockCacheBytes:  DefaultBlockCacheBytes,
		WriteBufferBytes: DefaultWriteBufferBytes,
		SweepInterval:    DefaultSweepInterval,
		RecoveryBackoff:  DefaultRecoveryBackoff,
	}
}

// withDefaults returns cfg with its zero fields set to their defaults.
func (cfg Config) withDefaults() Config {
	if cfg.BlockCacheBytes == 0 {
		cfg.BlockCacheBytes = DefaultBlockCacheBytes
	}
	if cfg.WriteBufferBytes == 0 {
		cfg.WriteBufferBytes = DefaultWriteBufferBytes
	}
	if cfg.SweepInterval == 0 {
		cfg.SweepInterval = DefaultSweepInterval
	}
	if cfg.RecoveryBackoff <= 0 {
		cfg.RecoveryBackoff = DefaultRecoveryBackoff
	}
	return cfg
}
