package dataservice

import (
	"context"
	"encoding/binary"
	"time"

	"github.com/heraldpush/herald/cache"
)

// CachedStore is a Store whose reads of CachedKinds go through a cache.
//
// The cache stays exact: every write through the CachedStore invalidates
// what it wrote before it returns, and a read that raced with a write never
// caches what it read (Reserve/SetWith tickets). Writes by other processes
// reach the cache through the invalidation stream (see Source); until it
// is connected to every source, serving reports false and reads bypass
// the cache.
type CachedStore struct {
	Store
	cache   cache.Cache
	source  uint16
	serving func() bool
}

var _ Store = (*CachedStore)(nil)

// NewCachedStore puts c in front of store. Entries are tagged with source.
// serving, if not nil, is consulted before every cached read; when it
// reports false the read goes to the store and nothing is cached.
func NewCachedStore(store Store, c cache.Cache, source uint16, serving func() bool) *CachedStore {
	return &CachedStore{Store: store, cache: c, source: source, serving: serving}
}

// Cache returns the cache in front of the store.
func (s *CachedStore) Cache() cache.Cache { return s.cache }

func (s *CachedStore) cached(kind Kind) bool {
	return CachedKinds[kind] && (s.serving == nil || s.serving())
}

// CacheKey is the cache key of a record: kind, 0x00, key.
func CacheKey(kind Kind, key string) string {
	return string(kind) + "\x00" + key
}

// A cached entry is the record's expiry (unix nanoseconds, 0: never) and
// its value.
func encodeEntry(r Record) []byte {
	b := make([]byte, 8, 8+len(r.Value))
	if !r.Expires.IsZero() {
		binary.BigEndian.PutUint64(b, uint64(r.Expires.UnixNano()))
	}
	return append(b, r.Value...)
}

func decodeEntry(key string, v []byte, version uint32) Record {
	r := Record{Key: key, Value: append([]byte{}, v[8:]...), Generation: version}
	if e := binary.BigEndian.Uint64(v); e != 0 {
		r.Expires = time.Unix(0, int64(e))
	}
	return r
}

// keep caches r under a ticket; it lives in the cache as long as in the
// store.
func (s *CachedStore) keep(t cache.Ticket, r Record) {
	if !r.Exists() {
		return
	}
	var opts cache.SetOptions
	if !r.Expires.IsZero() {
		if opts.TTL = time.Until(r.Expires); opts.TTL <= 0 {
			return
		}
	}
	s.cache.SetWith(t, encodeEntry(r), r.Generation, opts)
}

// Get implements Store.
func (s *CachedStore) Get(ctx context.Context, kind Kind, key string) (Record, error) {
	if !s.cached(kind) {
		return s.Store.Get(ctx, kind, key)
	}
	ck := CacheKey(kind, key)
	if v, ver, ok := s.cache.Get(ck); ok {
		return decodeEntry(key, v, ver), nil
	}
	t := s.cache.Reserve(ck, s.source)
	r, err := s.Store.Get(ctx, kind, key)
	if err == nil {
		s.keep(t, r)
	}
	return r, err
}

// GetMany implements Store.
func (s *CachedStore) GetMany(ctx context.Context, kind Kind, keys []string) ([]Record, error) {
	if !s.cached(kind) {
		return s.Store.GetMany(ctx, kind, keys)
	}
	out := make([]Record, len(keys))
	var (
		missing []string
		where   []int
		tickets []cache.Ticket
	)
	for i, key := range keys {
		ck := CacheKey(kind, key)
		if v, ver, ok := s.cache.Get(ck); ok {
			out[i] = decodeEntry(key, v, ver)
			continue
		}
		missing = append(missing, key)
		where = append(where, i)
		tickets = append(tickets, s.cache.Reserve(ck, s.source))
	}
	if len(missing) == 0 {
		return out, nil
	}
	got, err := s.Store.GetMany(ctx, kind, missing)
	if err != nil {
		return nil, err
	}
	for j, r := range got {
		out[where[j]] = r
		s.keep(tickets[j], r)
	}
	return out, nil
}

// invalidate drops what a write changed, whether the write succeeded or
// not (a failed write may still have been applied).
func (s *CachedStore) invalidate(kind Kind, key string, generation uint32) {
	if CachedKinds[kind] {
		s.cache.Invalidate(CacheKey(kind, key), generation)
	}
}

// Put implements Store.
func (s *CachedStore) Put(ctx context.Context, kind Kind, key string, value []byte, opts WriteOptions) (uint32, error) {
	gen, err := s.Store.Put(ctx, kind, key, value, opts)
	s.invalidate(kind, key, gen)
	return gen, err
}

// PutMany implements Store.
func (s *CachedStore) PutMany(ctx context.Context, writes []Write) error {
	err := s.Store.PutMany(ctx, writes)
	for _, w := range writes {
		s.invalidate(w.Kind, w.Key, 0)
	}
	return err
}

// Delete implements Store.
func (s *CachedStore) Delete(ctx context.Context, kind Kind, key string, generation uint32) (bool, error) {
	existed, err := s.Store.Delete(ctx, kind, key, generation)
	s.invalidate(kind, key, 0)
	return existed, err
}

// DeleteMany implements Store.
func (s *CachedStore) DeleteMany(ctx context.Context, kind Kind, keys []string) ([]bool, error) {
	existed, err := s.Store.DeleteMany(ctx, kind, keys)
	for _, key := range keys {
		s.invalidate(kind, key, 0)
	}
	return existed, err
}
