// Package aerospike is a dataservice.Store kept in an Aerospike cluster
// (github.com/aerospike/aerospike-client-go/v7), the backend of a Herald
// cluster; a single node uses dataservice/leveldb. docs/aerospike.md has
// the server configuration it needs and the reasoning behind its choices.
//
// # Layout
//
// Each dataservice.Kind is a set (Config.SetPrefix + kind) of the
// namespace Config.Namespace; a record's user key is the Store key, stored
// with the record (SendKey) so that queries return it. Bins:
//
//	v   value records: the value (blob)
//	g   value records whose key has a GroupSeparator: the key's prefixes
//	    up to each separator ("a/b/c" → ["a/", "a/b/"]), a list of strings
//	    under a secondary index (string, list elements) named <set>_g
//	c   counter records: one map, counter name → integer
//	l   list records: the items (list of blobs)
//
// Generations and lifetimes are Aerospike's own: a conditional Put is a
// write with GenerationPolicy EXPECT_GEN_EQUAL, CreateOnly is RecordExists-
// Action CREATE_ONLY, other writes REPLACE the record. A TTL is rounded up
// to whole seconds; zero means TTLDontExpire for Put and TTLDontUpdate
// ("keep") for Incr and ListAppend; TTLs beyond Aerospike's 10-year maximum
// are invalid. The namespace must have default-ttl 0, since the server
// gives a record that a TTLDontUpdate write creates the default TTL, and
// must allow TTLs (nsup-period > 0): Open checks both. Generations are 16
// bits on the server and wrap from 65535 to 1, so a compare-and-set could
// mistake a record rewritten exactly 65535 times in between for an
// unchanged one.
//
// # Operations
//
// Get, Put, Delete, Counters and ListRange are single-record commands;
// Incr is one Operate of MapIncrementOps and ListAppend one Operate of a
// ListAppendOp followed, with a MaxLen, by the removal of all but the last
// MaxLen items: the server applies each atomically. GetMany, PutMany and
// DeleteMany are one batch each per Config.BatchSize keys. Delete is an
// Operate with a delete operation, which treats an expired record not yet
// reclaimed as missing (the plain delete does not). Scan reads the groups
// of directory kinds (Config.DirectoryKinds: inboxes, broadcasts, the
// connector registry, what a device connect and a gateway read) through a
// keyed directory record per group and a batch read (directory.go): no
// secondary-index query. Other kinds are a secondary-index query for the
// records whose g bin contains the prefix; Aerospike returns them
// unordered, so Scan reads the rest of the group (the server drops the keys
// up to after), sorts it, and keeps what follows a page for the next pages
// (snapshots.go), so that paging through a group reads it once.
//
// Validation mirrors the contract and runs before any network call, so a
// Store fails with dataservice.ErrInvalid exactly where LevelDB does; on top
// of that a kind must name a valid set (at most 63 bytes with the prefix,
// no ':' or ';'). Result codes map to the sentinel errors: KEY_NOT_FOUND →
// ErrNotFound, GENERATION_ERROR → ErrGenerationMismatch, KEY_EXISTS →
// ErrExists, parameter and size errors → ErrInvalid, anything else
// (timeouts, network, overload, security) → ErrUnavailable.
//
// # Concurrency and timeouts
//
// A Store is safe for concurrent use; the client keeps a pool of
// connections per node (Config.ConnectionQueueSize). Every call is bounded by
// Config.TotalTimeout (Scan by Config.ScanTimeout), shortened to the
// context's deadline; the client cannot be interrupted, so a canceled
// context stops a call only at its start, and a Scan between records. Reads
// retry (Config.ReadRetries); writes never do, since a retried Incr or
// ListAppend could apply twice and a retried conditional write could fail
// against itself. Reads of a strong-consistency namespace (Enterprise) are
// linearizable unless Config.ReadMode is ReadModeSession; Open reads the
// namespace's mode and sends no consistency flag to an AP namespace, which
// Community Edition would refuse (ENTERPRISE_ONLY). AP namespaces give
// read-your-writes only while no node fails.
package aerospike
