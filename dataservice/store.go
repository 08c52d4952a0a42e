package dataservice

import (
	"context"
	"time"
)

// Kind names a record kind. Each kind is a key space of its own: a set in
// Aerospike, a key prefix in LevelDB. A kind holds one shape of record:
// value records (Put/Get/Scan), counter records (Incr/Counters) or list
// records (ListAppend/ListRange), never a mix. Delete removes any shape.
type Kind string

// The record kinds Herald stores, with their key layouts. Keys with a
// GroupSeparator form groups that Scan walks in key order: these are
// Herald's secondary indexes.
const (
	KindApp       Kind = "app" // app_key → App
	KindDevice    Kind = "dev" // registration_id → Device
	KindSession   Kind = "ses" // registration_id → Session (which connector holds the device)
	KindMessage   Kind = "msg" // msg_id → Message body
	KindInbox     Kind = "inb" // registration_id/msg_id → undelivered copy of a message
	KindCounter   Kind = "cnt" // msg_id → per-message delivery counters (counter records)
	KindConnector Kind = "con" // cluster/connector_id → Connector (membership, refreshed by heartbeat)
	KindConfig    Kind = "cfg" // cluster-wide settings, such as the Noise static key
	KindTag       Kind = "tag" // app_key/tag/registration_id → tag index: the devices of a tag
	KindAlias     Kind = "als" // app_key/alias/registration_id → alias index: the devices of an alias
	KindTask      Kind = "tsk" // msg_id → push task progress (audience cursor), for resuming after a restart
	KindSchedule  Kind = "sch" // app_key/schedule_id → schedule
	KindCampaign  Kind = "cmp" // app_key/campaign_id → red-envelope campaign
	KindWinner    Kind = "win" // campaign_id/registration_id → what a device won in a campaign
	KindUser      Kind = "usr" // u/email → portal user (PortalStore)
	KindRecent    Kind = "rcn" // app_key → the app's recent message ids (list record)
)

// GroupSeparator splits a key into its group and its member: "rid/msgid".
// Scan walks one group.
const GroupSeparator = '/'

// Record is one value record as stored.
type Record struct {
	Key   string
	Value []byte
	// Generation is 1 after the record is created and grows by one with
	// every write. Zero means the record does not exist. It may wrap
	// around (Aerospike keeps 16 bits, LevelDB 32, and neither ever gives
	// 0 to a record): compare generations for equality only.
	Generation uint32
	// Expires is when the record stops existing. Zero means never.
	Expires time.Time
}

// Exists reports whether r holds a record (rather than a miss in a batch).
func (r Record) Exists() bool { return r.Generation != 0 }

// WriteOptions qualify a Put. The zero value writes unconditionally and keeps
// the record forever.
type WriteOptions struct {
	// TTL is how long the record lives after this write. Zero means forever;
	// negative is invalid (ErrInvalid).
	TTL time.Duration
	// Generation, when nonzero, makes the write conditional: it succeeds only
	// if the record's current generation equals it, and fails with
	// ErrGenerationMismatch otherwise (also when the record does not exist).
	Generation uint32
	// CreateOnly makes the write fail with ErrExists if the record exists.
	CreateOnly bool
	// Fresh says the key has never had a record: it is made from an
	// identifier generated just now (a new message's id), so there is
	// nothing to read before writing. A backend that reads the old record
	// to number generations and keep its expiry index (LevelDB) skips that
	// read and starts the record at generation 1; others may ignore it. It
	// cannot be combined with CreateOnly or Generation, which need the old
	// record (ErrInvalid). Writing Fresh over a key that has a record is
	// the caller's bug: the record is replaced, its generation restarts at
	// 1, and a cache holding the old one is not told.
	Fresh bool
}

// Write is one element of a PutMany batch.
type Write struct {
	Kind  Kind
	Key   string
	Value []byte
	// Deltas, when not empty, make this write an increment of the counter
	// record Kind/Key, as Incr(Kind, Key, Deltas, Options.TTL) does,
	// instead of a record write. Value must then be empty. Options.TTL
	// is Incr's ttl; CreateOnly makes the write create the counter record
	// at the deltas' values, failing with ErrExists (as a record's
	// CreateOnly write does) if it exists; Fresh skips the read as for a
	// record; Generation is ErrInvalid. A batch increments a counter
	// record at most once.
	Deltas  []Delta `json:",omitempty"`
	Options WriteOptions
}

