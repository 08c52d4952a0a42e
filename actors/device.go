package actors

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/heraldpush/herald/connector/protocol"
	"github.com/heraldpush/herald/dataservice"
)

// maxQueue bounds the messages a device actor holds in memory beyond its
// in-flight window. Messages with a TTL past the bound stay in the store
// and are reloaded from the inbox; online-only ones expire.
const maxQueue = 1000

// Messages a device actor sends itself (results of store jobs, timers) and
// receives from its directory shard.
type (
	sessionSaved struct {
		generation uint32
		at         time.Time
	}
	inboxLoaded struct {
		after   uint64 // the cursor the page was read after
		sheds   uint64 // the shed count when it was read
		entries []dataservice.InboxEntry
		msgs    []dataservice.Message
		err     error
	}
	acksRemoved struct {
		ids     []uint64
		existed []bool
		err     error
	}
	attemptsSaved  struct{ err error }
	graceExpired   struct{ epoch uint32 }
	retryStoreWork struct{}
	stopNowMessage struct{}
)

var stopNow = &stopNowMessage{}

// entry is one message the device actor is responsible for.
type entry struct {
	out *Outgoing
	// attempts counts writes to a connection; stored is the count the
	// store knows, so only changes are saved.
	attempts, stored uint8
	generation       uint32
}

func deviceProps(env *Env, rid, app string) *actor.Props {
	return actor.PropsFromProducer(func() actor.Actor {
		return &device{env: env, rid: rid, app: app}
	}, actor.WithMailbox(actor.UnboundedLockfree()))
}

// device is the device actor. All fields are owned by its Receive.
type device struct {
	env      *Env
	rid, app string
	conn     *actor.PID

	// forwarded counts Attach and Deliver messages processed, for the
	// retirement protocol of the directory.
	forwarded uint64

	queue    []*entry // to send, ascending message id
	inflight []*entry // sent, awaiting ACK, at most Settings.Window

	// Inbox paging: the store holds copies with ids above cursor that may
	// not be in memory, unless inboxDone.
	cursor    uint64
	inboxDone bool
	loading   bool
	sheds     uint64 // messages with a TTL dropped from memory so far
	// shedFloor is the smallest id dropped from memory since the inbox was
	// last paged through; newer messages with a TTL wait in the store too,
	// so they are sent after it, in id order. Zero when nothing waits.
	shedFloor uint64

	// acking holds ids whose ACK is being written to the store, and
	// removedWhileLoading those whose ACK was written while an inbox page
	// was being read: a page read before the write may still hold them,
	// and they must not be sent again. pendingAcks holds ACKs that found
	// the worker pool full.
	acking              map[uint64]struct{}
	removedWhileLoading map[uint64]struct{}
	pendingAcks         []uint64
	retrying            bool

	session   uint32 // generation of our session record; 0 before it is saved
	sessionAt time.Time

	grace    *time.Timer
	epoch    uint32 // invalidates grace timers that fired late
	retiring bool
	stopping bool
}

func (d *device) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *Attach:
		d.forwarded++
		d.attach(ctx, m.Conn)
	case *Deliver:
		d.forwarded++
		d.deliver(m.Out)
	case *Detach:
		if d.conn.Equal(m.Conn) {
			d.detach(ctx)
		}
	case *Acked:
		d.ack(ctx, m.IDs)
	case *Heartbeat:
		if d.session != 0 && d.env.Now().Sub(d.sessionAt) > d.env.Settings.SessionTTL/2 {
			d.saveSession(ctx)
		}
	case *sessionSaved:
		d.session, d.sessionAt = m.generation, m.at
	case *inboxLoaded:
		d.loaded(ctx, m)
	case *acksRemoved:
		d.acksRemoved(m)
	case *retryStoreWork:
		d.retrying = false
		d.flushAcks(ctx)
	case *graceExpired:
		if m.epoch == d.epoch && d.conn == nil && !d.stopping {
			d.retiring = true
			d.saveAttempts(ctx)
		}
	case *attemptsSaved:
		if m.err != nil {
			d.env.Log.Warn("saving delivery attempts failed", "rid", d.rid, "err", m.err)
		}
		switch {
		case d.stopping:
			d.stop(ctx)
		case d.retiring && d.conn == nil:
			ctx.Send(d.env.Directory.shard(d.rid), &retireRequest{rid: d.rid, device: ctx.Self(), processed: d.forwarded})
		}
	case *retireRefused:
		// Messages forwarded before the refusal are processed by now. If
		// none of them brought a connection back, ask again.
		if d.retiring && d.conn == nil {
			ctx.Send(d.env.Directory.shard(d.rid), &retireRequest{rid: d.rid, device: ctx.Self(), processed: d.forwarded})
		}
	case *retireGranted:
		d.stop(ctx)
	case *stopNowMessage:
		d.stopping = true
		if d.conn != nil {
			ctx.Send(d.conn, &Drain{})
			d.conn = nil
		}
		d.cancelGrace()
		d.saveAttempts(ctx)
	case *actor.Stopped:
		if d.conn != nil {
			ctx.Send(d.conn, &Kick{Err: internalError})
		}
		d.cancelGrace()
	}
	d.pump(ctx)
}

