package actors_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/actors"
	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/dataservice/leveldb"
)

// cursorImpl is one way of advancing cursors, with how to read what it
// counted.
type cursorImpl struct {
	name string
	make func(t *testing.T, data dataservice.Client) (actors.Cursors, func(id uint64, c dataservice.Counter) int64)
}

var cursorImpls = []cursorImpl{
	{"direct", func(t *testing.T, data dataservice.Client) (actors.Cursors, func(uint64, dataservice.Counter) int64) {
		r := &receipts{}
		return actors.DirectCursors{Data: data, Receipts: r}, r.get
	}},
	{"batching writer", func(t *testing.T, data dataservice.Client) (actors.Cursors, func(uint64, dataservice.Counter) int64) {
		w := actors.NewWriter(newSystem(t), actors.WriterConfig{}, data, discardLog())
		return w, func(id uint64, c dataservice.Counter) int64 {
			t.Helper()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := w.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			rep, err := data.Report(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			return map[dataservice.Counter]int64{
				dataservice.CounterSent:      rep.Sent,
				dataservice.CounterDelivered: rep.Delivered,
				dataservice.CounterFailed:    rep.Failed,
			}[c]
		}
	}},
}

// cursorEnv is a store with n broadcasts of one app.
type cursorEnv struct {
	data *dataservice.Service
	ids  []uint64
}

func newCursorEnv(t *testing.T, n int) *cursorEnv {
	t.Helper()
	store, err := leveldb.Open(leveldb.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	e := &cursorEnv{data: dataservice.New(store)}
	for i := range n {
		m := &dataservice.Message{ID: uint64(5000 + i), AppKey: testApp, Content: fmt.Sprint("b", i), TTL: time.Hour, Created: time.Now(), Broadcast: true}
		if err := e.data.SaveBroadcast(context.Background(), m, 0); err != nil {
			t.Fatal(err)
		}
		e.ids = append(e.ids, m.ID)
	}
	return e
}

func (e *cursorEnv) cursor(t *testing.T, rid string) dataservice.BroadcastCursor {
	t.Helper()
	c, err := e.data.BroadcastCursors(context.Background(), []string{rid})
	if err != nil {
		t.Fatal(err)
	}
	return c[0]
}

// advance applies a, retrying it whole on contention, as device actors do.
func advance(ctx context.Context, c actors.Cursors, a actors.CursorAdvance) error {
	var err error
	for range 50 {
		if err = c.AdvanceCursors(ctx, []actors.CursorAdvance{a}); err == nil {
			return nil
		}
	}
	return err
}

// Several device actors of one device (on two connectors, or an old one
// still stopping) report overlapping broadcasts at once: each broadcast
// is counted once, as delivered or as failed, never both.
func TestConcurrentAdvancesCountEachBroadcastOnce(t *testing.T) {
	for _, impl := range cursorImpls {
		t.Run(impl.name, func(t *testing.T) {
			const actorsOfDevice = 8
			e := newCursorEnv(t, actorsOfDevice)
			cursors, count := impl.make(t, e.data)
			// Actor g sent and finished broadcasts 0..g; the odd ones
			// were dropped unacknowledged.
			outcome := func(i int) dataservice.Counter {
				if i%2 == 1 {
					return dataservice.CounterFailed
				}
				return dataservice.CounterDelivered
			}
			var wg sync.WaitGroup
			errs := make(chan error, actorsOfDevice)
			for g := range actorsOfDevice {
				a := actors.CursorAdvance{RID: "d1", Acked: e.ids[g]}
				for i := 0; i <= g; i++ {
					a.Sent = append(a.Sent, e.ids[i])
					if outcome(i) == dataservice.CounterFailed {
						a.Failed = append(a.Failed, e.ids[i])
					} else {
						a.Delivered = append(a.Delivered, e.ids[i])
					}
				}
				wg.Go(func() { errs <- advance(context.Background(), cursors, a) })
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			for i, id := range e.ids {
				if got := count(id, dataservice.CounterSent); got != 1 {
					t.Errorf("broadcast %d counted sent %d times", i, got)
				}
				for _, c := range []dataservice.Counter{dataservice.CounterDelivered, dataservice.CounterFailed} {
					want := int64(0)
					if c == outcome(i) {
						want = 1
					}
					if got := count(id, c); got != want {
						t.Errorf("broadcast %d counted %s %d times, want %d", i, c, got, want)
					}
				}
			}
			last := e.ids[len(e.ids)-1]
			if c := e.cursor(t, "d1"); c.Sent != last || c.Acked != last {
				t.Fatalf("cursor %+v, want sent and acked %d", c, last)
			}
		})
	}
}

// Two actors of one device report the same broadcasts: the new actor
// loaded them before the old one's report reached the cursor, and the
// device acknowledged them again. Applied in either order, or merged in
// one batch of the writer, each counts once.
func TestOverlappingAdvancesInOneCallCountOnce(t *testing.T) {
	for _, impl := range cursorImpls {
		t.Run(impl.name, func(t *testing.T) {
			e := newCursorEnv(t, 3)
			cursors, count := impl.make(t, e.data)
			b0, b1, b2 := e.ids[0], e.ids[1], e.ids[2]
			older := actors.CursorAdvance{RID: "d1", Sent: []uint64{b0, b1}, Acked: b1, Delivered: []uint64{b0, b1}}
			newer := actors.CursorAdvance{RID: "d1", Sent: []uint64{b0, b1, b2}, Acked: b2, Delivered: []uint64{b0, b1}, Failed: []uint64{b2}}
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for i, a := range []actors.CursorAdvance{older, newer} {
				wg.Go(func() { errs[i] = advance(context.Background(), cursors, a) })
			}
			wg.Wait()
			for _, err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			want := map[uint64]map[dataservice.Counter]int64{
				b0: {dataservice.CounterSent: 1, dataservice.CounterDelivered: 1},
				b1: {dataservice.CounterSent: 1, dataservice.CounterDelivered: 1},
				b2: {dataservice.CounterSent: 1, dataservice.CounterFailed: 1},
			}
			for id, counters := range want {
				for _, c := range []dataservice.Counter{dataservice.CounterSent, dataservice.CounterDelivered, dataservice.CounterFailed} {
					if got := count(id, c); got != counters[c] {
						t.Errorf("broadcast %d: %s = %d, want %d", id, c, got, counters[c])
					}
				}
			}
		})
	}
}

func TestCursorNeverMovesBack(t *testing.T) {
	e := newCursorEnv(t, 6)
	b := e.ids
	steps := []struct {
		name       string
		adv        actors.CursorAdvance
		wantCursor [2]uint64 // sent, acked
		// newly counted by this step
		sent, delivered []uint64
	}{
		{
			name:       "first advance",
			adv:        actors.CursorAdvance{Sent: b[0:4], Acked: b[2], Delivered: b[0:3]},
			wantCursor: [2]uint64{b[3], b[2]},
			sent:       b[0:4], delivered: b[0:3],
		},
		{
			name:       "an older report changes nothing",
			adv:        actors.CursorAdvance{Sent: b[0:2], Acked: b[1], Delivered: b[0:2]},
			wantCursor: [2]uint64{b[3], b[2]},
		},
		{
			name:       "acked moves on while sent stays",
			adv:        actors.CursorAdvance{Sent: b[2:4], Acked: b[3], Delivered: b[2:4]},
			wantCursor: [2]uint64{b[3], b[3]},
			delivered:  b[3:4],
		},
		{
			name:       "sent moves on while an older acked is ignored",
			adv:        actors.CursorAdvance{Sent: b[4:6], Acked: b[1], Delivered: b[0:2]},
			wantCursor: [2]uint64{b[5], b[3]},
			sent:       b[4:6],
		},
		{
			name:       "the rest",
			adv:        actors.CursorAdvance{Acked: b[5], Delivered: b[4:6]},
			wantCursor: [2]uint64{b[5], b[5]},
			delivered:  b[4:6],
		},
	}
	r := &receipts{}
	cursors := actors.DirectCursors{Data: e.data, Receipts: r}
	wantSent := map[uint64]int64{}
	wantDelivered := map[uint64]int64{}
	for _, s := range steps {
		s.adv.RID = "d1"
		if err := cursors.AdvanceCursors(context.Background(), []actors.CursorAdvance{s.adv}); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if c := e.cursor(t, "d1"); c.Sent != s.wantCursor[0] || c.Acked != s.wantCursor[1] {
			t.Fatalf("%s: cursor sent %d acked %d, want %d %d", s.name, c.Sent, c.Acked, s.wantCursor[0], s.wantCursor[1])
		}
		for _, id := range s.sent {
			wantSent[id]++
		}
		for _, id := range s.delivered {
			wantDelivered[id]++
		}
		for _, id := range b {
			if got := r.get(id, dataservice.CounterSent); got != wantSent[id] {
				t.Fatalf("%s: broadcast %d sent %d, want %d", s.name, id, got, wantSent[id])
			}
			if got := r.get(id, dataservice.CounterDelivered); got != wantDelivered[id] {
				t.Fatalf("%s: broadcast %d delivered %d, want %d", s.name, id, got, wantDelivered[id])
			}
		}
	}
}

// Advances racing with lower and higher values leave the highest.
func TestConcurrentAdvancesLeaveTheHighestCursor(t *testing.T) {
	e := newCursorEnv(t, 16)
	cursors := actors.DirectCursors{Data: e.data, Receipts: &receipts{}}
	var wg sync.WaitGroup
	errs := make(chan error, len(e.ids))
	// In reverse: the highest often writes first, and the lower ones
	// must not pull it back.
	for i := len(e.ids) - 1; i >= 0; i-- {
		a := actors.CursorAdvance{RID: "d1", Sent: e.ids[i : i+1], Acked: e.ids[i], Delivered: e.ids[i : i+1]}
		wg.Go(func() { errs <- advance(context.Background(), cursors, a) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	last := e.ids[len(e.ids)-1]
	if c := e.cursor(t, "d1"); c.Sent != last || c.Acked != last {
		t.Fatalf("cursor %+v, want sent and acked %d", c, last)
	}
}

func TestAdvancesOfManyDevicesInOneCall(t *testing.T) {
	e := newCursorEnv(t, 2)
	r := &receipts{}
	cursors := actors.DirectCursors{Data: e.data, Receipts: r}
	var advs []actors.CursorAdvance
	for i := range 20 {
		advs = append(advs, actors.CursorAdvance{RID: fmt.Sprint("d", i), Sent: e.ids, Acked: e.ids[1], Delivered: e.ids})
	}
	if err := cursors.AdvanceCursors(context.Background(), advs); err != nil {
		t.Fatal(err)
	}
	for _, id := range e.ids {
		if s, d := r.get(id, dataservice.CounterSent), r.get(id, dataservice.CounterDelivered); s != 20 || d != 20 {
			t.Fatalf("broadcast %d: sent %d delivered %d, want 20 each", id, s, d)
		}
	}
	// The same report again (a retry after a lost answer) counts nothing.
	if err := cursors.AdvanceCursors(context.Background(), advs); err != nil {
		t.Fatal(err)
	}
	for _, id := range e.ids {
		if s, d := r.get(id, dataservice.CounterSent), r.get(id, dataservice.CounterDelivered); s != 20 || d != 20 {
			t.Fatalf("retried report counted again: broadcast %d sent %d delivered %d", id, s, d)
		}
	}
}

// The writer merges the advances of one device in a batch by
// concatenating their lists: ids reported by two actors appear twice, and
// one actor may have seen delivered what the other dropped. Each counts
// once, delivered before failed.
func TestMergedAdvanceWithRepeatedIDsCountsOnce(t *testing.T) {
	e := newCursorEnv(t, 3)
	b0, b1, b2 := e.ids[0], e.ids[1], e.ids[2]
	r := &receipts{}
	cursors := actors.DirectCursors{Data: e.data, Receipts: r}
	merged := actors.CursorAdvance{
		RID:       "d1",
		Sent:      []uint64{b0, b1, b1, b2},
		Acked:     b2,
		Delivered: []uint64{b0, b1, b1},
		Failed:    []uint64{b2, b1},
	}
	if err := cursors.AdvanceCursors(context.Background(), []actors.CursorAdvance{merged}); err != nil {
		t.Fatal(err)
	}
	want := map[uint64]map[dataservice.Counter]int64{
		b0: {dataservice.CounterSent: 1, dataservice.CounterDelivered: 1},
		b1: {dataservice.CounterSent: 1, dataservice.CounterDelivered: 1},
		b2: {dataservice.CounterSent: 1, dataservice.CounterFailed: 1},
	}
	for id, counters := range want {
		for _, c := range []dataservice.Counter{dataservice.CounterSent, dataservice.CounterDelivered, dataservice.CounterFailed} {
			if got := r.get(id, c); got != counters[c] {
				t.Errorf("broadcast %d: %s = %d, want %d", id, c, got, counters[c])
			}
		}
	}
}
