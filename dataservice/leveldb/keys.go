package leveldb

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

// Tags, the first byte of every LevelDB key.
const (
	tagRecord  byte = 'r' // 'r' kind 0 key → header ++ value
	tagCounter byte = 'c' // 'c' kind 0 key → header ++ counters
	tagList    byte = 'l' // 'l' kind 0 key → header ++ items (uvarint length ++ bytes each)
	tagExpiry  byte = 'x' // 'x' expiry(8) record-key → nothing
)

// headerLen is the length of the header that starts every record value:
// generation (4 bytes) and expiry (8 bytes), big-endian.
const headerLen = 12

// header is the metadata stored in front of every record.
type header struct {
	generation uint32 // 0: no record
	expires    int64  // unix nanoseconds; 0: never
}

// live reports whether h describes a record that exists at now.
func (h header) live(now int64) bool {
	return h.generation != 0 && (h.expires == 0 || now < h.expires)
}

// next returns the generation that follows h's when h is live at now, or the
// generation of a new record.
func (h header) next(now int64) uint32 {
	if !h.live(now) {
		return 1
	}
	if g := h.generation + 1; g != 0 {
		return g
	}
	return 1 // wrapped around: never report 0, which means "absent"
}

func appendHeader(dst []byte, h header) []byte {
	dst = binary.BigEndian.AppendUint32(dst, h.generation)
	return binary.BigEndian.AppendUint64(dst, uint64(h.expires))
}

// parseHeader splits a stored record value into its header and payload.
func parseHeader(v []byte) (header, []byte, error) {
	if len(v) < headerLen {
		return header{}, nil, fmt.Errorf("%w: corrupt record: %d-byte value", dataservice.ErrUnavailable, len(v))
	}
	h := header{
		generation: binary.BigEndian.Uint32(v),
		expires:    int64(binary.BigEndian.Uint64(v[4:])),
	}
	return h, v[headerLen:], nil
}

// expiresAt returns the expiry of a record written at now with ttl.
func expiresAt(now int64, ttl time.Duration) int64 {
	if ttl <= 0 {
		return 0
	}
	e := now + int64(ttl)
	if e < now {
		return math.MaxInt64
	}
	return e
}

// appendRecordKey appends the LevelDB key of a record (tag 'r' or 'c').
func appendRecordKey(dst []byte, tag byte, kind dataservice.Kind, key string) []byte {
	dst = append(dst, tag)
	dst = append(dst, kind...)
	dst = append(dst, 0)
	return append(dst, key...)
}

// appendExpiryKey appends the expiry index key of the record stored under
// recordKey with the given expiry.
func appendExpiryKey(dst []byte, expires int64, recordKey []byte) []byte {
	dst = append(dst, tagExpiry)
	dst = binary.BigEndian.AppendUint64(dst, uint64(expires))
	return append(dst, recordKey...)
}

// splitRecordKey returns the kind and key of a record key.
func splitRecordKey(rk []byte) (kind, key []byte, ok bool) {
	if len(rk) < 2 {
		return nil, nil, false
	}
	i := bytes.IndexByte(rk[1:], 0)
	if i < 0 {
		return nil, nil, false
	}
	return rk[1 : 1+i], rk[2+i:], true
}

// splitExpiryKey returns the expiry and record key of an expiry index key.
func splitExpiryKey(xk []byte) (expires int64, recordKey []byte, ok bool) {
	if len(xk) < 9 || xk[0] != tagExpiry {
		return 0, nil, false
	}
	return int64(binary.BigEndian.Uint64(xk[1:])), xk[9:], true
}
