package leveldb

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	goleveldb "github.com/syndtr/goleveldb/leveldb"
	"github.com/syndtr/goleveldb/leveldb/filter"
	"github.com/syndtr/goleveldb/leveldb/opt"
	"github.com/syndtr/goleveldb/leveldb/storage"

	"github.com/heraldpush/herald/dataservice"
)

var _ dataservice.Store = (*Store)(nil)

// Store is a dataservice.Store kept in a local LevelDB directory. Create it
// with Open; it is safe for concurrent use.
//
// A Store heals itself after its disk filled or became read-only: LevelDB
// keeps the first write error of its journal and fails every later write
// with it, so the Store then stops writing (writes fail at once with
// dataservice.ErrUnavailable saying why, reads go on), and its recovery
// loop reopens the database once the directory takes writes again
// (recovery.go). Reopening replays the journal, so every write that
// returned nil before the failure is still there.
type Store struct {
	cfg   Config
	log   *slog.Logger
	files files
	wo    *opt.WriteOptions
	locks stripes // serialize read-modify-write operations per record

	closed atomic.Bool
	// gate is held shared by every operation while it uses db, and
	// exclusively by Close and by the recovery loop when it swaps db:
	// LevelDB must not be closed under an operation or an iterator.
	gate sync.RWMutex
	// db is the database, and stor its storage (closed with it); nil
	// while the recovery loop could open neither. Guarded by gate.
	db   *goleveldb.DB
	stor storage.Storage

	health health // whether writes work; see recovery.go

	stop         chan struct{} // closed by Close to stop the sweeper and the recovery loop
	sweeperDone  chan struct{} // closed by the sweeper when it returns
	recoveryDone chan struct{} // closed by the recovery loop when it returns

	scratch sync.Pool // of *scratch
}

// scratch holds the buffers of one operation, pooled to avoid allocating.
type scratch struct {
	key     []byte
	key2    []byte
	xkey    []byte
	value   []byte
	batch   goleveldb.Batch
	headers []header
	stripes []uint8
	dups    dupFinder
	entries []counterEntry
	scanned []scanned
	offsets []int
}

// maxPooledBytes bounds the buffers kept in the pool, so that one large
// value does not stay resident.
const maxPooledBytes = 64 << 10

func (s *Store) getScratch() *scratch {
	sc, _ := s.scratch.Get().(*scratch)
	if sc == nil {
		sc = new(scratch)
	}
	return sc
}

func (s *Store) putScratch(sc *scratch) {
	if cap(sc.value) > maxPooledBytes {
		sc.value = nil
	}
	if cap(sc.batch.Dump()) > maxPooledBytes || sc.batch.Len() > 1024 {
		sc.batch = goleveldb.Batch{}
	}
	sc.batch.Reset()
	clear(sc.entries) // drop references to values read from the database
	sc.entries = sc.entries[:0]
	s.scratch.Put(sc)
}

