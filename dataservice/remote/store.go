package remote

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/internal/h2c"
)

// RemoteStore is a dataservice.Store served by dataservice instances over
// HTTP/2.
type RemoteStore struct {
	c *caller
	// gets coalesces concurrent Gets of one kind into GetMany calls:
	// Kind → *coalescer[string, dataservice.Record].
	gets sync.Map
}

// maxCoalesced bounds the keys of one coalesced call.
const maxCoalesced = 512

var _ dataservice.Store = (*RemoteStore)(nil)

// NewRemoteStore returns a store calling the instances at urls with the
// cluster token; tr nil means h2c.NewTransport().
func NewRemoteStore(urls []string, token string, tr http.RoundTripper) (*RemoteStore, error) {
	if tr == nil {
		tr = h2c.NewTransport()
	}
	c, err := newCaller(urls, token, tr)
	if err != nil {
		return nil, err
	}
	return &RemoteStore{c: c}, nil
}

// check validates arguments before a call, with the contract's own rules
// (dataservice.Check*): an invalid call fails here exactly as in process,
// without a round trip. It matters beyond speed: JSON would replace
// invalid UTF-8 with U+FFFD, and the server would see another key.
func check(op string, err error) error {
	if err != nil {
		return fmt.Errorf("remote: %s: %w", op, err)
	}
	return nil
}

// Get implements dataservice.Store.
func (s *RemoteStore) Get(ctx context.Context, kind dataservice.Kind, key string) (dataservice.Record, error) {
	if err := check("get", dataservice.CheckKey(kind, key)); err != nil {
		return dataservice.Record{}, err
	}
	// Concurrent Gets of a kind go out together, as one GetMany.
	rs, err := s.getter(kind).call(ctx, []string{key})
	switch {
	case err != nil && ctx.Err() != nil:
		return dataservice.Record{}, fmt.Errorf("remote: get %s %q: %w", kind, key, err)
	case err != nil:
		return dataservice.Record{}, err // GetMany's, which says what failed
	case !rs[0].Exists():
		return dataservice.Record{}, fmt.Errorf("remote: get %s %q: %w", kind, key, dataservice.ErrNotFound)
	}
	return rs[0], nil
}

// getter returns the coalescer of Gets of kind.
func (s *RemoteStore) getter(kind dataservice.Kind) *coalescer[string, dataservice.Record] {
	if g, ok := s.gets.Load(kind); ok {
		return g.(*coalescer[string, dataservice.Record])
	}
	g, _ := s.gets.LoadOrStore(kind, newCoalescer(maxCoalesced, func(ctx context.Context, keys []string) ([]dataservice.Record, error) {
		return s.GetMany(ctx, kind, keys)
	}))
	return g.(*coalescer[string, dataservice.Record])
}

// GetMany implements dataservice.Store.
func (s *RemoteStore) GetMany(ctx context.Context, kind dataservice.Kind, keys []string) ([]dataservice.Record, error) {
	for _, key := range keys {
		if err := check("get many", dataservice.CheckKey(kind, key)); err != nil {
			return nil, err
		}
	}
	var rs []record
	if err := s.c.call(ctx, storePath+"getmany", true, keysReq{Kind: kind, Keys: keys}, &rs); err != nil {
		return nil, err
	}
	return fromRecords(rs), nil
}

// Put implements dataservice.Store.
func (s *RemoteStore) Put(ctx context.Context, kind dataservice.Kind, key string, value []byte, opts dataservice.WriteOptions) (uint32, error) {
	if err := check("put", dataservice.CheckWrite(kind, key, value, opts)); err != nil {
		return 0, err
	}
	var gen uint32
	err := s.c.call(ctx, storePath+"put", false, putReq{Kind: kind, Key: key, Value: value, Options: opts}, &gen)
	return gen, err
}

