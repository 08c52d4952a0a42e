package actors_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/heraldpush/herald/actors"
	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/internal/ids"
)

// bcHarness is the device harness with broadcasts: message ids are real
// (time-ordered), so that they compare with the devices' registration.
type bcHarness struct {
	*harness
	gen *ids.Generator
}

func newBroadcastHarness(t testing.TB, mod func(*actors.Settings)) *bcHarness {
	t.Helper()
	gen, err := ids.NewGenerator(1)
	if err != nil {
		t.Fatal(err)
	}
	return &bcHarness{harness: newHarness(t, mod), gen: gen}
}

// broadcast stores a broadcast of app with id, as the gateway does.
func (h *bcHarness) broadcast(app string, id uint64) *dataservice.Message {
	h.t.Helper()
	m := &dataservice.Message{ID: id, AppKey: app, Content: fmt.Sprint("b", id), TTL: 2 * time.Hour, Created: time.Now(), Broadcast: true}
	if err := h.data.SaveBroadcast(context.Background(), m, 0); err != nil {
		h.t.Fatal(err)
	}
	return m
}

// broadcasts stores n broadcasts of the test app, oldest first.
func (h *bcHarness) broadcasts(n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = h.broadcast(testApp, h.gen.Next()).ID
	}
	return out
}

// live fans a stored broadcast out to the devices attached here.
func (h *bcHarness) live(m *dataservice.Message) int {
	h.t.Helper()
	n, err := h.env.Directory.Broadcast(context.Background(), actors.NewOutgoing(m), m.AppKey)
	if err != nil {
		h.t.Fatal(err)
	}
	return n
}

func (h *bcHarness) cursor(rid string) dataservice.BroadcastCursor {
	h.t.Helper()
	c, err := h.data.BroadcastCursors(context.Background(), []string{rid})
	if err != nil {
		h.t.Fatal(err)
	}
	return c[0]
}

// attachAs attaches a connection of a device of app.
func (h *bcHarness) attachAs(rid, app string) *probe {
	p := &probe{h: h.harness, ch: make(chan any, 4096)}
	p.pid = h.env.System.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch ctx.Message().(type) {
		case *actors.Attached, *actors.Send, *actors.Kick, *actors.Drain:
			p.ch <- ctx.Message()
		}
	}))
	h.env.Directory.Attach(h.env.System.Root, dataservice.Device{RegistrationID: rid, AppKey: app, Created: h.created}, p.pid)
	a, ok := p.next(h.t).(*actors.Attached)
	if !ok {
		h.t.Fatal("no Attached")
	}
	p.device = a.Device
	return p
}

// nothingElse proves that the device was sent nothing but what came
// before: it delivers an online-only message newer than everything, which
// must be the next push. Whatever else the device actor would send (a
// missed broadcast, a resend) has an older id and would go first.
func (h *bcHarness) nothingElse(p *probe, rid string) {
	h.t.Helper()
	m := &dataservice.Message{ID: h.gen.Next(), AppKey: testApp, Content: "sentinel", Created: time.Now()}
	h.deliver(rid, actors.NewOutgoing(m))
	if got := p.pushes(h.t, 1); got[0] != m.ID {
		h.t.Fatalf("pushed %v before the sentinel %d", got, m.ID)
	}
}

// retire disconnects the device and waits until its actor is gone, so the
// next connection starts from the store.
func (h *bcHarness) retire(p *probe) {
	h.t.Helper()
	p.detach()
	h.eventually(func() bool { return h.env.Directory.Devices() == 0 }, "device actor retired")
}

