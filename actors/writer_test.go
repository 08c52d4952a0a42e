package actors_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/heraldpush/herald/actors"
	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/dataservice/leveldb"
	"github.com/heraldpush/herald/internal/ids"
	"github.com/heraldpush/herald/internal/workpool"
)

// countingData counts the batched calls that reach the dataservice, and
// can hold them until released.
type countingData struct {
	dataservice.Client
	sessionCalls, removalCalls, counterCalls atomic.Int64
	cursorCalls                              atomic.Int64
	hold                                     chan struct{} // if not nil, calls wait for it to close
}

func (c *countingData) wait() {
	if c.hold != nil {
		<-c.hold
	}
}

func (c *countingData) PutSessions(ctx context.Context, ss []dataservice.Session, ttl time.Duration) ([]uint32, error) {
	c.sessionCalls.Add(1)
	c.wait()
	return c.Client.PutSessions(ctx, ss, ttl)
}

func (c *countingData) RemoveInbox(ctx context.Context, copies []dataservice.InboxCopy) ([]bool, error) {
	c.removalCalls.Add(1)
	c.wait()
	return c.Client.RemoveInbox(ctx, copies)
}

func (c *countingData) PutBroadcastCursors(ctx context.Context, cs []dataservice.BroadcastCursor) ([]bool, error) {
	c.cursorCalls.Add(1)
	c.wait()
	return c.Client.PutBroadcastCursors(ctx, cs)
}

func (c *countingData) AddCounters(ctx context.Context, d []dataservice.CounterDelta) error {
	c.counterCalls.Add(1)
	return c.Client.AddCounters(ctx, d)
}

// Settle counts as a counter write: it is the writer's.
func (c *countingData) Settle(ctx context.Context, st dataservice.Settlement) (dataservice.SettleResult, error) {
	c.counterCalls.Add(1)
	return c.Client.Settle(ctx, st)
}

func newWriter(t *testing.T, cfg actors.WriterConfig, hold chan struct{}) (*actors.Writer, *countingData) {
	t.Helper()
	store, err := leveldb.Open(leveldb.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	data := &countingData{Client: dataservice.New(store), hold: hold}
	system := actor.NewActorSystemWithConfig(actor.Configure(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	})))
	t.Cleanup(system.Shutdown)
	w := actors.NewWriter(system, cfg, data, slog.New(slog.NewTextHandler(io.Discard, nil)))
	t.Cleanup(w.Close)
	return w, data
}

func TestWriterCoalescesSessionWritesUnderLoad(t *testing.T) {
	hold := make(chan struct{})
	w, data := newWriter(t, actors.WriterConfig{}, hold)
	ctx := context.Background()
	const n = 200
	gens := make([]uint32, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			g, err := w.PutSessions(ctx, []dataservice.Session{{RegistrationID: fmt.Sprint("d", i), Connector: "c1", Since: time.Now()}}, time.Hour)
			if err != nil {
				t.Error(err)
				return
			}
			gens[i] = g[0]
		})
	}
	// The first write is in flight and held: the other 199 queue behind it.
	for data.sessionCalls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // let the others arrive (timing only affects batch sizes)
	close(hold)
	wg.Wait()
	for i, g := range gens {
		if g != 1 {
			t.Fatalf("session %d got generation %d, want 1", i, g)
		}
	}
	if calls := data.sessionCalls.Load(); calls >= n/2 {
		t.Fatalf("%d writes took %d store calls: not coalesced", n, calls)
	}
	ss, _ := data.Sessions(ctx, []string{"d0", fmt.Sprint("d", n-1)})
	if !ss[0].Exists() || !ss[1].Exists() {
		t.Fatalf("sessions not stored: %+v", ss)
	}
}