// Open opens, or creates, the database in cfg.Dir. It fails with an error
// wrapping dataservice.ErrUnavailable if another Store, in this process or
// another, has the directory open, or if the directory cannot be written
// (a read-only file system, a full disk, missing permissions: the error
// says which).
func Open(cfg Config) (*Store, error) {
	cfg = cfg.withDefaults()
	switch {
	case cfg.Dir == "":
		return nil, fmt.Errorf("dataservice/leveldb: open: %w: Config.Dir is empty", dataservice.ErrInvalid)
	case cfg.BlockCacheBytes < 0 || cfg.WriteBufferBytes < 0:
		return nil, fmt.Errorf("dataservice/leveldb: open %s: %w: negative cache or buffer size", cfg.Dir, dataservice.ErrInvalid)
	}
	s := &Store{
		cfg:          cfg,
		log:          cfg.Log,
		files:        cfg.files,
		wo:           &opt.WriteOptions{Sync: cfg.Sync},
		stop:         make(chan struct{}),
		sweeperDone:  make(chan struct{}),
		recoveryDone: make(chan struct{}),
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.files == nil {
		s.files = osFiles{}
	}
	s.health.init()
	db, stor, err := s.openDB(false)
	if err != nil {
		if errors.Is(err, syscall.EWOULDBLOCK) || errors.Is(err, storage.ErrLocked) {
			return nil, fmt.Errorf("dataservice/leveldb: open %s: directory is in use by another Store in this or another process: %w: %w",
				cfg.Dir, dataservice.ErrUnavailable, err)
		}
		if why := cause(err); why != "" {
			return nil, fmt.Errorf("dataservice/leveldb: open %s: %s: %w: %w", cfg.Dir, why, dataservice.ErrUnavailable, err)
		}
		return nil, fmt.Errorf("dataservice/leveldb: open %s: %w: %w", cfg.Dir, dataservice.ErrUnavailable, err)
	}
	s.db, s.stor = db, stor
	if cfg.SweepInterval > 0 {
		go s.sweepLoop(cfg.SweepInterval)
	} else {
		close(s.sweeperDone)
	}
	go s.recoveryLoop()
	return s, nil
}

// openDB opens the database in the configured directory, read-only or not.
func (s *Store) openDB(readOnly bool) (*goleveldb.DB, storage.Storage, error) {
	stor, err := s.files.open(s.cfg.Dir, readOnly)
	if err != nil {
		return nil, nil, err
	}
	db, err := goleveldb.Open(stor, &opt.Options{
		BlockCacheCapacity: s.cfg.BlockCacheBytes,
		WriteBuffer:        s.cfg.WriteBufferBytes,
		// Puts and Incrs read the record they replace, most often a miss;
		// 10 bits per key answer a miss without touching disk 99% of the
		// time, for about 1.2 bytes per key of table index in memory.
		Filter: filter.NewBloomFilter(10),
		// Herald's records are small and mostly random identifiers, which
		// compress poorly; Snappy on every flush and compaction cost CPU
		// for little disk.
		Compression: opt.NoCompression,
		ReadOnly:    readOnly,
	})
	if err != nil {
		_ = stor.Close()
		return nil, nil, err
	}
	return db, stor, nil
}

// closeDB closes the database and its storage. The caller holds the gate
// exclusively.
func (s *Store) closeDB() error {
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	if cerr := s.stor.Close(); err == nil {
		err = cerr
	}
	s.db, s.stor = nil, nil
	return err
}

// Close stops the sweeper and the recovery loop, waits for running
// operations and closes the database. Calls after the first fail with
// dataservice.ErrClosed.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return fmt.Errorf("dataservice/leveldb: close: %w", dataservice.ErrClosed)
	}
	close(s.stop)
	<-s.sweeperDone
	<-s.recoveryDone
	s.gate.Lock()
	defer s.gate.Unlock()
	if err := s.closeDB(); err != nil && !errors.Is(err, goleveldb.ErrClosed) {
		return fmt.Errorf("dataservice/leveldb: close: %w: %w", dataservice.ErrUnavailable, err)
	}
	return nil
}

