package aerospike

import (
	"strings"
	"sync"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

// Snapshots. A Scan of a large group through a secondary index reads the
// whole group, in no order, to return its first page; paging through it
// would read it again for every page (quadratic: the audience of a tag of
// a million devices, resolved a thousand at a time, would read 500 million
// records). So Scan keeps what follows its page, sorted, under the cursor
// the caller will pass next (kind, prefix, the page's last key), and the
// next page comes from memory and moves the snapshot on:
//
//   - a snapshot lives until it is idle for Config.SnapshotIdle (each page
//     renews it) or its last page is read;
//   - a write through this Store (Put, PutMany, Delete, DeleteMany) to a
//     key of its group drops it, so this process reads its own writes; a
//     write by another process after the first page may be missed by the
//     following pages, as it could be by a page read a moment earlier;
//   - snapshots hold at most Config.SnapshotRecords records in all; a Scan
//     that would exceed the budget keeps no snapshot (its later pages query
//     again), and a group larger than the whole budget is paged the old
//     way: one query per page, keeping the limit smallest keys.

// snapKey is the cursor a snapshot waits for.
type snapKey struct {
	kind          dataservice.Kind
	prefix, after string
}

type snapshot struct {
	recs []scanned // ascending keys, all after the cursor
	idle time.Time // dropped when the clock passes it
	size int       // records charged to the budget (len(recs) when made)
}

// snapshots holds the snapshots of a Store. Safe for concurrent use.
type snapshots struct {
	limit int // the budget in records

	mu    sync.Mutex
	byKey map[snapKey]*snapshot
	held  int // records charged by the snapshots in byKey
	// epochs count the writes through the Store, per kind: a Scan keeps
	// its snapshot only if none of its kind ended while it read (room,
	// then put).
	epochs map[dataservice.Kind]uint64
}

func newSnapshots(limit int) *snapshots {
	return &snapshots{limit: limit, byKey: make(map[snapKey]*snapshot), epochs: make(map[dataservice.Kind]uint64)}
}

// room returns how many records a new snapshot of kind may hold, and the
// epoch to give put.
func (c *snapshots) room(kind dataservice.Kind) (int, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expireLocked(time.Now())
	return max(c.limit-c.held, 0), c.epochs[kind]
}

// put keeps recs for the cursor k if the budget allows and no write ended
// since room returned epoch.
func (c *snapshots) put(k snapKey, recs []scanned, idle time.Duration, epoch uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held+len(recs) > c.limit || epoch != c.epochs[k.kind] {
		return
	}
	if old, ok := c.byKey[k]; ok {
		c.held -= old.size
	}
	c.byKey[k] = &snapshot{recs: recs, idle: time.Now().Add(idle), size: len(recs)}
	c.held += len(recs)
}

// next returns the page of up to limit records that follows the cursor
// k, if a snapshot waits for it, and moves the snapshot to the page's
// last key (or drops it if fewer than min records remain).
func (c *snapshots) next(k snapKey, limit, minRest int, idle time.Duration) ([]scanned, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.byKey) == 0 {
		return nil, false
	}
	now := time.Now()
	c.expireLocked(now)
	snap, ok := c.byKey[k]
	if !ok {
		return nil, false
	}
	delete(c.byKey, k)
	page := snap.recs[:min(limit, len(snap.recs))]
	rest := snap.recs[len(page):]
	if len(rest) == 0 || len(rest) < minRest {
		// Little is left: the next Scan queries it.
		c.held -= snap.size
		return page, true
	}
	snap.recs, snap.idle = rest, now.Add(idle)
	c.byKey[snapKey{kind: k.kind, prefix: k.prefix, after: page[len(page)-1].key}] = snap
	return page, true
}

// expireLocked drops the snapshots idle past their time.
func (c *snapshots) expireLocked(now time.Time) {
	for k, snap := range c.byKey {
		if now.After(snap.idle) {
			delete(c.byKey, k)
			c.held -= snap.size
		}
	}
}

// invalidate drops the snapshots of kind whose group holds key.
func (c *snapshots) invalidate(kind dataservice.Kind, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.epochs[kind]++
	if len(c.byKey) == 0 {
		return
	}
	for k, snap := range c.byKey {
		if k.kind == kind && strings.HasPrefix(key, k.prefix) {
			delete(c.byKey, k)
			c.held -= snap.size
		}
	}
}