func TestWriterKeepsTheLatestSessionOfADevice(t *testing.T) {
	hold := make(chan struct{})
	w, data := newWriter(t, actors.WriterConfig{}, hold)
	ctx := context.Background()
	// Occupy the flush, then queue two writes of one device.
	go w.PutSessions(ctx, []dataservice.Session{{RegistrationID: "other", Connector: "c0", Since: time.Now()}}, time.Hour)
	for data.sessionCalls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	results := make(chan uint32, 2)
	for _, conn := range []string{"c1", "c2"} {
		go func() {
			g, _ := w.PutSessions(ctx, []dataservice.Session{{RegistrationID: "d", Connector: conn, Since: time.Now()}}, time.Hour)
			results <- g[0]
		}()
		time.Sleep(20 * time.Millisecond) // c1 is queued before c2
	}
	close(hold)
	a, b := <-results, <-results
	if a != b {
		t.Fatalf("coalesced writes of one device got generations %d and %d", a, b)
	}
	if ss, _ := data.Sessions(ctx, []string{"d"}); ss[0].Connector != "c2" {
		t.Fatalf("stored %+v, want the latest write (c2)", ss[0])
	}
}

func TestWriterRemovesEachInboxCopyExactlyOnce(t *testing.T) {
	w, data := newWriter(t, actors.WriterConfig{}, nil)
	ctx := context.Background()
	m := &dataservice.Message{ID: 42, AppKey: "a", Content: "x", TTL: time.Hour, Created: time.Now()}
	if err := data.SaveMessage(ctx, m, []string{"r1", "r2"}); err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			existed, err := w.RemoveInbox(ctx, []dataservice.InboxCopy{{RegistrationID: "r1", MessageID: 42}, {RegistrationID: "r2", MessageID: 42}})
			if err != nil {
				t.Error(err)
				return
			}
			for _, ok := range existed {
				if ok {
					wins.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if wins.Load() != 2 {
		t.Fatalf("%d removals reported an existing copy, want 2 (one per copy)", wins.Load())
	}
}

func TestWriterSumsReceiptsAndFlushes(t *testing.T) {
	w, data := newWriter(t, actors.WriterConfig{Interval: time.Hour}, nil)
	ctx := context.Background()
	m := &dataservice.Message{ID: 7, AppKey: "a", Content: "x", TTL: time.Hour, Created: time.Now()}
	if err := data.SaveMessage(ctx, m, []string{"r1", "r2", "r3"}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		w.Add(7, dataservice.CounterSent, 1)
	}
	w.Add(7, dataservice.CounterDelivered, 2)
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := data.Report(ctx, 7)
	if err != nil || r.Sent != 3 || r.Delivered != 2 {
		t.Fatalf("report %+v, %v", r, err)
	}
	if calls := data.counterCalls.Load(); calls != 1 {
		t.Fatalf("%d counter writes for one flush, want 1", calls)
	}
}

func TestWriterPushesBackWhenFull(t *testing.T) {
	hold := make(chan struct{})
	defer close(hold)
	w, _ := newWriter(t, actors.WriterConfig{MaxPending: 2}, hold)
	ctx := context.Background()
	for i := range 2 {
		go w.PutSessions(ctx, []dataservice.Session{{RegistrationID: fmt.Sprint("d", i), Since: time.Now()}}, time.Hour)
	}
	time.Sleep(20 * time.Millisecond) // both hold their slots
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, err := w.PutSessions(short, []dataservice.Session{{RegistrationID: "d3", Since: time.Now()}}, time.Hour)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third caller with two waiting: %v, want to block until its deadline", err)
	}
}

// rcConnector is one connector of a receipts test: device actors whose
// writes and receipts go through their own Writer over a shared store, as
// in a cluster where a device moves between connectors.
type rcConnector struct {
	t      *testing.T
	env    *actors.Env
	writer *actors.Writer
}

// rcProbe stands in for a connection actor.
type rcProbe struct {
	pid    *actor.PID
	device *actor.PID
	ch     chan any
}

func newRCConnector(t *testing.T, name string, data dataservice.Client) *rcConnector {
	return newRCConnectorWith(t, name, data, actors.WriterConfig{Interval: 5 * time.Millisecond})
}

// newRCConnectorNamed starts a connector whose writer is named name, as a
// connector's is, so that it replays what an earlier run left.
func newRCConnectorNamed(t *testing.T, name string, data dataservice.Client) *rcConnector {
	return newRCConnectorWith(t, name, data, actors.WriterConfig{Name: name, Interval: 5 * time.Millisecond})
}

func newRCConnectorWith(t *testing.T, name string, data dataservice.Client, cfg actors.WriterConfig) *rcConnector {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	system := actor.NewActorSystemWithConfig(actor.Configure(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet })))
	w := actors.NewWriter(system, cfg, data, quiet)
	env := &actors.Env{
		System:    system,
		Settings:  actors.Settings{ConnectorID: name, Grace: time.Hour}.WithDefaults(),
		Data:      w,
		Workers:   workpool.New(4, 1024),
		Receipts:  w,
		Cursors:   w,
		Withdrawn: &actors.Withdrawals{},
		Log:       quiet,
		Now:       time.Now,
	}
	env.Directory = actors.NewDirectory(env, 2)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = env.Directory.Shutdown(ctx)
		env.Workers.Close()
		system.Shutdown()
	})
	return &rcConnector{t: t, env: env, writer: w}
}

