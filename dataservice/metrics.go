package dataservice

import (
	"context"
	"errors"
	"time"

	"github.com/heraldpush/herald/internal/metrics"
)

// Metrics are the dataservice's metrics: store operations by kind and
// outcome and their durations (of a Store wrapped by InstrumentStore), and
// the invalidation stream's lag.
func Metrics() *metrics.Set { return set }

var set = metrics.NewSet()

var (
	storeOps = set.CounterVec("store", "operations_total",
		"Store operations, by operation (get, get_many, put, put_many, delete, delete_many, scan, incr, counters, list_append, list_range) and outcome: ok; expected (not found, exists, generation mismatch: a caller's answer, not a failure); error.",
		"op", "outcome")
	storeSeconds = set.HistogramVec("store", "operation_seconds",
		"Store operation durations, by operation.", metrics.LatencyBuckets, "op")

	invalidationSeconds = set.Histogram("dataservice", "invalidation_seconds",
		"Invalidation lag: from publishing a write of a cached record to every caching process acknowledging that it dropped the key (the write waits that long).",
		metrics.LatencyBuckets)
	invalidationsPublished = set.Counter("dataservice", "invalidations_total",
		"Keys published on the invalidation stream.")
	followersCut = set.Counter("dataservice", "invalidation_followers_cut_total",
		"Caching processes cut off because they did not acknowledge an invalidation within the lease.")
)

// Store operations, each with its children.
const (
	opGet = iota
	opGetMany
	opPut
	opPutMany
	opDelete
	opDeleteMany
	opScan
	opIncr
	opCounters
	opListAppend
	opListRange
	opCount
)

var opNames = [opCount]string{"get", "get_many", "put", "put_many", "delete", "delete_many", "scan", "incr", "counters", "list_append", "list_range"}

type opMetrics struct {
	ok, expected, failed metrics.Counter
	seconds              metrics.Histogram
}

var ops = func() (out [opCount]opMetrics) {
	for i, name := range opNames {
		out[i] = opMetrics{
			ok: storeOps.With(name, "ok"), expected: storeOps.With(name, "expected"), failed: storeOps.With(name, "error"),
			seconds: storeSeconds.With(name),
		}
	}
	return out
}()

// done records an operation started at start (metrics.Now) that ended
// with err.
func (m *opMetrics) done(start time.Time, err error) {
	if !metrics.Enabled {
		return
	}
	m.seconds.Since(start)
	switch {
	case err == nil:
		m.ok.Inc()
	case errors.Is(err, ErrNotFound), errors.Is(err, ErrExists), errors.Is(err, ErrGenerationMismatch):
		m.expected.Inc()
	default:
		if _, ok := errors.AsType[*WriteErrors](err); ok {
			m.expected.Inc() // writes that failed their own conditions
			return
		}
		m.failed.Inc()
	}
}

// InstrumentStore returns s with its operations counted and timed (see
// Metrics). It adds two clock reads and two atomic adds per call.
func InstrumentStore(s Store) Store {
	if !metrics.Enabled {
		return s
	}
	return instrumented{s}
}

type instrumented struct{ s Store }

var _ Store = instrumented{}

func (i instrumented) Get(ctx context.Context, kind Kind, key string) (Record, error) {
	start := metrics.Now()
	r, err := i.s.Get(ctx, kind, key)
	ops[opGet].done(start, err)
	return r, err
}

func (i instrumented) GetMany(ctx context.Context, kind Kind, keys []string) ([]Record, error) {
	start := metrics.Now()
	r, err := i.s.GetMany(ctx, kind, keys)
	ops[opGetMany].done(start, err)
	return r, err
}

func (i instrumented) Put(ctx context.Context, kind Kind, key string, value []byte, opts WriteOptions) (uint32, error) {
	start := metrics.Now()
	g, err := i.s.Put(ctx, kind, key, value, opts)
	ops[opPut].done(start, err)
	return g, err
}

func (i instrumented) PutMany(ctx context.Context, writes []Write) error {
	start := metrics.Now()
	err := i.s.PutMany(ctx, writes)
	ops[opPutMany].done(start, err)
	return err
}

func (i instrumented) Delete(ctx context.Context, kind Kind, key string, generation uint32) (bool, error) {
	start := metrics.Now()
	ok, err := i.s.Delete(ctx, kind, key, generation)
	ops[opDelete].done(start, err)
	return ok, err
}

func (i instrumented) DeleteMany(ctx context.Context, kind Kind, keys []string) ([]bool, error) {
	start := metrics.Now()
	ok, err := i.s.DeleteMany(ctx, kind, keys)
	ops[opDeleteMany].done(start, err)
	return ok, err
}

func (i instrumented) Scan(ctx context.Context, kind Kind, prefix, after string, limit int) ([]Record, error) {
	start := metrics.Now()
	r, err := i.s.Scan(ctx, kind, prefix, after, limit)
	ops[opScan].done(start, err)
	return r, err
}

func (i instrumented) Incr(ctx context.Context, kind Kind, key string, deltas []Delta, ttl time.Duration) ([]int64, error) {
	start := metrics.Now()
	v, err := i.s.Incr(ctx, kind, key, deltas, ttl)
	ops[opIncr].done(start, err)
	return v, err
}

func (i instrumented) Counters(ctx context.Context, kind Kind, key string) (map[string]int64, error) {
	start := metrics.Now()
	v, err := i.s.Counters(ctx, kind, key)
	ops[opCounters].done(start, err)
	return v, err
}

func (i instrumented) ListAppend(ctx context.Context, kind Kind, key string, items [][]byte, opts ListOptions) (int, error) {
	start := metrics.Now()
	n, err := i.s.ListAppend(ctx, kind, key, items, opts)
	ops[opListAppend].done(start, err)
	return n, err
}

func (i instrumented) ListRange(ctx context.Context, kind Kind, key string, start, count int) ([][]byte, error) {
	began := metrics.Now()
	v, err := i.s.ListRange(ctx, kind, key, start, count)
	ops[opListRange].done(began, err)
	return v, err
}

func (i instrumented) Close() error { return i.s.Close() }
