// Package cache keeps recently read dataservice records in the processes
// that read them (gateway, connectors): apps, devices, sessions, message
// bodies.
//
// Values are opaque byte slices tagged with a version, the generation of
// the store record they were read from (0 is never a valid version), and a
// source, the dataservice instance whose invalidation stream covers the
// key. Three caches share one API (the Cache interface):
//
//   - Memory, tier 1: a sharded map with a per-shard heap that orders
//     entries by a Policy score (last use, expiry or frequency) under a
//     byte budget.
//   - Spill, tier 2 alone: values in a LevelDB on local disk under a byte
//     cap, oldest written evicted first.
//   - Tiered, both: values over a size threshold, and entries evicted from
//     tier 1, go to tier 2; a tier-2 hit moves back into tier 1.
//
// # Staying correct when others write
//
// A process that writes a record tells every caching process through the
// invalidation stream (docs/design.md, "Caches and invalidation"); each
// calls Invalidate with the key and generation, DropSource when it may
// have missed invalidations from one dataservice instance, or Clear when
// it may have missed anything. A read-through must
// not put back a value it read before such a write: it takes a Ticket with
// Reserve before reading the store and stores with SetWith, which refuses
// if the key was invalidated, its source dropped or the cache cleared
// since the Reserve. This is exact (no stale value can be stored), whatever
// the timing; Set, for write-through of a value the caller knows is
// current, only compares versions.
//
// # Concurrency
//
// Every method of Memory, Spill and Tiered is safe for concurrent use.
// Tier-1 Gets on different keys proceed in parallel (shards take read
// locks; Get does not allocate). Tier-2 disk reads and writes are never
// done under a shard lock.
//
// Config.OnEvict is called synchronously by the goroutine whose call made
// the entry leave (a Set that evicted, a Get that found it expired, an
// Invalidate ...), after that call released every lock: it may call back
// into the cache, but it delays its caller, so it should be quick.
//
// Values are shared, not copied: Set keeps the slice it is given and Get
// returns that same slice. Neither the caller of Set nor of Get may modify
// it afterwards.
package cache