// begin checks that an operation may start and takes the gate shared;
// the caller releases it with s.gate.RUnlock once done with s.db. A write
// fails at once while writes fail (see recovery.go), and every operation
// while no database is open.
func (s *Store) begin(ctx context.Context, op string, write bool) error {
	if s.closed.Load() {
		return fmt.Errorf("dataservice/leveldb: %s: %w", op, dataservice.ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("dataservice/leveldb: %s: %w", op, err)
	}
	if write {
		if err := s.health.failing(); err != nil {
			return fmt.Errorf("dataservice/leveldb: %s: %w", op, err)
		}
	}
	s.gate.RLock()
	switch {
	case s.closed.Load(): // Close won the race
		s.gate.RUnlock()
		return fmt.Errorf("dataservice/leveldb: %s: %w", op, dataservice.ErrClosed)
	case s.db == nil:
		s.gate.RUnlock()
		return fmt.Errorf("dataservice/leveldb: %s: %w", op, s.health.unavailable())
	}
	return nil
}

// write commits sc.batch. A failure of LevelDB's own (not the Store
// closing) makes writes fail until the recovery loop has reopened the
// database. The caller holds the gate shared.
func (s *Store) write(op string, sc *scratch) error {
	if err := s.db.Write(&sc.batch, s.wo); err != nil {
		if errors.Is(err, goleveldb.ErrClosed) {
			return fmt.Errorf("dataservice/leveldb: %s: %w", op, dataservice.ErrClosed)
		}
		return fmt.Errorf("dataservice/leveldb: %s: %w", op, s.writeFailed(err))
	}
	return nil
}

// dbError translates an error of LevelDB.
func dbError(op string, err error) error {
	if errors.Is(err, goleveldb.ErrClosed) {
		return fmt.Errorf("dataservice/leveldb: %s: %w", op, dataservice.ErrClosed)
	}
	return fmt.Errorf("dataservice/leveldb: %s: %w: %w", op, dataservice.ErrUnavailable, err)
}

// invalid wraps a validation error with the operation.
func invalid(op string, kind dataservice.Kind, err error) error {
	return fmt.Errorf("dataservice/leveldb: %s %s: %w", op, kind, err)
}

func now() int64 { return time.Now().UnixNano() }

// read returns the raw value stored under k; found is false if there is none.
func (s *Store) read(k []byte) (raw []byte, found bool, err error) {
	raw, err = s.db.Get(k, nil)
	switch {
	case err == nil:
		return raw, true, nil
	case errors.Is(err, goleveldb.ErrNotFound):
		return nil, false, nil
	default:
		return nil, false, err
	}
}

// readHeader returns the header stored under k, or the zero header.
func (s *Store) readHeader(k []byte) (header, error) {
	raw, found, err := s.read(k)
	if err != nil || !found {
		return header{}, err
	}
	h, _, err := parseHeader(raw)
	return h, err
}

// toRecord builds the Record of a stored value. It reports false if the
// record has expired. raw must not be shared: Value aliases it.
func toRecord(key string, h header, payload []byte, at int64) (dataservice.Record, bool) {
	if !h.live(at) {
		return dataservice.Record{}, false
	}
	r := dataservice.Record{Key: key, Value: payload[:len(payload):len(payload)], Generation: h.generation}
	if h.expires != 0 {
		r.Expires = time.Unix(0, h.expires)
	}
	return r, true
}

// Get implements dataservice.Store.
func (s *Store) Get(ctx context.Context, kind dataservice.Kind, key string) (dataservice.Record, error) {
	const op = "get"
	if err := s.begin(ctx, op, false); err != nil {
		return dataservice.Record{}, err
	}
	defer s.gate.RUnlock()
	if err := dataservice.CheckKey(kind, key); err != nil {
		return dataservice.Record{}, invalid(op, kind, err)
	}
	sc := s.getScratch()
	sc.key = appendRecordKey(sc.key[:0], tagRecord, kind, key)
	r, found, err := s.get(sc.key, key)
	s.putScratch(sc)
	if err != nil {
		return dataservice.Record{}, dbError(op, err)
	}
	if !found {
		return dataservice.Record{}, fmt.Errorf("dataservice/leveldb: get %s %q: %w", kind, key, dataservice.ErrNotFound)
	}
	return r, nil
}

// get reads the record stored under the record key k.
func (s *Store) get(k []byte, key string) (dataservice.Record, bool, error) {
	raw, found, err := s.read(k)
	if err != nil || !found {
		return dataservice.Record{}, false, err
	}
	h, payload, err := parseHeader(raw)
	if err != nil {
		return dataservice.Record{}, false, err
	}
	r, ok := toRecord(key, h, payload, now())
	return r, ok, nil
}

// GetMany implements dataservice.Store.
func (s *Store) GetMany(ctx context.Context, kind dataservice.Kind, keys []string) ([]dataservice.Record, error) {
	const op = "get many"
	if err := s.begin(ctx, op, false); err != nil {
		return nil, err
	}
	defer s.gate.RUnlock()
	for _, key := range keys {
		if err := dataservice.CheckKey(kind, key); err != nil {
			return nil, invalid(op, kind, err)
		}
	}
	out := make([]dataservice.Record, len(keys))
	sc := s.getScratch()
	defer s.putScratch(sc)
	for i, key := range keys {
		if i%64 == 63 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("dataservice/leveldb: %s: %w", op, err)
			}
		}
		sc.key = appendRecordKey(sc.key[:0], tagRecord, kind, key)
		r, _, err := s.get(sc.key, key)
		if err != nil {
			return nil, dbError(op, err)
		}
		out[i] = r
	}
	return out, nil
}

// planPut appends to sc.batch the writes of one Put of the record whose key
// is in sc.key and whose stored header is old (zero if absent). It returns
// the new header, or the error of a failed condition.
func planPut(sc *scratch, old header, value []byte, opts dataservice.WriteOptions, at int64) (header, error) {
	live := old.live(at)
	switch {
	case opts.CreateOnly && live:
		return old, dataservice.ErrExists
	case opts.Generation != 0 && (!live || old.generation != opts.Generation):
		return old, dataservice.ErrGenerationMismatch
	}
	h := header{generation: old.next(at), expires: expiresAt(at, opts.TTL)}
	sc.value = appendHeader(sc.value[:0], h)
	sc.value = append(sc.value, value...)
	sc.batch.Put(sc.key, sc.value)
	planExpiry(sc, old, h)
	return h, nil
}

