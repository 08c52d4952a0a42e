package dataservice

import (
	"fmt"
	"time"
	"unicode/utf8"
)

// The argument rules of the Store contract, shared by every backend (and
// by clients that check before a network call), so that an invalid
// argument fails with ErrInvalid the same way everywhere, before any
// effect. A backend may add limits of its own; it never relaxes these.

// MaxKindLen bounds a kind.
const MaxKindLen = 32

// MaxTTL is the longest lifetime a record may be given: ten years, what
// Aerospike accepts.
const MaxTTL = 10 * 365 * 24 * time.Hour

// CheckKind validates a kind: 1 to MaxKindLen bytes of lowercase ASCII
// letters, digits and '_' (names every backend can use as a set or prefix).
func CheckKind(kind Kind) error {
	if kind == "" || len(kind) > MaxKindLen {
		return fmt.Errorf("%w: kind must have 1 to %d bytes, not %d", ErrInvalid, MaxKindLen, len(kind))
	}
	for i := 0; i < len(kind); i++ {
		if c := kind[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return fmt.Errorf("%w: kind %q must be lowercase letters, digits and '_'", ErrInvalid, kind)
		}
	}
	return nil
}

// CheckKey validates a kind and a record key.
func CheckKey(kind Kind, key string) error {
	if err := CheckKind(kind); err != nil {
		return err
	}
	return CheckRecordKey(key)
}

// CheckRecordKey validates a record key: 1 to MaxKeyLen bytes of UTF-8.
func CheckRecordKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: empty key", ErrInvalid)
	case len(key) > MaxKeyLen:
		return fmt.Errorf("%w: key of %d bytes exceeds %d", ErrInvalid, len(key), MaxKeyLen)
	case !utf8.ValidString(key):
		return fmt.Errorf("%w: key is not valid UTF-8", ErrInvalid)
	}
	return nil
}

// CheckTTL validates a lifetime: 0 to MaxTTL.
func CheckTTL(ttl time.Duration) error {
	switch {
	case ttl < 0:
		return fmt.Errorf("%w: negative TTL %v", ErrInvalid, ttl)
	case ttl > MaxTTL:
		return fmt.Errorf("%w: TTL %v exceeds %v", ErrInvalid, ttl, MaxTTL)
	}
	return nil
}

// CheckWrite validates one Put, or one Write of a PutMany.
func CheckWrite(kind Kind, key string, value []byte, opts WriteOptions) error {
	if err := CheckKey(kind, key); err != nil {
		return err
	}
	if len(value) > MaxValueLen {
		return fmt.Errorf("%w: value of %d bytes exceeds %d", ErrInvalid, len(value), MaxValueLen)
	}
	if opts.Fresh && (opts.CreateOnly || opts.Generation != 0) {
		return fmt.Errorf("%w: a Fresh write cannot be CreateOnly or conditional on a generation", ErrInvalid)
	}
	return CheckTTL(opts.TTL)
}

// CheckWrites validates the writes of a PutMany batch: each as CheckWrite
// says, or, for a counter increment (Write.Deltas), as CheckIncr says,
// with no value and no generation; and no counter record incremented
// twice.
func CheckWrites(writes []Write) error {
	var counters map[kindKey]int
	for i := range writes {
		w := &writes[i]
		if err := checkBatchWrite(w); err != nil {
			return fmt.Errorf("write %d: %w", i, err)
		}
		if len(w.Deltas) == 0 {
			continue
		}
		if counters == nil {
			counters = make(map[kindKey]int)
		}
		k := kindKey{w.Kind, w.Key}
		if j, ok := counters[k]; ok {
			return fmt.Errorf("write %d: %w: counters %s %q are incremented by write %d already; merge the deltas", i, ErrInvalid, w.Kind, w.Key, j)
		}
		counters[k] = i
	}
	return nil
}

type kindKey struct {
	kind Kind
	key  string
}

func checkBatchWrite(w *Write) error {
	if len(w.Deltas) == 0 {
		return CheckWrite(w.Kind, w.Key, w.Value, w.Options)
	}
	switch {
	case len(w.Value) > 0:
		return fmt.Errorf("%w: a counter increment carries no value", ErrInvalid)
	case w.Options.Generation != 0:
		return fmt.Errorf("%w: a counter increment cannot be conditional on a generation", ErrInvalid)
	case w.Options.Fresh && w.Options.CreateOnly:
		return fmt.Errorf("%w: a Fresh write cannot be CreateOnly or conditional on a generation", ErrInvalid)
	}
	return CheckIncr(w.Kind, w.Key, w.Deltas, w.Options.TTL)
}

// CheckScan validates the arguments of Scan: a group prefix ending with
// GroupSeparator, an after key, a positive limit.
func CheckScan(kind Kind, prefix, after string, limit int) error {
	if err := CheckKind(kind); err != nil {
		return err
	}
	switch {
	case prefix == "" || prefix[len(prefix)-1] != GroupSeparator:
		return fmt.Errorf("%w: group prefix %q does not end with %q", ErrInvalid, prefix, GroupSeparator)
	case len(prefix) > MaxKeyLen || len(after) > MaxKeyLen:
		return fmt.Errorf("%w: prefix or after longer than %d bytes", ErrInvalid, MaxKeyLen)
	case !utf8.ValidString(prefix) || !utf8.ValidString(after):
		return fmt.Errorf("%w: prefix or after is not valid UTF-8", ErrInvalid)
	case limit < 1:
		return fmt.Errorf("%w: limit %d below 1", ErrInvalid, limit)
	}
	return nil
}

// CheckIncr validates the arguments of Incr: at least one delta, counter
// names of 1 to MaxKeyLen bytes of UTF-8.
func CheckIncr(kind Kind, key string, deltas []Delta, ttl time.Duration) error {
	if err := CheckKey(kind, key); err != nil {
		return err
	}
	if len(deltas) == 0 {
		return fmt.Errorf("%w: no counters to increment", ErrInvalid)
	}
	for _, d := range deltas {
		if d.Name == "" || len(d.Name) > MaxKeyLen || !utf8.ValidString(d.Name) {
			return fmt.Errorf("%w: counter name must have 1 to %d bytes of UTF-8", ErrInvalid, MaxKeyLen)
		}
	}
	return CheckTTL(ttl)
}

// CheckListAppend validates the arguments of ListAppend: at least one
// item, items of at most MaxValueLen bytes together, MaxLen not negative.
func CheckListAppend(kind Kind, key string, items [][]byte, opts ListOptions) error {
	if err := CheckKey(kind, key); err != nil {
		return err
	}
	switch {
	case len(items) == 0:
		return fmt.Errorf("%w: no items to append", ErrInvalid)
	case opts.MaxLen < 0:
		return fmt.Errorf("%w: negative MaxLen %d", ErrInvalid, opts.MaxLen)
	}
	n := 0
	for _, it := range items {
		n += len(it)
	}
	if n > MaxValueLen {
		return fmt.Errorf("%w: items of %d bytes together exceed %d", ErrInvalid, n, MaxValueLen)
	}
	return CheckTTL(opts.TTL)
}

// CheckListRange validates the arguments of ListRange: a positive count.
func CheckListRange(kind Kind, key string, count int) error {
	if err := CheckKey(kind, key); err != nil {
		return err
	}
	if count < 1 {
		return fmt.Errorf("%w: count %d below 1", ErrInvalid, count)
	}
	return nil
}
