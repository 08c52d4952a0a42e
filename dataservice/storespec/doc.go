// Package storespec opens the dataservice.Store named by a one-line spec,
// the value of the --store flags:
//
//	leveldb:DIR                                   LevelDB in directory DIR
//	DIR                                           the same (a bare path)
//	aerospike://HOST:PORT[,HOST:PORT…]/NAMESPACE  an Aerospike cluster
//
// An Aerospike spec takes optional query parameters: user and password
// (authentication; without them the environment variables
// HERALD_AEROSPIKE_USER and HERALD_AEROSPIKE_PASSWORD are used, which keeps
// the password out of process listings and shell history), and set-prefix
// (Config.SetPrefix, for clusters sharing a namespace):
//
//	aerospike://10.0.0.1:3000,10.0.0.2:3000/herald?set-prefix=staging_
//
// and the client's settings (aerospike.Config; docs/aerospike.md has the
// defaults and what they are for):
//
//	read-mode               auto (default), linearize or session
//	cluster-name            refuse nodes of another cluster
//	connect-timeout         first connection and info commands (2s)
//	total-timeout           each call, retries included (1s)
//	socket-timeout          each attempt of a read (300ms)
//	sleep-between-retries   pause before a read is retried (10ms)
//	read-retries            retries of a read; 0 for none (2)
//	scan-timeout            a secondary-index Scan (10s)
//	index-timeout           creating a secondary index (30s)
//	idle-timeout            closing idle connections (55s)
//	pool-size               most connections per node (256)
//	min-conns-per-node      connections kept open per node (0)
//	batch-size              most keys per batch command (5000)
//
//	aerospike://10.0.0.1/herald?total-timeout=500ms&pool-size=512&min-conns-per-node=32
//
// A LevelDB spec written with its scheme takes block-cache-mb, the size of
// the cache of table blocks, and write-buffer-mb, the size of the in-memory
// table (the defaults are the caller's, see Defaults). A larger block cache
// saves reads from disk under write-heavy load; a larger write buffer lets
// more short-lived records (inbox copies acknowledged within seconds) be
// written and deleted before they reach disk, saving compaction. Each costs
// that much more memory.
//
//	leveldb:/var/lib/herald/store?block-cache-mb=32&write-buffer-mb=16
//
// A port may be omitted (3000). A spec that starts like a URL scheme
// ("name:") must use a known one; write a path containing ':' as
// "leveldb:PATH" or "./PATH". Backends are opened with their default
// configuration otherwise.
package storespec
