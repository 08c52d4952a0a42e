package actors_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/heraldpush/herald/actors"
	"github.com/heraldpush/herald/dataservice"
)

// fakeQueue is a dataservice client whose upstream queue records what it
// stores, and can hold or fail the calls.
type fakeQueue struct {
	dataservice.Client
	mu    sync.Mutex
	calls [][]dataservice.UpstreamMessage
	fail  error         // if set, calls fail with it
	hold  chan struct{} // if not nil, calls wait for it to close
	enter chan struct{} // if not nil, receives once per call, before the hold
}

func (q *fakeQueue) EnqueueUpstream(ctx context.Context, msgs []dataservice.UpstreamMessage) error {
	if q.enter != nil {
		q.enter <- struct{}{}
	}
	if q.hold != nil {
		<-q.hold
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.fail != nil {
		return q.fail
	}
	for _, m := range msgs {
		if err := dataservice.CheckUpstream(m); err != nil {
			return fmt.Errorf("fake queue: %w", err) // the whole call, as the contract says
		}
	}
	q.calls = append(q.calls, slices.Clone(msgs))
	return nil
}

// stored returns the messages stored so far, in order.
func (q *fakeQueue) stored() []dataservice.UpstreamMessage {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []dataservice.UpstreamMessage
	for _, c := range q.calls {
		out = append(out, c...)
	}
	return out
}

func (q *fakeQueue) callCount() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.calls)
}

// queuedProbe stands in for a connection actor: it collects the
// UpstreamsQueued it gets.
type queuedProbe struct {
	pid *actor.PID
	ch  chan *actors.UpstreamsQueued
}

func newQueuedProbe(system *actor.ActorSystem) *queuedProbe {
	p := &queuedProbe{ch: make(chan *actors.UpstreamsQueued, 1024)}
	p.pid = system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		if m, ok := ctx.Message().(*actors.UpstreamsQueued); ok {
			p.ch <- m
		}
	}))
	return p
}

// answers collects answers until they cover n ids, and returns the ids and
// the errors.
func (p *queuedProbe) answers(t *testing.T, n int) (ids []uint64, errs []error) {
	t.Helper()
	for len(ids) < n {
		select {
		case m := <-p.ch:
			ids = append(ids, m.IDs...)
			errs = append(errs, m.Err)
		case <-time.After(5 * time.Second):
			t.Fatalf("got answers for %d upstream ids, want %d", len(ids), n)
		}
	}
	return ids, errs
}

func (p *queuedProbe) quiet(t *testing.T) {
	t.Helper()
	select {
	case m := <-p.ch:
		t.Fatalf("unexpected answer %+v", m)
	case <-time.After(50 * time.Millisecond):
	}
}

func newUpstreamWriter(t *testing.T, cfg actors.WriterConfig, q *fakeQueue) (*actors.Writer, *actor.ActorSystem) {
	t.Helper()
	system := actor.NewActorSystemWithConfig(actor.Configure(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	})))
	t.Cleanup(system.Shutdown)
	w := actors.NewWriter(system, cfg, q, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(w.Close)
	return w, system
}

func upstreamMsg(rid string, id uint64) dataservice.UpstreamMessage {
	return dataservice.UpstreamMessage{AppKey: "app", RegistrationID: rid, ID: id, Data: []byte(fmt.Sprint("data-", rid, "-", id)), At: time.Now()}
}

// While one EnqueueUpstream is in flight, the messages of every connection
// gather into the next call; each connection learns of exactly its ids,
// once they are stored.
func TestWriterBatchesUpstreamsOfAllConnections(t *testing.T) {
	q := &fakeQueue{hold: make(chan struct{}), enter: make(chan struct{}, 16)}
	w, system := newUpstreamWriter(t, actors.WriterConfig{}, q)
	ups := w.Upstreams()
	if ups == nil {
		t.Fatal("writer over an upstream queue has no Upstreams")
	}
	const conns, perConn = 5, 20
	probes := make([]*queuedProbe, conns)
	for i := range probes {
		probes[i] = newQueuedProbe(system)
	}
	// The first message starts a flush, which the queue holds.
	ups.QueueUpstream(upstreamMsg("d0", 1), probes[0].pid)
	<-q.enter
	for i, p := range probes {
		for j := range perConn {
			if i == 0 && j == 0 {
				continue
			}
			ups.QueueUpstream(upstreamMsg(fmt.Sprint("d", i), uint64(j+1)), p.pid)
		}
	}
	for _, p := range probes {
		p.quiet(t) // nothing is acknowledged before it is durable
	}
	close(q.hold)
	for i, p := range probes {
		ids, errs := p.answers(t, perConn)
		for _, err := range errs {
			if err != nil {
				t.Fatalf("connection %d: %v", i, err)
			}
		}
		slices.Sort(ids)
		for j, id := range ids {
			if id != uint64(j+1) {
				t.Fatalf("connection %d got ids %v", i, ids)
			}
		}
		p.quiet(t)
	}
	if got := len(q.stored()); got != conns*perConn {
		t.Fatalf("stored %d messages, want %d", got, conns*perConn)
	}
	if calls := q.callCount(); calls != 2 {
		t.Fatalf("%d EnqueueUpstream calls for %d messages, want 2 (the first, then the rest together)", calls, conns*perConn)
	}
	for _, m := range q.stored() {
		if want := fmt.Sprint("data-", m.RegistrationID, "-", m.ID); string(m.Data) != want {
			t.Fatalf("stored %q for %s/%d", m.Data, m.RegistrationID, m.ID)
		}
	}
}

