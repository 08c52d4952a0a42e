package actors

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/internal/ids"
	"github.com/heraldpush/herald/protocol"
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
		err        error
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
	broadcastsLoaded struct {
		app  string // whose broadcasts were listed
		msgs []dataservice.Message
		last uint64 // the newest broadcast listed
		more bool   // the list stopped at maxBroadcastsLoaded
		err  error
	}
	cursorsAdvanced struct {
		adv CursorAdvance
		err error
	}
	attemptsSaved  struct{ err error }
	graceExpired   struct{ epoch uint32 }
	retryStoreWork struct{}
	stopNowMessage struct{}
	// deviceStopped tells the directory shard a device actor stopped.
	deviceStopped struct {
		rid    string
		device *actor.PID
	}
)

var stopNow = &stopNowMessage{}

// entry is one message the device actor is responsible for.
type entry struct {
	out *Outgoing
	// attempts counts writes to a connection; stored is the count the
	// store knows, so only changes are saved.
	attempts, stored uint8
	generation       uint32
	// announced is set once the message's own delivery reached this
	// actor; one paged in from the store before that has it unset.
	announced bool
}

// newDevice is the producer of device actors. A device actor learns its
// registration id from its own name (see deviceName), so all device actors
// share one Props.
func newDevice(env *Env) actor.Actor { return &device{env: env} }

// deviceName names the device actor of rid; seq keeps the name unique while
// a retired actor of the same device is still stopping.
func deviceName(rid string, seq uint64) string { return rid + "#" + strconv.FormatUint(seq, 36) }

// ridOf returns the registration id in a device actor's name.
func ridOf(name string) string {
	if i := strings.LastIndexByte(name, '#'); i >= 0 {
		return name[:i]
	}
	return name
}

// device is the device actor. All fields are owned by its Receive. An idle
// device (connected, nothing to send or acknowledge) keeps only the fields
// before b, which is nil then.
type device struct {
	env  *Env
	rid  string
	conn *actor.PID
	// attaching is a connection waiting for the session record to be
	// written: WELCOME means the device is reachable, so it waits.
	attaching *actor.PID

	// forwarded counts Attach and Deliver messages processed, for the
	// retirement protocol of the directory.
	forwarded uint64

	sessionAt int64  // when the session record was written, unix seconds
	session   uint32 // generation of our session record; 0 before it is saved
	epoch     uint32 // invalidates grace timers that fired late

	// inboxDone means every stored copy for the device is in memory or
	// acknowledged; loading that an inbox page is being read.
	inboxDone, loading bool
	retrying           bool // store work failed or was shed; a retry is scheduled
	retiring, stopping bool
	// bcChecked: the broadcasts the device missed were looked up (once
	// per actor); bcLoading: they are being read, and nothing is sent
	// until then, so that broadcasts go out in id order.
	bcChecked, bcLoading bool

	b *backlog
	// early holds messages paged in from the inbox, or broadcasts caught
	// up on, and acknowledged before their own delivery reached the
	// actor; that delivery, when it comes, must not send them again. Nil
	// for almost every device.
	early *earlyAcks
}

// earlyAcks is a short list of acknowledged message ids whose delivery may
// still arrive. A delivery comes right after its copy is stored, so entries
// older than earlyAckWindow are dropped, and at most maxEarlyAcks kept.
type earlyAcks struct {
	ids []uint64
	at  []time.Time
}

const (
	earlyAckWindow = time.Minute
	maxEarlyAcks   = 32
)

// noteEarlyAck records id, acknowledged before its delivery arrived.
func (d *device) noteEarlyAck(id uint64, now time.Time) {
	if d.early == nil {
		d.early = &earlyAcks{}
	}
	e := d.early
	drop := 0
	for drop < len(e.at) && (now.Sub(e.at[drop]) > earlyAckWindow || len(e.ids)-drop >= maxEarlyAcks) {
		drop++
	}
	e.ids, e.at = append(e.ids[drop:], id), append(e.at[drop:], now)
}

