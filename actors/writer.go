package actors

import (
	"context"
	"errors"
	"log/slog"
	"slices"
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
//   - Inbox removals (one per ACK) of all devices are written with one
//     RemoveInbox.
//   - Delivery receipts (Add, several per push) are summed per message and
//     counter and written with one AddCounters every Interval.
//   - Broadcast cursor advances (AdvanceCursors, one per ACK of a
//     broadcast) of all devices are applied together (see cursors.go).
//   - Per-device receipts (AddReceipt: sent, delivered, failed, clicked) are
//     written with one RecordReceipts every ReceiptInterval, long enough
//     that most sends meet their acknowledgement in the same batch (one
//     store write for both, see dataservice.ReportStore). Whether they are new
//     makes the counts exact when a device gets a message twice, through
//     two device actors: a send is counted at once and taken back if its
//     device had been sent the message before; a click is counted once
//     RecordReceipts accepts it.
//   - Upstream messages of all connections (QueueUpstream, see
//     upstream.go) are written with one EnqueueUpstream, and each
//     connection is told which of its messages are durable.
//
// Sessions, removals and upstream messages flush as soon as the previous
// flush of their kind is done ("passive feedback"): no added latency when
// idle, large batches under load. Callers of PutSessions and RemoveInbox
// wait for their flush; at most MaxPending of them wait at once, and
// further callers block until one is answered (or their context ends) —
// the backpressure that reaches device actors as a full worker pool. Add,
// AddReceipt and QueueUpstream never block: counters are coalesced in a
// map whose size is bounded by the messages in flight, per-device receipts
// queue up to MaxReceipts (beyond it they are dropped, with a warning:
// their counts are lost), upstream messages up to MaxUpstreamBytes (beyond
// it they are refused, and their devices send them again later).
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
	_ Cursors        = (*Writer)(nil)
)

// WriterStore is what a Writer writes its batches to (sessions, inbox
// removals, broadcast cursors, counters and per-device receipts) and
// passes the other calls of Store through to. If it is also a
// dataservice.UpstreamQueue, the Writer batches upstream messages too
// (see Writer.Upstreams).
type WriterStore interface {
	Store
	dataservice.ReportStore
}

// DeviceReceipts are Receipts that also record what happened to a message
// on one device, for the per-device status of messages (see
// dataservice.ReportStore). Implementations must not block.
type DeviceReceipts interface {
	Receipts
	// AddReceipt records r, and counts it in count (if not empty) if r
	// is the first of its event for its message and device
	// (RecordReceipts reports it new). With now, count is added to at
	// once, so that it shows before anything that follows from r, and
	// taken back if r turns out not to be new; otherwise it is added
	// once r turns out new.
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
// or failed.
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
	// Interval is the longest a receipt waits before it is written. Zero
	// means 50ms.
	Interval time.Duration
	// MaxBatch flushes receipts early once this many distinct counters
	// are pending. Zero means 4096.
	MaxBatch int
	// MaxPending bounds the callers waiting for a flush. Zero means 16384.
	MaxPending int
	// ReceiptInterval is the longest a per-device receipt waits before it
	// is written (and a click or a send found twice is counted). Zero
	// means 250ms.
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
		r       dataservice.Receipt
		count   dataservice.Counter
		counted bool // count was added already; take it back if r is not new
		retried bool // a RecordReceipts of r failed: it may have recorded it
	}
	receiptsDone struct {
		batch    []deviceReceipt
		recorded []bool
		err      error
	}
	cursorAdvance struct {
		a    CursorAdvance
		done func(error) // told the outcome
	}
	flushTick    struct{}
	receiptsTick struct{}
	sessionsDone struct{}
	removalsDone struct{}
	cursorsDone  struct{}
	countersDone struct {
		deltas []dataservice.CounterDelta
		err    error
	}
	flushAll struct{ done chan error }
)

// NewWriter starts a writer over data.
func NewWriter(system *actor.ActorSystem, cfg WriterConfig, data WriterStore, log *slog.Logger) *Writer {
	if cfg.Interval <= 0 {
		cfg.Interval = 50 * time.Millisecond
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 4096
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
	pid := system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return &writer{cfg: cfg, data: data, log: log, root: system.Root,
			sessions: make(map[time.Duration]map[string]*pendingSession), counters: make(map[counterKey]int64)}
	}, onPool(mailboxes)))
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

// Add implements Receipts. It never blocks.
func (w *Writer) Add(id uint64, counter dataservice.Counter, n int64) {
	w.root.Send(w.pid, &receipt{key: counterKey{id, counter}, n: n})
}

// AddReceipt implements DeviceReceipts. It never blocks.
func (w *Writer) AddReceipt(r dataservice.Receipt, count dataservice.Counter, now bool) {
	w.root.Send(w.pid, &deviceReceipt{r: r, count: count, counted: now && count != ""})
}

