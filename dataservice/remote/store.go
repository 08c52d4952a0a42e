package remote

import (
	"context"
	"fmt"
	"net/http"
	"time"
	"unicode/utf8"

	"github.com/heraldpush/herald/dataservice"
)

// RemoteStore is a dataservice.Store served by dataservice instances over
// HTTP/2.
type RemoteStore struct {
	c *caller
}

var _ dataservice.Store = (*RemoteStore)(nil)

// NewRemoteStore returns a store calling the instances at urls with the
// cluster token; tr nil means NewHTTP2Transport().
func NewRemoteStore(urls []string, token string, tr http.RoundTripper) (*RemoteStore, error) {
	if tr == nil {
		tr = NewHTTP2Transport()
	}
	c, err := newCaller(urls, token, tr)
	if err != nil {
		return nil, err
	}
	return &RemoteStore{c: c}, nil
}

// checkText rejects strings JSON cannot carry unchanged: JSON replaces
// invalid UTF-8 with U+FFFD, which would reach the store as another key.
func checkText(op string, kind dataservice.Kind, strs ...string) error {
	if !utf8.ValidString(string(kind)) {
		return fmt.Errorf("remote: %s: %w: kind is not UTF-8", op, dataservice.ErrInvalid)
	}
	for _, s := range strs {
		if !utf8.ValidString(s) {
			return fmt.Errorf("remote: %s %s: %w: key is not UTF-8", op, kind, dataservice.ErrInvalid)
		}
	}
	return nil
}

// Get implements dataservice.Store.
func (s *RemoteStore) Get(ctx context.Context, kind dataservice.Kind, key string) (dataservice.Record, error) {
	if err := checkText("get", kind, key); err != nil {
		return dataservice.Record{}, err
	}
	var r record
	err := s.c.call(ctx, storePath+"get", true, keyReq{Kind: kind, Key: key}, &r)
	return r.record(), err
}

// GetMany implements dataservice.Store.
func (s *RemoteStore) GetMany(ctx context.Context, kind dataservice.Kind, keys []string) ([]dataservice.Record, error) {
	if err := checkText("get many", kind, keys...); err != nil {
		return nil, err
	}
	var rs []record
	if err := s.c.call(ctx, storePath+"getmany", true, keysReq{Kind: kind, Keys: keys}, &rs); err != nil {
		return nil, err
	}
	return fromRecords(rs), nil
}

// Put implements dataservice.Store.
func (s *RemoteStore) Put(ctx context.Context, kind dataservice.Kind, key string, value []byte, opts dataservice.WriteOptions) (uint32, error) {
	if err := checkText("put", kind, key); err != nil {
		return 0, err
	}
	var gen uint32
	err := s.c.call(ctx, storePath+"put", false, putReq{Kind: kind, Key: key, Value: value, Options: opts}, &gen)
	return gen, err
}

// PutMany implements dataservice.Store.
func (s *RemoteStore) PutMany(ctx context.Context, writes []dataservice.Write) error {
	for _, w := range writes {
		if err := checkText("put many", w.Kind, w.Key); err != nil {
			return err
		}
	}
	return s.c.call(ctx, storePath+"putmany", false, putManyReq{Writes: writes}, &empty{})
}

// Delete implements dataservice.Store.
func (s *RemoteStore) Delete(ctx context.Context, kind dataservice.Kind, key string, generation uint32) (bool, error) {
	if err := checkText("delete", kind, key); err != nil {
		return false, err
	}
	var existed bool
	err := s.c.call(ctx, storePath+"delete", false, keyReq{Kind: kind, Key: key, Generation: generation}, &existed)
	return existed, err
}

// DeleteMany implements dataservice.Store.
func (s *RemoteStore) DeleteMany(ctx context.Context, kind dataservice.Kind, keys []string) ([]bool, error) {
	if err := checkText("delete many", kind, keys...); err != nil {
		return nil, err
	}
	var existed []bool
	if err := s.c.call(ctx, storePath+"deletemany", false, keysReq{Kind: kind, Keys: keys}, &existed); err != nil {
		return nil, err
	}
	return existed, nil
}

// Scan implements dataservice.Store.
func (s *RemoteStore) Scan(ctx context.Context, kind dataservice.Kind, prefix, after string, limit int) ([]dataservice.Record, error) {
	if err := checkText("scan", kind, prefix, after); err != nil {
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
	names := []string{key}
	for _, d := range deltas {
		names = append(names, d.Name)
	}
	if err := checkText("incr", kind, names...); err != nil {
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
	if err := checkText("counters", kind, key); err != nil {
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
	if err := checkText("list append", kind, key); err != nil {
		return 0, err
	}
	var n int
	err := s.c.call(ctx, storePath+"listappend", false, listAppendReq{Kind: kind, Key: key, Items: items, Options: opts}, &n)
	return n, err
}

// ListRange implements dataservice.Store.
func (s *RemoteStore) ListRange(ctx context.Context, kind dataservice.Kind, key string, start, count int) ([][]byte, error) {
	if err := checkText("list range", kind, key); err != nil {
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
