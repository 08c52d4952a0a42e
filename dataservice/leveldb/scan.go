package leveldb

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/syndtr/goleveldb/leveldb/util"

	"github.com/heraldpush/herald/dataservice"
)

// scanCheckEvery is how many entries Scan reads between context checks.
const scanCheckEvery = 256

// scanGuessRecords bounds how many records Scan sizes its value buffer for.
const scanGuessRecords = 128

// scanned locates one record of a Scan in its key and value buffers.
type scanned struct {
	keyEnd, valueEnd int
	h                header
}

// Scan implements dataservice.Store. It walks the group's key range with an
// iterator and stops after limit live records; expired records it passes are
// skipped.
func (s *Store) Scan(ctx context.Context, kind dataservice.Kind, prefix, after string, limit int) ([]dataservice.Record, error) {
	const op = "scan"
	if err := s.begin(ctx, op, false); err != nil {
		return nil, err
	}
	defer s.gate.RUnlock()
	if err := dataservice.CheckScan(kind, prefix, after, limit); err != nil {
		return nil, invalid(op, kind, err)
	}

	sc := s.getScratch()
	defer s.putScratch(sc)
	start := appendRecordKey(sc.key[:0], tagRecord, kind, prefix)
	end := append(sc.key2[:0], start...)
	end[len(end)-1]++ // the separator is not 0xff, so this is the group's end
	if after != "" && strings.Compare(after, prefix) >= 0 {
		start = appendRecordKey(start[:0], tagRecord, kind, after)
		start = append(start, 0) // the first key after after
	}
	sc.key, sc.key2 = start, end
	if bytes.Compare(start, end) >= 0 {
		return nil, nil
	}

	it := s.db.NewIterator(&util.Range{Start: start, Limit: end}, nil)
	defer it.Release()
	var (
		skip    = len(kind) + 2 // tag, kind, 0x00
		at      = now()
		keys    = sc.value[:0]   // copied into one string below
		found   = sc.scanned[:0] // where each record lies in keys and values
		values  []byte           // returned: Records alias it
		visited int
	)
	for len(found) < limit && it.Next() {
		if visited++; visited%scanCheckEvery == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("dataservice/leveldb: %s: %w", op, err)
			}
		}
		h, payload, err := parseHeader(it.Value())
		if err != nil {
			return nil, dbError(op, err)
		}
		if !h.live(at) {
			continue
		}
		if values == nil {
			// Guess from the first record, to grow it seldom.
			values = make([]byte, 0, max(len(payload), 16)*min(limit, scanGuessRecords))
		}
		keys = append(keys, it.Key()[skip:]...)
		values = append(values, payload...)
		found = append(found, scanned{keyEnd: len(keys), valueEnd: len(values), h: h})
	}
	sc.value, sc.scanned = keys, found
	if err := it.Error(); err != nil {
		return nil, dbError(op, err)
	}
	if len(found) == 0 {
		return nil, nil
	}

	// One string holds every key and one slice every value; each record
	// gets a capped window, so appending to one never overwrites the next.
	all := string(keys)
	out := make([]dataservice.Record, len(found))
	keyStart, valueStart := 0, 0
	for i, f := range found {
		out[i], _ = toRecord(all[keyStart:f.keyEnd], f.h, values[valueStart:f.valueEnd], at)
		keyStart, valueStart = f.keyEnd, f.valueEnd
	}
	return out, nil
}
