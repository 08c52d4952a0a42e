package leveldb

import (
	"context"
	"encoding/binary"
	"fmt"

	"github.com/heraldpush/herald/dataservice"
)

var errCorruptList = fmt.Errorf("%w: corrupt list record", dataservice.ErrUnavailable)

// parseList returns the items of an encoded list payload; they alias p.
func parseList(p []byte) ([][]byte, error) {
	var items [][]byte
	for len(p) > 0 {
		n, k := binary.Uvarint(p)
		if k <= 0 || uint64(len(p)-k) < n {
			return nil, errCorruptList
		}
		items = append(items, p[k:k+int(n)])
		p = p[k+int(n):]
	}
	return items, nil
}

// itemBytes returns the length of items together, the measure of the
// MaxValueLen limit (the length prefixes of the encoding do not count).
func itemBytes(items [][]byte) int {
	n := 0
	for _, it := range items {
		n += len(it)
	}
	return n
}

// ListAppend implements dataservice.Store.
func (s *Store) ListAppend(ctx context.Context, kind dataservice.Kind, key string, items [][]byte, opts dataservice.ListOptions) (int, error) {
	const op = "list append"
	if err := s.begin(ctx, op, true); err != nil {
		return 0, err
	}
	defer s.gate.RUnlock()
	if err := dataservice.CheckListAppend(kind, key, items, opts); err != nil {
		return 0, invalid(op, kind, err)
	}
	sc := s.getScratch()
	defer s.putScratch(sc)
	sc.key = appendRecordKey(sc.key[:0], tagList, kind, key)

	mu := &s.locks[stripeIndex(kind, key)].mu
	mu.Lock()
	defer mu.Unlock()
	raw, found, err := s.read(sc.key)
	if err != nil {
		return 0, dbError(op, err)
	}
	var (
		old      header
		payload  []byte
		existing [][]byte
	)
	if found {
		if old, payload, err = parseHeader(raw); err != nil {
			return 0, dbError(op, err)
		}
	}
	at := now()
	if old.live(at) {
		if existing, err = parseList(payload); err != nil {
			return 0, dbError(op, err)
		}
	}
	all := append(existing, items...)
	if opts.MaxLen > 0 && len(all) > opts.MaxLen {
		all = all[len(all)-opts.MaxLen:]
	}
	h := header{generation: old.next(at), expires: expiresAt(at, opts.TTL)}
	if opts.TTL == 0 && old.live(at) {
		h.expires = old.expires
	}
	sc.value = appendHeader(sc.value[:0], h)
	for _, it := range all {
		sc.value = binary.AppendUvarint(sc.value, uint64(len(it)))
		sc.value = append(sc.value, it...)
	}
	if itemBytes(all) > dataservice.MaxValueLen {
		return 0, fmt.Errorf("dataservice/leveldb: %s %s %q: %w: list exceeds %d bytes",
			op, kind, key, dataservice.ErrInvalid, dataservice.MaxValueLen)
	}
	sc.batch.Put(sc.key, sc.value)
	planExpiry(sc, old, h)
	if err := s.write(op, sc); err != nil {
		return 0, err
	}
	return len(all), nil
}

// ListRange implements dataservice.Store.
func (s *Store) ListRange(ctx context.Context, kind dataservice.Kind, key string, start, count int) ([][]byte, error) {
	const op = "list range"
	if err := s.begin(ctx, op, false); err != nil {
		return nil, err
	}
	defer s.gate.RUnlock()
	if err := dataservice.CheckListRange(kind, key, count); err != nil {
		return nil, invalid(op, kind, err)
	}
	sc := s.getScratch()
	sc.key = appendRecordKey(sc.key[:0], tagList, kind, key)
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
		return nil, fmt.Errorf("dataservice/leveldb: %s %s %q: %w", op, kind, key, dataservice.ErrNotFound)
	}
	items, err := parseList(payload)
	if err != nil {
		return nil, dbError(op, err)
	}
	if start < 0 {
		start = max(len(items)+start, 0)
	}
	if start >= len(items) {
		return [][]byte{}, nil
	}
	items = items[start:min(len(items), start+count)]
	out := make([][]byte, len(items))
	for i, it := range items {
		out[i] = append([]byte(nil), it...) // payload is the reader's buffer
	}
	return out, nil
}