func (c *rcConnector) attach(d dataservice.Device) *rcProbe {
	c.t.Helper()
	p := &rcProbe{ch: make(chan any, 64)}
	p.pid = c.env.System.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch ctx.Message().(type) {
		case *actors.Attached, *actors.Send:
			p.ch <- ctx.Message()
		}
	}))
	c.env.Directory.Attach(c.env.System.Root, d, p.pid)
	a, ok := p.next(c.t).(*actors.Attached)
	if !ok {
		c.t.Fatal("no Attached")
	}
	p.device = a.Device
	return p
}

func (p *rcProbe) next(t *testing.T) any {
	t.Helper()
	select {
	case m := <-p.ch:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("nothing sent to the connection")
		return nil
	}
}

// pushed waits for the next push and returns its id.
func (p *rcProbe) pushed(t *testing.T) uint64 {
	t.Helper()
	s, ok := p.next(t).(*actors.Send)
	if !ok || len(s.Pushes) != 1 {
		t.Fatalf("got %+v, want one push", s)
	}
	return s.Pushes[0].ID
}

func (c *rcConnector) flush() {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.writer.Flush(ctx); err != nil {
		c.t.Fatal(err)
	}
}

func waitReport(t *testing.T, data dataservice.Client, id uint64, ok func(dataservice.Report) bool) dataservice.Report {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, err := data.Report(context.Background(), id)
		if err == nil && ok(r) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("report of %d: %+v, %v", id, r, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A device that got a message on one connector, whose ACK was lost, and
// that gets it again on another connector and acknowledges it there (and
// late on the first) counts sent and delivered once; its clicks, sent
// through both connectors, count once.
func TestWriterCountsRedeliveredMessagesOnce(t *testing.T) {
	store, err := leveldb.Open(leveldb.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	data := dataservice.New(store)
	ctx := context.Background()
	dev := dataservice.Device{RegistrationID: "d1", AppKey: "app", Created: time.Now().Add(-time.Hour)}
	if err := data.CreateDevice(ctx, dev); err != nil {
		t.Fatal(err)
	}
	gen, _ := ids.NewGenerator(1)
	m := &dataservice.Message{ID: gen.Next(), AppKey: "app", Content: "hi", TTL: time.Hour, Created: time.Now()}
	if err := data.SaveMessage(ctx, m, []string{"d1"}); err != nil {
		t.Fatal(err)
	}
	a, b := newRCConnector(t, "a", data), newRCConnector(t, "b", data)

	onA := a.attach(dev)
	a.env.Directory.Deliver(actors.NewOutgoing(m), []string{"d1"})
	if got := onA.pushed(t); got != m.ID {
		t.Fatalf("pushed %d", got)
	}
	a.flush()
	// The device moves to b before a got its ACK: b's device actor finds
	// the copy in the inbox and sends it again.
	onB := b.attach(dev)
	if got := onB.pushed(t); got != m.ID {
		t.Fatalf("b pushed %d", got)
	}
	b.env.System.Root.Send(onB.device, &actors.Acked{IDs: []uint64{m.ID}})
	// The lost ACK reaches a after all.
	a.env.System.Root.Send(onA.device, &actors.Acked{IDs: []uint64{m.ID}})
	// The user opens the notification; the SDK reports it on both
	// connections, twice.
	click := dataservice.Receipt{MessageID: m.ID, RegistrationID: "d1", Event: dataservice.ReceiptClicked}
	for range 2 {
		a.writer.AddReceipt(click, dataservice.CounterClicked, false)
		b.writer.AddReceipt(click, dataservice.CounterClicked, false)
	}
	waitReport(t, data, m.ID, func(r dataservice.Report) bool { return r.Delivered == 1 && r.Clicked == 1 })
	a.flush()
	b.flush()
	r, _ := data.Report(ctx, m.ID)
	if want := (dataservice.Report{Targeted: 1, Sent: 1, Delivered: 1, Clicked: 1}); r != want {
		t.Fatalf("report %+v, want %+v", r, want)
	}
	got, err := data.MessageReceipts(ctx, m.ID, []string{"d1"})
	if err != nil {
		t.Fatal(err)
	}
	if d := got[0]; d.SentAt.IsZero() || d.DeliveredAt.IsZero() || d.ClickedAt.IsZero() || d.Pending || d.Attempts < 1 {
		t.Fatalf("receipts of d1: %+v", d)
	}
}

// Clicks count once per device, only for messages the device was sent and
// only from devices of the message's app.
func TestWriterCountsOnlyGenuineClicks(t *testing.T) {
	w, data := newWriter(t, actors.WriterConfig{Interval: time.Hour}, nil)
	ctx := context.Background()
	for _, d := range []dataservice.Device{
		{RegistrationID: "got-it", AppKey: "app"}, {RegistrationID: "not-sent", AppKey: "app"}, {RegistrationID: "other-app", AppKey: "app2"},
	} {
		if err := data.CreateDevice(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	gen, _ := ids.NewGenerator(1)
	m := &dataservice.Message{ID: gen.Next(), AppKey: "app", Content: "x", TTL: time.Hour, Created: time.Now()}
	if err := data.SaveMessage(ctx, m, []string{"got-it", "not-sent"}); err != nil {
		t.Fatal(err)
	}
	sent := func(rid string) dataservice.Receipt {
		return dataservice.Receipt{MessageID: m.ID, RegistrationID: rid, Event: dataservice.ReceiptSent, Retain: m.Expires().Add(dataservice.ReportRetention)}
	}
	w.AddReceipt(sent("got-it"), dataservice.CounterSent, false)
	w.AddReceipt(sent("other-app"), dataservice.CounterSent, false) // a forged one: the device is another app's
	var wg sync.WaitGroup
	for range 4 {
		for _, rid := range []string{"got-it", "not-sent", "other-app", "unknown"} {
			wg.Go(func() {
				w.AddReceipt(dataservice.Receipt{MessageID: m.ID, RegistrationID: rid, Event: dataservice.ReceiptClicked}, dataservice.CounterClicked, false)
			})
		}
	}
	wg.Wait()
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := data.Report(ctx, m.ID)
	if err != nil || r.Clicked != 1 || r.Sent != 2 {
		t.Fatalf("report %+v, %v; want 1 click (of got-it) and 2 sent", r, err)
	}
	if calls := data.counterCalls.Load(); calls != 1 {
		t.Fatalf("%d counter writes for one flush, want 1", calls)
	}
}

// failingReceipts fails settlements while fail is set.
type failingReceipts struct {
	dataservice.Client
	fail  atomic.Bool
	calls atomic.Int64
}

func (f *failingReceipts) Settle(ctx context.Context, st dataservice.Settlement) (dataservice.SettleResult, error) {
	f.calls.Add(1)
	if f.fail.Load() {
		return dataservice.SettleResult{}, fmt.Errorf("test: %w", dataservice.ErrUnavailable)
	}
	return f.Client.Settle(ctx, st)
}

// Receipts a failed write did not record are written, and counted, by a
// later flush.
func TestWriterRetriesReceiptsAfterAFailure(t *testing.T) {
	store, err := leveldb.Open(leveldb.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	data := &failingReceipts{Client: dataservice.New(store)}
	data.fail.Store(true)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	system := actor.NewActorSystemWithConfig(actor.Configure(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet })))
	t.Cleanup(system.Shutdown)
	w := actors.NewWriter(system, actors.WriterConfig{Interval: time.Hour}, data, quiet)
	ctx := context.Background()
	gen, _ := ids.NewGenerator(1)
	m := &dataservice.Message{ID: gen.Next(), AppKey: "app", Content: "x", TTL: time.Hour, Created: time.Now()}
	if err := data.SaveMessage(ctx, m, []string{"d1"}); err != nil {
		t.Fatal(err)
	}
	w.AddReceipt(dataservice.Receipt{MessageID: m.ID, RegistrationID: "d1", Event: dataservice.ReceiptSent}, dataservice.CounterSent, false)
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if err := w.Flush(short); !errors.Is(err, dataservice.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Flush with the store failing: %v, want the deadline and ErrUnavailable", err)
	}
	data.fail.Store(false)
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if r, _ := data.Report(ctx, m.ID); r.Sent != 1 {
		t.Fatalf("sent %d after the retry, want 1", r.Sent)
	}
	if got, _ := data.MessageReceipts(ctx, m.ID, []string{"d1"}); got[0].SentAt.IsZero() {
		t.Fatalf("the sent receipt was not written: %+v", got[0])
	}
}

// failingCounters fails the settlements that carry delivery counts while
// fail is set.
type failingCounters struct {
	dataservice.Client
	fail  atomic.Bool
	calls atomic.Int64
}

func (f *failingCounters) Settle(ctx context.Context, st dataservice.Settlement) (dataservice.SettleResult, error) {
	f.calls.Add(1)
	if f.fail.Load() {
		return dataservice.SettleResult{}, fmt.Errorf("test: the disk is full: %w", dataservice.ErrUnavailable)
	}
	return f.Client.Settle(ctx, st)
}

// At shutdown, Flush keeps retrying counters the store refused until they
// are written or its context ends, and then says what was not written. A
// store recovering from a full disk meanwhile loses none of them; before,
// Flush gave up at the first failure and the process stopped with its
// counters in memory (the issue saw 381 dropped on SIGTERM).
func TestWriterFlushRetriesUntilTheStoreRecovers(t *testing.T) {
	store, err := leveldb.Open(leveldb.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	data := &failingCounters{Client: dataservice.New(store)}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	system := actor.NewActorSystemWithConfig(actor.Configure(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet })))
	t.Cleanup(system.Shutdown)
	w := actors.NewWriter(system, actors.WriterConfig{Interval: time.Hour}, data, quiet)
	t.Cleanup(w.Close)
	ctx := context.Background()
	gen, _ := ids.NewGenerator(1)
	const messages = 381
	var msgs []uint64
	for range messages {
		m := &dataservice.Message{ID: gen.Next(), AppKey: "app", Content: "x", TTL: time.Hour, Created: time.Now()}
		if err := data.SaveMessage(ctx, m, nil); err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m.ID)
	}
	data.fail.Store(true)
	for _, id := range msgs {
		w.Add(id, dataservice.CounterDelivered, 1)
	}

	// The store stays down past a Flush's deadline: it says what waits.
	short, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancel()
	err = w.Flush(short)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, dataservice.ErrUnavailable) ||
		!strings.Contains(err.Error(), "not written yet") {
		t.Fatalf("Flush while the store fails = %v; want the deadline, the store's error and what is not written", err)
	}

	// It comes back while the next Flush waits (the shutdown's).
	time.AfterFunc(300*time.Millisecond, func() { data.fail.Store(false) })
	long, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := w.Flush(long); err != nil {
		t.Fatalf("Flush while the store recovers: %v", err)
	}
	for _, id := range msgs {
		if r, err := data.Report(ctx, id); err != nil || r.Delivered != 1 {
			t.Fatalf("message %d: delivered %d, %v; want 1", id, r.Delivered, err)
		}
	}
	if n := data.calls.Load(); n < 3 {
		t.Fatalf("%d writes of counters; want the failed ones retried", n)
	}
}

// A broadcast's cursor advances, one per device, wait in the writer
// without a goroutine each, and go to the store in batches: what a
// connector holding many devices needs when a broadcast reaches them all
// at once.
func TestWriterBatchesAsyncCursorAdvances(t *testing.T) {
	hold := make(chan struct{})
	w, data := newWriter(t, actors.WriterConfig{}, hold)
	gen, err := ids.NewGenerator(1)
	if err != nil {
		t.Fatal(err)
	}
	m := &dataservice.Message{ID: gen.Next(), AppKey: "a", Content: "b", TTL: time.Hour, Created: time.Now(), Broadcast: true}
	if err := data.SaveBroadcast(context.Background(), m, 0); err != nil {
		t.Fatal(err)
	}
	const devices = 2000
	before := runtime.NumGoroutine()
	done := make(chan error, devices)
	for i := range devices {
		w.AdvanceCursor(actors.CursorAdvance{RID: fmt.Sprintf("r%04d", i), Sent: []uint64{m.ID}, Acked: m.ID, Delivered: []uint64{m.ID}},
			func(err error) { done <- err })
	}
	// The first batch is held in the store; the rest wait as messages.
	if n := runtime.NumGoroutine() - before; n > 50 {
		t.Errorf("%d goroutines more while %d advances wait, want a few", n, devices)
	}
	close(hold)
	for range devices {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("not every advance was answered")
		}
	}
	if calls := data.cursorCalls.Load(); calls > 10 {
		t.Errorf("%d cursor writes for %d devices, want a few batches", calls, devices)
	}
	cs, err := data.BroadcastCursors(context.Background(), []string{"r0000", fmt.Sprintf("r%04d", devices-1)})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.Sent != m.ID || c.Acked != m.ID {
			t.Errorf("cursor %+v, want sent and acked %d", c, m.ID)
		}
	}
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	r, err := data.Report(context.Background(), m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r.Sent != devices || r.Delivered != devices {
		t.Errorf("report sent %d delivered %d, want %d each", r.Sent, r.Delivered, devices)
	}
}

