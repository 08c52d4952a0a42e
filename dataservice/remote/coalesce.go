package remote

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// coalescer merges concurrent calls of one kind into batches: many callers
// asking for a few items each make one round trip for all of them. A call
// that finds no batch in flight goes out at once; calls made while one is
// in flight wait and go together in the next ("passive feedback": no
// added latency when idle, large batches under load). A connector that
// authenticates a storm of devices asks for each one's record: one call
// per device cost the connector about 125 µs of CPU and the dataservice as
// much again.
type coalescer[K, V any] struct {
	// do answers keys with one value each, in order.
	do  func(ctx context.Context, keys []K) ([]V, error)
	max int // keys per batch; a single call with more goes alone

	mu      sync.Mutex
	busy    bool // a flush goroutine is running
	waiting []*coalescedCall[K, V]
}

type coalescedCall[K, V any] struct {
	ctx  context.Context
	keys []K
	out  []V
	err  error
	done chan struct{}
}

func newCoalescer[K, V any](max int, do func(ctx context.Context, keys []K) ([]V, error)) *coalescer[K, V] {
	return &coalescer[K, V]{do: do, max: max}
}

// call answers keys, alone or in a batch with other calls. It returns
// ctx's error if ctx ends first; the batch then goes on for the others.
func (c *coalescer[K, V]) call(ctx context.Context, keys []K) ([]V, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cc := &coalescedCall[K, V]{ctx: ctx, keys: keys, done: make(chan struct{})}
	c.mu.Lock()
	c.waiting = append(c.waiting, cc)
	start := !c.busy
	c.busy = true
	c.mu.Unlock()
	if start {
		go c.flush()
	}
	select {
	case <-cc.done:
		return cc.out, cc.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// flush sends batches until no call waits.
func (c *coalescer[K, V]) flush() {
	for {
		c.mu.Lock()
		if len(c.waiting) == 0 {
			c.busy = false
			c.mu.Unlock()
			return
		}
		n, keys := 0, 0
		for n < len(c.waiting) && (n == 0 || keys+len(c.waiting[n].keys) <= c.max) {
			keys += len(c.waiting[n].keys)
			n++
		}
		batch := c.waiting[:n:n]
		c.waiting = c.waiting[n:]
		if len(c.waiting) == 0 {
			c.waiting = nil // let the array go
		}
		c.mu.Unlock()
		c.run(batch)
	}
}

// run makes one call for batch and hands each caller its share.
func (c *coalescer[K, V]) run(batch []*coalescedCall[K, V]) {
	live := batch[:0:0]
	var keys []K
	deadline, bounded := time.Time{}, true
	for _, cc := range batch {
		if cc.ctx.Err() != nil {
			close(cc.done) // its caller has returned already
			continue
		}
		live = append(live, cc)
		keys = append(keys, cc.keys...)
		if d, ok := cc.ctx.Deadline(); !ok {
			bounded = false
		} else if d.After(deadline) {
			deadline = d
		}
	}
	if len(live) == 0 {
		return
	}
	// The batch serves every caller: it lasts as long as the most patient
	// of them.
	ctx, cancel := context.Background(), context.CancelFunc(func() {})
	if bounded {
		ctx, cancel = context.WithDeadline(ctx, deadline)
	}
	out, err := c.do(ctx, keys)
	cancel()
	if err == nil && len(out) != len(keys) {
		err = fmt.Errorf("remote: %d answers to %d keys", len(out), len(keys))
	}
	at := 0
	for _, cc := range live {
		if err != nil {
			cc.err = err
		} else {
			cc.out = out[at : at+len(cc.keys) : at+len(cc.keys)]
		}
		at += len(cc.keys)
		close(cc.done)
	}
}