func TestMissedBroadcastsAreSentOnAttachOldestFirst(t *testing.T) {
	h := newBroadcastHarness(t, nil)
	// Sent before the device registered: not for it.
	early := h.broadcast(testApp, ids.FirstAt(h.created.Add(-time.Minute))).ID
	b := h.broadcasts(5)
	h.broadcast("other", h.gen.Next())             // another app's
	canceled := h.broadcast(testApp, h.gen.Next()) // taken off the list by a cancel
	if _, err := h.data.RemoveBroadcast(context.Background(), testApp, canceled.ID); err != nil {
		t.Fatal(err)
	}
	// The device acknowledged the first two on an earlier connection.
	if ok, err := h.data.PutBroadcastCursors(context.Background(), []dataservice.BroadcastCursor{{RegistrationID: "d1", Sent: b[1], Acked: b[1]}}); err != nil || !ok[0] {
		t.Fatal("writing the cursor", err)
	}
	p := h.attach("d1")
	if got := p.pushes(t, 3); !slices.Equal(got, b[2:]) {
		t.Fatalf("pushed %v, want the missed %v oldest first", got, b[2:])
	}
	h.nothingElse(p, "d1")
	p.ack(b[2:]...)
	h.eventually(func() bool { c := h.cursor("d1"); return c.Sent == b[4] && c.Acked == b[4] }, "cursor advanced to the last acknowledged")
	for i, id := range b {
		want := int64(0)
		if i >= 2 {
			want = 1
		}
		h.eventually(func() bool { return h.receipts.get(id, dataservice.CounterDelivered) == want }, "delivered counted")
		if s := h.receipts.get(id, dataservice.CounterSent); s != want {
			t.Fatalf("broadcast %d counted sent %d times, want %d", i, s, want)
		}
	}
	if s := h.receipts.get(early, dataservice.CounterSent); s != 0 {
		t.Fatalf("a broadcast older than the device counted sent %d", s)
	}
}

func TestAcknowledgedBroadcastsAreNotSentAgain(t *testing.T) {
	h := newBroadcastHarness(t, func(s *actors.Settings) { s.Grace = 20 * time.Millisecond })
	b := h.broadcasts(3)
	p := h.attach("d1")
	if got := p.pushes(t, 3); !slices.Equal(got, b) {
		t.Fatalf("pushed %v, want %v", got, b)
	}
	p.ack(b[0], b[1])
	h.eventually(func() bool { c := h.cursor("d1"); return c.Sent == b[2] && c.Acked == b[1] }, "cursor at the acknowledged")
	h.retire(p)

	// A new actor: only the unacknowledged one again, not counted twice.
	p = h.attach("d1")
	if got := p.pushes(t, 1); got[0] != b[2] {
		t.Fatalf("pushed %v, want only %d", got, b[2])
	}
	h.nothingElse(p, "d1")
	p.ack(b[2])
	h.eventually(func() bool { return h.cursor("d1").Acked == b[2] }, "cursor at the last")
	h.retire(p)

	p = h.attach("d1")
	h.nothingElse(p, "d1")
	for _, id := range b {
		if s, d := h.receipts.get(id, dataservice.CounterSent), h.receipts.get(id, dataservice.CounterDelivered); s != 1 || d != 1 {
			t.Fatalf("broadcast %d: sent %d, delivered %d; want once each", id, s, d)
		}
	}
}

// heldBroadcasts holds the first read of an app's broadcasts until
// released.
type heldBroadcasts struct {
	dataservice.Client
	once    sync.Once
	entered chan struct{}
	release chan struct{}
}

func (d *heldBroadcasts) AppBroadcasts(ctx context.Context, app string, after uint64, limit int) ([]uint64, error) {
	d.once.Do(func() {
		d.entered <- struct{}{}
		<-d.release
	})
	return d.Client.AppBroadcasts(ctx, app, after, limit)
}