// takeEarlyAck reports whether id was acknowledged before its delivery
// arrived, and forgets it.
func (d *device) takeEarlyAck(id uint64) bool {
	if d.early == nil {
		return false
	}
	i := slices.Index(d.early.ids, id)
	if i < 0 {
		return false
	}
	d.early.ids = slices.Delete(d.early.ids, i, i+1)
	d.early.at = slices.Delete(d.early.at, i, i+1)
	if len(d.early.ids) == 0 {
		d.early = nil
	}
	return true
}

// backlog is the state of a device with something in progress.
type backlog struct {
	queue    []*entry // to send, ascending message id
	inflight []*entry // sent, awaiting ACK, at most Settings.Window

	// The store may hold copies with ids above cursor that are not in
	// memory, unless the device's inboxDone.
	cursor uint64
	sheds  uint64 // messages with a TTL dropped from memory so far
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

	grace *time.Timer // running while the device is disconnected

	// bc is what the actor did with broadcasts and has not yet recorded in
	// the device's broadcast cursor.
	bc *broadcastLog
	// bcCap, unless zero, is the newest broadcast the actor may hold:
	// newer ones wait in the store (a catch-up stopped at
	// maxBroadcastsLoaded, or one was shed). Newer ones delivered live are
	// left to the load that reads them, and the cursor does not pass
	// bcCap, so none is skipped. bcApp, if set, is the app whose
	// broadcasts those are (a catch-up's): the next page is loaded as soon
	// as the queue runs dry, on the same connection. A shed broadcast
	// leaves it empty, and the next connection loads the rest.
	bcCap uint64
	bcApp string
}

// broadcastLog records broadcasts sent, acknowledged and failed, until a
// cursor advance writes them.
type broadcastLog struct {
	sent, delivered, failed []uint64
	advancing               bool // an advance is being written
}

// work returns the backlog, creating it if the device was idle.
func (d *device) work() *backlog {
	if d.b == nil {
		d.b = &backlog{}
	}
	return d.b
}

// settle frees the backlog once nothing is in progress any more.
func (d *device) settle() {
	b := d.b
	if b != nil && d.inboxDone && !d.loading && len(b.queue) == 0 && len(b.inflight) == 0 && b.acking == nil &&
		b.removedWhileLoading == nil && b.pendingAcks == nil && b.grace == nil && b.shedFloor == 0 && b.bc == nil && b.bcCap == 0 {
		d.b = nil
	}
}

func (d *device) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		d.rid = ridOf(ctx.Self().Id)
	case *Attach:
		d.forwarded++
		d.attach(ctx, m.Conn)
		if (!d.bcChecked || d.broadcastCap() != 0) && !d.loadBroadcasts(ctx, m.App, ids.FirstAt(m.Created)) {
			// Shed: the device gets what it missed on its next connection.
			d.env.Log.Warn("worker pool full; missed broadcasts not loaded", "rid", d.rid)
		}
	case *broadcastsLoaded:
		d.broadcastsLoaded(ctx, m)
	case *cursorsAdvanced:
		d.cursorsAdvanced(ctx, m)
	case *Deliver:
		d.forwarded++
		d.deliver(m.Out)
	case *Detach:
		switch {
		case d.conn.Equal(m.Conn):
			d.detach(ctx)
		case d.attaching.Equal(m.Conn):
			d.attaching = nil // gone before its session was saved
			d.detachedState(ctx)
		}
	case *Acked:
		d.ack(ctx, m.IDs)
	case *Heartbeat:
		if d.session != 0 && d.env.Now().Unix()-d.sessionAt > int64(d.env.Settings.SessionTTL/time.Second/2) {
			d.saveSession(ctx)
		}
	case *sessionSaved:
		d.sessionSaved(ctx, m)
	case *inboxLoaded:
		d.loaded(ctx, m)
	case *acksRemoved:
		d.acksRemoved(m)
	case *retryStoreWork:
		d.retrying = false
		d.flushAcks(ctx)
		d.advanceCursor(ctx)
	case *graceExpired:
		if m.epoch == d.epoch && d.conn == nil && d.attaching == nil && !d.stopping {
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
		case d.retiring && d.conn == nil && d.attaching == nil:
			d.askToRetire(ctx)
		}
	case *retireRefused:
		// Messages forwarded before the refusal are processed by now. If
		// none of them brought a connection back, ask again.
		if d.retiring && d.conn == nil && d.attaching == nil {
			d.askToRetire(ctx)
		}
	case *retireGranted:
		d.stop(ctx)
	case *stopNowMessage:
		d.stopping = true
		for _, c := range []*actor.PID{d.conn, d.attaching} {
			if c != nil {
				ctx.Send(c, &Drain{})
			}
		}
		d.conn, d.attaching = nil, nil
		d.cancelGrace()
		d.saveAttempts(ctx)
	case *actor.Stopped:
		for _, c := range []*actor.PID{d.conn, d.attaching} {
			if c != nil {
				ctx.Send(c, &Kick{Err: internalError})
			}
		}
		d.cancelGrace()
		ctx.Send(d.env.Directory.shard(d.rid), &deviceStopped{rid: d.rid, device: ctx.Self()})
		return
	}
	d.pump(ctx)
	d.settle()
}

