package warmstack

import (
	"bytes"
	"errors"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// onWorker reports whether it runs on one of the pool's goroutines, whose
// stacks start at worker.loop.
func onWorker() bool {
	buf := make([]byte, 8192)
	n := runtime.Stack(buf, false)
	return bytes.Contains(buf[:n], []byte("warmstack.(*worker).loop"))
}

func TestRunUsesAWarmGoroutineAndWaits(t *testing.T) {
	p := New(2)
	defer p.Close()
	var ran, warm bool
	p.Run(func() { ran, warm = true, onWorker() })
	if !ran || !warm {
		t.Fatalf("ran %v, on a worker %v; want both", ran, warm)
	}
}

// With every worker busy, Run does not wait for one: it runs f at once on
// the caller's goroutine.
func TestRunsInlineWhenAllAreBusy(t *testing.T) {
	p := New(1)
	defer p.Close()
	release, busy := make(chan struct{}), make(chan struct{})
	go p.Run(func() { close(busy); <-release })
	<-busy
	warm := true
	p.Run(func() { warm = onWorker() })
	close(release)
	if warm {
		t.Fatal("ran on a worker although the only one was busy")
	}
}

func TestPanicReachesTheCaller(t *testing.T) {
	p := New(1)
	defer p.Close()
	boom := errors.New("boom")
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
		p.Run(func() { panic(boom) })
		t.Fatal("Run returned after a panic")
	}()
	// net/http's deliberate abort passes as it is: net/http compares it.
	func() {
		defer func() {
			if v := recover(); v != http.ErrAbortHandler {
				t.Fatalf("recovered %#v, want http.ErrAbortHandler", v)
			}
		}()
		p.Run(func() { panic(http.ErrAbortHandler) })
	}()
	// The worker survived and is idle again.
	var warm bool
	p.Run(func() { warm = onWorker() })
	if !warm {
		t.Fatal("the worker did not come back after the panic")
	}
}

func TestGoexitEndsTheCaller(t *testing.T) {
	p := New(1)
	defer p.Close()
	done := make(chan bool)
	go func() {
		returned := true
		defer func() { done <- returned }()
		p.Run(runtime.Goexit)
		returned = false // not reached
	}()
	if !<-done {
		t.Fatal("Run returned after runtime.Goexit")
	}
	// The pool lost that worker; Run still works, inline.
	ran := false
	p.Run(func() { ran = true })
	if !ran {
		t.Fatal("Run after Goexit did not run")
	}
}

func TestRunAfterCloseRunsInline(t *testing.T) {
	p := New(2)
	p.Close()
	p.Close() // idempotent
	var ran, warm bool
	p.Run(func() { ran, warm = true, onWorker() })
	if !ran || warm {
		t.Fatalf("ran %v, on a worker %v; want inline", ran, warm)
	}
}

// Close while jobs run: they finish, their workers stop instead of going
// back to the idle set, and nothing leaks or blocks (run with -race).
func TestConcurrentRunsAndClose(t *testing.T) {
	p := New(4)
	var n atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for range 200 {
				p.Run(func() { n.Add(1) })
			}
		})
	}
	p.Close()
	wg.Wait()
	if n.Load() != 32*200 {
		t.Fatalf("ran %d, want %d", n.Load(), 32*200)
	}
}

// The point of the package: a deep call on a warm goroutine does not grow
// its stack again.
func BenchmarkDeepCall(b *testing.B) {
	deep := func() { recurse(64) }
	b.Run("new-goroutine", func(b *testing.B) {
		for b.Loop() {
			done := make(chan struct{})
			go func() { deep(); close(done) }()
			<-done
		}
	})
	b.Run("warm", func(b *testing.B) {
		p := New(1)
		defer p.Close()
		for b.Loop() {
			done := make(chan struct{})
			go func() { p.Run(deep); close(done) }()
			<-done
		}
	})
}

//go:noinline
func recurse(n int) byte {
	var pad [256]byte
	pad[n%256] = byte(n)
	if n == 0 {
		return pad[0]
	}
	return recurse(n-1) + pad[n%256]
}