// Flush writes everything handed to the writer before the call, and waits.
func (w *Writer) Flush(ctx context.Context) error {
	done := make(chan error, 1)
	w.root.Send(w.pid, &flushAll{done: done})
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

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

	sessions          map[time.Duration]map[string]*pendingSession // by TTL, then device
	sessionsFlowing   bool
	removals          []*inboxRemoval
	removalsFlowing   bool
	cursors           []*cursorAdvance
	cursorsFlowing    bool
	counters          map[counterKey]int64
	countersFlowing   bool
	receipts          []deviceReceipt
	receiptsFlowing   bool
	ups               upstreamLane
	dropped           int  // receipts dropped since the last warning
	scheduled         bool // a flushTick is on its way
	receiptsScheduled bool // a receiptsTick is on its way
	waiting           []chan error
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
		w.flushCursors(ctx)
	case *cursorsDone:
		w.cursorsFlowing = false
		w.flushCursors(ctx)
	case *receipt:
		w.counters[m.key] += m.n
		if len(w.counters) >= w.cfg.MaxBatch {
			w.flushCounters(ctx)
		} else {
			w.schedule(ctx, w.cfg.Interval)
		}
	case *deviceReceipt:
		if m.counted {
			// Counted at once, with the next flush of counters.
			w.counters[counterKey{m.r.MessageID, m.count}]++
			if len(w.counters) >= w.cfg.MaxBatch {
				w.flushCounters(ctx)
			} else {
				w.schedule(ctx, w.cfg.Interval)
			}
		}
		if len(w.receipts) >= w.cfg.MaxReceipts {
			w.dropped++ // a count made at once stays
			break
		}
		w.receipts = append(w.receipts, *m)
		if len(w.receipts) >= w.cfg.MaxBatch {
			w.flushReceipts(ctx)
		} else {
			w.scheduleReceipts(ctx, w.cfg.ReceiptInterval)
		}
	case *receiptsDone:
		w.receiptsDone(ctx, m)
	case *receiptsTick:
		w.receiptsScheduled = false
		w.flushReceipts(ctx)
	case *flushTick:
		w.scheduled = false
		w.flushCounters(ctx)
	case *countersDone:
		w.countersDone(ctx, m)
	case *upstreamWrite:
		w.queueUpstream(ctx, m)
	case *upstreamsDone:
		w.upstreamsDone(ctx, m)
	case *flushAll:
		w.waiting = append(w.waiting, m.done)
		w.flushCounters(ctx)
		w.flushReceipts(ctx)
	}
	w.release(nil)
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

// flushCursors applies the pending cursor advances unless a flush is in
// flight. Advances of one device in one batch are merged.
func (w *writer) flushCursors(ctx actor.Context) {
	if w.cursorsFlowing || len(w.cursors) == 0 {
		return
	}
	batch := w.cursors
	w.cursors = nil
	w.cursorsFlowing = true
	self, root, data := ctx.Self(), w.root, w.data
	receipts := selfReceipts{root: root, pid: self}
	go func() {
		byRID := make(map[string]int)
		var merged []CursorAdvance
		for _, c := range batch {
			i, ok := byRID[c.a.RID]
			if !ok {
				byRID[c.a.RID] = len(merged)
				merged = append(merged, c.a)
				continue
			}
			m := &merged[i]
			m.Sent = append(m.Sent, c.a.Sent...)
			m.Acked = max(m.Acked, c.a.Acked)
			m.Delivered = append(m.Delivered, c.a.Delivered...)
			m.Failed = append(m.Failed, c.a.Failed...)
		}
		start := metrics.Now()
		err := advanceCursors(context.Background(), data, receipts, merged)
		flushCursors.done(len(merged), start, err)
		if err == nil {
			// Per device, what the device did; the cursors counted it.
			for _, a := range merged {
				for _, list := range []struct {
					ids []uint64
					ev  dataservice.ReceiptEvent
				}{{a.Delivered, dataservice.ReceiptDelivered}, {a.Failed, dataservice.ReceiptFailed}} {
					for _, id := range list.ids {
						root.Send(self, &deviceReceipt{r: dataservice.Receipt{MessageID: id, RegistrationID: a.RID, Event: list.ev, At: time.Now()}})
					}
				}
			}
		}
		if err != nil {
			w.log.Warn("recording broadcast deliveries failed; the devices retry", "devices", len(merged), "err", err)
		}
		for _, c := range batch {
			c.done(err)
		}
		root.Send(self, &cursorsDone{})
	}()
}

// selfReceipts counts receipts into the writer actor itself.
type selfReceipts struct {
	root *actor.RootContext
	pid  *actor.PID
}

func (r selfReceipts) Add(id uint64, c dataservice.Counter, n int64) {
	r.root.Send(r.pid, &receipt{key: counterKey{id, c}, n: n})
}