// planExpiry appends to sc.batch the expiry index changes of rewriting the
// record whose key is in sc.key from old to h.
func planExpiry(sc *scratch, old, h header) {
	if old.generation != 0 && old.expires != 0 && old.expires != h.expires {
		sc.xkey = appendExpiryKey(sc.xkey[:0], old.expires, sc.key)
		sc.batch.Delete(sc.xkey)
	}
	if h.expires != 0 && (old.generation == 0 || old.expires != h.expires) {
		sc.xkey = appendExpiryKey(sc.xkey[:0], h.expires, sc.key)
		sc.batch.Put(sc.xkey, nil)
	}
}

// Put implements dataservice.Store.
func (s *Store) Put(ctx context.Context, kind dataservice.Kind, key string, value []byte, opts dataservice.WriteOptions) (uint32, error) {
	const op = "put"
	if err := s.begin(ctx, op, true); err != nil {
		return 0, err
	}
	defer s.gate.RUnlock()
	if err := dataservice.CheckWrite(kind, key, value, opts); err != nil {
		return 0, invalid(op, kind, err)
	}
	sc := s.getScratch()
	defer s.putScratch(sc)
	sc.key = appendRecordKey(sc.key[:0], tagRecord, kind, key)

	mu := &s.locks[stripeIndex(kind, key)].mu
	mu.Lock()
	defer mu.Unlock()
	var old header
	if !opts.Fresh {
		var err error
		if old, err = s.readHeader(sc.key); err != nil {
			return 0, dbError(op, err)
		}
	}
	h, err := planPut(sc, old, value, opts, now())
	if err != nil {
		return 0, fmt.Errorf("dataservice/leveldb: put %s %q: %w", kind, key, err)
	}
	if err := s.write(op, sc); err != nil {
		return 0, err
	}
	return h.generation, nil
}

// PutMany implements dataservice.Store. It validates every write before it
// applies any, applies the writes in order (a later write of the same record
// sees the earlier one) and commits all that succeed in one batch.
func (s *Store) PutMany(ctx context.Context, writes []dataservice.Write) error {
	const op = "put many"
	if err := s.begin(ctx, op, true); err != nil {
		return err
	}
	defer s.gate.RUnlock()
	if err := dataservice.CheckWrites(writes); err != nil {
		return fmt.Errorf("dataservice/leveldb: put many: %w", err)
	}
	if len(writes) == 0 {
		return nil
	}
	sc := s.getScratch()
	defer s.putScratch(sc)
	var set stripeSet
	sc.stripes = sc.stripes[:0]
	for i := range writes {
		st := stripeIndex(writes[i].Kind, writes[i].Key)
		sc.stripes = append(sc.stripes, st)
		set.add(st)
	}
	sc.dups.reset()
	sc.headers = sc.headers[:0]

	s.locks.lock(&set)
	defer s.locks.unlock(&set)
	at := now()
	var failed *dataservice.WriteErrors
	for i := range writes {
		w := &writes[i]
		counter := len(w.Deltas) > 0
		prev := sc.dups.add(sc.stripes[i], func(j int) bool {
			return writes[j].Kind == w.Kind && writes[j].Key == w.Key && (len(writes[j].Deltas) > 0) == counter
		})
		if counter {
			// CheckWrites saw to it that no earlier write of the batch
			// increments this record.
			sc.key = appendRecordKey(sc.key[:0], tagCounter, w.Kind, w.Key)
			var raw []byte
			if !w.Options.Fresh {
				var err error
				if raw, _, err = s.read(sc.key); err != nil {
					return dbError(op, err)
				}
			}
			h, err := planIncr(sc, raw, w.Deltas, w.Options, at, nil)
			switch {
			case errors.Is(err, dataservice.ErrExists):
				if failed == nil {
					failed = &dataservice.WriteErrors{Errs: make([]error, len(writes))}
				}
				failed.Errs[i] = fmt.Errorf("dataservice/leveldb: put many: write %d (counters %s %q): %w", i, w.Kind, w.Key, err)
			case err != nil:
				return fmt.Errorf("dataservice/leveldb: put many: write %d (counters %s %q): %w", i, w.Kind, w.Key, err)
			}
			sc.headers = append(sc.headers, h)
			continue
		}
		sc.key = appendRecordKey(sc.key[:0], tagRecord, w.Kind, w.Key)
		var old header
		switch {
		case prev >= 0:
			old = sc.headers[prev]
		case w.Options.Fresh: // nothing to read: the key has never had a record
		default:
			var err error
			if old, err = s.readHeader(sc.key); err != nil {
				return dbError(op, err)
			}
		}
		h, err := planPut(sc, old, w.Value, w.Options, at)
		if err != nil {
			if failed == nil {
				failed = &dataservice.WriteErrors{Errs: make([]error, len(writes))}
			}
			failed.Errs[i] = fmt.Errorf("dataservice/leveldb: put many: write %d (%s %q): %w", i, w.Kind, w.Key, err)
		}
		sc.headers = append(sc.headers, h)
	}
	if err := s.write(op, sc); err != nil {
		return err
	}
	if failed != nil {
		return failed
	}
	return nil
}

