package actors

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/internal/ids"
	"github.com/heraldpush/herald/internal/metrics"
	"github.com/heraldpush/herald/internal/workpool"
)

// Writer is the batching writer: a Store whose dense writes go through one
// actor that coalesces them, over a WriterStore.
//
//   - Session writes (one per connection, one per refresh) are merged per
//     device (the latest wins) and written with one PutSessions.
//   - Inbox removals of other callers (RemoveInbox: withdrawals) of all
//     devices are written with one RemoveInbox.
//   - What devices did with messages — copies acknowledged or failed
//     (EndInbox), first sends and other per-device receipts (AddReceipt),
//     and counts made elsewhere (Add) — is committed in settlements
//     (dataservice.SettleStore): one durable, journaled and idempotent
//     step each, numbered in this run of the writer, one at a time. An
//     acknowledged copy is removed, its delivery recorded and counted in
//     the same step, so that a crash of any component loses or doubles
//     no count: a settlement that failed is retried, one the writer did
//     not finish (it was killed) is replayed when a writer of the same
//     name starts (RecoverSettlements). Sends wait up to ReceiptInterval
//     for their acknowledgement, so that most deliveries cost one write
//     of their record; a send is counted once per device, whoever sent
//     it, and a click once it is found genuine.
//   - Broadcast cursor advances (AdvanceCursors, one per ACK of a
//     broadcast) of all devices go with the next settlement too: each
//     cursor moves by compare-and-set and what the move newly covers is
//     counted in the same step (see cursors.go).
//   - Upstream messages of all connections (QueueUpstream, see
//     upstream.go) are written with one EnqueueUpstream, and each
//     connection is told which of its messages are durable.
//
// Sessions, removals, settlements with ends or cursor advances, and
// upstream messages flush as soon as the
// previous flush of their kind is done ("passive feedback"): no added
// latency when idle, large batches under load. Callers of PutSessions,
// RemoveInbox and EndInbox wait for their flush; at most MaxPending of
// them wait at once, and further callers block until one is answered (or
// their context ends) — the backpressure that reaches device actors as a
// full worker pool. Add, AddReceipt and QueueUpstream never block:
// counters are coalesced in a map whose size is bounded by the messages
// in flight, per-device receipts queue up to MaxReceipts (beyond it they
// are dropped, with a warning: their counts are lost), upstream messages
// up to MaxUpstreamBytes (beyond it they are refused, and their devices
// send them again later).
//
// Every other Store method passes through unchanged.
type Writer struct {
	Store
	pid       *actor.PID
	root      *actor.RootContext
	slots     chan struct{}
	mailboxes *workpool.Pool // runs the writer actor's mailbox
}

var (
	_ Store          = (*Writer)(nil)
	_ Receipts       = (*Writer)(nil)
	_ DeviceReceipts = (*Writer)(nil)
	_ InboxEnds      = (*Writer)(nil)
	_ Cursors        = (*Writer)(nil)
)

// InboxEnds end inbox copies — acknowledged (CounterDelivered) or failed
// (CounterFailed) — and count and record each that the call ended, in one
// durable step (see dataservice.SettleStore). The Writer is one.
type InboxEnds interface {
	// EndInbox reports, per end, whether this call ended its copy. On an
	// error the step may still be applied later (its retry).
	EndInbox(ctx context.Context, ends []dataservice.SettleEnd) ([]bool, error)
}

// WriterStore is what a Writer writes its batches to (sessions, inbox
// removals, broadcast cursors, counters and per-device receipts) and
// passes the other calls of Store through to. If it is also a
// dataservice.UpstreamQueue, the Writer batches upstream messages too
// (see Writer.Upstreams).
type WriterStore interface {
	Store
	dataservice.ReportStore
	dataservice.SettleStore
}