// flushCounters writes the pending receipts unless a flush is in flight.
func (w *writer) flushCounters(ctx actor.Context) {
	if w.countersFlowing || len(w.counters) == 0 {
		return
	}
	deltas := make([]dataservice.CounterDelta, 0, len(w.counters))
	for k, n := range w.counters {
		deltas = append(deltas, dataservice.CounterDelta{MessageID: k.id, Counter: k.c, N: n})
	}
	clear(w.counters)
	w.countersFlowing = true
	self, root, data := ctx.Self(), w.root, w.data
	go func() {
		start := metrics.Now()
		err := data.AddCounters(context.Background(), deltas)
		flushCounters.done(len(deltas), start, err)
		root.Send(self, &countersDone{deltas: deltas, err: err})
	}()
}

func (w *writer) countersDone(ctx actor.Context, m *countersDone) {
	w.countersFlowing = false
	if m.err != nil {
		// Put the increments back; they go out with a later flush.
		w.log.Warn("writing delivery counters failed; will retry", "err", m.err)
		for _, d := range m.deltas {
			w.counters[counterKey{d.MessageID, d.Counter}] += d.N
		}
		w.release(m.err) // a waiting Flush learns of the failure
		w.schedule(ctx, time.Second)
		return
	}
	if len(w.waiting) > 0 || len(w.counters) >= w.cfg.MaxBatch {
		w.flushCounters(ctx)
	}
}

// flushReceipts writes up to MaxBatch pending per-device receipts unless
// a flush is in flight.
func (w *writer) flushReceipts(ctx actor.Context) {
	if w.dropped > 0 {
		w.log.Warn("per-device receipts dropped: too many waiting to be written", "dropped", w.dropped, "waiting", len(w.receipts))
		receiptsDropped.Add(w.dropped)
		w.dropped = 0
	}
	if w.receiptsFlowing || len(w.receipts) == 0 {
		return
	}
	n := min(len(w.receipts), w.cfg.MaxBatch)
	batch := slices.Clone(w.receipts[:n])
	w.receipts = slices.Delete(w.receipts, 0, n)
	rs := make([]dataservice.Receipt, n)
	for i, b := range batch {
		rs[i] = b.r
	}
	w.receiptsFlowing = true
	self, root, data := ctx.Self(), w.root, w.data
	go func() {
		start := metrics.Now()
		recorded, err := data.RecordReceipts(context.Background(), rs)
		flushReceipts.done(len(rs), start, err)
		root.Send(self, &receiptsDone{batch: batch, recorded: recorded, err: err})
	}()
}

func (w *writer) receiptsDone(ctx actor.Context, m *receiptsDone) {
	w.receiptsFlowing = false
	if m.err != nil {
		// Put them back: they go out with a later flush. Which of them the
		// failed call recorded is unknown: a retried receipt found recorded
		// keeps a count added already (an over-count only if it was a
		// duplicate in the first place), and is not counted otherwise.
		w.log.Warn("writing per-device receipts failed; will retry", "err", m.err)
		for i := range m.batch {
			m.batch[i].retried = true
		}
		w.receipts = append(m.batch, w.receipts...)
		w.release(m.err)
		w.scheduleReceipts(ctx, max(w.cfg.ReceiptInterval, time.Second))
		return
	}
	counted := false
	for i, ok := range m.recorded {
		b := &m.batch[i]
		switch {
		case b.count == "" || ok == b.counted:
			continue // nothing to count, or counted already
		case ok:
			w.counters[counterKey{b.r.MessageID, b.count}]++
		case !b.retried:
			w.counters[counterKey{b.r.MessageID, b.count}]-- // another actor's receipt had it
		default:
			continue
		}
		counted = true
	}
	if len(w.waiting) > 0 || len(w.receipts) >= w.cfg.MaxBatch {
		w.flushReceipts(ctx)
	}
	if len(w.receipts) > 0 {
		w.scheduleReceipts(ctx, w.cfg.ReceiptInterval)
	}
	switch {
	case counted && len(w.waiting) > 0:
		w.flushCounters(ctx)
	case counted:
		w.schedule(ctx, w.cfg.Interval)
	}
}

// scheduleReceipts makes sure a receiptsTick arrives within after.
func (w *writer) scheduleReceipts(ctx actor.Context, after time.Duration) {
	if w.receiptsScheduled {
		return
	}
	w.receiptsScheduled = true
	self, root := ctx.Self(), w.root
	time.AfterFunc(after, func() { root.Send(self, &receiptsTick{}) })
}

// release answers Flush callers once nothing is pending or flowing.
func (w *writer) release(err error) {
	if len(w.waiting) == 0 {
		return
	}
	if err == nil && (w.countersFlowing || len(w.counters) > 0 || w.sessionsFlowing || len(w.sessions) > 0 ||
		w.removalsFlowing || len(w.removals) > 0 || w.cursorsFlowing || len(w.cursors) > 0 ||
		w.receiptsFlowing || len(w.receipts) > 0 || !w.upstreamsIdle()) {
		return
	}
	for _, c := range w.waiting {
		c <- err
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