func TestLiveBroadcastIsNotSentAgainByCatchUp(t *testing.T) {
	t.Run("live while the catch-up is read", func(t *testing.T) {
		h := newBroadcastHarness(t, nil)
		held := &heldBroadcasts{Client: h.data, entered: make(chan struct{}, 1), release: make(chan struct{})}
		h.env.Data = held // before the first device actor starts
		b := h.broadcast(testApp, h.gen.Next())
		p := h.attach("d1")
		select {
		case <-held.entered:
		case <-time.After(5 * time.Second):
			t.Fatal("the missed broadcasts were never read")
		}
		if n := h.live(b); n != 1 {
			t.Fatalf("live broadcast reached %d devices, want 1", n)
		}
		close(held.release)
		if got := p.pushes(t, 1); got[0] != b.ID {
			t.Fatalf("pushed %v", got)
		}
		h.nothingElse(p, "d1")
		p.ack(b.ID)
		// Counted when the cursor moves, after the ACK.
		h.eventually(func() bool { return h.cursor("d1").Acked == b.ID }, "cursor advanced")
		if s, d := h.receipts.get(b.ID, dataservice.CounterSent), h.receipts.get(b.ID, dataservice.CounterDelivered); s != 1 || d != 1 {
			t.Fatalf("sent counted %d, delivered %d; want once each", s, d)
		}
	})
	t.Run("caught up and acknowledged before its live delivery", func(t *testing.T) {
		// A device that connects just after a broadcast was stored reads
		// it in its catch-up, and may acknowledge it before the fanout
		// that was under way reaches its connector.
		h := newBroadcastHarness(t, nil)
		b := h.broadcast(testApp, h.gen.Next())
		p := h.attach("d1")
		if got := p.pushes(t, 1); got[0] != b.ID {
			t.Fatalf("caught up %v", got)
		}
		p.ack(b.ID)
		h.eventually(func() bool { return h.cursor("d1").Acked == b.ID }, "cursor advanced")
		if n := h.live(b); n != 1 {
			t.Fatalf("live broadcast reached %d devices, want 1", n)
		}
		h.nothingElse(p, "d1")
		if s, d := h.receipts.get(b.ID, dataservice.CounterSent), h.receipts.get(b.ID, dataservice.CounterDelivered); s != 1 || d != 1 {
			t.Fatalf("sent counted %d, delivered %d; want once each", s, d)
		}
	})
	t.Run("live, acknowledged, then a new connection", func(t *testing.T) {
		h := newBroadcastHarness(t, func(s *actors.Settings) { s.Grace = 20 * time.Millisecond })
		p := h.attach("d1")
		h.nothingElse(p, "d1") // the catch-up found nothing
		b := h.broadcast(testApp, h.gen.Next())
		if n := h.live(b); n != 1 {
			t.Fatalf("live broadcast reached %d devices", n)
		}
		if got := p.pushes(t, 1); got[0] != b.ID {
			t.Fatalf("pushed %v", got)
		}
		p.ack(b.ID)
		h.eventually(func() bool { return h.cursor("d1").Acked == b.ID }, "cursor advanced")
		h.retire(p)
		p = h.attach("d1")
		h.nothingElse(p, "d1")
	})
}

// A device that missed more broadcasts than one store read loads gets them
// page by page on the same connection, oldest first; broadcasts that
// arrive live meanwhile must not let its cursor skip the ones still
// waiting in the store.
func TestBroadcastCatchUpIsPagedAndLosesNothing(t *testing.T) {
	const missed, perPage = 205, 100
	h := newBroadcastHarness(t, func(s *actors.Settings) {
		s.Window = 50
		s.Grace = 20 * time.Millisecond
	})
	b := h.broadcasts(missed)
	p := h.attach("d1")
	// The window holds 50: the device acknowledges as it goes, and a new
	// broadcast arrives while it catches up.
	var got []uint64
	late := h.broadcast(testApp, h.gen.Next())
	sentLate := false
	for len(got) < missed+1 {
		s, ok := p.next(t).(*actors.Send)
		if !ok {
			t.Fatal("the connection got something else than pushes")
		}
		var batch []uint64
		for _, o := range s.Pushes {
			batch = append(batch, o.ID)
		}
		got = append(got, batch...)
		p.ack(batch...)
		if !sentLate && len(got) >= perPage/2 {
			sentLate = true
			h.live(late)
		}
	}
	h.nothingElseBut(p, "d1", &got)
	want := append(slices.Clone(b), late.ID)
	if !slices.Equal(got, want) {
		t.Fatalf("on one connection the device got %d broadcasts (%d distinct), want each of the %d once, in order",
			len(got), len(slices.Compact(slices.Sorted(slices.Values(got)))), len(want))
	}
	h.eventually(func() bool { return h.cursor("d1").Acked == late.ID }, "cursor at the last")
	h.retire(p)

	p = h.attach("d1")
	h.nothingElse(p, "d1")
}

