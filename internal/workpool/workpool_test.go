package workpool

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// onWorker reports whether it runs on one of a pool's workers, whose
// stacks start at Pool.work.
func onWorker() bool {
	buf := make([]byte, 8192)
	n := runtime.Stack(buf, false)
	return bytes.Contains(buf[:n], []byte("workpool.(*Pool).work"))
}

// checkFor polls cond until it holds, failing the test after a while.
func checkFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// waitIdle waits until n workers (of any pool not yet closed) wait for a
// task: only then does a pool without a queue hand one over.
func waitIdle(t testing.TB, n int) {
	t.Helper()
	checkFor(t, "idle workers", func() bool {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		idle := 0
		for g := range bytes.SplitSeq(buf, []byte("\n\n")) {
			if bytes.Contains(g, []byte(" [chan receive")) && bytes.Contains(g, []byte("workpool.(*Pool).work(")) {
				idle++
			}
		}
		return idle >= n
	})
}

// busy occupies the pool's only worker until the returned func is called.
func busy(t testing.TB, p *Pool) (release func()) {
	t.Helper()
	started, done := make(chan struct{}), make(chan struct{})
	if err := p.Submit(context.Background(), func() { close(started); <-done }); err != nil {
		t.Fatal(err)
	}
	<-started
	return func() { close(done) }
}

func TestRunsEveryJobBeforeClose(t *testing.T) {
	p := New(4, 100)
	var n atomic.Int64
	for range 100 {
		if err := p.Submit(context.Background(), func() { n.Add(1) }); err != nil {
			t.Fatal(err)
		}
	}
	p.Close()
	p.Close() // idempotent
	if n.Load() != 100 {
		t.Fatalf("ran %d jobs, want 100", n.Load())
	}
	if err := p.TrySubmit(func() {}); !errors.Is(err, ErrClosed) {
		t.Fatalf("TrySubmit after Close: %v", err)
	}
	if err := p.Submit(context.Background(), func() {}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Submit after Close: %v", err)
	}
}

func TestBoundIsEnforced(t *testing.T) {
	p := New(1, 2)
	release := busy(t, p) // the worker is busy; the queue is empty
	for i := range 2 {
		if err := p.TrySubmit(func() {}); err != nil {
			t.Fatalf("job %d: %v", i, err)
		}
	}
	if err := p.TrySubmit(func() {}); !errors.Is(err, ErrFull) {
		t.Fatalf("third queued job: %v, want ErrFull", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := p.Submit(ctx, func() {}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Submit on a full queue: %v, want deadline exceeded", err)
	}
	release()
	p.Close()
}

// Without a queue, a job is taken only by an idle worker.
func TestWithoutAQueueOnlyIdleWorkersTakeJobs(t *testing.T) {
	p := New(1, 0)
	defer p.Close()
	release := busy(t, p)
	if err := p.TrySubmit(func() {}); !errors.Is(err, ErrFull) {
		t.Fatalf("TrySubmit with the only worker busy: %v, want ErrFull", err)
	}
	release()
	waitIdle(t, 1)
	ran := make(chan bool, 1)
	if err := p.TrySubmit(func() { ran <- onWorker() }); err != nil {
		t.Fatalf("TrySubmit with the worker idle: %v", err)
	}
	if !<-ran {
		t.Fatal("the job did not run on the worker")
	}
}

// runner is a Task that reports where it ran.
type runner struct {
	ran chan bool
}

func (r *runner) Run() { r.ran <- onWorker() }

// Go queues while there is room and overflows to a goroutine of its own
// when the queue is full, so it never waits.
func TestGoOverflowsToAGoroutineWhenFull(t *testing.T) {
	p := New(1, 1)
	defer p.Close()
	release := busy(t, p)
	queued, overflow := &runner{ran: make(chan bool, 1)}, &runner{ran: make(chan bool, 1)}
	p.Go(queued)
	if p.Len() != 1 {
		t.Fatalf("%d tasks queued, want 1", p.Len())
	}
	p.Go(overflow) // the queue is full: runs at once, though the worker is busy
	select {
	case onWorker := <-overflow.ran:
		if onWorker {
			t.Fatal("the overflowing task ran on the worker")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the overflowing task waited for the worker")
	}
	release()
	if !<-queued.ran {
		t.Fatal("the queued task did not run on the worker")
	}
}

// After Close, what is handed over with Go still runs, on goroutines of
// its own: late messages still reach their actors.
func TestGoAfterCloseRunsOnItsOwnGoroutine(t *testing.T) {
	p := New(2, 4)
	p.Close()
	r := &runner{ran: make(chan bool, 1)}
	p.Go(r)
	select {
	case onWorker := <-r.ran:
		if onWorker {
			t.Fatal("ran on a worker after Close")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a task handed over after Close did not run")
	}
}

// Go from concurrent goroutines while Close: every task runs once, and
// nothing sends on the closed channel (run with -race).
func TestConcurrentGoAndClose(t *testing.T) {
	p := New(2, 8)
	var n atomic.Int64
	var wg sync.WaitGroup
	task := Func(func() { n.Add(1) })
	for range 8 {
		wg.Go(func() {
			for range 500 {
				p.Go(task)
			}
		})
	}
	p.Close()
	wg.Wait()
	checkFor(t, "every task to run", func() bool { return n.Load() == 8*500 })
}

// A task that calls runtime.Goexit ends its worker; a new one takes its
// place, and Close still waits for every worker.
func TestGoexitInATaskReplacesTheWorker(t *testing.T) {
	p := New(1, 4)
	if err := p.TrySubmit(runtime.Goexit); err != nil {
		t.Fatal(err)
	}
	ran := make(chan bool, 1)
	if err := p.Submit(context.Background(), func() { ran <- onWorker() }); err != nil {
		t.Fatal(err)
	}
	if !<-ran {
		t.Fatal("the job after Goexit did not run on a worker")
	}
	p.Close()
}