func (d *device) attach(ctx actor.Context, conn *actor.PID) {
	if d.stopping {
		ctx.Send(conn, &Drain{})
		return
	}
	if d.conn != nil && !d.conn.Equal(conn) {
		ctx.Send(d.conn, &Kick{Err: replaced})
		d.requeueInflight()
	}
	d.conn = conn
	d.retiring = false
	d.cancelGrace()
	ctx.Send(conn, &Attached{Device: ctx.Self()})
	if d.session == 0 {
		d.saveSession(ctx)
	}
}

func (d *device) detach(ctx actor.Context) {
	d.conn = nil
	d.requeueInflight()
	d.epoch++
	epoch, self, root := d.epoch, ctx.Self(), d.env.System.Root
	d.grace = time.AfterFunc(d.env.Settings.Grace, func() { root.Send(self, &graceExpired{epoch: epoch}) })
}

func (d *device) cancelGrace() {
	if d.grace != nil {
		d.grace.Stop()
		d.grace = nil
	}
	d.epoch++
}

// requeueInflight moves unacknowledged messages back to the queue, to be
// sent again on the next connection.
func (d *device) requeueInflight() {
	for _, e := range d.inflight {
		d.insert(e)
	}
	d.inflight = d.inflight[:0]
}

func (d *device) deliver(out *Outgoing) {
	if d.known(out.ID) {
		return
	}
	if out.AckRequested && d.shedFloor != 0 && out.ID > d.shedFloor {
		d.shed(out) // in the store already; paged in after what was shed before
		return
	}
	if d.conn == nil {
		if !out.AckRequested {
			d.env.Receipts.Add(out.ID, dataservice.CounterExpired, 1)
			return
		}
		d.env.Receipts.Add(out.ID, dataservice.CounterStoredOffline, 1)
	}
	d.insert(&entry{out: out, generation: 1})
}

// insert adds e to the queue in message id order, shedding the newest
// message past maxQueue.
func (d *device) insert(e *entry) {
	i, _ := slices.BinarySearchFunc(d.queue, e.out.ID, byID)
	d.queue = slices.Insert(d.queue, i, e)
	if len(d.queue) > maxQueue {
		last := d.queue[len(d.queue)-1]
		d.queue = d.queue[:len(d.queue)-1]
		d.shed(last.out)
	}
}

// shed drops a message from memory. One with a TTL is still in the store and
// is paged in again later; an online-only one expires.
func (d *device) shed(out *Outgoing) {
	if !out.AckRequested {
		d.env.Receipts.Add(out.ID, dataservice.CounterExpired, 1)
		return
	}
	d.cursor = min(d.cursor, out.ID-1)
	d.inboxDone = false
	d.sheds++
	if d.shedFloor == 0 || out.ID < d.shedFloor {
		d.shedFloor = out.ID
	}
}

func (d *device) known(id uint64) bool {
	if _, ok := d.acking[id]; ok {
		return true
	}
	for _, e := range d.inflight {
		if e.out.ID == id {
			return true
		}
	}
	_, found := slices.BinarySearchFunc(d.queue, id, byID)
	return found
}