// nothingElseBut collects what the device is sent before the sentinel
// into got.
func (h *bcHarness) nothingElseBut(p *probe, rid string, got *[]uint64) {
	h.t.Helper()
	m := &dataservice.Message{ID: h.gen.Next(), AppKey: testApp, Content: "sentinel", Created: time.Now()}
	h.deliver(rid, actors.NewOutgoing(m))
	for {
		s, ok := p.next(h.t).(*actors.Send)
		if !ok {
			h.t.Fatal("the connection got something else than pushes")
		}
		for i, o := range s.Pushes {
			if o.ID == m.ID {
				if i != len(s.Pushes)-1 {
					h.t.Fatalf("pushed %d more after the sentinel", len(s.Pushes)-1-i)
				}
				return
			}
			*got = append(*got, o.ID)
		}
	}
}

func TestWithdrawnMessageIsNeverSent(t *testing.T) {
	kinds := []struct {
		name string
		// stored makes n messages of the kind for d1, stored before
		// anything else happens, oldest first.
		stored func(h *bcHarness, n int) []uint64
		// live hands a stored message to the connected device.
		live func(h *bcHarness, id uint64)
	}{
		{"unicast", func(h *bcHarness, n int) []uint64 {
			var out []uint64
			for range n {
				m := &dataservice.Message{ID: h.gen.Next(), AppKey: testApp, Content: "u", TTL: time.Hour, Created: time.Now()}
				if err := h.data.SaveMessage(context.Background(), m, []string{"d1"}); err != nil {
					h.t.Fatal(err)
				}
				out = append(out, m.ID)
			}
			return out
		}, func(h *bcHarness, id uint64) {
			m, err := h.data.Message(context.Background(), id)
			if err != nil {
				h.t.Fatal(err)
			}
			h.deliver("d1", actors.NewOutgoing(&m))
		}},
		{"broadcast", func(h *bcHarness, n int) []uint64 { return h.broadcasts(n) }, func(h *bcHarness, id uint64) {
			m, err := h.data.Message(context.Background(), id)
			if err != nil {
				h.t.Fatal(err)
			}
			h.live(&m)
		}},
	}
	withdraw := func(h *bcHarness, id uint64) { h.env.Withdrawn.Add(id, time.Now().Add(time.Hour)) }
	cases := []struct {
		name string
		run  func(t *testing.T, h *bcHarness, stored func(*bcHarness, int) []uint64, live func(*bcHarness, uint64))
	}{
		{"waiting in the store", func(t *testing.T, h *bcHarness, stored func(*bcHarness, int) []uint64, _ func(*bcHarness, uint64)) {
			m := stored(h, 1)
			withdraw(h, m[0])
			p := h.attach("d1")
			h.nothingElse(p, "d1")
		}},
		{"queued behind the window", func(t *testing.T, h *bcHarness, stored func(*bcHarness, int) []uint64, _ func(*bcHarness, uint64)) {
			m := stored(h, 2)
			p := h.attach("d1")
			if got := p.pushes(t, 1); got[0] != m[0] {
				t.Fatalf("pushed %v, want %d", got, m[0])
			}
			withdraw(h, m[1])
			p.ack(m[0])
			h.nothingElse(p, "d1")
		}},
		{"in flight when the connection dropped", func(t *testing.T, h *bcHarness, stored func(*bcHarness, int) []uint64, _ func(*bcHarness, uint64)) {
			m := stored(h, 1)
			p := h.attach("d1")
			if got := p.pushes(t, 1); got[0] != m[0] {
				t.Fatalf("pushed %v, want %d", got, m[0])
			}
			withdraw(h, m[0])
			p.detach()
			p = h.attach("d1") // within the grace period: the same actor
			h.nothingElse(p, "d1")
		}},
		{"handed over after the withdrawal", func(t *testing.T, h *bcHarness, stored func(*bcHarness, int) []uint64, live func(*bcHarness, uint64)) {
			p := h.attach("d1")
			h.nothingElse(p, "d1")
			m := stored(h, 1)
			withdraw(h, m[0])
			live(h, m[0])
			h.nothingElse(p, "d1")
		}},
	}
	for _, k := range kinds {
		for _, c := range cases {
			t.Run(k.name+"/"+c.name, func(t *testing.T) {
				h := newBroadcastHarness(t, func(s *actors.Settings) { s.Window = 1 })
				c.run(t, h, k.stored, k.live)
			})
		}
	}
}

