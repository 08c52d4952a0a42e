package actors_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/heraldpush/herald/actors"
	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/dataservice/leveldb"
	"github.com/heraldpush/herald/internal/workpool"
	"github.com/heraldpush/herald/protocol"
)

// receipts records counter increments.
type receipts struct {
	mu sync.Mutex
	m  map[uint64]map[dataservice.Counter]int64
}

func (r *receipts) Add(id uint64, c dataservice.Counter, n int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[uint64]map[dataservice.Counter]int64{}
	}
	if r.m[id] == nil {
		r.m[id] = map[dataservice.Counter]int64{}
	}
	r.m[id][c] += n
}

func (r *receipts) get(id uint64, c dataservice.Counter) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[id][c]
}

// testApp is the app of the harness's devices.
const testApp = "app"

type harness struct {
	t        testing.TB
	created  time.Time // when the harness's devices registered
	env      *actors.Env
	data     *dataservice.Service
	receipts *receipts
	nextID   uint64
}

func newHarness(t testing.TB, mod func(*actors.Settings)) *harness {
	t.Helper()
	store, err := leveldb.Open(leveldb.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	s := actors.Settings{ConnectorID: "c1", Grace: time.Hour}
	if mod != nil {
		mod(&s)
	}
	h := &harness{t: t, data: dataservice.New(store), receipts: &receipts{}, nextID: 1000, created: time.Now().Add(-time.Hour)}
	system := actor.NewActorSystemWithConfig(actor.Configure(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	})))
	h.env = &actors.Env{
		System:    system,
		Settings:  s.WithDefaults(),
		Data:      h.data,
		Workers:   workpool.New(4, 1024),
		Receipts:  h.receipts,
		Cursors:   actors.DirectCursors{Data: h.data, Receipts: h.receipts},
		Withdrawn: &actors.Withdrawals{},
		Log:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		Now:       time.Now,
	}
	h.env.Directory = actors.NewDirectory(h.env, 2)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.env.Directory.Shutdown(ctx)
		h.env.Workers.Close()
		system.Shutdown()
		store.Close()
	})
	return h
}

// probe stands in for a connection actor: it records what the device actor
// sends it.
type probe struct {
	h      *harness
	pid    *actor.PID
	device *actor.PID // from Attached
	ch     chan any
}

func (h *harness) attach(rid string) *probe {
	p := &probe{h: h, ch: make(chan any, 4096)}
	p.pid = h.env.System.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch ctx.Message().(type) {
		case *actors.Attached, *actors.Send, *actors.Kick, *actors.Drain:
			p.ch <- ctx.Message()
		}
	}))
	h.env.Directory.Attach(h.env.System.Root, dataservice.Device{RegistrationID: rid, AppKey: testApp, Created: h.created}, p.pid)
	a, ok := p.next(h.t).(*actors.Attached)
	if !ok {
		h.t.Fatal("no Attached")
	}
	p.device = a.Device
	return p
}

// ack acknowledges ids as the connection would.
func (p *probe) ack(ids ...uint64) {
	p.h.env.System.Root.Send(p.device, &actors.Acked{IDs: ids})
}

// detach tells the device its connection closed.
func (p *probe) detach() {
	p.h.env.System.Root.Send(p.device, &actors.Detach{Conn: p.pid})
}

func (p *probe) next(t testing.TB) any {
	t.Helper()
	select {
	case m := <-p.ch:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("probe: nothing received")
		return nil
	}
}

// pushes collects the ids of the next n pushes sent to the probe.
func (p *probe) pushes(t testing.TB, n int) []uint64 {
	t.Helper()
	var ids []uint64
	for len(ids) < n {
		switch m := p.next(t).(type) {
		case *actors.Send:
			for _, o := range m.Pushes {
				ids = append(ids, o.ID)
			}
		default:
			t.Fatalf("got %T while waiting for pushes", m)
		}
	}
	if len(ids) != n {
		t.Fatalf("got %d pushes, want %d", len(ids), n)
	}
	return ids
}

func (p *probe) quiet(t *testing.T) {
	t.Helper()
	select {
	case m := <-p.ch:
		t.Fatalf("unexpected %T %+v", m, m)
	case <-time.After(100 * time.Millisecond):
	}
}

// message stores a message for rid (store first, as the gateway does) and
// returns it ready to deliver.
func (h *harness) message(rid string, ttl time.Duration) *actors.Outgoing {
	h.t.Helper()
	h.nextID++
	m := &dataservice.Message{ID: h.nextID, AppKey: "app", Content: fmt.Sprint("m", h.nextID), TTL: ttl, Created: time.Now()}
	if err := h.data.SaveMessage(context.Background(), m, []string{rid}); err != nil {
		h.t.Fatal(err)
	}
	return actors.NewOutgoing(m)
}

func (h *harness) deliver(rid string, out *actors.Outgoing) {
	h.env.Directory.Deliver(out, []string{rid})
}