func (d *device) askToRetire(ctx actor.Context) {
	ctx.Send(d.env.Directory.shard(d.rid), &retireRequest{rid: d.rid, device: ctx.Self(), processed: d.forwarded})
}

func (d *device) attach(ctx actor.Context, conn *actor.PID) {
	if d.stopping {
		ctx.Send(conn, &Drain{})
		return
	}
	for _, old := range []*actor.PID{d.conn, d.attaching} {
		if old != nil && !old.Equal(conn) {
			ctx.Send(old, &Kick{Err: replaced})
		}
	}
	d.requeueInflight()
	d.conn, d.attaching = nil, nil
	d.retiring = false
	d.cancelGrace()
	if d.session != 0 {
		d.attached(ctx, conn)
		return
	}
	d.attaching = conn
	d.saveSession(ctx)
}

// attached takes conn as the device's connection.
func (d *device) attached(ctx actor.Context, conn *actor.PID) {
	d.conn = conn
	ctx.Send(conn, &Attached{Device: ctx.Self()})
}

func (d *device) sessionSaved(ctx actor.Context, m *sessionSaved) {
	if m.err == nil {
		d.session, d.sessionAt = m.generation, m.at.Unix()
	}
	conn := d.attaching
	if conn == nil {
		return // a refresh
	}
	d.attaching = nil
	if m.err != nil {
		// Not routable without a session: let the device come back later
		// rather than sit connected where pushes cannot find it.
		d.env.Log.Warn("saving session failed; device asked to reconnect later", "rid", d.rid, "err", m.err)
		ctx.Send(conn, &Kick{Err: internalError})
		d.detachedState(ctx)
		return
	}
	d.attached(ctx, conn)
}

func (d *device) detach(ctx actor.Context) {
	d.conn = nil
	d.detachedState(ctx)
}

// detachedState starts the grace period of a device without a connection.
func (d *device) detachedState(ctx actor.Context) {
	d.requeueInflight()
	d.epoch++
	epoch, self, root := d.epoch, ctx.Self(), d.env.System.Root
	d.work().grace = time.AfterFunc(d.env.Settings.Grace, func() { root.Send(self, &graceExpired{epoch: epoch}) })
}

func (d *device) cancelGrace() {
	if d.b != nil && d.b.grace != nil {
		d.b.grace.Stop()
		d.b.grace = nil
	}
	d.epoch++
}

// requeueInflight moves unacknowledged messages back to the queue, to be
// sent again on the next connection.
func (d *device) requeueInflight() {
	if d.b == nil {
		return
	}
	for _, e := range d.b.inflight {
		d.insert(e)
	}
	d.b.inflight = d.b.inflight[:0]
}

