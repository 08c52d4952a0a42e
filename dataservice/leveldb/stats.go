package leveldb

import (
	"time"

	goleveldb "github.com/syndtr/goleveldb/leveldb"
)

// Stats are operational figures of the store, for the admin runtime report
// and for telling why writes are slow.
type Stats struct {
	// LevelTables counts the table files per level. LevelDB slows every
	// write by 1ms once level 0 holds 8 tables, and stops writes at 12,
	// until compaction catches up.
	LevelTables []int `json:"level_tables"`
	// WriteDelays and WriteDelay count and sum those slowdowns since the
	// store opened.
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
	var st goleveldb.DBStats
	if err := s.db.Stats(&st); err != nil {
		return Stats{}
	}
	return Stats{
		LevelTables:  st.LevelTablesCounts,
		WriteDelays:  st.WriteDelayCount,
		WriteDelay:   st.WriteDelayDuration,
		WritePaused:  st.WritePaused,
		Compactions:  st.MemComp + st.Level0Comp + st.NonLevel0Comp,
		BlockCache:   st.BlockCacheSize,
		ReadBytes:    st.IORead,
		WrittenBytes: st.IOWrite,
	}
}