func (h *harness) eventually(cond func() bool, what string) {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("not met within 5s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (h *harness) inbox(rid string) []dataservice.InboxEntry {
	h.t.Helper()
	e, err := h.data.Inbox(context.Background(), rid, 0, 100)
	if err != nil {
		h.t.Fatal(err)
	}
	return e
}

func TestWindowBoundsMessagesInFlight(t *testing.T) {
	h := newHarness(t, func(s *actors.Settings) { s.Window = 2 })
	p := h.attach("d1")
	var ids []uint64
	for range 5 {
		out := h.message("d1", time.Hour)
		ids = append(ids, out.ID)
		h.deliver("d1", out)
	}
	got := p.pushes(t, 2)
	p.quiet(t) // the window is full
	p.ack(got[0])
	got = append(got, p.pushes(t, 1)...)
	p.ack(got[1], got[2])
	got = append(got, p.pushes(t, 2)...)
	for i := range ids {
		if got[i] != ids[i] {
			t.Fatalf("sent %v, want %v in order", got, ids)
		}
	}
	p.ack(got[3], got[4])
	h.eventually(func() bool { return len(h.inbox("d1")) == 0 }, "acknowledged copies removed from the inbox")
	for _, id := range ids {
		h.eventually(func() bool { return h.receipts.get(id, dataservice.CounterDelivered) == 1 }, "delivered counted")
		if s := h.receipts.get(id, dataservice.CounterSent); s != 1 {
			t.Fatalf("message %d sent counted %d times", id, s)
		}
	}
}

func TestOnlineOnlyMessagesAreNotHeldInFlight(t *testing.T) {
	h := newHarness(t, func(s *actors.Settings) { s.Window = 1 })
	p := h.attach("d1")
	for range 3 {
		h.deliver("d1", h.message("d1", 0))
	}
	p.pushes(t, 3) // no ACK expected, so the window never fills
}

func TestUnacknowledgedMessagesAreResentOnReconnectWithinGrace(t *testing.T) {
	h := newHarness(t, nil)
	p := h.attach("d1")
	a, b := h.message("d1", time.Hour), h.message("d1", time.Hour)
	h.deliver("d1", a)
	h.deliver("d1", b)
	first := p.pushes(t, 2)
	p.ack(first[0])
	p.detach()
	p2 := h.attach("d1")
	if got := p2.pushes(t, 1); got[0] != b.ID {
		t.Fatalf("resent %v, want only the unacknowledged %d", got, b.ID)
	}
	p2.quiet(t)
	if s := h.receipts.get(b.ID, dataservice.CounterSent); s != 1 {
		t.Fatalf("a resend was counted as sent again: %d", s)
	}
}

func TestDeliveryToDisconnectedDeviceWaitsForReconnect(t *testing.T) {
	h := newHarness(t, nil)
	p := h.attach("d1")
	p.detach()
	out := h.message("d1", time.Hour)
	h.deliver("d1", out)
	h.eventually(func() bool { return h.receipts.get(out.ID, dataservice.CounterStoredOffline) == 1 }, "stored_offline counted")
	online := h.message("d1", 0)
	h.deliver("d1", online)
	h.eventually(func() bool { return h.receipts.get(online.ID, dataservice.CounterExpired) == 1 }, "online-only message to a disconnected device expires")
	p2 := h.attach("d1")
	if got := p2.pushes(t, 1); got[0] != out.ID {
		t.Fatalf("after reconnect got %v", got)
	}
	p2.quiet(t)
}

// A message the device got from its inbox and acknowledged before the
// message's own delivery reached the actor is not sent a second time.
func TestDeliveryAfterTheAckSendsNothingAgain(t *testing.T) {
	h := newHarness(t, nil)
	out := h.message("d1", time.Hour) // stored; its delivery comes late
	p := h.attach("d1")
	if got := p.pushes(t, 1); got[0] != out.ID {
		t.Fatalf("from the inbox got %v", got)
	}
	p.ack(out.ID)
	h.eventually(func() bool { return len(h.inbox("d1")) == 0 }, "ack written")
	h.deliver("d1", out)
	next := h.message("d1", time.Hour)
	h.deliver("d1", next)
	if got := p.pushes(t, 1); got[0] != next.ID {
		t.Fatalf("after the late delivery got %v, want only %d", got, next.ID)
	}
	p.ack(next.ID)
	h.eventually(func() bool { return h.receipts.get(next.ID, dataservice.CounterDelivered) == 1 }, "next delivered")
	if n := h.receipts.get(out.ID, dataservice.CounterDelivered); n != 1 {
		t.Fatalf("first message delivered %d times", n)
	}
	p.quiet(t)
}

func TestGraceExpiryRetiresTheDeviceActor(t *testing.T) {
	h := newHarness(t, func(s *actors.Settings) { s.Grace = 50 * time.Millisecond })
	p := h.attach("d1")
	h.eventually(func() bool {
		s, _ := h.data.Sessions(context.Background(), []string{"d1"})
		return s[0].Exists() && s[0].Connector == "c1"
	}, "session saved")
	if n := h.env.Directory.Devices(); n != 1 {
		t.Fatalf("%d device actors", n)
	}
	p.detach()
	h.eventually(func() bool { return h.env.Directory.Devices() == 0 }, "device actor stopped after the grace period")
	h.eventually(func() bool {
		s, _ := h.data.Sessions(context.Background(), []string{"d1"})
		return !s[0].Exists()
	}, "session deleted")
	// A later connection gets a new actor that loads the inbox.
	out := h.message("d1", time.Hour)
	h.deliver("d1", out) // no actor: counted offline by the directory
	h.eventually(func() bool { return h.receipts.get(out.ID, dataservice.CounterStoredOffline) == 1 }, "offline counted")
	p2 := h.attach("d1")
	if got := p2.pushes(t, 1); got[0] != out.ID {
		t.Fatalf("got %v", got)
	}
}

func TestRedeliveryCapHoldsAcrossDeviceActors(t *testing.T) {
	h := newHarness(t, func(s *actors.Settings) {
		s.MaxAttempts = 2
		s.Grace = 20 * time.Millisecond
	})
	out := h.message("d1", time.Hour)
	for attempt := 1; attempt <= 2; attempt++ {
		p := h.attach("d1")
		if got := p.pushes(t, 1); got[0] != out.ID {
			t.Fatalf("attempt %d: got %v", attempt, got)
		}
		p.detach() // never acknowledged
		h.eventually(func() bool { return h.env.Directory.Devices() == 0 }, "device actor retired")
		h.eventually(func() bool {
			e := h.inbox("d1")
			return len(e) == 1 && int(e[0].Attempts) == attempt
		}, fmt.Sprint("attempt count ", attempt, " saved"))
	}
	p := h.attach("d1")
	p.quiet(t)
	h.eventually(func() bool { return h.receipts.get(out.ID, dataservice.CounterFailed) == 1 }, "failed counted")
	h.eventually(func() bool { return len(h.inbox("d1")) == 0 }, "copy dropped")
	if s := h.receipts.get(out.ID, dataservice.CounterSent); s != 1 {
		t.Fatalf("sent counted %d times across actors", s)
	}
}

func TestSecondConnectionReplacesTheFirst(t *testing.T) {
	h := newHarness(t, nil)
	p1 := h.attach("d1")
	out := h.message("d1", time.Hour)
	h.deliver("d1", out)
	p1.pushes(t, 1)
	p2 := h.attach("d1")
	k, ok := p1.next(t).(*actors.Kick)
	if !ok || k.Err.Code != protocol.CodeReplaced {
		t.Fatalf("first connection got %+v, want Kick replaced", k)
	}
	if got := p2.pushes(t, 1); got[0] != out.ID {
		t.Fatalf("the unacknowledged message did not move to the new connection: %v", got)
	}
}

func TestQueueOverflowIsReloadedFromTheInbox(t *testing.T) {
	h := newHarness(t, func(s *actors.Settings) { s.Window = 1 })
	p := h.attach("d1")
	const n = 1050 // more than a device actor keeps in memory
	var ids []uint64
	for range n {
		out := h.message("d1", time.Hour)
		ids = append(ids, out.ID)
		h.deliver("d1", out)
	}
	for i := range n {
		got := p.pushes(t, 1)
		if got[0] != ids[i] {
			t.Fatalf("push %d is %d, want %d", i, got[0], ids[i])
		}
		p.ack(got[0])
	}
	p.quiet(t)
}

func TestShutdownDrainsConnectionsAndStopsDevices(t *testing.T) {
	h := newHarness(t, nil)
	p := h.attach("d1")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.env.Directory.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := p.next(t).(*actors.Drain); !ok {
		t.Fatal("connection not drained")
	}
	if n := h.env.Directory.Devices(); n != 0 {
		t.Fatalf("%d device actors left", n)
	}
}

func TestMessageLargerThanTheRecordLimitIsDroppedAsFailed(t *testing.T) {
	h := newHarness(t, func(s *actors.Settings) { s.MaxRecord = 256 })
	p := h.attach("d1")
	h.nextID++
	big := &dataservice.Message{ID: h.nextID, AppKey: "app", Content: strings.Repeat("x", 300), TTL: time.Hour, Created: time.Now()}
	if err := h.data.SaveMessage(context.Background(), big, []string{"d1"}); err != nil {
		t.Fatal(err)
	}
	h.deliver("d1", actors.NewOutgoing(big))
	small := h.message("d1", time.Hour)
	h.deliver("d1", small)
	if got := p.pushes(t, 1); got[0] != small.ID {
		t.Fatalf("sent %v, want only the message that fits", got)
	}
	h.eventually(func() bool { return h.receipts.get(big.ID, dataservice.CounterFailed) == 1 }, "oversized message counted failed")
}
