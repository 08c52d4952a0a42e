// Package warmstack runs functions on long-lived goroutines whose stacks
// have already grown, instead of on a fresh goroutine's small one.
//
// net/http starts a goroutine for every request (every HTTP/2 stream), with
// a stack of a few KiB. A push request's path — JSON decoding, then the
// store — needs several times that, and the runtime grows a stack by
// copying it to one twice the size, once per doubling: in the unicast
// benchmark that copying was 8% of the server's CPU, most of it under
// encoding/json. Handing the request to a goroutine that kept its stack
// from earlier requests costs two goroutine switches instead.
//
// Run never queues: when no warm goroutine is idle it runs f on the
// caller's goroutine, so a slow f (one waiting on the network) cannot hold
// up others, and Run cannot deadlock however f blocks.
package warmstack

import (
	"fmt"
	"net/http"
	"runtime"
	"runtime/debug"
	"sync"
)

// Pool is a set of warm goroutines. The zero value is not usable; call New.
type Pool struct {
	idle chan *worker

	mu     sync.Mutex // guards closed
	closed bool
}

type worker struct {
	job  chan func()
	done chan any // nil, a *Panic, or goexit{}
}

// New starts n goroutines (at least 1).
func New(n int) *Pool {
	n = max(n, 1)
	p := &Pool{idle: make(chan *worker, n)}
	for range n {
		w := &worker{job: make(chan func()), done: make(chan any)}
		go w.loop()
		p.idle <- w
	}
	return p
}

// Run calls f and returns when it has returned: on an idle warm goroutine,
// or on the caller's if none is idle or the pool is closed. A panic in f is
// raised again on the caller's goroutine, so that recovering callers (such
// as net/http, which recovers a handler's panic, logs it and aborts the
// request) see it: as a *Panic, which carries the stack of the panic, or,
// for http.ErrAbortHandler (a deliberate abort, which net/http does not
// log), as it is.
func (p *Pool) Run(f func()) {
	var w *worker
	select {
	case w = <-p.idle:
	default:
		f()
		return
	}
	w.job <- f
	switch v := (<-w.done).(type) {
	case nil:
		p.release(w)
	case goexit: // the worker is gone; so is the caller
		runtime.Goexit()
	case *Panic:
		p.release(w)
		if v.Value == http.ErrAbortHandler {
			panic(v.Value)
		}
		panic(v)
	}
}

// Panic is what Run raises when f panicked on a warm goroutine: the value
// f panicked with, and the stack of that goroutine at the panic, which the
// caller's own stack does not show.
type Panic struct {
	Value any
	Stack []byte
}

func (p *Panic) Error() string {
	return fmt.Sprintf("%v [on a warm goroutine]\n\n%s", p.Value, p.Stack)
}

// Unwrap returns the value f panicked with, if it is an error.
func (p *Panic) Unwrap() error {
	err, _ := p.Value.(error)
	return err
}

// goexit is what a worker reports when f called runtime.Goexit.
type goexit struct{}

// release returns w to the idle set, or stops it if the pool is closed.
func (p *Pool) release(w *worker) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		close(w.job)
		return
	}
	p.idle <- w // never blocks: idle holds every worker
}

// Close stops the idle goroutines, and the others as they finish. Run
// keeps working, on the caller's goroutine.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	for {
		select {
		case w := <-p.idle:
			close(w.job)
		default:
			return
		}
	}
}

func (w *worker) loop() {
	for f := range w.job {
		w.call(f)
	}
}

// call runs f and reports how it ended: nil, what it panicked with, or
// goexit if it called runtime.Goexit, which ends this goroutine too.
func (w *worker) call(f func()) {
	returned := false
	defer func() {
		if returned {
			w.done <- nil
			return
		}
		if v := recover(); v != nil { // since Go 1.21 panic(nil) recovers a *runtime.PanicNilError
			w.done <- &Panic{Value: v, Stack: debug.Stack()}
			return
		}
		w.done <- goexit{}
	}()
	f()
	returned = true
}
