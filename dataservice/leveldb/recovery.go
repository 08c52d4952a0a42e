package leveldb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/syndtr/goleveldb/leveldb/storage"

	"github.com/heraldpush/herald/dataservice"
)

// How a Store heals after a write failed.
//
// LevelDB writes every batch to its journal before it applies it. When
// the journal's file refuses a write (a full disk, a file system remounted
// read-only), the journal keeps that error and every later write fails
// with it, whatever happens to the disk: the database must be closed and
// opened again. A write failing in a compaction leaves the database
// unable to write once its memory table fills, for the same reason.
//
// So the first failed write marks the store failing: later writes fail
// at once with dataservice.ErrUnavailable saying why, reads go on from
// the open database, and the recovery loop wakes. With a growing pause
// (Config.RecoveryBackoff at most) it checks that the directory takes a
// write and has room for the journal to be replayed (probe); then it
// closes the database and opens it again. Opening replays the journal,
// whose records are whole up to the first failed write, so every write
// that returned nil is still there; the failed write's partial record is
// dropped. If opening fails (the disk filled again meanwhile), the loop
// opens the database read-only, so that reads go on, and tries again
// later.

// health says whether a Store's writes work. Its methods are safe for
// concurrent use.
type health struct {
	bad  atomic.Bool   // writes fail; err says why
	wake chan struct{} // wakes the recovery loop; one pending wake-up at most

	mu         sync.Mutex
	err        error     // what writes fail with (wraps ErrUnavailable); nil while they work
	since      time.Time // when writes started to fail
	failures   int       // times writes started to fail
	recoveries int       // times the store recovered
}

func (h *health) init() { h.wake = make(chan struct{}, 1) }

// ok reports whether writes work.
func (h *health) ok() bool { return !h.bad.Load() }

// failing returns what writes fail with, or nil if they work.
func (h *health) failing() error {
	if !h.bad.Load() {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

// unavailable is the error of an operation while no database is open.
func (h *health) unavailable() error {
	if err := h.failing(); err != nil {
		return err
	}
	return fmt.Errorf("%w: the database is being reopened", dataservice.ErrUnavailable)
}

// fail marks writes failing with err unless they fail already, reports
// whether this call did, and wakes the recovery loop.
func (h *health) fail(err error) bool {
	h.mu.Lock()
	first := h.err == nil
	if first {
		h.err, h.since = err, time.Now()
		h.failures++
		h.bad.Store(true)
	}
	h.mu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default:
	}
	return first
}

// update replaces the reason writes fail with, and reports whether it
// changed.
func (h *health) update(err error) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	changed := h.err != nil && err.Error() != h.err.Error()
	if h.err != nil {
		h.err = err
	}
	return changed
}

// recovered marks writes working again and returns how long they failed.
func (h *health) recovered() time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	d := time.Since(h.since)
	h.err, h.since = nil, time.Time{}
	h.recoveries++
	h.bad.Store(false)
	return d
}

// stats returns the health part of Stats.
func (h *health) stats() Stats {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := Stats{Writable: h.err == nil, FailingSince: h.since, Failures: h.failures, Recoveries: h.recoveries}
	if h.err != nil {
		st.WriteError = h.err.Error()
	}
	return st
}

// Health returns nil while the store writes, and otherwise an error
// wrapping dataservice.ErrUnavailable that says why writes fail (the disk
// is full, the file system is read-only, …) and since when. The store
// recovers by itself once the cause is gone; readiness checks report this.
func (s *Store) Health() error {
	if s.closed.Load() {
		return fmt.Errorf("dataservice/leveldb: %w", dataservice.ErrClosed)
	}
	s.health.mu.Lock()
	defer s.health.mu.Unlock()
	if s.health.err == nil {
		return nil
	}
	return fmt.Errorf("dataservice/leveldb: %s: since %s: %w", s.cfg.Dir, s.health.since.UTC().Format(time.RFC3339), s.health.err)
}

// cause names, for people, why the file system refused a write: "" when
// err is not one of the causes a store recovers from once they are gone.
func cause(err error) string {
	switch {
	case errors.Is(err, syscall.ENOSPC):
		return "the disk is full (no space left on device)"
	case errors.Is(err, syscall.EDQUOT):
		return "the disk quota is exceeded"
	case errors.Is(err, syscall.EROFS):
		return "the data directory is on a read-only file system"
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return "the data directory cannot be written (permission denied)"
	case errors.Is(err, syscall.EIO):
		return "the disk reported an input/output error"
	}
	return ""
}