// DeviceReceipts are Receipts that also record what happened to a message
// on one device, for the per-device status of messages (see
// dataservice.ReportStore). Implementations must not block.
type DeviceReceipts interface {
	Receipts
	// AddReceipt records r, and counts it in count (if not empty) if r
	// is the first of its event for its message and device. With now,
	// the count is wanted soon, before anything that follows from r; the
	// Writer counts a send in the same step as its record, and before
	// its acknowledgement, whatever now says.
	AddReceipt(r dataservice.Receipt, count dataservice.Counter, now bool)
}

// recordSent records the write of out to rid's connection, its
// attempts-th: the first counts as sent (for a broadcast with a TTL the
// cursor counts it, see cursors.go). Without DeviceReceipts the first is
// counted at once.
func recordSent(r Receipts, rid string, out *Outgoing, attempts uint8) {
	counted := !(out.Broadcast && out.AckRequested)
	dr, ok := r.(DeviceReceipts)
	if !ok {
		if attempts == 1 && counted {
			r.Add(out.ID, dataservice.CounterSent, 1)
		}
		return
	}
	rec := dataservice.Receipt{MessageID: out.ID, RegistrationID: rid, Event: dataservice.ReceiptSent, At: time.Now(), Retain: retainOf(out)}
	switch {
	case attempts > 1:
		rec.Event, rec.Attempts = dataservice.ReceiptAttempts, int(attempts)
		dr.AddReceipt(rec, "", false)
	case counted:
		// Counted now, before the delivery can be: a report never shows
		// more delivered than sent. Taken back if another device actor
		// sent it first.
		dr.AddReceipt(rec, dataservice.CounterSent, true)
	default:
		dr.AddReceipt(rec, "", false)
	}
}

// retainOf is when the report of out's message ends: its expiry plus
// dataservice.ReportRetention; for an online-only message, its creation
// (the time of its id) plus ReportRetention.
func retainOf(out *Outgoing) time.Time {
	if out.Expires.IsZero() {
		return ids.Time(out.ID).Add(dataservice.ReportRetention)
	}
	return out.Expires.Add(dataservice.ReportRetention)
}

// recordRemoved counts c once for message id on rid, whose inbox copy a
// removal found (and so ended), and records it on the device: delivered
// or failed. Only for Receipts that are not InboxEnds (those count in the
// removal).
func recordRemoved(r Receipts, rid string, id uint64, c dataservice.Counter) {
	r.Add(id, c, 1)
	dr, ok := r.(DeviceReceipts)
	if !ok {
		return
	}
	var ev dataservice.ReceiptEvent
	switch c {
	case dataservice.CounterDelivered:
		ev = dataservice.ReceiptDelivered
	case dataservice.CounterFailed:
		ev = dataservice.ReceiptFailed
	default:
		return
	}
	dr.AddReceipt(dataservice.Receipt{MessageID: id, RegistrationID: rid, Event: ev, At: time.Now()}, "", false)
}

// WriterConfig configures a Writer. Zero fields take the defaults.
type WriterConfig struct {
	// Name names the writer across restarts, in the journal of its
	// settlements (a connector's id): a writer started under a name
	// replays what earlier runs under it left unfinished. 1 to 48 bytes
	// without '/'; empty means a name of its own, which nothing replays.
	Name string
	// Interval is the longest a count waits before it is written. Zero
	// means 50ms.
	Interval time.Duration
	// MaxBatch bounds one settlement (its ends, sends, receipts and
	// counts), and flushes early once that many wait. Zero means 2048.
	MaxBatch int
	// MaxPending bounds the callers waiting for a flush. Zero means 16384.
	MaxPending int
	// ReceiptInterval is the longest a send waits for its
	// acknowledgement before it is written (and counted). Zero means
	// 250ms.
	ReceiptInterval time.Duration
	// MaxReceipts bounds the per-device receipts waiting to be written;
	// more are dropped. Zero means 262144.
	MaxReceipts int
	// MaxUpstreamBytes bounds the upstream messages (see upstream.go)
	// waiting to be queued or being queued, by their size; beyond it
	// QueueUpstream refuses with ErrUpstreamsBusy. Zero means 32 MiB.
	MaxUpstreamBytes int
	// UpstreamBatchBytes bounds one EnqueueUpstream call, by the size of
	// its messages. Zero means 1 MiB.
	UpstreamBatchBytes int
}

