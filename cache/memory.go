package cache

// Memory is tier 1 alone: a sharded in-memory cache under a byte budget
// (Config.MaxBytes), evicting by Config.Policy. Values that do not fit a
// shard's share of the budget are refused. Make it with NewMemory; the
// zero value is not usable.
type Memory struct {
	core
}

// NewMemory returns an empty Memory. The Spill fields of cfg are ignored.
func NewMemory(cfg Config) (*Memory, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	m := &Memory{}
	m.init(cfg, true, nil)
	return m, nil
}