func (d *device) deliver(out *Outgoing) {
	if d.env.Withdrawn.Has(out.ID) || d.takeEarlyAck(out.ID) {
		return
	}
	offline := d.conn == nil && d.attaching == nil
	if d.known(out.ID) {
		// Paged in from the store before its delivery arrived: while
		// the device is away it still counts as stored offline, once.
		if e := d.queued(out.ID); e != nil && !e.announced {
			e.announced = true
			if offline && out.AckRequested && e.attempts == 0 {
				d.env.Receipts.Add(out.ID, dataservice.CounterStoredOffline, 1)
			}
		}
		return
	}
	if out.AckRequested && out.Broadcast && d.broadcastCap() != 0 && out.ID > d.broadcastCap() {
		return // in the store behind broadcasts not loaded yet: loaded after them
	}
	if out.AckRequested && !out.Broadcast && d.b != nil && d.b.shedFloor != 0 && out.ID > d.b.shedFloor {
		d.shed(out) // in the store already; paged in after what was shed before
		return
	}
	if offline {
		if !out.AckRequested {
			d.env.Receipts.Add(out.ID, dataservice.CounterExpired, 1)
			return
		}
		d.env.Receipts.Add(out.ID, dataservice.CounterStoredOffline, 1)
	}
	d.insert(&entry{out: out, generation: 1, announced: true}) // sent once connected
}

