package aerospike

import (
	"container/heap"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	as "github.com/aerospike/aerospike-client-go/v7"
	"github.com/aerospike/aerospike-client-go/v7/types"

	"github.com/heraldpush/herald/dataservice"
)

// maxIndexName is the longest secondary index name Aerospike accepts.
const maxIndexName = 63

// indexName returns the name of the secondary index on the group bin of
// set: set + "_g", or a hash of set if that is too long.
func indexName(set string) string {
	if name := set + "_" + binGroups; len(name) <= maxIndexName {
		return name
	}
	sum := sha256.Sum256([]byte(set))
	return binGroups + "_" + hex.EncodeToString(sum[:16])
}

// ensureIndex makes sure the secondary index on the group bin of kind's set
// exists and is built, creating it the first time this Store needs it.
func (s *Store) ensureIndex(ctx context.Context, kind dataservice.Kind) error {
	if _, ok := s.indexed.Load(kind); ok {
		return nil
	}
	s.indexMu.Lock()
	defer s.indexMu.Unlock()
	if _, ok := s.indexed.Load(kind); ok {
		return nil
	}
	if err := s.createIndex(ctx, kind); err != nil {
		return err
	}
	s.indexed.Store(kind, struct{}{})
	return nil
}

// createIndex creates the string index on the elements of the group bin
// (a list) of kind's set and waits, within ctx and Config.IndexTimeout, for
// the server to index the records already there. An index that exists
// already is fine.
func (s *Store) createIndex(ctx context.Context, kind dataservice.Kind) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.IndexTimeout)
	defer cancel()
	set := s.set(kind)
	name := indexName(set)
	what := fmt.Sprintf("create index %s on %s.%s", name, s.namespace, set)
	total, _, err := budget(ctx, s.cfg.ConnectTimeout, 0)
	if err != nil {
		return contextError(what, err)
	}
	wp := as.NewWritePolicy(0, 0)
	wp.TotalTimeout = total
	task, aerr := s.client.CreateComplexIndex(wp, s.namespace, set, name, binGroups, as.STRING, as.ICT_LIST)
	if aerr != nil {
		if resultCode(aerr) != types.INDEX_FOUND {
			return translate(ctx, what, aerr)
		}
		// Made earlier, by this process or another, and maybe still building.
		task = as.NewIndexTask(s.client.Cluster(), s.namespace, name)
	}
	if done, aerr := task.IsDone(); aerr == nil && done {
		return nil
	}
	select {
	case aerr := <-task.OnComplete(): // polls every 100ms or more
		if aerr != nil {
			return translate(ctx, what, aerr)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("dataservice/aerospike: %s: the server is still indexing existing records: %w: %w",
			what, dataservice.ErrUnavailable, ctx.Err())
	}
}

// scanned is a record a Scan keeps while it reads the group: only what a
// dataservice.Record needs, so that the client's record (its bin map and
// key) is garbage at once rather than held, with a million others, for
// the collector to trace.
type scanned struct {
	key        string
	value      []byte
	generation uint32
	expiration uint32
}

// pageHeap is a max-heap on key of the smallest keys seen so far.
type pageHeap []scanned

