package leveldb

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

// counterEntry is one counter of a counter record being updated. Counters
// read from the database keep their name as the stored bytes (raw), new
// ones as the caller's string (name), so Incr copies no name.
type counterEntry struct {
	raw   []byte
	name  string
	value int64
}

func (e *counterEntry) is(name string) bool {
	if e.name != "" {
		return e.name == name
	}
	return string(e.raw) == name
}

var errCorruptCounters = fmt.Errorf("%w: corrupt counter record", dataservice.ErrUnavailable)

// parseCounters calls fn for each counter of an encoded counter payload.
func parseCounters(p []byte, fn func(name []byte, value int64)) error {
	for len(p) > 0 {
		n, k := binary.Uvarint(p)
		if k <= 0 || uint64(len(p)-k) < n {
			return errCorruptCounters
		}
		name := p[k : k+int(n)]
		p = p[k+int(n):]
		v, k := binary.Varint(p)
		if k <= 0 {
			return errCorruptCounters
		}
		p = p[k:]
		fn(name, v)
	}
	return nil
}

func appendCounter(dst []byte, e *counterEntry) []byte {
	if e.name != "" {
		dst = binary.AppendUvarint(dst, uint64(len(e.name)))
		dst = append(dst, e.name...)
	} else {
		dst = binary.AppendUvarint(dst, uint64(len(e.raw)))
		dst = append(dst, e.raw...)
	}
	return binary.AppendVarint(dst, e.value)
}

// Incr implements dataservice.Store. Counters are created at zero in the
// order they are first named.
func (s *Store) Incr(ctx context.Context, kind dataservice.Kind, key string, deltas []dataservice.Delta, ttl time.Duration) ([]int64, error) {
	const op = "incr"
	if err := s.begin(ctx, op, true); err != nil {
		return nil, err
	}
	defer s.gate.RUnlock()
	if err := dataservice.CheckIncr(kind, key, deltas, ttl); err != nil {
		return nil, invalid(op, kind, err)
	}
	sc := s.getScratch()
	defer s.putScratch(sc)
	sc.key = appendRecordKey(sc.key[:0], tagCounter, kind, key)

	mu := &s.locks[stripeIndex(kind, key)].mu
	mu.Lock()
	defer mu.Unlock()
	raw, _, err := s.read(sc.key)
	if err != nil {
		return nil, dbError(op, err)
	}
	out := make([]int64, len(deltas))
	if _, err := planIncr(sc, raw, deltas, dataservice.WriteOptions{TTL: ttl}, now(), out); err != nil {
		return nil, fmt.Errorf("dataservice/leveldb: incr %s %q: %w", kind, key, err)
	}
	if err := s.write(op, sc); err != nil {
		return nil, err
	}
	return out, nil
}

// planIncr appends to sc.batch the increment by deltas of the counter
// record whose key is in sc.key and whose stored value is raw (nil if
// there is none), with opts.TTL as Incr's ttl, and returns the record's
// new header. With opts.CreateOnly and a live record it plans nothing and
// returns the record's header and ErrExists. If out is not nil it
// receives the new value of each counter, in the order of deltas.
func planIncr(sc *scratch, raw []byte, deltas []dataservice.Delta, opts dataservice.WriteOptions, at int64, out []int64) (header, error) {
	var (
		old     header
		payload []byte
		err     error
	)
	if raw != nil {
		if old, payload, err = parseHeader(raw); err != nil {
			return header{}, err
		}
	}
	live := old.live(at)
	if live && opts.CreateOnly {
		return old, dataservice.ErrExists
	}
	ttl := opts.TTL
	entries := sc.entries[:0]
	if live {
		err := parseCounters(payload, func(name []byte, value int64) {
			entries = append(entries, counterEntry{raw: name, value: value})
		})
		if err != nil {
			return header{}, err
		}
	}
	for i, d := range deltas {
		j := 0
		for j < len(entries) && !entries[j].is(d.Name) {
			j++
		}
		if j == len(entries) {
			entries = append(entries, counterEntry{name: d.Name})
		}
		entries[j].value += d.Delta
		if out != nil {
			out[i] = entries[j].value
		}
	}
	sc.entries = entries

	h := header{generation: old.next(at), expires: expiresAt(at, ttl)}
	if ttl == 0 && live {
		h.expires = old.expires
	}
	sc.value = appendHeader(sc.value[:0], h)
	for i := range entries {
		sc.value = appendCounter(sc.value, &entries[i])
	}
	if len(sc.value)-headerLen > dataservice.MaxValueLen {
		return header{}, fmt.Errorf("%w: counter record exceeds %d bytes", dataservice.ErrInvalid, dataservice.MaxValueLen)
	}
	sc.batch.Put(sc.key, sc.value)
	planExpiry(sc, old, h)
	return h, nil
}

// Counters implements dataservice.Store.
func (s *Store) Counters(ctx context.Context, kind dataservice.Kind, key string) (map[string]int64, error) {
	const op = "counters"
	if err := s.begin(ctx, op, false); err != nil {
		return nil, err
	}
	defer s.gate.RUnlock()
	if err := dataservice.CheckKey(kind, key); err != nil {
		return nil, invalid(op, kind, err)
	}
	sc := s.getScratch()
	sc.key = appendRecordKey(sc.key[:0], tagCounter, kind, key)
	raw, found, err := s.read(sc.key)
	s.putScratch(sc)
	if err != nil {
		return nil, dbError(op, err)
	}
	var (
		h       header
		payload []byte
	)
	if found {
		if h, payload, err = parseHeader(raw); err != nil {
			return nil, dbError(op, err)
		}
	}
	if !h.live(now()) {
		return nil, fmt.Errorf("dataservice/leveldb: counters %s %q: %w", kind, key, dataservice.ErrNotFound)
	}
	out := make(map[string]int64)
	if err := parseCounters(payload, func(name []byte, value int64) { out[string(name)] = value }); err != nil {
		return nil, dbError(op, err)
	}
	return out, nil
}
