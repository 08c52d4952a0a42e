package actors

import (
	"context"
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/internal/workpool"
)

// Collector aggregates delivery receipts into per-message counter
// increments and writes them in batches: a broadcast acknowledged by 100,000
// devices costs a handful of store writes, not 100,000.
type Collector struct {
	pid  *actor.PID
	root *actor.RootContext
}

var _ Receipts = (*Collector)(nil)

// CollectorConfig configures a Collector.
type CollectorConfig struct {
	// Interval is the longest a receipt waits before it is written. Zero
	// means 50ms.
	Interval time.Duration
	// MaxBatch flushes early once this many distinct counters are pending.
	// Zero means 4096.
	MaxBatch int
}

type counterKey struct {
	id uint64
	c  dataservice.Counter
}

type (
	receipt struct {
		key counterKey
		n   int64
	}
	flushTick struct{}
	flushDone struct {
		deltas []dataservice.CounterDelta
		err    error
	}
	flushAll struct{ done chan error }
)

// NewCollector starts a collector writing through data on workers.
func NewCollector(system *actor.ActorSystem, cfg CollectorConfig, data dataservice.Client, workers *workpool.Pool, log *slog.Logger) *Collector {
	if cfg.Interval <= 0 {
		cfg.Interval = 50 * time.Millisecond
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 4096
	}
	pid := system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return &collector{cfg: cfg, data: data, workers: workers, log: log, root: system.Root, pending: make(map[counterKey]int64)}
	}))
	return &Collector{pid: pid, root: system.Root}
}

// Add implements Receipts. It never blocks.
func (c *Collector) Add(id uint64, counter dataservice.Counter, n int64) {
	c.root.Send(c.pid, &receipt{key: counterKey{id, counter}, n: n})
}

// Flush writes every receipt added before the call and waits for the write.
func (c *Collector) Flush(ctx context.Context) error {
	done := make(chan error, 1)
	c.root.Send(c.pid, &flushAll{done: done})
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// collector is the collector actor. Its fields are owned by its Receive.
type collector struct {
	cfg     CollectorConfig
	data    dataservice.Client
	workers *workpool.Pool
	log     *slog.Logger
	root    *actor.RootContext

	pending   map[counterKey]int64
	scheduled bool // a flushTick is on its way
	flushing  bool // a write is in progress
	waiting   []chan error
}

func (c *collector) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *receipt:
		c.pending[m.key] += m.n
		if len(c.pending) >= c.cfg.MaxBatch {
			c.flush(ctx)
		} else {
			c.schedule(ctx, c.cfg.Interval)
		}
	case *flushTick:
		c.scheduled = false
		c.flush(ctx)
	case *flushDone:
		c.flushing = false
		if m.err != nil {
			// Put the increments back; they go out with a later flush.
			c.log.Warn("writing delivery counters failed; will retry", "err", m.err)
			for _, d := range m.deltas {
				c.pending[counterKey{d.MessageID, d.Counter}] += d.N
			}
			c.release(m.err) // a waiting Flush learns of the failure
			c.schedule(ctx, time.Second)
			return
		}
		if len(c.pending) == 0 {
			c.release(nil)
		} else if len(c.waiting) > 0 || len(c.pending) >= c.cfg.MaxBatch {
			c.flush(ctx)
		}
	case *flushAll:
		c.waiting = append(c.waiting, m.done)
		if !c.flushing {
			if len(c.pending) == 0 {
				c.release(nil)
				return
			}
			c.flush(ctx)
		}
	}
}

// schedule makes sure a flushTick arrives within after.
func (c *collector) schedule(ctx actor.Context, after time.Duration) {
	if c.scheduled {
		return
	}
	c.scheduled = true
	self, root := ctx.Self(), c.root
	time.AfterFunc(after, func() { root.Send(self, &flushTick{}) })
}

func (c *collector) release(err error) {
	for _, w := range c.waiting {
		w <- err
	}
	c.waiting = nil
}

// flush writes the pending increments, one write at a time.
func (c *collector) flush(ctx actor.Context) {
	if c.flushing || len(c.pending) == 0 {
		return
	}
	deltas := make([]dataservice.CounterDelta, 0, len(c.pending))
	for k, n := range c.pending {
		deltas = append(deltas, dataservice.CounterDelta{MessageID: k.id, Counter: k.c, N: n})
	}
	self, root, data := ctx.Self(), c.root, c.data
	err := c.workers.TrySubmit(func() {
		root.Send(self, &flushDone{deltas: deltas, err: data.AddCounters(context.Background(), deltas)})
	})
	if err != nil {
		c.schedule(ctx, c.cfg.Interval) // the pool is full: keep them pending
		return
	}
	clear(c.pending)
	c.flushing = true
}