// insert adds e to the queue in message id order, shedding the newest
// message past maxQueue.
func (d *device) insert(e *entry) {
	b := d.work()
	i, _ := slices.BinarySearchFunc(b.queue, e.out.ID, byID)
	b.queue = slices.Insert(b.queue, i, e)
	if len(b.queue) > maxQueue {
		last := b.queue[len(b.queue)-1]
		b.queue = b.queue[:len(b.queue)-1]
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
	if out.Broadcast {
		// Not in the inbox: the device gets it from its app's broadcasts
		// on its next connection.
		if b := d.work(); b.bcCap == 0 || out.ID-1 < b.bcCap {
			b.bcCap = out.ID - 1
		}
		return
	}
	b := d.work()
	b.cursor = min(b.cursor, out.ID-1)
	d.inboxDone = false
	b.sheds++
	if b.shedFloor == 0 || out.ID < b.shedFloor {
		b.shedFloor = out.ID
	}
}

// queued returns the entry of id waiting in the queue, or nil.
func (d *device) queued(id uint64) *entry {
	if d.b == nil {
		return nil
	}
	if i, found := slices.BinarySearchFunc(d.b.queue, id, byID); found {
		return d.b.queue[i]
	}
	return nil
}

func (d *device) known(id uint64) bool {
	b := d.b
	if b == nil {
		return false
	}
	if _, ok := b.acking[id]; ok {
		return true
	}
	for _, e := range b.inflight {
		if e.out.ID == id {
			return true
		}
	}
	_, found := slices.BinarySearchFunc(b.queue, id, byID)
	return found
}

// pump sends queued messages while the window has room, and pages the
// inbox in when the queue runs dry.
func (d *device) pump(ctx actor.Context) {
	if d.conn == nil || d.stopping || d.bcLoading {
		return
	}
	if b := d.b; b != nil && len(b.queue) > 0 {
		s := &d.env.Settings
		now := d.env.Now()
		var batch []*Outgoing
		taken := 0
		for _, e := range b.queue {
			if len(b.inflight) >= s.Window {
				windowFull.Inc()
				break
			}
			taken++
			if !e.out.Expires.IsZero() && now.After(e.out.Expires) {
				continue // expired: the report counts it once the TTL passed
			}
			if d.env.Withdrawn.Has(e.out.ID) {
				continue // canceled: the task that withdrew it counts it
			}
			if len(e.out.Frame)+protocol.TagLen > s.MaxRecord {
				// Larger than the record limit announced in WELCOME: the
				// device would refuse it and reconnect forever. The
				// gateway's payload limit keeps this from happening; if it
				// does, drop the copy.
				d.env.Log.Error("message too large for the device protocol; dropped", "id", e.out.ID, "frame", len(e.out.Frame))
				d.removeStored(ctx, []uint64{e.out.ID}, dataservice.CounterFailed)
				continue
			}
			if int(e.attempts) >= s.MaxAttempts {
				// Never acknowledged: drop the copy; failed is counted if
				// the store still had it (for a broadcast: if the cursor
				// did not cover it yet).
				if e.out.Broadcast {
					d.broadcastDone(e.out.ID, false)
				} else {
					d.removeStored(ctx, []uint64{e.out.ID}, dataservice.CounterFailed)
				}
				continue
			}
			if e.attempts == 0 && e.out.Broadcast && e.out.AckRequested {
				d.broadcastLog().sent = append(d.broadcastLog().sent, e.out.ID)
			}
			e.attempts++
			recordSent(d.env.Receipts, d.rid, e.out, e.attempts) // counts the first: writer.go
			if e.out.AckRequested {
				b.inflight = append(b.inflight, e)
			}
			batch = append(batch, e.out)
		}
		b.queue = slices.Delete(b.queue, 0, taken)
		if len(batch) > 0 {
			ctx.Send(d.conn, &Send{Pushes: batch})
		}
	}
	if d.b == nil || len(d.b.queue) == 0 {
		if !d.inboxDone && !d.loading && !d.retrying {
			d.loadInbox(ctx)
		}
		// The catch-up's next page; if the pool is full, a moment later.
		if b := d.b; b != nil && b.bcCap != 0 && b.bcApp != "" && !d.retrying && !d.loadBroadcasts(ctx, b.bcApp, 0) {
			d.retryLater(ctx, 100*time.Millisecond)
		}
	}
	d.advanceCursor(ctx)
}

func (d *device) loadInbox(ctx actor.Context) {
	b := d.work()
	self, root, data, rid, after, page, sheds := ctx.Self(), d.env.System.Root, d.env.Data, d.rid, b.cursor, d.env.Settings.InboxPage, b.sheds
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
	b := d.work()
	// The page covers the store up to its last id, unless a shed while it
	// was read lowered the cursor below where it started: then the cursor
	// must stay there. Messages shed above the page keep the inbox
	// unfinished even if the page was short.
	if b.cursor == m.after {
		if n := len(m.entries); n > 0 {
			b.cursor = m.entries[n-1].MessageID
		}
		d.inboxDone = len(m.entries) < d.env.Settings.InboxPage && b.sheds == m.sheds
		if d.inboxDone {
			b.shedFloor = 0
		}
	}
	removed := b.removedWhileLoading
	b.removedWhileLoading = nil
	for i, e := range m.entries {
		msg := &m.msgs[i]
		if _, gone := removed[e.MessageID]; gone || msg.ID == 0 || d.known(e.MessageID) || d.env.Withdrawn.Has(e.MessageID) {
			continue
		}
		// insert may shed, lowering the cursor again.
		d.insert(&entry{out: NewOutgoing(msg), attempts: e.Attempts, stored: e.Attempts, generation: e.Generation})
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
		gens, err := data.PutSessions(context.Background(), []dataservice.Session{s}, ttl)
		var gen uint32
		if err == nil {
			gen = gens[0]
		}
		root.Send(self, &sessionSaved{generation: gen, at: s.Since, err: err})
	}); err != nil {
		root.Send(self, &sessionSaved{err: err})
	}
}

// saveAttempts stores changed attempt counts of unacknowledged messages, so
// the redelivery cap holds across device actors; attemptsSaved follows.
func (d *device) saveAttempts(ctx actor.Context) {
	var changed []dataservice.InboxEntry
	if d.b != nil {
		for _, e := range d.b.queue {
			if e.out.AckRequested && e.attempts != e.stored {
				changed = append(changed, dataservice.InboxEntry{
					MessageID: e.out.ID, Attempts: e.attempts, Generation: e.generation,
					Expires: e.out.Expires.Add(dataservice.AckGrace),
				})
			}
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
