package cache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/storage"
)

// SpillRecordOverhead is what a tier-2 record costs beyond its key and
// value bytes, counted against Config.SpillMaxBytes: its 8-byte LevelDB
// key and LevelDB's internal key suffix, block entry header and index
// share. It does not count the in-memory index of tier 2 (about 150 bytes
// plus the key per record, outside both budgets).
const SpillRecordOverhead = 32

func spillSize(key string, value []byte) int64 {
	return int64(len(key)+len(value)) + SpillRecordOverhead
}

// spillEntry indexes one tier-2 record. It lives in its shard's spilled
// map, under the shard's lock, and in the spill's write-order list, under
// spillStore.mu.
type spillEntry struct {
	key string
	// value is kept in memory while the record is being written (pending);
	// Gets serve it from here until then.
	value []byte
	sh    *shard
	// The record's LevelDB key: the write order, so the oldest record is
	// the first; records are never rewritten under the same seq.
	seq     uint64
	size    int64
	expires int64
	version uint32
	source  uint16
	pending bool // guarded by sh.mu

	prev, next *spillEntry // guarded by spillStore.mu
	linked     bool        // guarded by spillStore.mu
}

// spillStore is tier 2's storage: a LevelDB whose records are keyed by
// write sequence, and the list of indexed records in write order, for the
// byte cap. Which key a record holds is in the shards' spilled maps.
type spillStore struct {
	db       *leveldb.DB
	stor     storage.Storage
	maxBytes int64

	mu     sync.Mutex
	list   spillEntry // sentinel: list.next is the oldest record
	seq    uint64
	size   int64
	closed bool

	entries   atomic.Int64
	bytes     atomic.Int64
	evictions atomic.Uint64
	errors    atomic.Uint64
}

// openSpillStore opens a LevelDB in dir, holding its lock, after deleting
// the LevelDB files a previous run left there.
func openSpillStore(dir string, maxBytes int64) (*spillStore, error) {
	if dir == "" {
		return nil, fmt.Errorf("%w: SpillDir is empty", ErrInvalidConfig)
	}
	stor, err := storage.OpenFile(dir, false)
	if err != nil {
		return nil, fmt.Errorf("%w: %s (in use by another cache?): %w", ErrSpillUnavailable, dir, err)
	}
	if err := wipe(stor, dir); err != nil {
		stor.Close()
		return nil, fmt.Errorf("%w: wiping %s: %w", ErrSpillUnavailable, dir, err)
	}
	db, err := leveldb.Open(stor, &opt.Options{
		// Values are opaque and often compressed or encrypted already.
		Compression: opt.NoCompression,
		// Tier 1 is the memory cache; the OS page cache does the rest.
		BlockCacheCapacity: 2 << 20,
		WriteBuffer:        4 << 20,
		// Every lookup is of a record known to exist: no bloom filter,
		// and no compaction triggered by seeks.
		DisableSeeksCompaction: true,
		OpenFilesCacheCapacity: 64,
		NoSync:                 true,
	})
	if err != nil {
		stor.Close()
		return nil, fmt.Errorf("%w: opening LevelDB in %s: %w", ErrSpillUnavailable, dir, err)
	}
	sp := &spillStore{db: db, stor: stor, maxBytes: maxBytes}
	sp.list.next, sp.list.prev = &sp.list, &sp.list
	return sp, nil
}

// wipe deletes every LevelDB file in dir, other files left alone. The
// storage holds dir's lock, so no other process is using them.
func wipe(stor storage.Storage, dir string) error {
	fds, err := stor.List(storage.TypeAll)
	if err != nil {
		return err
	}
	for _, fd := range fds {
		if err := stor.Remove(fd); err != nil {
			return err
		}
	}
	names, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, n := range names {
		if strings.HasPrefix(n.Name(), "CURRENT") {
			if err := os.Remove(dir + string(os.PathSeparator) + n.Name()); err != nil {
				return err
			}
		}
	}
	return nil
}

func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}