// Messages of the writer actor.
type (
	sessionWrite struct {
		s     dataservice.Session
		ttl   time.Duration
		reply chan sessionResult
	}
	sessionResult struct {
		generation uint32
		err        error
	}
	inboxRemoval struct {
		copies []dataservice.InboxCopy
		reply  chan removalResult
	}
	removalResult struct {
		existed []bool
		err     error
	}
	receipt struct {
		key counterKey
		n   int64
	}
	counterKey struct {
		id uint64
		c  dataservice.Counter
	}
	deviceReceipt struct {
		r     dataservice.Receipt
		count dataservice.Counter
	}
	endRequest struct {
		ends  []dataservice.SettleEnd
		reply chan removalResult
	}
	pendingSend struct {
		s  dataservice.SettleSend
		at time.Time // when it reached the writer
	}
	settleBatch struct {
		st      dataservice.Settlement
		ends    []*endRequest
		cursors []*cursorAdvance
	}
	settled struct {
		b   *settleBatch
		res dataservice.SettleResult
		err error
	}
	settleRetry   struct{}
	cursorAdvance struct {
		a    CursorAdvance
		done func(error) // told the outcome
	}
	flushTick    struct{}
	sessionsDone struct{}
	removalsDone struct{}
	// flushAll asks for everything pending to be written. done gets the
	// outcome once nothing is pending; failed, the latest failure of a
	// write meanwhile (it is retried), so that a Flush whose context ends
	// can say what was not written.
	flushAll struct{ done, failed chan error }
)

// NewWriter starts a writer over data.
func NewWriter(system *actor.ActorSystem, cfg WriterConfig, data WriterStore, log *slog.Logger) *Writer {
	if cfg.Interval <= 0 {
		cfg.Interval = 50 * time.Millisecond
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 2048
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = 16384
	}
	if cfg.ReceiptInterval <= 0 {
		cfg.ReceiptInterval = 250 * time.Millisecond
	}
	if cfg.MaxReceipts <= 0 {
		cfg.MaxReceipts = 1 << 18
	}
	if cfg.MaxUpstreamBytes <= 0 {
		cfg.MaxUpstreamBytes = 32 << 20
	}
	if cfg.UpstreamBatchBytes <= 0 {
		cfg.UpstreamBatchBytes = 1 << 20
	}
	// On a worker of its own: protoactor would start a goroutine, and
	// grow its stack, for nearly every receipt.
	mailboxes := NewMailboxPoolForOne()
	runBase := newRunName()
	recover := cfg.Name != ""
	if !recover {
		cfg.Name = "w" + runBase // nothing to replay
	}
	pid := system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return &writer{cfg: cfg, data: data, log: log, root: system.Root,
			sessions: make(map[time.Duration]map[string]*pendingSession), deltas: make(map[counterKey]int64),
			runBase: runBase, run: runBase + ".0", prev: make(map[uint64]uint64)}
	}, onPool(mailboxes)))
	if recover {
		go recoverSettlements(data, cfg.Name, runBase, log)
	}
	return &Writer{Store: data, pid: pid, root: system.Root, slots: make(chan struct{}, cfg.MaxPending), mailboxes: mailboxes}
}

// Close stops the writer's worker once its actor system has shut down;
// what reaches the writer later still runs, on goroutines of its own.
func (w *Writer) Close() { w.mailboxes.Close() }