func (h pageHeap) Len() int           { return len(h) }
func (h pageHeap) Less(i, j int) bool { return h[i].key > h[j].key }
func (h pageHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *pageHeap) Push(x any)        { *h = append(*h, x.(scanned)) }
func (h *pageHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// Scan implements dataservice.Store. The groups of directory kinds are read
// through their directories (directory.go). Others with a secondary-index
// query: every value record stores in its group bin the prefixes of its key
// that end with GroupSeparator, and the query asks for the records whose
// group bin contains prefix. Aerospike returns them in no particular order,
// so Scan reads the whole group (less the keys up to after, which the
// server filters out) and sorts it. When more than Config.SnapshotMin
// records follow the page, it keeps them (a snapshot, see snapshots.go) for
// the next pages, so that paging through a group of N records costs one
// query of N records rather than N/limit of them; past the memory budget
// of Config.SnapshotRecords it keeps only the limit smallest keys in a heap.
func (s *Store) Scan(ctx context.Context, kind dataservice.Kind, prefix, after string, limit int) ([]dataservice.Record, error) {
	const op = "scan"
	if err := s.begin(ctx, op); err != nil {
		return nil, err
	}
	if err := checkKind(s.setPrefix, kind); err != nil {
		return nil, invalid(op, kind, err)
	}
	if err := checkScan(prefix, after, limit); err != nil {
		return nil, invalid(op, kind, err)
	}
	if after > prefix && !strings.HasPrefix(after, prefix) {
		return nil, nil // after is past every key of the group
	}
	if s.isDirKind(kind) {
		return s.scanDirectory(ctx, kind, prefix, after, limit)
	}
	if recs, ok := s.snaps.next(snapKey{kind: kind, prefix: prefix, after: after}, limit, s.cfg.SnapshotMin, s.cfg.SnapshotIdle); ok {
		return s.pageRecords(recs), nil
	}
	if err := s.ensureIndex(ctx, kind); err != nil {
		return nil, err
	}
	qp, err := s.pol.queryPolicy(ctx)
	if err != nil {
		return nil, contextError(op, err)
	}
	if after >= prefix {
		qp.FilterExpression = as.ExpGreater(as.ExpKey(as.ExpTypeSTRING), as.ExpStringVal(s.keyPrefix+after))
	}
	stmt := as.NewStatement(s.namespace, s.set(kind), binValue)
	if aerr := stmt.SetFilter(as.NewContainsFilter(binGroups, as.ICT_LIST, s.keyPrefix+prefix)); aerr != nil {
		return nil, s.fail(ctx, op, kind, prefix, aerr)
	}
	rs, aerr := s.client.Query(qp, stmt)
	if aerr != nil {
		if resultCode(aerr) == types.INDEX_NOTFOUND {
			s.indexed.Delete(kind) // dropped behind our back: recreate next time
		}
		return nil, s.fail(ctx, op, kind, prefix, aerr)
	}
	defer rs.Close()

	// Read the group into memory while it fits the snapshot budget, so
	// that the following pages need no query; past it, keep only the page.
	budgetLeft, epoch := s.snaps.room(kind)
	var all []scanned
	var page pageHeap
	keep := func(item scanned) {
		key := item.key
		if page == nil {
			all = append(all, item)
			if len(all) <= budgetLeft || len(all) <= limit {
				return
			}
			// Over budget: from here on keep only the limit smallest.
			slices.SortFunc(all, compareScanned)
			page = append(make(pageHeap, 0, limit), all[:limit]...)
			heap.Init(&page)
			all = nil
			return
		}
		if key < page[0].key {
			page[0] = item
			heap.Fix(&page, 0)
		}
	}
	results := rs.Results()
	for {
		var res *as.Result
		select {
		case r, ok := <-results:
			if !ok {
				if page != nil {
					slices.SortFunc(page, compareScanned)
					return s.pageRecords(page), nil
				}
				slices.SortFunc(all, compareScanned)
				if len(all) <= limit {
					return s.pageRecords(all), nil
				}
				if rest := all[limit:]; len(rest) >= s.cfg.SnapshotMin {
					s.snaps.put(snapKey{kind: kind, prefix: prefix, after: all[limit-1].key}, rest, s.cfg.SnapshotIdle, epoch)
				}
				return s.pageRecords(all[:limit]), nil
			}
			res = r
		case <-ctx.Done():
			return nil, fmt.Errorf("dataservice/aerospike: %s %s %q: %w", op, kind, prefix, ctx.Err())
		}
		if res.Err != nil {
			if resultCode(res.Err) == types.INDEX_NOTFOUND {
				s.indexed.Delete(kind)
			}
			return nil, s.fail(ctx, op, kind, prefix, res.Err)
		}
		key, ok := s.userKey(res.Record.Key)
		if !ok || !strings.HasPrefix(key, prefix) || key <= after {
			continue // another store's record (tests), or filtered out
		}
		value, ok := res.Record.Bins[binValue].([]byte)
		if !ok {
			continue
		}
		keep(scanned{key: key, value: value, generation: res.Record.Generation, expiration: res.Record.Expiration})
	}
}

func compareScanned(a, b scanned) int { return strings.Compare(a.key, b.key) }

// pageRecords returns the records of page, which is in ascending key order.
func (s *Store) pageRecords(page []scanned) []dataservice.Record {
	if len(page) == 0 {
		return nil
	}
	out := make([]dataservice.Record, len(page))
	for i, p := range page {
		out[i] = dataservice.Record{Key: p.key, Value: p.value, Generation: p.generation, Expires: expires(p.expiration)}
	}
	return out
}
