package workpool

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestRunsEveryJobBeforeClose(t *testing.T) {
	p := New(4, 100)
	var n atomic.Int64
	for range 100 {
		if err := p.Submit(context.Background(), func() { n.Add(1) }); err != nil {
			t.Fatal(err)
		}
	}
	p.Close()
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
	release := make(chan struct{})
	started := make(chan struct{})
	if err := p.TrySubmit(func() { close(started); <-release }); err != nil {
		t.Fatal(err)
	}
	<-started // the worker is busy; the queue is empty
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
	close(release)
	p.Close()
}
