// Package leveldb is the embedded, default dataservice.Store: a single
// process keeps its records in a LevelDB directory (github.com/syndtr/goleveldb)
// on local disk. It suits a single-node deployment and development; a cluster
// uses the Aerospike backend instead.
//
// # Layout
//
// Every LevelDB key starts with a one-byte tag:
//
//	'r' kind 0x00 key               value record
//	'c' kind 0x00 key               counter record
//	'x' expiry kind-record-key      expiry index: 'x', 8-byte big-endian unix
//	                                nanoseconds, then the full 'r' or 'c' key
//
// A record's value starts with a 12-byte header, the generation (uint32) and
// the expiry (int64 unix nanoseconds, 0 = never), both big-endian, followed by
// the payload: the caller's bytes for a value record, a list of
// (uvarint name length, name, varint value) for a counter record. A kind
// must have 1 to 64 bytes and no 0x00 byte, so the separator is unambiguous;
// other kinds fail with dataservice.ErrInvalid.
//
// # Expiry
//
// A record past its expiry is invisible at once: every read checks the
// header. Its space is reclaimed by a sweeper goroutine that walks the
// expiry index up to the current time every Config.SweepInterval and deletes
// each record whose header still carries the indexed expiry, so a stale index
// entry left by a rewrite never deletes the newer record.
//
// # Concurrency
//
// A Store is safe for concurrent use. Reads (Get, GetMany, Scan, Counters)
// take no lock: LevelDB applies every write batch atomically. Operations that
// read before they write (Put, PutMany, Delete, DeleteMany, Incr and the
// sweeper) hold a striped mutex chosen by a hash of kind and key, so each
// single-record operation is atomic and linearizable; multi-key operations
// take their stripes in ascending order, so they cannot deadlock. Each
// operation commits its writes as one LevelDB batch. Methods check their
// context before they start and Scan checks it as it iterates; a method
// waiting for a stripe is not interrupted by its context.
//
// # Durability
//
// With Config.Sync false (the default) a write has reached the operating
// system's page cache when it returns: a crash of the process loses nothing,
// a crash of the machine or the kernel may lose the last writes. Sync true
// fsyncs the journal on every write, which survives machine crashes and costs
// most of the write throughput.
//
// # Failures
//
// A full disk or a file system turned read-only makes LevelDB keep the
// error of its journal and fail every later write. The Store then fails
// writes at once with dataservice.ErrUnavailable saying why (Health and
// Stats say it too, and it is logged once), serves reads from the open
// database, and reopens the database by itself once the directory takes
// writes again and has room to replay the journal (recovery.go): every
// write that returned nil before the failure is kept. Open fails, naming
// the cause, on a directory that is read-only or full at start.
package leveldb