// planDelete appends to sc.batch the deletion of the value, counter or list
// record of kind and key, which the caller has locked. It reports whether
// a live record existed; with generation nonzero it deletes only a live
// record of that generation.
func (s *Store) planDelete(sc *scratch, kind dataservice.Kind, key string, generation uint32, at int64) (bool, error) {
	var (
		raw   []byte
		found bool
		err   error
	)
	for _, tag := range [...]byte{tagRecord, tagCounter, tagList} {
		sc.key = appendRecordKey(sc.key[:0], tag, kind, key)
		if raw, found, err = s.read(sc.key); err != nil || found {
			break
		}
	}
	if err != nil {
		return false, err
	}
	var h header
	if found {
		if h, _, err = parseHeader(raw); err != nil {
			return false, err
		}
	}
	live := h.live(at)
	if generation != 0 && (!live || h.generation != generation) {
		return false, dataservice.ErrGenerationMismatch
	}
	if found {
		sc.batch.Delete(sc.key)
		if h.expires != 0 {
			sc.xkey = appendExpiryKey(sc.xkey[:0], h.expires, sc.key)
			sc.batch.Delete(sc.xkey)
		}
	}
	return live, nil
}

// Delete implements dataservice.Store.
func (s *Store) Delete(ctx context.Context, kind dataservice.Kind, key string, generation uint32) (bool, error) {
	const op = "delete"
	if err := s.begin(ctx, op, true); err != nil {
		return false, err
	}
	defer s.gate.RUnlock()
	if err := dataservice.CheckKey(kind, key); err != nil {
		return false, invalid(op, kind, err)
	}
	sc := s.getScratch()
	defer s.putScratch(sc)
	mu := &s.locks[stripeIndex(kind, key)].mu
	mu.Lock()
	defer mu.Unlock()
	existed, err := s.planDelete(sc, kind, key, generation, now())
	switch {
	case errors.Is(err, dataservice.ErrGenerationMismatch):
		return false, fmt.Errorf("dataservice/leveldb: delete %s %q: %w", kind, key, err)
	case err != nil:
		return false, dbError(op, err)
	}
	if err := s.write(op, sc); err != nil {
		return false, err
	}
	return existed, nil
}

// DeleteMany implements dataservice.Store. A key repeated in keys reports
// true at most once.
func (s *Store) DeleteMany(ctx context.Context, kind dataservice.Kind, keys []string) ([]bool, error) {
	const op = "delete many"
	if err := s.begin(ctx, op, true); err != nil {
		return nil, err
	}
	defer s.gate.RUnlock()
	for _, key := range keys {
		if err := dataservice.CheckKey(kind, key); err != nil {
			return nil, invalid(op, kind, err)
		}
	}
	out := make([]bool, len(keys))
	if len(keys) == 0 {
		return out, nil
	}
	sc := s.getScratch()
	defer s.putScratch(sc)
	var set stripeSet
	sc.stripes = sc.stripes[:0]
	for _, key := range keys {
		st := stripeIndex(kind, key)
		sc.stripes = append(sc.stripes, st)
		set.add(st)
	}
	sc.dups.reset()

	s.locks.lock(&set)
	defer s.locks.unlock(&set)
	at := now()
	for i, key := range keys {
		prev := sc.dups.add(sc.stripes[i], func(j int) bool { return keys[j] == key })
		if prev >= 0 {
			continue // deleted, if it existed, by the earlier occurrence
		}
		existed, err := s.planDelete(sc, kind, key, 0, at)
		if err != nil {
			return nil, dbError(op, err)
		}
		out[i] = existed
	}
	if err := s.write(op, sc); err != nil {
		return nil, err
	}
	return out, nil
}