// A click reaches the writer from the connection, while its ACK goes
// through the device actor: the click may come first. It still counts,
// once the copy's end is settled (before, it was settled alone, found no
// receipt of the message by the device, and was dropped).
func TestWriterCountsAClickThatOvertakesItsACK(t *testing.T) {
	w, data := newWriter(t, actors.WriterConfig{Interval: 5 * time.Millisecond}, nil)
	ctx := context.Background()
	if err := data.CreateDevice(ctx, dataservice.Device{RegistrationID: "d1", AppKey: "app", Created: time.Now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	gen, _ := ids.NewGenerator(1)
	m := &dataservice.Message{ID: gen.Next(), AppKey: "app", Content: "hi", TTL: time.Hour, Created: time.Now()}
	if err := data.SaveMessage(ctx, m, []string{"d1"}); err != nil {
		t.Fatal(err)
	}
	w.AddReceipt(dataservice.Receipt{MessageID: m.ID, RegistrationID: "d1", Event: dataservice.ReceiptSent, At: time.Now()}, dataservice.CounterSent, false)
	w.AddReceipt(dataservice.Receipt{MessageID: m.ID, RegistrationID: "d1", Event: dataservice.ReceiptClicked, At: time.Now()}, dataservice.CounterClicked, false)
	time.Sleep(50 * time.Millisecond) // settlements run meanwhile
	existed, err := w.EndInbox(ctx, []dataservice.SettleEnd{{Copy: dataservice.InboxCopy{RegistrationID: "d1", MessageID: m.ID}, Counter: dataservice.CounterDelivered, At: time.Now()}})
	if err != nil || len(existed) != 1 || !existed[0] {
		t.Fatalf("EndInbox = %v, %v", existed, err)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := data.Report(ctx, m.ID)
	if want := (dataservice.Report{Targeted: 1, Sent: 1, Delivered: 1, Clicked: 1}); err != nil || r != want {
		t.Fatalf("report %+v, %v; want %+v", r, err, want)
	}
}