// Store is the persistence contract every backend implements and
// dataservice/storetest checks.
//
// Semantics common to all methods:
//   - Arguments follow the rules of the Check* functions (validate.go):
//     kinds of 1 to MaxKindLen bytes of [a-z0-9_], keys of 1 to MaxKeyLen
//     bytes of UTF-8, values of at most MaxValueLen bytes, TTLs of at most
//     MaxTTL. Violations fail with ErrInvalid before any effect.
//   - A record past its expiry is gone: no method returns it or counts it,
//     even before the backend reclaims its space.
//   - Every single-record operation is atomic and linearizable: once a write
//     returns, every later read through any client sees it.
//   - Errors wrap one of the sentinel errors of this package with context;
//     test them with errors.Is.
//   - A method whose context is already done fails with an error wrapping
//     ctx.Err() and has no effect. If the context ends while the method
//     waits, it may fail the same way; a write may then have been applied
//     or not.
//   - Methods are safe for concurrent use.
type Store interface {
	// Get returns the record, or ErrNotFound.
	Get(ctx context.Context, kind Kind, key string) (Record, error)

	// GetMany returns one Record per key, in the order of keys. A key that
	// does not exist yields a zero Record (Exists() == false) rather than an
	// error.
	GetMany(ctx context.Context, kind Kind, keys []string) ([]Record, error)

	// Put creates or replaces a record and returns its new generation.
	// Conditional writes fail with ErrGenerationMismatch or ErrExists.
	Put(ctx context.Context, kind Kind, key string, value []byte, opts WriteOptions) (uint32, error)

	// PutMany applies unconditional and conditional writes, and counter
	// increments (Write.Deltas), in one round trip. Each write is atomic on
	// its own; the batch as a whole is not. When
	// writes fail their own conditions (ErrExists, ErrGenerationMismatch)
	// and every other write was applied, the error is a *WriteErrors that
	// says which (see PerWrite); any other error leaves unknown which
	// writes were applied.
	PutMany(ctx context.Context, writes []Write) error

	// Delete removes a record and reports whether it existed (unexpired).
	// With generation nonzero the delete happens only if the current
	// generation matches, else ErrGenerationMismatch (also when the record
	// does not exist). Delete and DeleteMany remove value and counter
	// records alike.
	Delete(ctx context.Context, kind Kind, key string, generation uint32) (bool, error)

	// DeleteMany removes records and reports, per key, whether each existed.
	// Exactly one of any number of concurrent deletes of the same record
	// reports true.
	DeleteMany(ctx context.Context, kind Kind, keys []string) ([]bool, error)

	// Scan returns up to limit records of the group prefix (which must end
	// with GroupSeparator), in ascending byte order of key, starting after
	// the key after (empty: from the start of the group). after is a whole
	// key, typically the Key of the last record of the previous page. A
	// prefix without the trailing separator or a limit below 1 fails with
	// ErrInvalid.
	Scan(ctx context.Context, kind Kind, prefix, after string, limit int) ([]Record, error)

	// Incr adds delta to each named counter of a counter record, creating the
	// record and the counters at zero as needed, and returns the new values
	// in the order of deltas. The whole increment is atomic. A nonzero ttl
	// (re)sets the record's lifetime; a zero ttl keeps the lifetime of an
	// existing record, and a record Incr creates then lives forever.
	// Negative ttl is invalid (ErrInvalid).
	Incr(ctx context.Context, kind Kind, key string, deltas []Delta, ttl time.Duration) ([]int64, error)

	// Counters returns the counters of a counter record, or ErrNotFound.
	Counters(ctx context.Context, kind Kind, key string) (map[string]int64, error)

	// ListAppend appends items to a list record, creating it as needed,
	// then, if opts.MaxLen is positive, trims it to its last MaxLen items
	// (the oldest go first). It returns the length after the trim. The
	// append and the trim are one atomic step. A nonzero opts.TTL (re)sets
	// the record's lifetime; zero keeps it (a new record lives forever).
	// The items of one call are at most MaxValueLen bytes together; a list
	// that grows past what the backend keeps in one record (MaxValueLen on
	// LevelDB, the namespace's record size on Aerospike) fails with
	// ErrInvalid: bound lists that grow with MaxLen.
	ListAppend(ctx context.Context, kind Kind, key string, items [][]byte, opts ListOptions) (int, error)

	// ListRange returns up to count items of a list record from index
	// start (0 is the oldest; a negative start counts from the end, -1
	// being the newest, and one before the oldest item starts at the
	// oldest), in list order; a start past the end gives no items. It
	// returns ErrNotFound if the record does not exist; count ≤ 0 is
	// ErrInvalid.
	ListRange(ctx context.Context, kind Kind, key string, start, count int) ([][]byte, error)

	// Close releases the backend. Calls after Close fail with ErrClosed.
	Close() error
}

// ListOptions qualify ListAppend.
type ListOptions struct {
	// MaxLen, when positive, bounds the list: after the append the oldest
	// items beyond MaxLen are dropped. Zero means unbounded.
	MaxLen int
	// TTL (re)sets the record's lifetime. Zero keeps it.
	TTL time.Duration
}

// Delta is one counter increment of Incr.
type Delta struct {
	Name  string
	Delta int64
}

// Limits every backend enforces.
const (
	MaxKeyLen   = 256
	MaxValueLen = 1 << 20
)
