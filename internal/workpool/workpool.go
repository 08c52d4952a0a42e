package workpool

import (
	"context"
	"errors"
	"sync"
)

// ErrFull is returned by TrySubmit when no worker or queue slot is free.
var ErrFull = errors.New("workpool: queue full")

// ErrClosed is returned by TrySubmit and Submit after Close.
var ErrClosed = errors.New("workpool: closed")

// A Task is work for a pool.
type Task interface{ Run() }

// Func is a function as a Task (a func in an interface does not allocate).
type Func func()

// Run calls f.
func (f Func) Run() { f() }

// Pool is a fixed set of workers taking tasks from one channel.
type Pool struct {
	tasks   chan Task // buffered: the queue; unbuffered: hand-off to idle workers
	workers sync.WaitGroup

	mu     sync.RWMutex // guards closed against sends on a closed channel
	closed bool
}

// New starts workers goroutines (at least 1) taking tasks from a queue of
// at most queue tasks. With no queue (zero), a task is handed over only to
// a worker that waits for one: the pool Call needs.
func New(workers, queue int) *Pool {
	workers = max(workers, 1)
	p := &Pool{tasks: make(chan Task, max(queue, 0))}
	p.workers.Add(workers)
	for range workers {
		go p.work()
	}
	return p
}

// work runs tasks until Close. A task that calls runtime.Goexit ends this
// goroutine too; a new worker then takes its place.
func (p *Pool) work() {
	closed := false
	defer func() {
		if closed {
			p.workers.Done()
			return
		}
		go p.work()
	}()
	for t := range p.tasks {
		t.Run()
	}
	closed = true
}

// TrySubmit queues job, or fails at once with ErrFull when the queue is at
// its bound (on a pool without a queue: when no worker is idle): the
// policy for callers that must never wait, such as actors.
func (p *Pool) TrySubmit(job func()) error { return p.trySend(Func(job)) }

func (p *Pool) trySend(t Task) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return ErrClosed
	}
	select {
	case p.tasks <- t:
		return nil
	default:
		return ErrFull
	}
}

// Submit queues job, waiting for room until ctx is done: the backpressure
// policy for callers that may wait, such as HTTP handlers.
func (p *Pool) Submit(ctx context.Context, job func()) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return ErrClosed
	}
	select {
	case p.tasks <- Func(job):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Go queues t, or runs it on a goroutine of its own when the queue is full
// or the pool is closed: it never waits and never fails, so a task that
// hands over another (an actor posting to an actor) cannot deadlock the
// pool, and tasks handed over after Close still run. It takes a Task
// rather than a func so that what is handed over again and again (a
// mailbox) can hand over itself, without a closure each time.
func (p *Pool) Go(t Task) {
	p.mu.RLock()
	if !p.closed {
		select {
		case p.tasks <- t:
			p.mu.RUnlock()
			return
		default:
		}
	}
	p.mu.RUnlock()
	go t.Run()
}

// Len returns the number of queued tasks not yet started.
func (p *Pool) Len() int { return len(p.tasks) }

// Close stops taking tasks, and waits until the workers have run the tasks
// already queued, finished the calls under way, and ended. Afterwards
// TrySubmit and Submit fail with ErrClosed, Go starts a goroutine for each
// task, and Call runs f on its caller's goroutine. Close may be called
// more than once.
func (p *Pool) Close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.tasks)
	}
	p.mu.Unlock()
	p.workers.Wait()
}
