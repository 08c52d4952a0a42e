package cache

// Tiered is tier 1 in front of tier 2: values longer than
// Config.SpillThreshold, or too large for a tier-1 shard, are stored in
// tier 2, and entries evicted from tier 1 move there instead of leaving
// (expired and invalidated ones leave). A tier-2 hit moves the entry back
// into tier 1 if it fits. A key is in one tier at a time; Invalidate,
// DropSource, Clear and tickets cover both.
//
// Tier 2 uses memory too, outside MaxBytes: about 10 MiB of LevelDB
// buffers and caches, and an index entry of about 150 bytes plus the key
// per record. Make a Tiered with New, and Close it after use; the zero
// value is not usable.
type Tiered struct {
	core
}

// New returns an empty Tiered cache. Tier 2 is in cfg.SpillDir, whose
// LevelDB files from a previous run are deleted; if SpillDir is empty
// there is no tier 2, and the cache behaves as a Memory. It fails, wrapping
// ErrSpillUnavailable, if another cache holds the directory.
func New(cfg Config) (*Tiered, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	var sp *spillStore
	if cfg.SpillDir != "" {
		if sp, err = openSpillStore(cfg.SpillDir, cfg.SpillMaxBytes); err != nil {
			return nil, err
		}
	}
	t := &Tiered{}
	t.init(cfg, true, sp)
	return t, nil
}

// Close empties tier 2, without OnEvict calls, and closes its LevelDB.
// The cache must not be used afterwards.
func (c *Tiered) Close() error {
	if c.spill == nil {
		return nil
	}
	return c.spill.close(&c.core)
}
