package dataservice_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/dataservice/leveldb"
	"github.com/heraldpush/herald/dataservice/storetest"
)

func openStore(t testing.TB) dataservice.Store {
	s, err := leveldb.Open(leveldb.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var nextID atomic.Uint64

func settleMessage(t *testing.T, svc *dataservice.Service, rids []string) *dataservice.Message {
	m := &dataservice.Message{ID: 1<<40 + nextID.Add(1), AppKey: "app", Title: "t", TTL: time.Hour, Created: time.UnixMilli(time.Now().UnixMilli())}
	if err := svc.SaveMessage(context.Background(), m, rids); err != nil {
		t.Fatal(err)
	}
	return m
}

// settlement sends m to rids and ends their copies, as one writer step.
func settlement(m *dataservice.Message, run string, rids []string) dataservice.Settlement {
	st := dataservice.Settlement{Writer: "c1", Run: run, Seq: 1,
		Deltas: []dataservice.CounterDelta{{MessageID: m.ID, Counter: dataservice.CounterStoredOffline, N: 1}}}
	for _, rid := range rids {
		st.Sends = append(st.Sends, dataservice.SettleSend{Count: true,
			Receipt: dataservice.Receipt{MessageID: m.ID, RegistrationID: rid, Event: dataservice.ReceiptSent}})
		st.Ends = append(st.Ends, dataservice.SettleEnd{Copy: dataservice.InboxCopy{RegistrationID: rid, MessageID: m.ID}, Counter: dataservice.CounterDelivered})
	}
	return st
}

func checkSettled(t *testing.T, svc *dataservice.Service, m *dataservice.Message, rids []string) {
	t.Helper()
	ctx := context.Background()
	r, err := svc.Report(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	n := int64(len(rids))
	if r.Sent != n || r.Delivered != n || r.StoredOffline != 1 || r.Failed != 0 {
		t.Fatalf("report %+v; want sent = delivered = %d, stored offline 1", r, n)
	}
	drs, err := svc.MessageReceipts(ctx, m.ID, rids)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range drs {
		if d.DeliveredAt.IsZero() || d.SentAt.IsZero() || d.Pending {
			t.Fatalf("receipt of %s: %+v; want sent and delivered, nothing pending", d.RegistrationID, d)
		}
	}
}

// TestSettleCrashAnywhere kills the store's writer after each of its
// writes in turn (the dying write applied or not), then replays: by a
// retry of the same run, or by another run's recovery. The report and the
// receipts come out exact every time.
func TestSettleCrashAnywhere(t *testing.T) {
	rids := []string{"d1", "d2", "d3"}
	for _, recover := range []bool{false, true} {
		for _, applied := range []bool{false, true} {
			for k := int64(0); k < 8; k++ {
				t.Run(fmt.Sprintf("recover=%v/applied=%v/after=%d", recover, applied, k), func(t *testing.T) {
					base := openStore(t)
					svc := dataservice.New(base)
					m := settleMessage(t, svc, rids)
					dying := &storetest.Dying{Store: base, Applied: applied}
					dying.Left.Store(k)
					st := settlement(m, "run1", rids)
					_, err := dataservice.New(dying).Settle(context.Background(), st)
					if err != nil && !errors.Is(err, dataservice.ErrUnavailable) {
						t.Fatal(err)
					}
					if err == nil {
						checkSettled(t, svc, m, rids)
					}
					if recover && k == 0 && !applied {
						// Not journaled: nothing of it happened; the copies
						// wait for the devices to acknowledge them again.
						if r, err := svc.Report(context.Background(), m.ID); err != nil || r.Delivered != 0 || r.Sent != 0 {
							t.Fatalf("report %+v, %v; want nothing counted", r, err)
						}
						return
					}
					if recover {
						if _, err := svc.RecoverSettlements(context.Background(), "c1", "run2"); err != nil {
							t.Fatal(err)
						}
					} else {
						st.Replay = true
						res, err := svc.Settle(context.Background(), st)
						if err != nil {
							t.Fatal(err)
						}
						for i, ok := range res.Ended {
							if !ok {
								t.Fatalf("replayed end %d not reported ended", i)
							}
						}
					}
					checkSettled(t, svc, m, rids)
					// Nothing is left to recover, and recovering again changes nothing.
					if n, err := svc.RecoverSettlements(context.Background(), "c1", "run3"); err != nil || n != 0 {
						t.Fatalf("second recovery: %d, %v", n, err)
					}
					checkSettled(t, svc, m, rids)
				})
			}
		}
	}
}

// TestSettleTwoWriters ends one copy from two writers (a device served by
// two actors): it is counted once, sent once.
func TestSettleTwoWriters(t *testing.T) {
	svc := dataservice.New(openStore(t))
	rids := []string{"d1"}
	m := settleMessage(t, svc, rids)
	a, b := settlement(m, "a", rids), settlement(m, "b", rids)
	b.Writer, b.Deltas = "c2", nil
	ra, err := svc.Settle(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := svc.Settle(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	if !ra.Ended[0] || rb.Ended[0] {
		t.Fatalf("ended: first %v, second %v; want true, false", ra.Ended, rb.Ended)
	}
	checkSettled(t, svc, m, rids)
}

// TestSettleSendThenEnd settles the send and the end in two steps, the end
// of another device first without its send: each counts sent once.
func TestSettleSendThenEnd(t *testing.T) {
	svc := dataservice.New(openStore(t))
	rids := []string{"d1", "d2"}
	m := settleMessage(t, svc, rids)
	full := settlement(m, "r", rids)
	ctx := context.Background()
	steps := []dataservice.Settlement{
		{Writer: "c1", Run: "r", Seq: 1, Sends: full.Sends[:1], Deltas: full.Deltas},
		{Writer: "c1", Run: "r", Seq: 2, Ends: full.Ends, Prev: map[uint64]uint64{m.ID: 1}},
		{Writer: "c1", Run: "r", Seq: 3, Sends: full.Sends, Prev: map[uint64]uint64{m.ID: 2}},
	}
	for _, st := range steps {
		if _, err := svc.Settle(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	checkSettled(t, svc, m, rids)
	// A replay of the middle step changes nothing.
	steps[1].Replay = true
	if _, err := svc.Settle(ctx, steps[1]); err != nil {
		t.Fatal(err)
	}
	checkSettled(t, svc, m, rids)
}

// TestSettleCursorsCrashAnywhere kills the writer of a broadcast's cursor
// advances after each of its writes in turn; meanwhile another writer
// moves the same devices' cursors past a newer broadcast; then the dead
// run is recovered. Each device counts sent and delivered once for each
// broadcast.
func TestSettleCursorsCrashAnywhere(t *testing.T) {
	rids := []string{"d1", "d2", "d3"}
	for _, applied := range []bool{false, true} {
		for k := int64(0); k < 6; k++ {
			t.Run(fmt.Sprintf("applied=%v/after=%d", applied, k), func(t *testing.T) {
				ctx := context.Background()
				base := openStore(t)
				svc := dataservice.New(base)
				bcast := func() *dataservice.Message {
					m := &dataservice.Message{ID: 1<<40 + nextID.Add(1), AppKey: "app", Title: "b", TTL: time.Hour, Broadcast: true,
						Created: time.UnixMilli(time.Now().UnixMilli())}
					if err := svc.SaveBroadcast(ctx, m, 3); err != nil {
						t.Fatal(err)
					}
					return m
				}
				m1, m2 := bcast(), bcast()
				advance := func(writer string, m *dataservice.Message) dataservice.Settlement {
					st := dataservice.Settlement{Writer: writer, Run: "r", Seq: 1}
					for _, rid := range rids {
						st.Cursors = append(st.Cursors, dataservice.SettleCursor{RID: rid, Sent: []uint64{m.ID}, Acked: m.ID, Delivered: []uint64{m.ID}})
					}
					return st
				}
				dying := &storetest.Dying{Store: base, Applied: applied}
				dying.Left.Store(k)
				_, err := dataservice.New(dying).Settle(ctx, advance("c1", m1))
				if err != nil && !errors.Is(err, dataservice.ErrUnavailable) {
					t.Fatal(err)
				}
				// The devices moved on: another connector's writer covers
				// both broadcasts (its actors caught up on m1 too).
				other := advance("c2", m2)
				for i := range other.Cursors {
					c := &other.Cursors[i]
					c.Sent, c.Delivered = []uint64{m1.ID, m2.ID}, []uint64{m1.ID, m2.ID}
				}
				if _, err := svc.Settle(ctx, other); err != nil {
					t.Fatal(err)
				}
				if _, err := svc.RecoverSettlements(ctx, "c1", "restarted"); err != nil {
					t.Fatal(err)
				}
				for _, m := range []*dataservice.Message{m1, m2} {
					r, err := svc.Report(ctx, m.ID)
					if err != nil {
						t.Fatal(err)
					}
					if r.Sent != 3 || r.Delivered != 3 {
						t.Fatalf("report of broadcast %d: %+v; want sent = delivered = 3", m.ID, r)
					}
				}
			})
		}
	}
}