// pump sends queued messages while the window has room, and pages the
// inbox in when the queue runs dry.
func (d *device) pump(ctx actor.Context) {
	if d.conn == nil || d.stopping {
		return
	}
	s := &d.env.Settings
	now := d.env.Now()
	var batch []*Outgoing
	taken := 0
	for _, e := range d.queue {
		if len(d.inflight) >= s.Window {
			break
		}
		taken++
		if !e.out.Expires.IsZero() && now.After(e.out.Expires) {
			continue // expired: the report counts it once the TTL passed
		}
		if len(e.out.Frame)+protocol.TagLen > s.MaxRecord {
			// Larger than the record limit announced in WELCOME: the device
			// would refuse it and reconnect forever. The gateway's payload
			// limit keeps this from happening; if it does, drop the copy.
			d.env.Log.Error("message too large for the device protocol; dropped", "id", e.out.ID, "frame", len(e.out.Frame))
			d.removeStored(ctx, []uint64{e.out.ID}, dataservice.CounterFailed)
			continue
		}
		if int(e.attempts) >= s.MaxAttempts {
			// Never acknowledged: drop the copy; failed is counted if the
			// store still had it.
			d.removeStored(ctx, []uint64{e.out.ID}, dataservice.CounterFailed)
			continue
		}
		if e.attempts == 0 {
			d.env.Receipts.Add(e.out.ID, dataservice.CounterSent, 1)
		}
		e.attempts++
		if e.out.AckRequested {
			d.inflight = append(d.inflight, e)
		}
		batch = append(batch, e.out)
	}
	d.queue = slices.Delete(d.queue, 0, taken)
	if len(batch) > 0 {
		ctx.Send(d.conn, &Send{Pushes: batch})
	}
	if len(d.queue) == 0 && !d.inboxDone && !d.loading && !d.retrying {
		d.loadInbox(ctx)
	}
}

func (d *device) loadInbox(ctx actor.Context) {
	self, root, data, rid, after, page, sheds := ctx.Self(), d.env.System.Root, d.env.Data, d.rid, d.cursor, d.env.Settings.InboxPage, d.sheds
	err := d.env.Workers.TrySubmit(func() {
		c := context.Background()
		entries, err := data.Inbox(c, rid, after, page)
		var msgs []dataservice.Message
		if err == nil && len(entries) > 0 {
			ids := make([]uint64, len(entries))
			for i, e := range entries {
				ids[i] = e.MessageID
			}
			msgs, err = data.Messages(c, ids)
		}
		root.Send(self, &inboxLoaded{after: after, sheds: sheds, entries: entries, msgs: msgs, err: err})
	})
	if err != nil {
		d.retryLater(ctx, 100*time.Millisecond)
		return
	}
	d.loading = true
}

func (d *device) loaded(ctx actor.Context, m *inboxLoaded) {
	d.loading = false
	if m.err != nil {
		d.env.Log.Warn("loading inbox failed", "rid", d.rid, "err", m.err)
		d.retryLater(ctx, time.Second)
		return
	}
	// The page covers the store up to its last id, unless a shed while it
	// was read lowered the cursor below where it started: then the cursor
	// must stay there. Messages shed above the page keep the inbox
	// unfinished even if the page was short.
	if d.cursor == m.after {
		if n := len(m.entries); n > 0 {
			d.cursor = m.entries[n-1].MessageID
		}
		d.inboxDone = len(m.entries) < d.env.Settings.InboxPage && d.sheds == m.sheds
		if d.inboxDone {
			d.shedFloor = 0
		}
	}
	removed := d.removedWhileLoading
	d.removedWhileLoading = nil
	for i, e := range m.entries {
		msg := &m.msgs[i]
		if _, gone := removed[e.MessageID]; gone || msg.ID == 0 || d.known(e.MessageID) {
			continue
		}
		// insert may shed, lowering the cursor again.
		d.insert(&entry{out: NewOutgoing(msg), attempts: e.Attempts, stored: e.Attempts, generation: e.Generation})
	}
}

func (d *device) ack(ctx actor.Context, ids []uint64) {
	d.inflight = slices.DeleteFunc(d.inflight, func(e *entry) bool { return slices.Contains(ids, e.out.ID) })
	if d.acking == nil {
		d.acking = make(map[uint64]struct{}, len(ids))
	}
	for _, id := range ids {
		d.acking[id] = struct{}{}
	}
	d.pendingAcks = append(d.pendingAcks, ids...)
	d.flushAcks(ctx)
}

