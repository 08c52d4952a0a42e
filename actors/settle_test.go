package actors_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/heraldpush/herald/actors"
	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/dataservice/leveldb"
	"github.com/heraldpush/herald/dataservice/storetest"
	"github.com/heraldpush/herald/internal/ids"
)

// A connector killed at any point after its device acknowledged a message
// (its store writes stop there) and started again under the same writer
// name: the report counts the message sent and delivered once, and the
// device's receipt says delivered — whether the restart replays what the
// writer journaled or the device gets the message again.
func TestWriterKilledAfterAnACKLosesNoCount(t *testing.T) {
	for _, applied := range []bool{false, true} {
		for k := int64(0); k < 7; k++ {
			t.Run(fmt.Sprintf("applied=%v/after=%d", applied, k), func(t *testing.T) {
				store, err := leveldb.Open(leveldb.Config{Dir: t.TempDir()})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { store.Close() })
				healthy := dataservice.New(store)
				ctx := context.Background()
				dev := dataservice.Device{RegistrationID: "d1", AppKey: "app", Created: time.Now().Add(-time.Hour)}
				if err := healthy.CreateDevice(ctx, dev); err != nil {
					t.Fatal(err)
				}
				gen, _ := ids.NewGenerator(1)
				m := &dataservice.Message{ID: gen.Next(), AppKey: "app", Content: "hi", TTL: time.Hour, Created: time.Now()}
				if err := healthy.SaveMessage(ctx, m, []string{"d1"}); err != nil {
					t.Fatal(err)
				}
				dying := &storetest.Dying{Store: store, Applied: applied}
				dying.Left.Store(1 << 30)
				a := newRCConnectorNamed(t, "c1", dataservice.New(dying))
				onA := a.attach(dev)
				a.env.Directory.Deliver(actors.NewOutgoing(m), []string{"d1"})
				if got := onA.pushed(t); got != m.ID {
					t.Fatalf("pushed %d", got)
				}
				dying.Left.Store(k)
				a.env.System.Root.Send(onA.device, &actors.Acked{IDs: []uint64{m.ID}})
				// Killed: once the writes allowed are spent, or the step
				// settled.
				deadline := time.Now().Add(5 * time.Second)
				for dying.Left.Load() >= 0 && time.Now().Before(deadline) {
					if r, _ := healthy.Report(ctx, m.ID); r.Delivered == 1 {
						if e, _ := healthy.Inbox(ctx, "d1", 0, 1); len(e) == 0 {
							break
						}
					}
					time.Sleep(time.Millisecond)
				}
				dying.Left.Store(-1 << 30)

				// Started again: the restart replays what the dead run
				// journaled, and the device connects again.
				if _, err := healthy.RecoverSettlements(ctx, "c1", "restarted"); err != nil {
					t.Fatal(err)
				}
				b := newRCConnectorNamed(t, "c1", healthy)
				if e, _ := healthy.Inbox(ctx, "d1", 0, 1); len(e) > 0 {
					onB := b.attach(dev)
					if got := onB.pushed(t); got != m.ID {
						t.Fatalf("b pushed %d", got)
					}
					b.env.System.Root.Send(onB.device, &actors.Acked{IDs: []uint64{m.ID}})
				}
				waitReport(t, healthy, m.ID, func(r dataservice.Report) bool { return r.Delivered == 1 })
				b.flush()
				r, _ := healthy.Report(ctx, m.ID)
				if want := (dataservice.Report{Targeted: 1, Sent: 1, Delivered: 1}); r != want {
					t.Fatalf("report %+v, want %+v", r, want)
				}
				got, err := healthy.MessageReceipts(ctx, m.ID, []string{"d1"})
				if err != nil {
					t.Fatal(err)
				}
				if d := got[0]; d.SentAt.IsZero() || d.DeliveredAt.IsZero() || d.Pending {
					t.Fatalf("receipts of d1: %+v", d)
				}
			})
		}
	}
}