func TestWriterUpstreamFailures(t *testing.T) {
	storeDown := errors.New("store down")
	tests := []struct {
		name    string
		cfg     actors.WriterConfig
		fail    error
		msgs    []dataservice.UpstreamMessage
		wantErr []error // per message
		stored  int
	}{
		{"store failure reaches every connection", actors.WriterConfig{}, storeDown,
			[]dataservice.UpstreamMessage{upstreamMsg("a", 1), upstreamMsg("b", 2)},
			[]error{storeDown, storeDown}, 0},
		{"an invalid message fails alone", actors.WriterConfig{}, nil,
			[]dataservice.UpstreamMessage{upstreamMsg("a", 1), {AppKey: "app", RegistrationID: "b", ID: 2}, upstreamMsg("c", 3)},
			[]error{nil, dataservice.ErrInvalid, nil}, 2},
		{"over the byte budget is busy", actors.WriterConfig{MaxUpstreamBytes: 100}, nil,
			[]dataservice.UpstreamMessage{upstreamMsg("a", 1), upstreamMsg("b", 2)},
			[]error{nil, actors.ErrUpstreamsBusy}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := &fakeQueue{fail: tt.fail, hold: make(chan struct{}), enter: make(chan struct{}, 16)}
			w, system := newUpstreamWriter(t, tt.cfg, q)
			probes := make([]*queuedProbe, len(tt.msgs))
			for i, m := range tt.msgs {
				probes[i] = newQueuedProbe(system)
				w.QueueUpstream(m, probes[i].pid)
				if i == 0 {
					<-q.enter // held in flight: the rest wait behind it
				}
			}
			close(q.hold)
			for i, p := range probes {
				ids, errs := p.answers(t, 1)
				if len(ids) != 1 || ids[0] != tt.msgs[i].ID {
					t.Fatalf("message %d: answered ids %v", i, ids)
				}
				if want := tt.wantErr[i]; (want == nil) != (errs[0] == nil) || (want != nil && !errors.Is(errs[0], want)) {
					t.Fatalf("message %d: error %v, want %v", i, errs[0], want)
				}
			}
			if got := len(q.stored()); got != tt.stored {
				t.Fatalf("stored %d messages, want %d", got, tt.stored)
			}
			// The budget is given back: the lane takes messages again.
			p := newQueuedProbe(system)
			q.mu.Lock()
			q.fail = nil
			q.mu.Unlock()
			w.QueueUpstream(upstreamMsg("z", 9), p.pid)
			if _, errs := p.answers(t, 1); errs[0] != nil {
				t.Fatalf("after recovery: %v", errs[0])
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := w.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// No more than dataservice.MaxUpstreamBatch messages go in one call,
// however many wait.
func TestWriterUpstreamBatchIsBounded(t *testing.T) {
	q := &fakeQueue{hold: make(chan struct{}), enter: make(chan struct{}, 16)}
	w, system := newUpstreamWriter(t, actors.WriterConfig{}, q)
	p := newQueuedProbe(system)
	w.QueueUpstream(upstreamMsg("d", 1), p.pid)
	<-q.enter
	n := dataservice.MaxUpstreamBatch + 10
	for i := range n {
		w.QueueUpstream(upstreamMsg("d", uint64(i+2)), p.pid)
	}
	close(q.hold)
	ids, _ := p.answers(t, n+1)
	if len(ids) != n+1 {
		t.Fatalf("%d ids answered, want %d", len(ids), n+1)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, c := range q.calls {
		if len(c) > dataservice.MaxUpstreamBatch {
			t.Fatalf("call %d carried %d messages", i, len(c))
		}
	}
	if len(q.calls) != 3 {
		t.Fatalf("%d calls, want 3 (1, %d, 10)", len(q.calls), dataservice.MaxUpstreamBatch)
	}
}
