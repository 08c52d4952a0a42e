package storetest

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

// ErrKilled is what a Dying store's writes fail with once it has died.
var ErrKilled = fmt.Errorf("storetest: %w: killed", dataservice.ErrUnavailable)

// Dying is a store as a killed process leaves it: it applies the writes
// it is allowed (Left; each Put, PutMany, Delete, DeleteMany and Incr is
// one), then fails every write with ErrKilled. The write that dies is
// applied if Applied is set. Reads go on.
type Dying struct {
	dataservice.Store
	Left    atomic.Int64
	Applied bool
}

func (s *Dying) write(apply func() error) error {
	switch n := s.Left.Add(-1); {
	case n >= 0:
		return apply()
	case n == -1 && s.Applied:
		_ = apply()
	}
	return ErrKilled
}

// Put implements dataservice.Store.
func (s *Dying) Put(ctx context.Context, k dataservice.Kind, key string, v []byte, o dataservice.WriteOptions) (uint32, error) {
	var g uint32
	err := s.write(func() (err error) { g, err = s.Store.Put(ctx, k, key, v, o); return err })
	return g, err
}

// PutMany implements dataservice.Store.
func (s *Dying) PutMany(ctx context.Context, w []dataservice.Write) error {
	return s.write(func() error { return s.Store.PutMany(ctx, w) })
}

// Delete implements dataservice.Store.
func (s *Dying) Delete(ctx context.Context, k dataservice.Kind, key string, gen uint32) (bool, error) {
	var ok bool
	err := s.write(func() (err error) { ok, err = s.Store.Delete(ctx, k, key, gen); return err })
	return ok, err
}

// DeleteMany implements dataservice.Store.
func (s *Dying) DeleteMany(ctx context.Context, k dataservice.Kind, keys []string) ([]bool, error) {
	var ok []bool
	err := s.write(func() (err error) { ok, err = s.Store.DeleteMany(ctx, k, keys); return err })
	return ok, err
}

// Incr implements dataservice.Store.
func (s *Dying) Incr(ctx context.Context, k dataservice.Kind, key string, d []dataservice.Delta, ttl time.Duration) ([]int64, error) {
	var out []int64
	err := s.write(func() (err error) { out, err = s.Store.Incr(ctx, k, key, d, ttl); return err })
	return out, err
}