// acquire takes a waiting slot, blocking while MaxPending callers wait.
func (w *Writer) acquire(ctx context.Context) error {
	select {
	case w.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// PutSessions implements dataservice.SessionStore through the batch.
func (w *Writer) PutSessions(ctx context.Context, sessions []dataservice.Session, ttl time.Duration) ([]uint32, error) {
	if err := w.acquire(ctx); err != nil {
		return nil, err
	}
	defer func() { <-w.slots }()
	replies := make([]chan sessionResult, len(sessions))
	for i, s := range sessions {
		replies[i] = make(chan sessionResult, 1)
		w.root.Send(w.pid, &sessionWrite{s: s, ttl: ttl, reply: replies[i]})
	}
	gens := make([]uint32, len(sessions))
	for i, r := range replies {
		select {
		case res := <-r:
			if res.err != nil {
				return nil, res.err
			}
			gens[i] = res.generation
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return gens, nil
}

// RemoveInbox implements dataservice.InboxStore through the batch.
func (w *Writer) RemoveInbox(ctx context.Context, copies []dataservice.InboxCopy) ([]bool, error) {
	if err := w.acquire(ctx); err != nil {
		return nil, err
	}
	defer func() { <-w.slots }()
	reply := make(chan removalResult, 1)
	w.root.Send(w.pid, &inboxRemoval{copies: copies, reply: reply})
	select {
	case res := <-reply:
		return res.existed, res.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// AdvanceCursors implements Cursors through the batch.
func (w *Writer) AdvanceCursors(ctx context.Context, advances []CursorAdvance) error {
	if err := w.acquire(ctx); err != nil {
		return err
	}
	defer func() { <-w.slots }()
	reply := make(chan error, len(advances))
	for _, a := range advances {
		w.AdvanceCursor(a, func(err error) { reply <- err })
	}
	var errs []error
	for range advances {
		select {
		case err := <-reply:
			errs = append(errs, err)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return errors.Join(errs...)
}

// AdvanceCursor implements AsyncCursors: the advance joins the next batch
// and done is called with its outcome. It never blocks, and holds no
// goroutine while the advance waits.
func (w *Writer) AdvanceCursor(a CursorAdvance, done func(error)) {
	w.root.Send(w.pid, &cursorAdvance{a: a, done: done})
}

// EndInbox implements InboxEnds through the next settlement.
func (w *Writer) EndInbox(ctx context.Context, ends []dataservice.SettleEnd) ([]bool, error) {
	if err := w.acquire(ctx); err != nil {
		return nil, err
	}
	defer func() { <-w.slots }()
	reply := make(chan removalResult, 1)
	w.root.Send(w.pid, &endRequest{ends: ends, reply: reply})
	select {
	case res := <-reply:
		return res.existed, res.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Add implements Receipts. It never blocks.
func (w *Writer) Add(id uint64, counter dataservice.Counter, n int64) {
	w.root.Send(w.pid, &receipt{key: counterKey{id, counter}, n: n})
}

// AddReceipt implements DeviceReceipts. It never blocks.
func (w *Writer) AddReceipt(r dataservice.Receipt, count dataservice.Counter, now bool) {
	w.root.Send(w.pid, &deviceReceipt{r: r, count: count})
}

// Flush writes everything handed to the writer before the call, and waits.
func (w *Writer) Flush(ctx context.Context) error {
	done, failed := make(chan error, 1), make(chan error, 1)
	w.root.Send(w.pid, &flushAll{done: done, failed: failed})
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		select {
		case err := <-failed:
			return fmt.Errorf("actors: writer: flush: %w: %w", ctx.Err(), err)
		default:
			return fmt.Errorf("actors: writer: flush: %w", ctx.Err())
		}
	}
}

// flushRetry is how soon a failed settlement is retried while a Flush
// waits (else after a second).
const flushRetry = 200 * time.Millisecond

type pendingSession struct {
	s       dataservice.Session
	replies []chan sessionResult
}

// writer is the writer actor. Its fields are owned by its Receive.
type writer struct {
	cfg  WriterConfig
	data WriterStore
	log  *slog.Logger
	root *actor.RootContext

	sessions        map[time.Duration]map[string]*pendingSession // by TTL, then device
	sessionsFlowing bool
	removals        []*inboxRemoval
	removalsFlowing bool
	cursors         []*cursorAdvance // broadcast cursor advances, for the next settlement
	ups             upstreamLane

	// What the next settlements commit.
	ends   []*endRequest
	sends  []pendingSend
	others []dataservice.Receipt
	deltas map[counterKey]int64
	// settling is the settlement in flight (or failed and waiting for its
	// retry); one at a time, so that each run's steps apply in order.
	settling *settleBatch
	// runBase names this process's writer; run is the current run
	// (runBase.N), seq its last step, prev the step that last counted
	// each message in this run (a new run starts when prev grows large).
	runBase, run string
	runs         int
	seq          uint64
	prev         map[uint64]uint64
	dropped      int  // receipts dropped since the last warning
	scheduled    bool // a flushTick is on its way
	waiting      []*flushAll
}

func (w *writer) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *sessionWrite:
		byRID := w.sessions[m.ttl]
		if byRID == nil {
			byRID = make(map[string]*pendingSession)
			w.sessions[m.ttl] = byRID
		}
		p := byRID[m.s.RegistrationID]
		if p == nil {
			p = &pendingSession{}
			byRID[m.s.RegistrationID] = p
		}
		p.s = m.s // the latest write of a device wins
		p.replies = append(p.replies, m.reply)
		w.flushSessions(ctx)
	case *sessionsDone:
		w.sessionsFlowing = false
		w.flushSessions(ctx)
	case *inboxRemoval:
		w.removals = append(w.removals, m)
		w.flushRemovals(ctx)
	case *removalsDone:
		w.removalsFlowing = false
		w.flushRemovals(ctx)
	case *cursorAdvance:
		w.cursors = append(w.cursors, m)
		w.flushSettle(ctx, false)
	case *endRequest:
		w.ends = append(w.ends, m)
		w.flushSettle(ctx, false)
	case *receipt:
		w.deltas[m.key] += m.n
		w.pending(ctx)
	case *deviceReceipt:
		if len(w.sends)+len(w.others) >= w.cfg.MaxReceipts {
			w.dropped++
			break
		}
		if m.r.Event == dataservice.ReceiptSent {
			w.sends = append(w.sends, pendingSend{s: dataservice.SettleSend{Receipt: m.r, Count: m.count == dataservice.CounterSent}, at: time.Now()})
		} else {
			w.others = append(w.others, m.r)
		}
		w.pending(ctx)
	case *settled:
		w.settledBatch(ctx, m)
	case *settleRetry:
		w.settle(ctx, w.settling)
	case *flushTick:
		w.scheduled = false
		w.flushSettle(ctx, false)
	case *upstreamWrite:
		w.queueUpstream(ctx, m)
	case *upstreamsDone:
		w.upstreamsDone(ctx, m)
	case *flushAll:
		w.waiting = append(w.waiting, m)
		w.flushSettle(ctx, true)
	}
	w.release(nil)
}

// pending settles at once when a batch is full, else within Interval.
func (w *writer) pending(ctx actor.Context) {
	if len(w.deltas)+len(w.others)+len(w.sends) >= w.cfg.MaxBatch {
		w.flushSettle(ctx, false)
		return
	}
	w.schedule(ctx, w.cfg.Interval)
}

// flushSessions writes the pending sessions unless a flush is in flight.
func (w *writer) flushSessions(ctx actor.Context) {
	if w.sessionsFlowing || len(w.sessions) == 0 {
		return
	}
	batches := w.sessions
	w.sessions = make(map[time.Duration]map[string]*pendingSession)
	w.sessionsFlowing = true
	self, root, data := ctx.Self(), w.root, w.data
	go func() {
		for ttl, byRID := range batches {
			ss := make([]dataservice.Session, 0, len(byRID))
			ps := make([]*pendingSession, 0, len(byRID))
			for _, p := range byRID {
				ss = append(ss, p.s)
				ps = append(ps, p)
			}
			start := metrics.Now()
			gens, err := data.PutSessions(context.Background(), ss, ttl)
			flushSessions.done(len(ss), start, err)
			for i, p := range ps {
				res := sessionResult{err: err}
				if err == nil {
					res.generation = gens[i]
				}
				for _, r := range p.replies {
					r <- res
				}
			}
		}
		root.Send(self, &sessionsDone{})
	}()
}

// flushRemovals writes the pending inbox removals unless a flush is in
// flight.
func (w *writer) flushRemovals(ctx actor.Context) {
	if w.removalsFlowing || len(w.removals) == 0 {
		return
	}
	batch := w.removals
	w.removals = nil
	w.removalsFlowing = true
	self, root, data := ctx.Self(), w.root, w.data
	go func() {
		var copies []dataservice.InboxCopy
		for _, r := range batch {
			copies = append(copies, r.copies...)
		}
		start := metrics.Now()
		existed, err := data.RemoveInbox(context.Background(), copies)
		flushRemovals.done(len(copies), start, err)
		off := 0
		for _, r := range batch {
			res := removalResult{err: err}
			if err == nil {
				res.existed = existed[off : off+len(r.copies)]
			}
			off += len(r.copies)
			r.reply <- res
		}
		root.Send(self, &removalsDone{})
	}()
}

// maxPrev bounds the messages a run remembers the last step of; past it
// the writer starts a new run.
const maxPrev = 1 << 16

// maxSettleItems bounds the ends, sends, receipts, cursor advances and
// counts of one settlement.
const maxSettleItems = 2048

// flushSettle commits what is pending in one settlement, unless one is in
// flight: the ends of up to MaxBatch copies, the sends acknowledged in it
// or older than ReceiptInterval (all with all), other receipts and
// counts, up to MaxBatch of each.
func (w *writer) flushSettle(ctx actor.Context, all bool) {
	if w.dropped > 0 {
		w.log.Warn("per-device receipts dropped: too many waiting to be written", "dropped", w.dropped, "waiting", len(w.sends)+len(w.others))
		receiptsDropped.Add(w.dropped)
		w.dropped = 0
	}
	if w.settling != nil {
		return
	}
	// Everything of one settlement is journaled in one record of at most
	// dataservice.MaxValueLen: maxSettleItems of ~250 bytes fit.
	limit := min(w.cfg.MaxBatch, maxSettleItems)
	b := &settleBatch{}
	st := &b.st
	n := 0
	for n < len(w.ends) && (len(st.Ends) == 0 || len(st.Ends)+len(w.ends[n].ends) <= limit) {
		b.ends = append(b.ends, w.ends[n])
		st.Ends = append(st.Ends, w.ends[n].ends...)
		n++
	}
	w.ends = slices.Delete(w.ends, 0, n)
	ended := make(map[dataservice.InboxCopy]bool, len(st.Ends))
	for _, e := range st.Ends {
		ended[e.Copy] = true
	}
	now := time.Now()
	room := limit - len(st.Ends)            // what the rest may take
	n = min(len(w.cursors), max(room, 0)/2) // an advance and its receipt
	room -= 2 * n
	b.cursors = slices.Clone(w.cursors[:n])
	w.cursors = slices.Delete(w.cursors, 0, n)
	for _, c := range b.cursors {
		a := c.a
		st.Cursors = append(st.Cursors, dataservice.SettleCursor{RID: a.RID, Sent: a.Sent, Acked: a.Acked, Delivered: a.Delivered, Failed: a.Failed})
		// Per device, what the device did.
		for _, l := range []struct {
			ids []uint64
			ev  dataservice.ReceiptEvent
		}{{a.Delivered, dataservice.ReceiptDelivered}, {a.Failed, dataservice.ReceiptFailed}} {
			for _, id := range l.ids {
				st.Receipts = append(st.Receipts, dataservice.Receipt{MessageID: id, RegistrationID: a.RID, Event: l.ev, At: now})
				ended[dataservice.InboxCopy{RegistrationID: a.RID, MessageID: id}] = true
			}
		}
	}
	young := time.Duration(0)
	kept := w.sends[:0]
	for _, p := range w.sends {
		age := now.Sub(p.at)
		c := dataservice.InboxCopy{RegistrationID: p.s.Receipt.RegistrationID, MessageID: p.s.Receipt.MessageID}
		if room > 0 && (all || ended[c] || age >= w.cfg.ReceiptInterval) {
			st.Sends = append(st.Sends, p.s)
			room--
			continue
		}
		if age < w.cfg.ReceiptInterval {
			young = max(young, w.cfg.ReceiptInterval-age)
		}
		kept = append(kept, p)
	}
	clear(w.sends[len(kept):])
	w.sends = kept
	// A click counts only once its device's receipt of the message is
	// settled (dataservice.ReportStore.RecordReceipts), and it reaches the
	// writer from the connection while the ACK goes through the device
	// actor: it may come first. So a click waits, as a send does, for its
	// copy's end or send in the same settlement, or ReceiptInterval, and
	// never goes before a send of its copy still waiting here.
	waitingSends := make(map[dataservice.InboxCopy]bool, len(kept))
	for _, p := range kept {
		waitingSends[dataservice.InboxCopy{RegistrationID: p.s.Receipt.RegistrationID, MessageID: p.s.Receipt.MessageID}] = true
	}
	for _, sd := range st.Sends {
		ended[dataservice.InboxCopy{RegistrationID: sd.Receipt.RegistrationID, MessageID: sd.Receipt.MessageID}] = true
	}
	others := w.others[:0]
	for _, r := range w.others {
		if r.Event == dataservice.ReceiptClicked && room > 0 {
			c := dataservice.InboxCopy{RegistrationID: r.RegistrationID, MessageID: r.MessageID}
			age := now.Sub(r.At)
			if waitingSends[c] || (!all && !ended[c] && age < w.cfg.ReceiptInterval) {
				if age < w.cfg.ReceiptInterval {
					young = max(young, w.cfg.ReceiptInterval-age)
				}
				others = append(others, r)
				continue
			}
		}
		if room <= 0 {
			others = append(others, r)
			continue
		}
		st.Receipts = append(st.Receipts, r)
		room--
	}
	clear(w.others[len(others):])
	w.others = others
	for key, d := range w.deltas {
		if room <= 0 {
			break
		}
		room--
		st.Deltas = append(st.Deltas, dataservice.CounterDelta{MessageID: key.id, Counter: key.c, N: d})
		delete(w.deltas, key)
	}
	if len(st.Ends)+len(st.Sends)+len(st.Receipts)+len(st.Deltas)+len(st.Cursors) == 0 {
		if len(w.sends) > 0 || len(w.others) > 0 {
			w.schedule(ctx, max(young, time.Millisecond))
		}
		return
	}
	w.seq++
	st.Writer, st.Run, st.Seq = w.cfg.Name, w.run, w.seq
	for _, id := range dataservice.SettlementMessages(st) {
		if p, ok := w.prev[id]; ok {
			if st.Prev == nil {
				st.Prev = make(map[uint64]uint64)
			}
			st.Prev[id] = p
		}
	}
	w.settle(ctx, b)
}

// settle sends b to the store.
func (w *writer) settle(ctx actor.Context, b *settleBatch) {
	w.settling = b
	self, root, data := ctx.Self(), w.root, w.data
	go func() {
		start := metrics.Now()
		res, err := data.Settle(context.Background(), b.st)
		flushSettlements.done(len(b.st.Ends)+len(b.st.Sends)+len(b.st.Receipts)+len(b.st.Cursors)+len(b.st.Deltas), start, err)
		root.Send(self, &settled{b: b, res: res, err: err})
	}()
}

func (w *writer) settledBatch(ctx actor.Context, m *settled) {
	b := m.b
	if errors.Is(m.err, dataservice.ErrInvalid) {
		// A retry would fail the same way: the writer's bug. Dropped, so
		// that the writer goes on; its counts are lost.
		w.log.Error("settlement refused; dropped", "seq", b.st.Seq, "err", m.err)
		for _, r := range b.ends {
			r.reply <- removalResult{err: m.err}
		}
		for _, c := range b.cursors {
			c.done(m.err)
		}
		w.settling = nil
		w.release(m.err)
		return
	}
	if m.err != nil {
		// Retried, as a replay, until it is applied: the steps of a run
		// apply in order. Its callers learn of the failure now: their
		// copies stay until the retry removes them.
		w.log.Warn("settling deliveries failed; will retry", "seq", b.st.Seq, "err", m.err)
		for _, r := range b.ends {
			r.reply <- removalResult{err: m.err}
		}
		for _, c := range b.cursors {
			c.done(m.err) // the device retries; a move made twice counts once
		}
		b.ends, b.cursors = nil, nil
		b.st.Replay = true
		retry := time.Second
		if w.flushFailed(b, m.err) {
			retry = flushRetry // a Flush waits: at shutdown the store may be recovering
		}
		self, root := ctx.Self(), w.root
		time.AfterFunc(retry, func() { root.Send(self, &settleRetry{}) })
		return
	}
	off := 0
	for _, r := range b.ends {
		r.reply <- removalResult{existed: m.res.Ended[off : off+len(r.ends)]}
		off += len(r.ends)
	}
	for _, c := range b.cursors {
		c.done(nil)
	}
	w.settling = nil
	for _, id := range m.res.Marked {
		w.prev[id] = b.st.Seq
	}
	if len(w.prev) > maxPrev {
		// A new run: its marks start afresh, and so does the memory of
		// the old run's (see dataservice.SettleStore).
		w.runs++
		w.run = w.runBase + "." + strconv.Itoa(w.runs)
		w.seq = 0
		w.prev = make(map[uint64]uint64)
	}
	if len(w.ends) > 0 || len(w.cursors) > 0 || len(w.waiting) > 0 || len(w.deltas)+len(w.others)+len(w.sends) >= w.cfg.MaxBatch {
		w.flushSettle(ctx, len(w.waiting) > 0)
	} else if len(w.deltas)+len(w.others)+len(w.sends) > 0 {
		w.schedule(ctx, w.cfg.Interval)
	}
}

// flushFailed tells waiting Flush callers that the settlement b failed
// (it is retried) and what is not written yet. It reports whether a Flush
// waits.
func (w *writer) flushFailed(b *settleBatch, err error) bool {
	if len(w.waiting) == 0 {
		return false
	}
	err = fmt.Errorf("settlement %d and %d receipts, %d counts after it not written yet: %w",
		b.st.Seq, len(w.sends)+len(w.others), len(w.deltas), err)
	for _, f := range w.waiting {
		select {
		case <-f.failed: // replaced by the latest
		default:
		}
		f.failed <- err
	}
	return true
}

// release answers Flush callers once nothing is pending or flowing.
func (w *writer) release(err error) {
	if len(w.waiting) == 0 {
		return
	}
	if err == nil && (w.settling != nil || len(w.ends) > 0 || len(w.sends) > 0 || len(w.others) > 0 || len(w.deltas) > 0 ||
		w.sessionsFlowing || len(w.sessions) > 0 || w.removalsFlowing || len(w.removals) > 0 ||
		len(w.cursors) > 0 || !w.upstreamsIdle()) {
		return
	}
	for _, f := range w.waiting {
		f.done <- err
	}
	w.waiting = nil
}

// schedule makes sure a flushTick arrives within after.
func (w *writer) schedule(ctx actor.Context, after time.Duration) {
	if w.scheduled {
		return
	}
	w.scheduled = true
	self, root := ctx.Self(), w.root
	time.AfterFunc(after, func() { root.Send(self, &flushTick{}) })
}

// newRunName names a run of a writer: random, so that no two processes
// share one.
func newRunName() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// recoverSettlements replays what earlier runs of the writer name left
// unfinished, retrying while the store fails.
func recoverSettlements(data dataservice.SettleStore, name, run string, log *slog.Logger) {
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 10*time.Second) {
		n, err := data.RecoverSettlements(context.Background(), name, run)
		if err == nil {
			if n > 0 {
				log.Info("replayed unfinished settlements of an earlier run", "writer", name, "settlements", n)
			}
			return
		}
		if errors.Is(err, dataservice.ErrClosed) {
			return
		}
		log.Warn("replaying unfinished settlements failed; will retry", "writer", name, "err", err)
		time.Sleep(wait)
	}
}