// PutMany implements dataservice.Store.
func (s *RemoteStore) PutMany(ctx context.Context, writes []dataservice.Write) error {
	if err := check("put many", dataservice.CheckWrites(writes)); err != nil {
		return err
	}
	var resp putManyResp
	if err := s.c.call(ctx, storePath+"putmany", false, putManyReq{Writes: writes}, &resp); err != nil {
		return err
	}
	if len(resp.Failed) == 0 {
		return nil
	}
	we := &dataservice.WriteErrors{Errs: make([]error, len(writes))}
	for _, f := range resp.Failed {
		if f.Index < 0 || f.Index >= len(writes) {
			return fmt.Errorf("remote: put many: %w: the answer names write %d of %d", dataservice.ErrUnavailable, f.Index, len(writes))
		}
		we.Errs[f.Index] = fmt.Errorf("remote: put many: write %d: %w: %s", f.Index, errorOf(f.Code), f.Message)
	}
	return we
}

// Delete implements dataservice.Store.
func (s *RemoteStore) Delete(ctx context.Context, kind dataservice.Kind, key string, generation uint32) (bool, error) {
	if err := check("delete", dataservice.CheckKey(kind, key)); err != nil {
		return false, err
	}
	var existed bool
	err := s.c.call(ctx, storePath+"delete", false, keyReq{Kind: kind, Key: key, Generation: generation}, &existed)
	return existed, err
}

// DeleteMany implements dataservice.Store.
func (s *RemoteStore) DeleteMany(ctx context.Context, kind dataservice.Kind, keys []string) ([]bool, error) {
	for _, key := range keys {
		if err := check("delete many", dataservice.CheckKey(kind, key)); err != nil {
			return nil, err
		}
	}
	var existed []bool
	if err := s.c.call(ctx, storePath+"deletemany", false, keysReq{Kind: kind, Keys: keys}, &existed); err != nil {
		return nil, err
	}
	return existed, nil
}

// Scan implements dataservice.Store.
func (s *RemoteStore) Scan(ctx context.Context, kind dataservice.Kind, prefix, after string, limit int) ([]dataservice.Record, error) {
	if err := check("scan", dataservice.CheckScan(kind, prefix, after, limit)); err != nil {
		return nil, err
	}
	var rs []record
	if err := s.c.call(ctx, storePath+"scan", true, scanReq{Kind: kind, Prefix: prefix, After: after, Limit: limit}, &rs); err != nil {
		return nil, err
	}
	return fromRecords(rs), nil
}

// Incr implements dataservice.Store.
func (s *RemoteStore) Incr(ctx context.Context, kind dataservice.Kind, key string, deltas []dataservice.Delta, ttl time.Duration) ([]int64, error) {
	if err := check("incr", dataservice.CheckIncr(kind, key, deltas, ttl)); err != nil {
		return nil, err
	}
	var out []int64
	if err := s.c.call(ctx, storePath+"incr", false, incrReq{Kind: kind, Key: key, Deltas: deltas, TTL: ttl}, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Counters implements dataservice.Store.
func (s *RemoteStore) Counters(ctx context.Context, kind dataservice.Kind, key string) (map[string]int64, error) {
	if err := check("counters", dataservice.CheckKey(kind, key)); err != nil {
		return nil, err
	}
	var out map[string]int64
	if err := s.c.call(ctx, storePath+"counters", true, keyReq{Kind: kind, Key: key}, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// ListAppend implements dataservice.Store.
func (s *RemoteStore) ListAppend(ctx context.Context, kind dataservice.Kind, key string, items [][]byte, opts dataservice.ListOptions) (int, error) {
	if err := check("list append", dataservice.CheckListAppend(kind, key, items, opts)); err != nil {
		return 0, err
	}
	var n int
	err := s.c.call(ctx, storePath+"listappend", false, listAppendReq{Kind: kind, Key: key, Items: items, Options: opts}, &n)
	return n, err
}

// ListRange implements dataservice.Store.
func (s *RemoteStore) ListRange(ctx context.Context, kind dataservice.Kind, key string, start, count int) ([][]byte, error) {
	if err := check("list range", dataservice.CheckListRange(kind, key, count)); err != nil {
		return nil, err
	}
	var out [][]byte
	if err := s.c.call(ctx, storePath+"listrange", true, listRangeReq{Kind: kind, Key: key, Start: start, Count: count}, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Close releases the store's connections; later calls fail with
// ErrClosed. The instances are not affected.
func (s *RemoteStore) Close() error {
	if s.c.closed.Load() {
		return fmt.Errorf("remote: close: %w", dataservice.ErrClosed)
	}
	s.c.close()
	return nil
}
