package actors

import (
	"runtime"
	"sync"
)

// Dispatcher runs actor mailboxes on a fixed set of long-lived goroutines.
// protoactor's default dispatcher starts a goroutine per mailbox run; a run
// of a connection actor (a Noise handshake) then grows the new goroutine's
// stack every time, which cost a tenth of a connector's CPU in a connection
// storm. Here stacks grow once.
//
// Schedule never blocks: when the queue is full it falls back to a new
// goroutine, so an actor posting to another actor can never deadlock the
// pool.
type Dispatcher struct {
	runs       chan runner
	throughput int
	wg         sync.WaitGroup

	mu     sync.RWMutex // guards closed against sends on a closed channel
	closed bool
}

// NewDispatcher starts workers goroutines (zero means 2×GOMAXPROCS) taking
// mailbox runs from a queue of queue runs (zero means 65536). Each run
// handles up to throughput messages before yielding (zero means 300, as
// protoactor's default).
func NewDispatcher(workers, queue, throughput int) *Dispatcher {
	if workers <= 0 {
		workers = 2 * runtime.GOMAXPROCS(0)
	}
	if queue <= 0 {
		queue = 1 << 16
	}
	if throughput <= 0 {
		throughput = 300
	}
	d := &Dispatcher{runs: make(chan runner, queue), throughput: throughput}
	d.wg.Add(workers)
	for range workers {
		go func() {
			defer d.wg.Done()
			for r := range d.runs {
				r.run()
			}
		}()
	}
	return d
}

// NewActorDispatcher starts a dispatcher for the mailbox of one actor (a
// router, a writer): one worker, and a queue of a few runs, since a
// mailbox has at most one run queued (the default queue of 65,536 slots
// would keep a MiB).
func NewActorDispatcher() *Dispatcher { return NewDispatcher(1, 4, 0) }

// A runner is a mailbox run. The mailboxes of this package are runners
// themselves, so scheduling one needs no closure per mailbox; other runs
// are funcRunners (a func in an interface does not allocate).
type runner interface{ run() }

type funcRunner func()

func (f funcRunner) run() { f() }

// Schedule implements actor.Dispatcher. After Close, runs get goroutines of
// their own, so late messages still reach their actors.
func (d *Dispatcher) Schedule(run func()) { d.schedule(funcRunner(run)) }

func (d *Dispatcher) schedule(r runner) {
	d.mu.RLock()
	if !d.closed {
		select {
		case d.runs <- r:
			d.mu.RUnlock()
			return
		default:
		}
	}
	d.mu.RUnlock()
	go r.run()
}

// Throughput implements actor.Dispatcher.
func (d *Dispatcher) Throughput() int { return d.throughput }

// Close stops the workers after the runs already queued.
func (d *Dispatcher) Close() {
	d.mu.Lock()
	if !d.closed {
		d.closed = true
		close(d.runs)
	}
	d.mu.Unlock()
	d.wg.Wait()
}