// link appends se to the write order, giving it its seq, and moves the
// oldest records to w.capVictims while over the cap. It returns false once
// the store is closed. The lock of se's shard should be held.
func (sp *spillStore) link(se *spillEntry, w *work) bool {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if sp.closed {
		return false
	}
	sp.seq++
	se.seq = sp.seq
	se.prev, se.next = sp.list.prev, &sp.list
	se.prev.next, sp.list.prev = se, se
	se.linked = true
	sp.size += se.size
	sp.entries.Add(1)
	for sp.size > sp.maxBytes && sp.list.next != se {
		v := sp.list.next
		sp.unlinkLocked(v)
		w.capVictims = append(w.capVictims, v)
	}
	sp.bytes.Store(sp.size)
	return true
}

func (sp *spillStore) unlink(se *spillEntry) {
	sp.mu.Lock()
	sp.unlinkLocked(se)
	sp.bytes.Store(sp.size)
	sp.mu.Unlock()
}

func (sp *spillStore) unlinkLocked(se *spillEntry) {
	if !se.linked {
		return
	}
	se.prev.next, se.next.prev = se.next, se.prev
	se.prev, se.next, se.linked = nil, nil, false
	sp.size -= se.size
	sp.entries.Add(-1)
}

// read returns the record seq; ok is false if it is gone.
func (sp *spillStore) read(seq uint64) (value []byte, ok bool) {
	v, err := sp.db.Get(seqKey(seq), nil)
	if err != nil {
		if !errors.Is(err, leveldb.ErrNotFound) {
			sp.errors.Add(1)
		}
		return nil, false
	}
	return v, true
}

// spillAdd indexes a new pending tier-2 record for key and queues its
// write. It returns false if tier 2 is closed or the record exceeds its
// cap. The shard's lock should be held; key must be in neither tier.
func (c *core) spillAdd(s *shard, key string, value []byte, version uint32, source uint16, expires int64, w *work) bool {
	size := spillSize(key, value)
	if size > c.spill.maxBytes {
		return false
	}
	se := &spillEntry{key: key, value: value, sh: s, size: size, expires: expires, version: version, source: source, pending: true}
	if !c.spill.link(se, w) {
		return false
	}
	s.spilled[key] = se
	w.puts = append(w.puts, se)
	return true
}

// unspill removes se from the tier-2 index, reporting it for reason (none
// if 0), and queues its record's deletion; a pending record is deleted by
// its writer, which finds it unindexed. The shard's lock should be held.
func (c *core) unspill(s *shard, se *spillEntry, reason Reason, w *work) {
	delete(s.spilled, se.key)
	c.spill.unlink(se)
	if !se.pending {
		w.dels = append(w.dels, se.seq)
	}
	switch reason {
	case Expired:
		s.expirations.Add(1)
	case Invalidated:
		s.invalidations.Add(1)
	}
	if reason != 0 {
		c.note(w, se.key, nil, reason)
	}
}

// getSpilled is Get's tier-2 half. The shard's read lock should be held;
// getSpilled releases it.
func (c *core) getSpilled(s *shard, h uint64, key string) ([]byte, uint32, bool) {
	se := s.spilled[key]
	if se == nil {
		s.mu.RUnlock()
		s.misses.Add(1)
		return nil, 0, false
	}
	if se.expires != 0 && c.since() >= se.expires {
		s.mu.RUnlock()
		c.expire(s, h, key)
		s.misses.Add(1)
		return nil, 0, false
	}
	value, version, pending, seq := se.value, se.version, se.pending, se.seq
	s.mu.RUnlock()
	if !pending {
		// The record is immutable; if it was deleted since, this is a miss.
		var ok bool
		if value, ok = c.spill.read(seq); !ok {
			s.misses.Add(1)
			return nil, 0, false
		}
	}
	s.hits.Add(1)
	s.spillHits.Add(1)
	if c.tier1 && len(value) <= c.threshold && int64(len(key)+len(value))+EntryOverhead <= c.share {
		c.promote(s, h, key, se, value)
	}
	return value, version, true
}

