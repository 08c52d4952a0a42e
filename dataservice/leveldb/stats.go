package leveldb

import (
	"time"

	goleveldb "github.com/syndtr/goleveldb/leveldb"
)

// Stats are operational figures of the store, for the admin runtime report
// and for telling why writes are slow or fail.
type Stats struct {
	// Writable is false while writes fail (a full disk, a read-only file
	// system) and until the store has recovered from it.
	Writable bool `json:"writable"`
	// WriteError says why writes fail; empty when Writable.
	WriteError string `json:"write_error,omitempty"`
	// FailingSince is when writes started to fail; zero when Writable.
	FailingSince time.Time `json:"failing_since,omitzero"`
	// Failures counts the times writes started to fail since the store
	// opened, and Recoveries the times the store recovered from it.
	Failures   int `json:"write_failures"`
	Recoveries int `json:"recoveries"`
	// LevelTables counts the table files per level. LevelDB slows every
	// write by 1ms once level 0 holds 8 tables, and stops writes at 12,
	// until compaction catches up.
	LevelTables []int `json:"level_tables"`
	// WriteDelays and WriteDelay count and sum those slowdowns since the
	// database was last opened.
	WriteDelays  int32         `json:"write_delays"`
	WriteDelay   time.Duration `json:"write_delay_ns"`
	WritePaused  bool          `json:"write_paused"`
	Compactions  uint32        `json:"compactions"`
	BlockCache   int           `json:"block_cache_bytes"`
	ReadBytes    uint64        `json:"read_bytes"`
	WrittenBytes uint64        `json:"written_bytes"`
}

// Stats returns the store's current figures.
func (s *Store) Stats() Stats {
	out := s.health.stats()
	s.gate.RLock()
	defer s.gate.RUnlock()
	var st goleveldb.DBStats
	if s.db == nil || s.db.Stats(&st) != nil {
		return out
	}
	out.LevelTables = st.LevelTablesCounts
	out.WriteDelays = st.WriteDelayCount
	out.WriteDelay = st.WriteDelayDuration
	out.WritePaused = st.WritePaused
	out.Compactions = st.MemComp + st.Level0Comp + st.NonLevel0Comp
	out.BlockCache = st.BlockCacheSize
	out.ReadBytes = st.IORead
	out.WrittenBytes = st.IOWrite
	return out
}
