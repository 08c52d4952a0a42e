package actors

import (
	"context"
	"errors"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/internal/metrics"
	"github.com/heraldpush/herald/protocol"
)

// The frame limit and the store's limit on upstream data are one limit.
var _ [protocol.MaxUpstreamData - dataservice.MaxUpstreamData]struct{}
var _ [dataservice.MaxUpstreamData - protocol.MaxUpstreamData]struct{}

// Upstreams queues the data devices send to their apps' backends
// (UPSTREAM frames). Implementations must not block: a connection actor
// hands each message over and goes on; the outcome comes back as a
// message.
type Upstreams interface {
	// QueueUpstream stores m durably (dataservice.UpstreamQueue) and then
	// sends *UpstreamsQueued to conn, carrying m.ID among the ids stored
	// together, or the error that kept them from being stored. m.Data
	// must not be modified afterwards.
	QueueUpstream(m dataservice.UpstreamMessage, conn *actor.PID)
}

// UpstreamsQueued tells a connection actor the outcome of upstream messages
// it handed to Upstreams.QueueUpstream: with a nil Err they are durable
// and the connection acknowledges IDs to the device.
type UpstreamsQueued struct {
	IDs []uint64
	Err error
}

// ErrUpstreamsBusy reports upstream messages refused because too many wait
// to be written already; the device sends them again later.
var ErrUpstreamsBusy = errors.New("actors: too many upstream messages waiting to be queued")

var _ Upstreams = (*Writer)(nil)

// Upstreams returns the writer as the upstream queue of connection actors
// if its WriterStore stores upstream messages (implements
// dataservice.UpstreamQueue), and nil otherwise: a connector without an
// upstream queue does not announce protocol.FeatureUpstream.
func (w *Writer) Upstreams() Upstreams {
	if _, ok := w.Store.(dataservice.UpstreamQueue); !ok {
		return nil
	}
	return w
}

// QueueUpstream implements Upstreams through the batch: messages of all
// connections go to the store together, in one EnqueueUpstream per flush.
// It never blocks; beyond MaxUpstreamBytes of data waiting or being
// written, conn gets ErrUpstreamsBusy at once.
func (w *Writer) QueueUpstream(m dataservice.UpstreamMessage, conn *actor.PID) {
	w.root.Send(w.pid, &upstreamWrite{m: m, conn: conn})
}

// upstreamWrite is one message of the upstream lane of the writer actor.
type upstreamWrite struct {
	m    dataservice.UpstreamMessage
	conn *actor.PID
}

// upstreamsDone ends a flush of the upstream lane: the writer gives the
// budget back, then answers each connection of the batch (to, in the
// order they came), so answers leave in the order of the flushes.
type upstreamsDone struct {
	bytes   int
	to      []*actor.PID
	answers []*UpstreamsQueued
}

// upstreamLane is the writer actor's batch of upstream messages. Its
// fields are owned by the writer's Receive.
type upstreamLane struct {
	pending []*upstreamWrite
	bytes   int // data of pending and flowing messages
	flowing bool
}

// upstreamBudget is what one upstream message counts against
// MaxUpstreamBytes: its data and its identifiers.
func upstreamBudget(m *dataservice.UpstreamMessage) int {
	return len(m.Data) + len(m.AppKey) + len(m.RegistrationID) + 64
}

// queueUpstream takes m into the batch, or refuses it when it is not
// valid (which would fail the whole batch) or the lane is over its byte
// budget.
func (w *writer) queueUpstream(ctx actor.Context, m *upstreamWrite) {
	if err := dataservice.CheckUpstream(m.m); err != nil {
		w.log.Warn("upstream message refused", "rid", m.m.RegistrationID, "err", err)
		ctx.Send(m.conn, &UpstreamsQueued{IDs: []uint64{m.m.ID}, Err: err})
		return
	}
	size := upstreamBudget(&m.m)
	if w.ups.bytes+size > w.cfg.MaxUpstreamBytes {
		ctx.Send(m.conn, &UpstreamsQueued{IDs: []uint64{m.m.ID}, Err: ErrUpstreamsBusy})
		return
	}
	w.ups.bytes += size
	w.ups.pending = append(w.ups.pending, m)
	w.flushUpstreams(ctx)
}

// flushUpstreams writes pending upstream messages, up to
// UpstreamBatchBytes and dataservice.MaxUpstreamBatch of them, unless a
// flush is in flight. Each
// connection then gets one UpstreamsQueued with the ids of its messages
// in the batch.
func (w *writer) flushUpstreams(ctx actor.Context) {
	if w.ups.flowing || len(w.ups.pending) == 0 {
		return
	}
	n, size := 0, 0
	for n < len(w.ups.pending) && n < dataservice.MaxUpstreamBatch &&
		(n == 0 || size+upstreamBudget(&w.ups.pending[n].m) <= w.cfg.UpstreamBatchBytes) {
		size += upstreamBudget(&w.ups.pending[n].m)
		n++
	}
	batch := w.ups.pending[:n:n]
	w.ups.pending = w.ups.pending[n:]
	if len(w.ups.pending) == 0 {
		w.ups.pending = nil // let the old array go
	}
	w.ups.flowing = true
	self, root, data, log := ctx.Self(), w.root, w.data, w.log
	go func() {
		msgs := make([]dataservice.UpstreamMessage, len(batch))
		for i, u := range batch {
			msgs[i] = u.m
		}
		err := errors.ErrUnsupported
		start := metrics.Now()
		if q, ok := data.(dataservice.UpstreamQueue); ok {
			err = q.EnqueueUpstream(context.Background(), msgs)
		}
		flushUpstreams.done(len(msgs), start, err)
		if err != nil {
			log.Warn("queueing upstream messages failed; their devices will send them again", "messages", len(msgs), "err", err)
		}
		// One answer per connection, its ids in the order they came.
		done := &upstreamsDone{bytes: size}
		byConn := make(map[*actor.PID]*UpstreamsQueued)
		for _, u := range batch {
			a := byConn[u.conn]
			if a == nil {
				a = &UpstreamsQueued{Err: err}
				byConn[u.conn] = a
				done.to, done.answers = append(done.to, u.conn), append(done.answers, a)
			}
			a.IDs = append(a.IDs, u.m.ID)
		}
		root.Send(self, done)
	}()
}

// upstreamsDone frees the budget of a finished flush, answers its
// connections and starts the next flush. The budget goes back first: a
// connection that sends again on its answer must find it given back.
func (w *writer) upstreamsDone(ctx actor.Context, m *upstreamsDone) {
	w.ups.flowing = false
	w.ups.bytes -= m.bytes
	for i, pid := range m.to {
		ctx.Send(pid, m.answers[i])
	}
	w.flushUpstreams(ctx)
}

// upstreamsIdle reports whether no upstream message waits or is being
// written.
func (w *writer) upstreamsIdle() bool { return !w.ups.flowing && len(w.ups.pending) == 0 }

// upstreamRetryAfter is how long a device whose upstream messages could
// not be queued waits before it reconnects and sends them again.
const upstreamRetryAfter = 5 * time.Second