func TestDirectoryBroadcastReachesTheDevicesOfTheApp(t *testing.T) {
	h := newBroadcastHarness(t, nil)
	p1, p2 := h.attach("d1"), h.attach("d2")
	p3 := h.attachAs("d3", "other")
	p4 := h.attach("d4")
	p4.detach() // in its grace period: still here
	for rid, p := range map[string]*probe{"d1": p1, "d2": p2, "d3": p3} {
		h.nothingElse(p, rid) // their catch-ups found nothing
	}
	b := h.broadcast(testApp, h.gen.Next())
	if n := h.live(b); n != 3 {
		t.Fatalf("broadcast reached %d devices, want the 3 of its app", n)
	}
	for _, p := range []*probe{p1, p2} {
		if got := p.pushes(t, 1); got[0] != b.ID {
			t.Fatalf("pushed %v", got)
		}
	}
	h.nothingElse(p3, "d3")
	// The device in its grace period gets it when it comes back; until
	// then it waits, as it would in the inbox.
	h.eventually(func() bool { return h.receipts.get(b.ID, dataservice.CounterStoredOffline) == 1 }, "stored_offline counted for the disconnected device")
	p4 = h.attach("d4")
	if got := p4.pushes(t, 1); got[0] != b.ID {
		t.Fatalf("pushed %v on reconnect", got)
	}
}

// A broadcast shed from a device's full queue waits in the store. A newer
// one that arrives live once the queue has drained must not let the
// cursor pass it: the device gets both, once, in order, on its next
// connection.
func TestShedBroadcastIsSentOnALaterConnection(t *testing.T) {
	const queued = 1000 // what a device actor holds beyond its window
	h := newBroadcastHarness(t, func(s *actors.Settings) { s.Window = 2 * queued })
	p := h.attach("d1")
	h.nothingElse(p, "d1")
	p.detach() // in its grace period: deliveries queue up
	var want []uint64
	for range queued {
		m := &dataservice.Message{ID: h.gen.Next(), AppKey: testApp, Content: "u", TTL: time.Hour, Created: time.Now()}
		if err := h.data.SaveMessage(context.Background(), m, []string{"d1"}); err != nil {
			t.Fatal(err)
		}
		h.deliver("d1", actors.NewOutgoing(m))
		want = append(want, m.ID)
	}
	shed := h.broadcast(testApp, h.gen.Next()) // one too many
	if n := h.live(shed); n != 1 {
		t.Fatalf("broadcast reached %d devices", n)
	}
	p = h.attach("d1")
	got := p.pushes(t, queued) // the queue drains
	later := h.broadcast(testApp, h.gen.Next())
	if n := h.live(later); n != 1 {
		t.Fatalf("broadcast reached %d devices", n)
	}
	h.nothingElseBut(p, "d1", &got)
	p.ack(got...)
	p.detach()
	p = h.attach("d1")
	h.nothingElseBut(p, "d1", &got)
	want = append(want, shed.ID, later.ID)
	if !slices.Equal(got, want) {
		t.Fatalf("the device got %d messages (broadcasts %v), want each of the %d once, in order (broadcasts %v)",
			len(got), got[min(queued, len(got)):], len(want), want[queued:])
	}
}
