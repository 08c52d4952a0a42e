package actors_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald/actors"
	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/dataservice/leveldb"
	"github.com/heraldpush/herald/internal/ids"
)

// dyingStore applies the writes it is allowed (left), then fails every
// write, as the store of a killed process would look: the write that dies
// may or may not be applied.
type dyingStore struct {
	dataservice.Store
	left    atomic.Int64
	applied bool
}

func (s *dyingStore) write(apply func() error) error {
	switch n := s.left.Add(-1); {
	case n >= 0:
		return apply()
	case n == -1 && s.applied:
		_ = apply()
	}
	return fmt.Errorf("test: %w: killed", dataservice.ErrUnavailable)
}

func (s *dyingStore) Put(ctx context.Context, k dataservice.Kind, key string, v []byte, o dataservice.WriteOptions) (uint32, error) {
	var g uint32
	err := s.write(func() (err error) { g, err = s.Store.Put(ctx, k, key, v, o); return err })
	return g, err
}

func (s *dyingStore) PutMany(ctx context.Context, w []dataservice.Write) error {
	return s.write(func() error { return s.Store.PutMany(ctx, w) })
}

func (s *dyingStore) Delete(ctx context.Context, k dataservice.Kind, key string, gen uint32) (bool, error) {
	var ok bool
	err := s.write(func() (err error) { ok, err = s.Store.Delete(ctx, k, key, gen); return err })
	return ok, err
}

func (s *dyingStore) DeleteMany(ctx context.Context, k dataservice.Kind, keys []string) ([]bool, error) {
	var ok []bool
	err := s.write(func() (err error) { ok, err = s.Store.DeleteMany(ctx, k, keys); return err })
	return ok, err
}

func (s *dyingStore) Incr(ctx context.Context, k dataservice.Kind, key string, d []dataservice.Delta, ttl time.Duration) ([]int64, error) {
	var out []int64
	err := s.write(func() (err error) { out, err = s.Store.Incr(ctx, k, key, d, ttl); return err })
	return out, err
}

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
				dying := &dyingStore{Store: store, applied: applied}
				dying.left.Store(1 << 30)
				a := newRCConnectorNamed(t, "c1", dataservice.New(dying))
				onA := a.attach(dev)
				a.env.Directory.Deliver(actors.NewOutgoing(m), []string{"d1"})
				if got := onA.pushed(t); got != m.ID {
					t.Fatalf("pushed %d", got)
				}
				dying.left.Store(k)
				a.env.System.Root.Send(onA.device, &actors.Acked{IDs: []uint64{m.ID}})
				// Killed: once the writes allowed are spent, or the step
				// settled.
				deadline := time.Now().Add(5 * time.Second)
				for dying.left.Load() >= 0 && time.Now().Before(deadline) {
					if r, _ := healthy.Report(ctx, m.ID); r.Delivered == 1 {
						if e, _ := healthy.Inbox(ctx, "d1", 0, 1); len(e) == 0 {
							break
						}
					}
					time.Sleep(time.Millisecond)
				}
				dying.left.Store(-1 << 30)

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
