package workpool

import (
	"testing"
)

// The point of Call: a deep call on a worker does not grow its stack
// again, where a new goroutine's does every time.
func BenchmarkDeepCall(b *testing.B) {
	deep := func() { recurse(64) }
	b.Run("new-goroutine", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			done := make(chan struct{})
			go func() { deep(); close(done) }()
			<-done
		}
	})
	b.Run("warm", func(b *testing.B) {
		p := New(1, 0)
		defer p.Close()
		b.ReportAllocs()
		for b.Loop() {
			done := make(chan struct{})
			go func() { p.Call(deep); close(done) }()
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

// signal is a Task that reports it ran, as a mailbox run wakes the next
// actor.
type signal chan struct{}

func (s signal) Run() { s <- struct{}{} }

// BenchmarkGo hands over one task at a time and waits for it, as an
// actor's message wakes an idle mailbox: the hand-off to a waiting worker,
// the mailbox path's cost per run.
func BenchmarkGo(b *testing.B) {
	p := New(4, 1024)
	defer p.Close()
	done := make(signal)
	b.ReportAllocs()
	for b.Loop() {
		p.Go(done)
		<-done
	}
}

// BenchmarkGoBurst hands over 100 tasks, then waits for them: workers
// take tasks from the queue without waiting.
func BenchmarkGoBurst(b *testing.B) {
	p := New(2, 1024)
	defer p.Close()
	done := make(signal, 100)
	b.ReportAllocs()
	for b.Loop() {
		for range 100 {
			p.Go(done)
		}
		for range 100 {
			<-done
		}
	}
}

// BenchmarkTrySubmit is an actor's store call handed over and done.
func BenchmarkTrySubmit(b *testing.B) {
	p := New(4, 1024)
	defer p.Close()
	done := make(chan struct{})
	job := func() { done <- struct{}{} }
	b.ReportAllocs()
	for b.Loop() {
		if err := p.TrySubmit(job); err != nil {
			b.Fatal(err)
		}
		<-done
	}
}
