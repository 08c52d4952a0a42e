package aerospike

import (
	"fmt"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

// The argument rules of the Store contract are dataservice's Check*
// functions, shared with every backend; this file adds Aerospike's own
// limit (set names) and keeps the signatures the backend calls.

// maxTTL is the longest lifetime Aerospike accepts, which the contract
// adopts.
const maxTTL = dataservice.MaxTTL

// checkKind validates a kind, which names the set SetPrefix+kind of at
// most maxSetName bytes.
func checkKind(setPrefix string, kind dataservice.Kind) error {
	if err := dataservice.CheckKind(kind); err != nil {
		return err
	}
	if len(setPrefix)+len(kind) > maxSetName {
		return fmt.Errorf("%w: set name %q longer than %d bytes", dataservice.ErrInvalid, setPrefix+string(kind), maxSetName)
	}
	return nil
}

func checkKey(key string) error { return dataservice.CheckRecordKey(key) }

func checkTTL(ttl time.Duration) error { return dataservice.CheckTTL(ttl) }

func checkWrite(key string, value []byte, opts dataservice.WriteOptions) error {
	return dataservice.CheckWrite(anyKind, key, value, opts)
}

func checkIncr(key string, deltas []dataservice.Delta, ttl time.Duration) error {
	return dataservice.CheckIncr(anyKind, key, deltas, ttl)
}

func checkListAppend(key string, items [][]byte, opts dataservice.ListOptions) error {
	return dataservice.CheckListAppend(anyKind, key, items, opts)
}

func checkScan(prefix, after string, limit int) error {
	return dataservice.CheckScan(anyKind, prefix, after, limit)
}

// anyKind stands for the kind in checks whose kind checkKind already
// validated.
const anyKind dataservice.Kind = "k"

// expiration converts a validated, positive lifetime to Aerospike's
// expiration in seconds, rounded up so a record never lives shorter than
// asked. Callers handle zero (never, or keep) themselves.
func expiration(ttl time.Duration) uint32 {
	return uint32((ttl + time.Second - 1) / time.Second)
}

// checkKeys checks kind and keys, the arguments of GetMany and DeleteMany.
func checkKeys(setPrefix string, kind dataservice.Kind, keys []string) error {
	if err := checkKind(setPrefix, kind); err != nil {
		return err
	}
	for _, key := range keys {
		if err := checkKey(key); err != nil {
			return err
		}
	}
	return nil
}
