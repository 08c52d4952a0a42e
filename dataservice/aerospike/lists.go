package aerospike

import (
	"context"
	"fmt"
	"math"

	as "github.com/aerospike/aerospike-client-go/v7"

	"github.com/heraldpush/herald/dataservice"
)

// List records keep their items in one unordered list bin of blobs.
// ListAppend appends and trims in one Operate, which the server applies
// atomically: a ListAppendOp, then, with a MaxLen, a remove of everything
// but the last MaxLen items (ListRemoveByIndexRangeOp at -MaxLen, inverted).
// Index ranges of these operations are "relaxed": a range reaching before
// the first item is cut at the first item, so a list shorter than MaxLen
// loses nothing.
var listPolicy = as.NewListPolicy(as.ListOrderUnordered, as.ListWriteFlagsDefault)

// maxTrim bounds the MaxLen ListAppend trims to: a list cannot hold more
// items (each takes at least two bytes of a record of at most 8 MiB), and a
// larger index would overflow the server's 32-bit arithmetic.
const maxTrim = math.MaxInt32

// ListAppend implements dataservice.Store with one Operate. It is never
// retried: an append applied by an attempt that timed out would be applied
// twice.
func (s *Store) ListAppend(ctx context.Context, kind dataservice.Kind, key string, items [][]byte, opts dataservice.ListOptions) (int, error) {
	const op = "list append"
	if err := s.begin(ctx, op); err != nil {
		return 0, err
	}
	if err := checkKind(s.setPrefix, kind); err != nil {
		return 0, invalid(op, kind, err)
	}
	if err := checkListAppend(key, items, opts); err != nil {
		return 0, invalid(op, kind, err)
	}
	k, err := s.newKey(kind, key)
	if err != nil {
		return 0, err
	}
	wp, err := s.pol.writePolicy(ctx)
	if err != nil {
		return 0, contextError(op, err)
	}
	wp.RecordExistsAction = as.UPDATE
	wp.RespondPerEachOp = true
	wp.Expiration = as.TTLDontUpdate // a record created so lives forever
	if opts.TTL > 0 {
		wp.Expiration = expiration(opts.TTL)
	}
	values := make([]any, len(items))
	for i, it := range items {
		values[i] = as.BytesValue(it)
	}
	ops := []*as.Operation{as.ListAppendWithPolicyOp(listPolicy, binList, values...)}
	trim := opts.MaxLen > 0 && opts.MaxLen <= maxTrim
	if trim {
		ops = append(ops, as.ListRemoveByIndexRangeOp(binList, -opts.MaxLen, as.ListReturnTypeNone|as.ListReturnTypeInverted))
	}
	rec, aerr := s.client.Operate(wp, k, ops...)
	if aerr != nil {
		return 0, s.fail(ctx, op, kind, key, aerr)
	}
	results, ok := opResults(rec, binList, len(ops))
	var n int64
	if ok {
		n, ok = toInt64(results[0]) // the length after the append
	}
	if !ok {
		return 0, fmt.Errorf("dataservice/aerospike: list append %s %q: %w: unexpected reply %v", kind, key, dataservice.ErrUnavailable, rec.Bins)
	}
	if trim {
		n = min(n, int64(opts.MaxLen))
	}
	return int(n), nil
}

// ListRange implements dataservice.Store with one read Operate. A start at
// or past the end yields no items. A negative start reads from there to the
// end (at most -start items, relaxed to the first item if the list is
// shorter) and keeps the first count, so a start before the first item
// starts at the first item.
func (s *Store) ListRange(ctx context.Context, kind dataservice.Kind, key string, start, count int) ([][]byte, error) {
	const op = "list range"
	if err := s.begin(ctx, op); err != nil {
		return nil, err
	}
	if err := checkKind(s.setPrefix, kind); err != nil {
		return nil, invalid(op, kind, err)
	}
	if err := checkKey(key); err != nil {
		return nil, invalid(op, kind, err)
	}
	if count <= 0 {
		return nil, invalid(op, kind, fmt.Errorf("%w: count must be positive", dataservice.ErrInvalid))
	}
	k, err := s.newKey(kind, key)
	if err != nil {
		return nil, err
	}
	wp, err := s.pol.readOpPolicy(ctx)
	if err != nil {
		return nil, contextError(op, err)
	}
	var get *as.Operation
	if start >= 0 {
		get = as.ListGetByIndexRangeCountOp(binList, start, min(count, maxTrim), as.ListReturnTypeValue)
	} else {
		get = as.ListGetByIndexRangeOp(binList, max(start, -maxTrim), as.ListReturnTypeValue)
	}
	rec, aerr := s.client.Operate(wp, k, get)
	if aerr != nil {
		return nil, s.fail(ctx, op, kind, key, aerr)
	}
	v, ok := rec.Bins[binList]
	if !ok || v == nil {
		return nil, fmt.Errorf("dataservice/aerospike: list range %s %q: %w", kind, key, dataservice.ErrNotFound)
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("dataservice/aerospike: list range %s %q: %w: list bin is a %T", kind, key, dataservice.ErrUnavailable, v)
	}
	list = list[:min(len(list), count)]
	out := make([][]byte, len(list))
	for i, it := range list {
		if out[i], ok = it.([]byte); !ok { // the client decodes each blob into a new slice
			return nil, fmt.Errorf("dataservice/aerospike: list range %s %q: %w: item %d is a %T", kind, key, dataservice.ErrUnavailable, i, it)
		}
	}
	return out, nil
}
