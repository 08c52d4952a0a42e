package workpool

import (
	"errors"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestCallUsesAnIdleWorkerAndWaits(t *testing.T) {
	p := New(2, 0)
	defer p.Close()
	waitIdle(t, 2)
	var ran, warm bool
	p.Call(func() { ran, warm = true, onWorker() })
	if !ran || !warm {
		t.Fatalf("ran %v, on a worker %v; want both", ran, warm)
	}
}

// With every worker busy, Call does not wait for one: it runs f at once on
// the caller's goroutine.
func TestCallRunsInlineWhenAllAreBusy(t *testing.T) {
	p := New(1, 0)
	defer p.Close()
	waitIdle(t, 1)
	release, busy := make(chan struct{}), make(chan bool)
	go p.Call(func() { busy <- onWorker(); <-release })
	if !<-busy {
		t.Fatal("the first call did not run on the idle worker")
	}
	warm := true
	p.Call(func() { warm = onWorker() })
	close(release)
	if warm {
		t.Fatal("ran on a worker although the only one was busy")
	}
}

// On a pool with a queue, an idle worker cannot be told from a free queue
// slot, so Call never hands f over: it could wait behind queued tasks.
func TestCallOnAPoolWithAQueueRunsInline(t *testing.T) {
	p := New(2, 4)
	defer p.Close()
	warm := true
	p.Call(func() { warm = onWorker() })
	if warm {
		t.Fatal("ran on a worker of a pool with a queue")
	}
}

// A call from a worker goes to another idle worker, or runs inline: never
// waits for itself.
func TestCallFromAWorkerDoesNotDeadlock(t *testing.T) {
	p := New(1, 0)
	defer p.Close()
	depth := 0
	var nest func()
	nest = func() {
		if depth++; depth < 3 {
			p.Call(nest)
		}
	}
	p.Call(nest)
	if depth != 3 {
		t.Fatalf("depth %d, want 3", depth)
	}
}

func TestPanicReachesTheCaller(t *testing.T) {
	p := New(1, 0)
	defer p.Close()
	boom := errors.New("boom")
	waitIdle(t, 1)
	func() {
		defer func() {
			v := recover()
			pe, ok := v.(*Panic)
			if !ok || pe.Value != boom || !errors.Is(pe, boom) {
				t.Fatalf("recovered %#v, want a *Panic of %v", v, boom)
			}
			// Where it panicked, which the caller's stack does not show.
			if !strings.Contains(string(pe.Stack), "TestPanicReachesTheCaller") || !strings.Contains(pe.Error(), "boom") {
				t.Fatalf("the panic's stack and message lack its origin:\n%s", pe.Error())
			}
		}()
		p.Call(func() { panic(boom) })
		t.Fatal("Call returned after a panic")
	}()
	waitIdle(t, 1)
	// net/http's deliberate abort passes as it is: net/http compares it.
	func() {
		defer func() {
			if v := recover(); v != http.ErrAbortHandler {
				t.Fatalf("recovered %#v, want http.ErrAbortHandler", v)
			}
		}()
		p.Call(func() { panic(http.ErrAbortHandler) })
	}()
	// The worker survived and is idle again.
	waitIdle(t, 1)
	var warm bool
	p.Call(func() { warm = onWorker() })
	if !warm {
		t.Fatal("the worker did not come back after the panic")
	}
}

func TestGoexitEndsTheCaller(t *testing.T) {
	p := New(1, 0)
	defer p.Close()
	waitIdle(t, 1)
	done := make(chan bool)
	go func() {
		returned := true
		defer func() { done <- returned }()
		p.Call(runtime.Goexit)
		returned = false // not reached
	}()
	if !<-done {
		t.Fatal("Call returned after runtime.Goexit")
	}
	// The worker is gone; a new one took its place.
	waitIdle(t, 1)
	var warm bool
	p.Call(func() { warm = onWorker() })
	if !warm {
		t.Fatal("no new worker after runtime.Goexit")
	}
}

func TestCallAfterCloseRunsInline(t *testing.T) {
	p := New(2, 0)
	p.Close()
	var ran, warm bool
	p.Call(func() { ran, warm = true, onWorker() })
	if !ran || warm {
		t.Fatalf("ran %v, on a worker %v; want inline", ran, warm)
	}
}

// Close while calls run: they finish, Close waits for them, and nothing
// leaks or blocks (run with -race).
func TestConcurrentCallsAndClose(t *testing.T) {
	p := New(4, 0)
	var n atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for range 200 {
				p.Call(func() { n.Add(1) })
			}
		})
	}
	p.Close()
	wg.Wait()
	if n.Load() != 32*200 {
		t.Fatalf("ran %d, want %d", n.Load(), 32*200)
	}
}
