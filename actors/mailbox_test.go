package actors

import (
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/heraldpush/herald/internal/workpool"
)

func testSystem(t *testing.T) *actor.ActorSystem {
	s := actor.NewActorSystemWithConfig(actor.Configure(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	})))
	t.Cleanup(s.Shutdown)
	return s
}

func TestMailboxDeliversInOrderFromManySenders(t *testing.T) {
	s := testSystem(t)
	const senders, each = 8, 2000
	var mu sync.Mutex
	last := make(map[int]int)
	done := make(chan struct{})
	got := 0
	pid := s.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if m, ok := ctx.Message().([2]int); ok {
			mu.Lock()
			defer mu.Unlock()
			if prev, seen := last[m[0]]; seen && m[1] != prev+1 {
				t.Errorf("sender %d: %d after %d", m[0], m[1], prev)
			}
			last[m[0]] = m[1]
			if got++; got == senders*each {
				close(done)
			}
		}
	}, actor.WithMailbox(newMailbox)))
	for s2 := range senders {
		go func() {
			for i := range each {
				s.Root.Send(pid, [2]int{s2, i})
			}
		}()
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("received %d of %d", got, senders*each)
	}
}

func TestMailboxSurvivesAPanickingActor(t *testing.T) {
	s := testSystem(t)
	got := make(chan string, 10)
	props := actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case string:
			if m == "boom" {
				panic("boom")
			}
			got <- m
		}
	}, actor.WithMailbox(newMailbox)) // default supervision: restart
	pid := s.Root.Spawn(props)
	s.Root.Send(pid, "before")
	s.Root.Send(pid, "boom")
	s.Root.Send(pid, "after")
	for _, want := range []string{"before", "after"} {
		select {
		case m := <-got:
			if m != want {
				t.Fatalf("got %q, want %q", m, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no %q: the mailbox stopped after the panic", want)
		}
	}
}

func TestMailboxStopsWithItsActor(t *testing.T) {
	s := testSystem(t)
	stopped := make(chan struct{})
	pid := s.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if _, ok := ctx.Message().(*actor.Stopped); ok {
			close(stopped)
		}
	}, actor.WithMailbox(newMailbox)))
	if err := s.Root.StopFuture(pid).Wait(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-stopped:
	case <-time.After(5 * time.Second):
		t.Fatal("Stopped not delivered")
	}
}

func TestIdleMailboxHoldsNoQueue(t *testing.T) {
	s := testSystem(t)
	m := &mailbox{}
	done := make(chan struct{})
	pid := s.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if ctx.Message() == "last" {
			close(done)
		}
	}, actor.WithMailbox(func() actor.Mailbox { return m })))
	for range 100 {
		s.Root.Send(pid, "x")
	}
	s.Root.Send(pid, "last")
	<-done
	deadline := time.Now().Add(5 * time.Second)
	for {
		m.mu.Lock()
		idle := m.q == nil && !m.scheduled
		m.mu.Unlock()
		if idle {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("drained mailbox still holds its queue")
		}
		time.Sleep(time.Millisecond)
	}
}

func BenchmarkMailbox(b *testing.B) {
	for _, tc := range []struct {
		name string
		mb   actor.MailboxProducer
		pool bool // runs on a mailbox pool, as on a connector
	}{{"lean", newMailbox, false}, {"lean-pool", newMailbox, true}, {"protoactor-lockfree", actor.UnboundedLockfree(), false}} {
		b.Run(tc.name, func(b *testing.B) {
			var pool *workpool.Pool
			if tc.pool {
				pool = NewMailboxPool()
				defer pool.Close()
			}
			s := actor.NewActorSystemWithConfig(actor.Configure(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
				return slog.New(slog.NewTextHandler(io.Discard, nil))
			})))
			defer s.Shutdown()
			done := make(chan struct{})
			n := 0
			pid := s.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
				if _, ok := ctx.Message().(int); ok {
					if n++; n == b.N {
						close(done)
					}
				}
			}, actor.WithMailbox(tc.mb), onPool(pool)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				s.Root.Send(pid, i)
			}
			<-done
		})
	}
}

// On a pool, a mailbox runs on the pool's workers and, after Close, on
// goroutines of its own: messages sent late still arrive.
func TestMailboxOnAPoolRunsAfterClose(t *testing.T) {
	s := testSystem(t)
	p := workpool.New(2, 4)
	got := make(chan int, 100)
	pid := s.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if n, ok := ctx.Message().(int); ok {
			got <- n
		}
	}, actor.WithMailbox(newMailbox), onPool(p)))
	for i := range 50 {
		s.Root.Send(pid, i)
	}
	for i := range 50 {
		if n := <-got; n != i {
			t.Fatalf("got %d, want %d", n, i)
		}
	}
	p.Close()
	s.Root.Send(pid, 99) // after Close: a goroutine of its own
	select {
	case n := <-got:
		if n != 99 {
			t.Fatalf("got %d", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("message after Close not delivered")
	}
}

func TestIdleMailboxIsSmall(t *testing.T) {
	// A connector holds two idle mailboxes per connection.
	if got := unsafe.Sizeof(mailbox{}); got > 64 {
		t.Errorf("an idle mailbox takes %d bytes, want at most 64", got)
	}
}
