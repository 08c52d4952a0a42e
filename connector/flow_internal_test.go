package connector

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/heraldpush/herald/actors"
	"github.com/heraldpush/herald/connector/netpoll"
	"github.com/heraldpush/herald/protocol"
)

// probe is a connection actor stand-in: it records what it gets and,
// like the real one, counts each Inbound processed, after a pause of up
// to delay; or, if delay is negative, never (a stuck actor).
type probe struct {
	mu      sync.Mutex
	sock    *socket
	inbound atomic.Int64
	msgs    []any
	delay   time.Duration
}

func (p *probe) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actors.Inbound:
		if p.delay < 0 {
			return
		}
		if p.delay > 0 {
			time.Sleep(rand.N(p.delay))
		}
		p.inbound.Add(1)
		p.mu.Lock()
		sc := p.sock
		p.mu.Unlock()
		sc.Processed()
	case *actors.Kick, *actors.DeadlinePassed:
		p.mu.Lock()
		p.msgs = append(p.msgs, m)
		p.mu.Unlock()
	}
}

func (p *probe) received() []any {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]any(nil), p.msgs...)
}

// flowRig is a connector's event loop with one connection whose actor is
// a probe: what onData and the sweeper do to one socket, without the
// protocol.
type flowRig struct {
	c     *Connector
	sc    *socket
	probe *probe
	peer  net.Conn
}

func newFlowRig(t *testing.T, cfg Config, delay time.Duration) *flowRig {
	t.Helper()
	cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	c := &Connector{cfg: cfg.withDefaults(), env: &actors.Env{System: actor.NewActorSystem()}}
	p := &probe{delay: delay}
	opened := make(chan *socket, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	loop, err := netpoll.Start(ln, netpoll.Config{
		Pollers:        1,
		ReadBufferSize: readBufferSize,
		OnOpen: func(nc *netpoll.Conn) {
			sc := &socket{nc: nc, greeted: true}
			sc.pid = c.env.System.Root.Spawn(actor.PropsFromProducer(func() actor.Actor { return p }))
			p.mu.Lock()
			p.sock = sc
			p.mu.Unlock()
			nc.SetValue(sc)
			opened <- sc
		},
		OnData: c.onData,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = loop.Shutdown(ctx)
	})
	peer, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peer.Close() })
	return &flowRig{c: c, sc: <-opened, probe: p, peer: peer}
}

// Holding and resuming race between the poller and the actor; however
// they interleave, reading always resumes once the actor caught up, so
// every record arrives.
func TestFlowControlNeverStalls(t *testing.T) {
	r := newFlowRig(t, Config{MaxUnprocessed: 4, FloodLimit: 1 << 20}, 20*time.Microsecond)
	const records = 5000
	rec := protocol.AppendRecord(nil, []byte("x"))
	var stream []byte
	for range records {
		stream = append(stream, rec...)
	}
	go func() {
		// Small writes, so that reads bring few records and the counts
		// cross the bound often.
		for b := stream; len(b) > 0; b = b[min(len(b), 61):] {
			if _, err := r.peer.Write(b[:min(len(b), 61)]); err != nil {
				return
			}
		}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for r.probe.inbound.Load() < records {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d records handled; flags %#x, unprocessed %d", r.probe.inbound.Load(), records,
				r.sc.flags.Load(), r.sc.unprocessed.Load())
		}
		time.Sleep(time.Millisecond)
	}
	if f := r.sc.flags.Load(); f&held != 0 {
		t.Errorf("flags %#x: still held with nothing to handle", f)
	}
}

// More records on the way than FloodLimit: the connection is cut off at
// once, with ERROR flooding and a retry_after.
func TestFloodLimit(t *testing.T) {
	r := newFlowRig(t, Config{MaxUnprocessed: 8, FloodLimit: 100}, -1)
	var burst []byte
	for range 200 {
		burst = protocol.AppendRecord(burst, []byte("x"))
	}
	if _, err := r.peer.Write(burst); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "a kick", func() bool { return len(r.probe.received()) > 0 })
	k, ok := r.probe.received()[0].(*actors.Kick)
	if !ok || k.Err.Code != protocol.CodeFlooding || k.Err.RetryAfter != floodRetryAfter {
		t.Fatalf("got %#v, want a Kick with flooding and retry_after %v", r.probe.received()[0], floodRetryAfter)
	}
}

// The sweeper cuts off a connection held back without a break for
// FloodTimeout; one whose actor catches up in between, or that is merely
// held, is not idle and is left alone.
func TestSweeperFloodTimeout(t *testing.T) {
	tests := []struct {
		name    string
		sweep   func(r *flowRig, i int) // before sweep i
		sweeps  int
		kickAt  int // the sweep after which a Kick arrives; 0: none
		timeout bool
	}{
		{"held without a break", func(r *flowRig, i int) {
			if i == 0 {
				r.sc.flags.Or(held)
			}
		}, 6, 3, false},
		{"held, but resumed between sweeps", func(r *flowRig, i int) {
			r.sc.flags.Or(resumed | held)
		}, 6, 0, false},
		{"held past its idle timeout", func(r *flowRig, i int) {
			if i == 0 {
				r.sc.Ready(time.Second)
				r.sc.flags.Or(held | resumed) // the actor catches up now and then
			}
			r.sc.flags.Or(resumed)
		}, 6, 0, false},
		{"idle past its idle timeout", func(r *flowRig, i int) {
			if i == 0 {
				r.sc.Ready(time.Second)
			}
		}, 3, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newFlowRig(t, Config{FloodTimeout: 3 * time.Second}, 0)
			r.sc.deadline.Store(0)
			for i := range tt.sweeps {
				tt.sweep(r, i)
				r.c.sweepSocket(r.sc, int64(i+1), 3)
				if tt.kickAt > 0 && i+1 < tt.kickAt && len(r.probe.received()) > 0 {
					t.Fatalf("kicked after sweep %d, want after %d", i+1, tt.kickAt)
				}
			}
			switch {
			case tt.kickAt > 0:
				waitUntil(t, "a kick", func() bool { return len(r.probe.received()) > 0 })
				if k, ok := r.probe.received()[0].(*actors.Kick); !ok || k.Err.Code != protocol.CodeFlooding {
					t.Fatalf("got %#v, want a Kick with flooding", r.probe.received()[0])
				}
			case tt.timeout:
				waitUntil(t, "DeadlinePassed", func() bool { return len(r.probe.received()) > 0 })
				if _, ok := r.probe.received()[0].(*actors.DeadlinePassed); !ok {
					t.Fatalf("got %#v, want DeadlinePassed", r.probe.received()[0])
				}
			default:
				time.Sleep(50 * time.Millisecond) // what was sent has arrived
				if got := r.probe.received(); len(got) > 0 {
					t.Fatalf("got %#v, want nothing", got[0])
				}
			}
		})
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
