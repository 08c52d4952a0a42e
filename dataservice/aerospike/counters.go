package aerospike

import (
	"context"
	"fmt"
	"time"

	as "github.com/aerospike/aerospike-client-go/v7"

	"github.com/heraldpush/herald/dataservice"
)

// Counter records keep all their counters in one map bin, name → integer,
// updated with one MapIncrementOp per delta in a single Operate, which the
// server applies atomically. A bin per counter would hit Aerospike's 15-byte
// bin names (counter names have up to 256 bytes) and, before server 7, its
// cap on the distinct bin names of a namespace; a map has neither. The map
// is key-ordered, so an increment finds its counter by binary search.
var counterMapPolicy = as.NewMapPolicyWithFlags(as.MapOrder.KEY_ORDERED, as.MapWriteFlagsDefault)

// opResults returns the results of the n operations of an Operate on bin:
// the client reports a lone result as the value, several as a list.
func opResults(rec *as.Record, bin string, n int) ([]any, bool) {
	if rec == nil {
		return nil, false
	}
	v, ok := rec.Bins[bin]
	if !ok {
		return nil, false
	}
	if n == 1 {
		return []any{v}, true
	}
	list, ok := v.([]any)
	return list, ok && len(list) == n
}

// toInt64 converts an integer the client decoded.
func toInt64(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int64:
		return n, true
	default:
		return 0, false
	}
}

// Incr implements dataservice.Store with one Operate. It is never retried:
// an increment applied by an attempt that timed out would be applied twice.
func (s *Store) Incr(ctx context.Context, kind dataservice.Kind, key string, deltas []dataservice.Delta, ttl time.Duration) ([]int64, error) {
	const op = "incr"
	if err := s.begin(ctx, op); err != nil {
		return nil, err
	}
	if err := checkKind(s.setPrefix, kind); err != nil {
		return nil, invalid(op, kind, err)
	}
	if err := checkIncr(key, deltas, ttl); err != nil {
		return nil, invalid(op, kind, err)
	}
	k, err := s.newKey(kind, key)
	if err != nil {
		return nil, err
	}
	wp, err := s.pol.writePolicy(ctx)
	if err != nil {
		return nil, contextError(op, err)
	}
	wp.RecordExistsAction = as.UPDATE
	wp.RespondPerEachOp = true
	wp.Expiration = incrExpiration(ttl)
	rec, aerr := s.client.Operate(wp, k, incrOps(deltas)...)
	if aerr != nil {
		return nil, s.fail(ctx, op, kind, key, aerr)
	}
	results, ok := opResults(rec, binCounters, len(deltas))
	if !ok {
		return nil, fmt.Errorf("dataservice/aerospike: incr %s %q: %w: unexpected reply %v", kind, key, dataservice.ErrUnavailable, rec.Bins)
	}
	out := make([]int64, len(deltas))
	for i, r := range results {
		if out[i], ok = toInt64(r); !ok {
			return nil, fmt.Errorf("dataservice/aerospike: incr %s %q: %w: counter %q is %T, not an integer",
				kind, key, dataservice.ErrUnavailable, deltas[i].Name, r)
		}
	}
	return out, nil
}

// incrExpiration is the expiration of an increment with Incr's ttl: zero
// keeps the record's (a record created so lives forever).
func incrExpiration(ttl time.Duration) uint32 {
	if ttl > 0 {
		return expiration(ttl)
	}
	return as.TTLDontUpdate
}

// incrOps are the operations of an increment by deltas, each answering
// its counter's new value.
func incrOps(deltas []dataservice.Delta) []*as.Operation {
	ops := make([]*as.Operation, len(deltas))
	for i, d := range deltas {
		ops[i] = as.MapIncrementOp(counterMapPolicy, binCounters, as.StringValue(d.Name), as.LongValue(d.Delta))
	}
	return ops
}

// batchIncrPolicy is the policy of a counter increment in a PutMany
// batch: update the record or create it (only create it, if CreateOnly),
// with Incr's ttl.
func batchIncrPolicy(opts dataservice.WriteOptions) *as.BatchWritePolicy {
	bp := as.NewBatchWritePolicy()
	bp.SendKey = true
	bp.CommitLevel = as.COMMIT_ALL
	bp.RecordExistsAction = as.UPDATE
	if opts.CreateOnly {
		bp.RecordExistsAction = as.CREATE_ONLY
	}
	bp.Expiration = incrExpiration(opts.TTL)
	return bp
}

// Counters implements dataservice.Store. A record without counters (of
// another shape) is reported missing.
func (s *Store) Counters(ctx context.Context, kind dataservice.Kind, key string) (map[string]int64, error) {
	const op = "counters"
	if err := s.begin(ctx, op); err != nil {
		return nil, err
	}
	if err := checkKind(s.setPrefix, kind); err != nil {
		return nil, invalid(op, kind, err)
	}
	if err := checkKey(key); err != nil {
		return nil, invalid(op, kind, err)
	}
	k, err := s.newKey(kind, key)
	if err != nil {
		return nil, err
	}
	p, err := s.pol.readPolicy(ctx)
	if err != nil {
		return nil, contextError(op, err)
	}
	rec, aerr := s.client.Get(p, k, binCounters)
	if aerr != nil {
		return nil, s.fail(ctx, op, kind, key, aerr)
	}
	v, ok := rec.Bins[binCounters]
	if !ok || v == nil {
		return nil, fmt.Errorf("dataservice/aerospike: counters %s %q: %w", kind, key, dataservice.ErrNotFound)
	}
	out, err := counterMap(v)
	if err != nil {
		return nil, fmt.Errorf("dataservice/aerospike: counters %s %q: %w: %w", kind, key, dataservice.ErrUnavailable, err)
	}
	return out, nil
}

// counterMap converts the counter bin as the client decodes it: a
// key-ordered map comes as []MapPair (in key order), an unordered one as a
// Go map.
func counterMap(v any) (map[string]int64, error) {
	var pairs []as.MapPair
	switch m := v.(type) {
	case []as.MapPair:
		pairs = m
	case map[any]any:
		pairs = make([]as.MapPair, 0, len(m))
		for k, v := range m {
			pairs = append(pairs, as.MapPair{Key: k, Value: v})
		}
	default:
		return nil, fmt.Errorf("counter bin is a %T, not a map", v)
	}
	out := make(map[string]int64, len(pairs))
	for _, p := range pairs {
		name, okName := p.Key.(string)
		value, okValue := toInt64(p.Value)
		if !okName || !okValue {
			return nil, fmt.Errorf("counter %v = %v (%T) is not a name and an integer", p.Key, p.Value, p.Value)
		}
		out[name] = value
	}
	return out, nil
}