// promote moves a tier-2 entry back into tier 1, unless it changed since
// it was read.
func (c *core) promote(s *shard, h uint64, key string, se *spillEntry, value []byte) {
	var w work
	s.mu.Lock()
	if s.spilled[key] == se {
		now := c.since()
		if se.expires != 0 && se.expires <= now {
			c.unspill(s, se, Expired, &w)
		} else {
			c.unspill(s, se, 0, &w)
			e := s.newEntry()
			c.removeExpired(s, now, &w)
			c.makeRoom(s, int64(len(key)+len(value))+EntryOverhead, now, &w)
			e.key, e.value, e.version, e.source, e.expires = key, value, se.version, se.source, se.expires
			c.attach(s, h, e, &w)
		}
		s.publish()
	}
	s.mu.Unlock()
	c.finish(&w)
}

// finish writes the queued records, unindexes the records evicted for
// room, and deletes the records queued for deletion. No lock should be
// held.
func (sp *spillStore) finish(c *core, w *work) {
	if len(w.puts) > 0 {
		var b leveldb.Batch
		for _, se := range w.puts {
			b.Put(seqKey(se.seq), se.value)
		}
		err := sp.db.Write(&b, nil)
		if err != nil {
			sp.errors.Add(uint64(len(w.puts)))
		}
		for _, se := range w.puts {
			s := se.sh
			s.mu.Lock()
			switch {
			case s.spilled[se.key] != se:
				// Unindexed while being written: its record is ours to
				// delete.
				if err == nil {
					w.dels = append(w.dels, se.seq)
				}
			case err != nil:
				c.unspill(s, se, Evicted, w)
			default:
				se.pending, se.value = false, nil
			}
			s.mu.Unlock()
		}
		w.puts = nil
	}
	for _, v := range w.capVictims {
		s := v.sh
		s.mu.Lock()
		if s.spilled[v.key] == v {
			sp.evictions.Add(1)
			c.unspill(s, v, Evicted, w)
		}
		s.mu.Unlock()
	}
	w.capVictims = nil
	if len(w.dels) > 0 {
		var b leveldb.Batch
		for _, seq := range w.dels {
			b.Delete(seqKey(seq))
		}
		if err := sp.db.Write(&b, nil); err != nil && !errors.Is(err, leveldb.ErrClosed) {
			sp.errors.Add(1)
		}
		w.dels = nil
	}
}

// close empties the tier-2 index without callbacks and closes the
// LevelDB. Later tier-2 writes are refused and reads miss.
func (sp *spillStore) close(c *core) error {
	sp.mu.Lock()
	if sp.closed {
		sp.mu.Unlock()
		return nil
	}
	sp.closed = true
	sp.mu.Unlock()
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		for _, se := range s.spilled {
			sp.unlink(se)
		}
		s.spilled = make(map[string]*spillEntry)
		s.mu.Unlock()
	}
	return errors.Join(sp.db.Close(), sp.stor.Close())
}

// Spill is tier 2 alone: every value goes to a LevelDB on local disk,
// under Config.SpillMaxBytes, oldest written evicted first. Its index of
// keys is in memory, so version checks, invalidations and misses do not
// touch the disk. It has the same API and guarantees as Memory; Policy and
// MaxBytes do not apply. Make it with OpenSpill, and Close it after use;
// the zero value is not usable.
type Spill struct {
	core
}

// OpenSpill opens a Spill in cfg.SpillDir, deleting the LevelDB files a
// previous run left there. It fails, wrapping ErrSpillUnavailable, if
// another cache holds the directory.
func OpenSpill(cfg Config) (*Spill, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	sp, err := openSpillStore(cfg.SpillDir, cfg.SpillMaxBytes)
	if err != nil {
		return nil, err
	}
	s := &Spill{}
	s.init(cfg, false, sp)
	return s, nil
}

// Close empties the cache, without OnEvict calls, and closes its LevelDB.
// The cache must not be used afterwards (a Set is refused, a Get misses).
func (c *Spill) Close() error { return c.spill.close(&c.core) }
