package actors_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/heraldpush/herald/actors"
	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/dataservice/leveldb"
)

// countingData counts the batched calls that reach the dataservice, and
// can hold them until released.
type countingData struct {
	dataservice.Client
	sessionCalls, removalCalls, counterCalls atomic.Int64
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

func (c *countingData) AddCounters(ctx context.Context, d []dataservice.CounterDelta) error {
	c.counterCalls.Add(1)
	return c.Client.AddCounters(ctx, d)
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
	return actors.NewWriter(system, cfg, data, slog.New(slog.NewTextHandler(io.Discard, nil))), data
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