// writeFailed marks the store failing after LevelDB refused a write with
// err, and returns what the write fails with. Logged once per failure.
func (s *Store) writeFailed(err error) error {
	why := cause(err)
	if why == "" {
		why = "the database failed to write"
	}
	e := fmt.Errorf("%w: %s; writes fail until the store recovers by itself once the cause is gone: %v", dataservice.ErrUnavailable, why, err)
	if s.health.fail(e) {
		s.log.Error("store: writes fail; reads go on, and the store reopens itself once the directory takes writes again",
			"dir", s.cfg.Dir, "cause", why, "err", err)
	}
	return e
}

// recoveryLoop makes a failing store write again. Runs in its own
// goroutine from Open to Close.
func (s *Store) recoveryLoop() {
	defer close(s.recoveryDone)
	for {
		select {
		case <-s.stop:
			return
		case <-s.health.wake:
		}
		wait := min(100*time.Millisecond, s.cfg.RecoveryBackoff)
		for !s.health.ok() {
			t := time.NewTimer(wait)
			select {
			case <-s.stop:
				t.Stop()
				return
			case <-t.C:
			}
			if err := s.recover(); err != nil {
				e := fmt.Errorf("%w: %s; retrying every %v at most: %v", dataservice.ErrUnavailable, orDefault(cause(err), "the database cannot be reopened"), s.cfg.RecoveryBackoff, err)
				if s.health.update(e) {
					s.log.Warn("store: still cannot write", "dir", s.cfg.Dir, "err", err)
				}
				wait = min(2*wait, s.cfg.RecoveryBackoff)
				continue
			}
			failed := s.health.recovered()
			s.log.Info("store: writes work again", "dir", s.cfg.Dir, "after", failed.Round(time.Millisecond))
		}
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// recover reopens the database once the directory looks writable, and
// falls back to opening it read-only when that fails. Runs in the
// recovery loop.
func (s *Store) recover() error {
	if err := s.files.probe(s.cfg.Dir); err != nil {
		return err
	}
	s.gate.Lock()
	defer s.gate.Unlock()
	if s.closed.Load() {
		return nil
	}
	// Errors of closing are the very errors recovered from.
	_ = s.closeDB()
	db, stor, err := s.openDB(false)
	if err == nil {
		s.db, s.stor = db, stor
		return nil
	}
	if db, stor, rerr := s.openDB(true); rerr == nil {
		s.db, s.stor = db, stor
	} else {
		s.log.Error("store: cannot open the database even to read; every call fails until it can", "dir", s.cfg.Dir, "err", rerr)
	}
	return err
}

// files is how a Store reaches its directory; tests replace it to inject
// faults.
type files interface {
	// open opens the directory's storage, read-only or not.
	open(dir string, readOnly bool) (storage.Storage, error)
	// probe fails if the directory does not take a write, or lacks room to
	// replay the journal when the database is reopened.
	probe(dir string) error
}

// osFiles are the files of the operating system.
type osFiles struct{}

func (osFiles) open(dir string, readOnly bool) (storage.Storage, error) {
	return storage.OpenFile(dir, readOnly)
}

// probeName is the file probe writes; LevelDB ignores names it did not
// make.
const probeName = "herald-write-probe"

// probeBytes is how much probe writes: a write that a full disk refuses.
const probeBytes = 64 << 10

func (osFiles) probe(dir string) error {
	need, err := journalBytes(dir)
	if err != nil {
		return err
	}
	// Replaying the journal writes a table about as large, and a new
	// manifest; leave some room for the writes that follow.
	need += need/8 + 1<<20
	if free, ok := freeBytes(dir); ok && free < uint64(need) {
		return fmt.Errorf("%s: %d bytes free, reopening needs about %d: %w", dir, free, need, syscall.ENOSPC)
	}
	name := filepath.Join(dir, probeName)
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(make([]byte, probeBytes))
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if rerr := os.Remove(name); err == nil {
		err = rerr
	}
	return err
}

// journalBytes is the size of the journal files in dir.
func journalBytes(dir string) (int64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".log") {
			continue
		}
		if info, err := e.Info(); err == nil {
			n += info.Size()
		}
	}
	return n, nil
}
