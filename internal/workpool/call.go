package workpool

import (
	"fmt"
	"net/http"
	"runtime"
	"runtime/debug"
	"sync"
)

// Call calls f and returns when it has returned: on an idle worker, whose
// stack has grown already, or on the caller's goroutine if no worker is
// idle or the pool is closed. It never queues f, so a slow f (one waiting
// on the network) holds up no other, and Call cannot deadlock however f
// blocks, even when f calls Call on the same pool.
//
// Only a pool without a queue (New(n, 0)) can tell that a worker is idle:
// on a pool with one, Call runs f on the caller's goroutine. A worker is
// idle once it waits for a task again, a moment after the call it ran has
// returned: a Call made at once after another may not find it idle yet.
//
// A panic in f is raised again on the caller's goroutine, so that
// recovering callers (such as net/http, which recovers a handler's panic,
// logs it and aborts the request) see it: as a *Panic, which carries the
// stack of the panic, or, for http.ErrAbortHandler (a deliberate abort,
// which net/http does not log), as it is. If f calls runtime.Goexit, so
// does Call.
func (p *Pool) Call(f func()) {
	if cap(p.tasks) > 0 {
		f()
		return
	}
	c := calls.Get().(*call)
	c.f = f
	if p.trySend(c) != nil {
		c.f = nil
		calls.Put(c)
		f()
		return
	}
	v := <-c.done
	c.f = nil
	calls.Put(c)
	switch v := v.(type) {
	case goexit: // the worker is gone; so is the caller
		runtime.Goexit()
	case *Panic:
		if v.Value == http.ErrAbortHandler {
			panic(v.Value)
		}
		panic(v)
	}
}

// Panic is what Call raises when f panicked on a worker: the value f
// panicked with, and the stack of that worker at the panic, which the
// caller's own stack does not show.
type Panic struct {
	Value any
	Stack []byte
}

func (p *Panic) Error() string {
	return fmt.Sprintf("%v [on a pool worker]\n\n%s", p.Value, p.Stack)
}

// Unwrap returns the value f panicked with, if it is an error.
func (p *Panic) Unwrap() error {
	err, _ := p.Value.(error)
	return err
}

// call is the Task of one Call; the caller waits on done for nil, a
// *Panic, or goexit{}. Calls are reused, so Call allocates nothing.
type call struct {
	f    func()
	done chan any
}

var calls = sync.Pool{New: func() any { return &call{done: make(chan any)} }}

// goexit is what a worker reports when f called runtime.Goexit.
type goexit struct{}

// Run runs f on a worker and reports how it ended: nil, what it panicked
// with, or goexit if it called runtime.Goexit, which ends the worker too.
func (c *call) Run() {
	returned := false
	defer func() {
		if returned {
			c.done <- nil
			return
		}
		if v := recover(); v != nil { // since Go 1.21 panic(nil) recovers a *runtime.PanicNilError
			c.done <- &Panic{Value: v, Stack: debug.Stack()}
			return
		}
		c.done <- goexit{}
	}()
	c.f()
	returned = true
}
