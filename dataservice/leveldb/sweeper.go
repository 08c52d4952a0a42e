package leveldb

import (
	"encoding/binary"
	"time"

	"github.com/syndtr/goleveldb/leveldb/util"
)

// sweepChunk is how many expiry index entries one sweeper batch handles.
// The stripes of a chunk are held while its records are read and its batch
// written, which delays writes to up to sweepChunk of the 256 stripes for
// that long: small enough to be brief, large enough to amortize the write.
const sweepChunk = 128

// sweepLoop runs sweep every interval until Close. Runs in its own
// goroutine.
func (s *Store) sweepLoop(interval time.Duration) {
	defer close(s.sweeperDone)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			// An error (a failing disk) is retried on the next tick; reads
			// hide expired records meanwhile.
			_, _ = s.sweep(now())
		}
	}
}

// sweep deletes the records that expired at or before at, and the expiry
// index entries up to at, and returns how many records it deleted. An index
// entry whose record has since been rewritten with another expiry, or
// deleted, only loses the index entry. Runs in the sweeper goroutine.
func (s *Store) sweep(at int64) (int, error) {
	sc := s.getScratch()
	start := append(sc.key[:0], tagExpiry)
	end := binary.BigEndian.AppendUint64(append(sc.key2[:0], tagExpiry), uint64(at)+1)
	defer func() {
		sc.key, sc.key2 = start, end // keep the grown buffers
		s.putScratch(sc)
	}()
	deleted := 0
	for {
		select {
		case <-s.stop:
			return deleted, nil
		default:
		}
		// The gate is held for one chunk at a time, so that the recovery
		// loop is not held up for the whole sweep.
		s.gate.RLock()
		if s.db == nil || !s.health.ok() {
			s.gate.RUnlock()
			return deleted, nil // nothing to sweep with; the next tick tries again
		}
		// Collect a chunk of index keys, then release the iterator before
		// taking locks.
		it := s.db.NewIterator(&util.Range{Start: start, Limit: end}, nil)
		keys := sc.value[:0]
		sc.offsets = sc.offsets[:0] // end of each key in keys
		for len(sc.offsets) < sweepChunk && it.Next() {
			keys = append(keys, it.Key()...)
			sc.offsets = append(sc.offsets, len(keys))
		}
		err := it.Error()
		it.Release()
		sc.value = keys
		if err != nil || len(sc.offsets) == 0 {
			s.gate.RUnlock()
			return deleted, err
		}

		var set stripeSet
		for i := range sc.offsets {
			_, rk, _ := splitExpiryKey(sweepKey(sc, i))
			kind, key, _ := splitRecordKey(rk)
			set.add(stripeIndex(kind, key))
		}
		s.locks.lock(&set)
		n, err := s.sweepChunk(sc)
		s.locks.unlock(&set)
		s.gate.RUnlock()
		deleted += n
		if err != nil {
			return deleted, err
		}
		if len(sc.offsets) < sweepChunk {
			return deleted, nil
		}
		// Go on after the chunk's last key rather than seek over its
		// tombstones again.
		start = append(append(start[:0], sweepKey(sc, len(sc.offsets)-1)...), 0)
	}
}

// sweepKey returns the i-th index key collected by sweep.
func sweepKey(sc *scratch, i int) []byte {
	start := 0
	if i > 0 {
		start = sc.offsets[i-1]
	}
	return sc.value[start:sc.offsets[i]]
}

// sweepChunk deletes the index entries collected in sc and the records they
// still describe, in one batch. The caller holds their stripes and the
// gate.
func (s *Store) sweepChunk(sc *scratch) (int, error) {
	sc.batch.Reset()
	deleted := 0
	for i := range sc.offsets {
		xk := sweepKey(sc, i)
		expires, rk, ok := splitExpiryKey(xk)
		sc.batch.Delete(xk)
		if !ok {
			continue
		}
		h, err := s.readHeader(rk)
		if err != nil {
			return 0, err
		}
		if h.generation != 0 && h.expires == expires {
			sc.batch.Delete(rk)
			deleted++
		}
	}
	if err := s.write("sweep", sc); err != nil {
		return 0, err
	}
	return deleted, nil
}
