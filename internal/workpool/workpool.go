// Package workpool runs blocking work (store calls, HTTP) for actors on a
// bounded set of goroutines behind a bounded queue, so that an actor's
// Receive never blocks on I/O and a slow store cannot grow goroutines without
// limit. Results go back to the submitter as actor messages, sent by the job.
//
// A Pool is safe for concurrent use.
package workpool

import (
	"context"
	"errors"
	"sync"
)

// ErrFull is returned by TrySubmit when the queue is at its bound.
var ErrFull = errors.New("workpool: queue full")

// ErrClosed is returned after Close.
var ErrClosed = errors.New("workpool: closed")

// Pool is a fixed set of workers draining a bounded queue of jobs.
type Pool struct {
	jobs chan func()
	wg   sync.WaitGroup

	mu     sync.RWMutex // guards closed against sends on a closed channel
	closed bool
}

// New starts workers goroutines that take jobs from a queue holding at most
// queue jobs. Both must be positive.
func New(workers, queue int) *Pool {
	p := &Pool{jobs: make(chan func(), queue)}
	p.wg.Add(workers)
	for range workers {
		go p.run()
	}
	return p
}

func (p *Pool) run() {
	defer p.wg.Done()
	for job := range p.jobs {
		job()
	}
}

// TrySubmit queues job, or fails at once with ErrFull when the queue is at
// its bound: the policy for callers that must never wait, such as actors.
func (p *Pool) TrySubmit(job func()) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return ErrClosed
	}
	select {
	case p.jobs <- job:
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
	case p.jobs <- job:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Len returns the number of queued jobs not yet started.
func (p *Pool) Len() int { return len(p.jobs) }

// Close stops accepting jobs, runs every job already queued, and waits for
// the workers to finish.
func (p *Pool) Close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.jobs)
	}
	p.mu.Unlock()
	p.wg.Wait()
}