func (d *device) flushAcks(ctx actor.Context) {
	if len(d.pendingAcks) == 0 {
		return
	}
	if d.removeStored(ctx, d.pendingAcks, dataservice.CounterDelivered) {
		d.pendingAcks = nil
	}
}

// removeStored deletes inbox copies and counts c for each that still
// existed. It reports false when the worker pool is full; the caller keeps
// the ids and retries.
func (d *device) removeStored(ctx actor.Context, ids []uint64, c dataservice.Counter) bool {
	self, root, data, rid := ctx.Self(), d.env.System.Root, d.env.Data, d.rid
	receipts := d.env.Receipts
	err := d.env.Workers.TrySubmit(func() {
		existed, err := data.RemoveInbox(context.Background(), rid, ids)
		if err == nil {
			for i, ok := range existed {
				if ok {
					receipts.Add(ids[i], c, 1)
				}
			}
		}
		if c == dataservice.CounterDelivered {
			root.Send(self, &acksRemoved{ids: ids, existed: existed, err: err})
		}
	})
	if err != nil {
		d.retryLater(ctx, 100*time.Millisecond)
		return false
	}
	return true
}

func (d *device) acksRemoved(m *acksRemoved) {
	if m.err != nil {
		// The copies stay in the store; the device will get them again on
		// its next connection and ACK again.
		d.env.Log.Warn("recording acknowledgements failed", "rid", d.rid, "err", m.err)
	}
	for _, id := range m.ids {
		delete(d.acking, id)
		if d.loading {
			if d.removedWhileLoading == nil {
				d.removedWhileLoading = make(map[uint64]struct{})
			}
			d.removedWhileLoading[id] = struct{}{}
		}
	}
	if len(d.acking) == 0 {
		d.acking = nil
	}
}

// retryLater schedules another attempt at store work that found the worker
// pool full or the store failing; no inbox load starts until then.
func (d *device) retryLater(ctx actor.Context, after time.Duration) {
	if d.retrying {
		return
	}
	d.retrying = true
	self, root := ctx.Self(), d.env.System.Root
	time.AfterFunc(after, func() { root.Send(self, &retryStoreWork{}) })
}

func (d *device) saveSession(ctx actor.Context) {
	self, root, data := ctx.Self(), d.env.System.Root, d.env.Data
	s := dataservice.Session{RegistrationID: d.rid, Connector: d.env.Settings.ConnectorID, Since: d.env.Now()}
	ttl := d.env.Settings.SessionTTL
	if err := d.env.Workers.TrySubmit(func() {
		gen, err := data.PutSession(context.Background(), s, ttl)
		if err == nil {
			root.Send(self, &sessionSaved{generation: gen, at: s.Since})
		}
	}); err != nil {
		d.env.Log.Warn("session not saved: worker pool full", "rid", d.rid)
	}
}

// saveAttempts stores changed attempt counts of unacknowledged messages, so
// the redelivery cap holds across device actors; attemptsSaved follows.
func (d *device) saveAttempts(ctx actor.Context) {
	var changed []dataservice.InboxEntry
	for _, e := range d.queue {
		if e.out.AckRequested && e.attempts != e.stored {
			changed = append(changed, dataservice.InboxEntry{
				MessageID: e.out.ID, Attempts: e.attempts, Generation: e.generation,
				Expires: e.out.Expires.Add(dataservice.AckGrace),
			})
		}
	}
	self, root, data, rid := ctx.Self(), d.env.System.Root, d.env.Data, d.rid
	if len(changed) == 0 {
		root.Send(self, &attemptsSaved{})
		return
	}
	job := func() {
		root.Send(self, &attemptsSaved{err: data.UpdateInbox(context.Background(), rid, changed)})
	}
	if err := d.env.Workers.TrySubmit(job); err != nil {
		// Shed: without the counts, the next actor may send these a few
		// more times than the cap allows.
		root.Send(self, &attemptsSaved{err: err})
	}
}

// stop deletes the session (unless a newer one replaced it) and stops.
func (d *device) stop(ctx actor.Context) {
	if d.session != 0 {
		data, rid, gen := d.env.Data, d.rid, d.session
		_ = d.env.Workers.TrySubmit(func() { _ = data.DeleteSession(context.Background(), rid, gen) })
	}
	d.cancelGrace()
	ctx.Stop(ctx.Self())
}

func byID(e *entry, id uint64) int { return cmp.Compare(e.out.ID, id) }
