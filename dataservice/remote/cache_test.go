package remote

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/dataservice/clienttest"
)

var invalidationOn = &dataservice.InvalidationConfig{Lease: 500 * time.Millisecond}

// dialReady returns a caching client of in whose cache is serving.
func dialReady(tb testing.TB, urls ...string) *Client {
	tb.Helper()
	c, err := Dial(ClientConfig{URLs: urls, Token: testToken, Log: quiet})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Follower().Ready(ctx); err != nil {
		tb.Fatalf("cache of the client never started serving: %v", err)
	}
	return c
}

// With the invalidation stream on, the client caches, and still passes the suite.
func TestCachingClientConformance(t *testing.T) {
	clienttest.Run(t, func(t testing.TB) dataservice.Client {
		in := serve(t, openLevelDB(t), invalidationOn)
		return dialReady(t, in.URL)
	})
}

func TestCachedReadsAreServedFromTheCache(t *testing.T) {
	in := serve(t, openLevelDB(t), invalidationOn)
	c := dialReady(t, in.URL)
	ctx := context.Background()
	if err := c.CreateDevice(ctx, dataservice.Device{RegistrationID: "r1", AppKey: "a", Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := c.Device(ctx, "r1"); err != nil {
			t.Fatal(err)
		}
	}
	if st := c.Cache().Stats(); st.Hits < 2 || st.Entries < 1 {
		t.Fatalf("cache stats after three reads: %+v", st)
	}
}

// A write through one caching process is never read stale through
// another: the write returns only after every follower dropped the key.
func TestWriteThroughOneCachingProcessIsNeverReadStaleThroughAnother(t *testing.T) {
	in := serve(t, openLevelDB(t), invalidationOn)
	a, b := dialReady(t, in.URL), dialReady(t, in.URL)
	ctx := context.Background()
	const devices, rounds = 8, 50
	var wg sync.WaitGroup
	for d := range devices {
		wg.Go(func() {
			rid := fmt.Sprint("dev", d)
			for round := range rounds {
				conn := fmt.Sprint("c", round)
				if _, err := a.PutSessions(ctx, []dataservice.Session{{RegistrationID: rid, Connector: conn, Since: time.Now()}}, time.Hour); err != nil {
					t.Error(err)
					return
				}
				// Read through b, which cached the previous round's value.
				ss, err := b.Sessions(ctx, []string{rid})
				if err != nil {
					t.Error(err)
					return
				}
				if ss[0].Connector != conn {
					t.Errorf("device %s round %d: b read %q after a wrote %q", rid, round, ss[0].Connector, conn)
					return
				}
			}
		})
	}
	wg.Wait()
	if st := b.Cache().Stats(); st.Invalidations == 0 {
		t.Fatalf("b's cache was never invalidated (%+v): the test did not exercise the invalidation stream", st)
	}
}

// A follower that cannot be reached does not stall writes forever, and the
// cut-off follower stops serving from its cache.
// A batch of sessions is written side by side, and the invalidations of
// its writes reach followers merged into few frames; none is lost: after
// every batch, another follower reads each session's new value.
func TestBatchOfSessionsIsNeverReadStaleThroughAnotherCachingProcess(t *testing.T) {
	in := serve(t, openLevelDB(t), invalidationOn)
	a, b := dialReady(t, in.URL), dialReady(t, in.URL)
	ctx := context.Background()
	const devices, rounds = 200, 5
	rids := make([]string, devices)
	for i := range rids {
		rids[i] = fmt.Sprint("dev", i)
	}
	for round := range rounds {
		conn := fmt.Sprint("c", round)
		batch := make([]dataservice.Session, devices)
		for i, rid := range rids {
			batch[i] = dataservice.Session{RegistrationID: rid, Connector: conn, Since: time.Now()}
		}
		gens, err := a.PutSessions(ctx, batch, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		for i, g := range gens {
			if g != uint32(round+1) {
				t.Fatalf("round %d: session %d has generation %d, want %d", round, i, g, round+1)
			}
		}
		// b cached the previous round's sessions.
		ss, err := b.Sessions(ctx, rids)
		if err != nil {
			t.Fatal(err)
		}
		for i, s := range ss {
			if s.Connector != conn {
				t.Fatalf("round %d: %s read as on %q through another caching process, want %q", round, rids[i], s.Connector, conn)
			}
		}
	}
	if st := b.Cache().Stats(); st.Invalidations < devices {
		t.Fatalf("b's cache saw %d invalidations (%+v): the test did not exercise the invalidation stream", st.Invalidations, st)
	}
}

func TestUnresponsiveFollowerIsCutOffAndStopsServing(t *testing.T) {
	src := dataservice.NewSource(openLevelDB(t), dataservice.InvalidationConfig{Lease: 100 * time.Millisecond})
	// The writes below replace records (creates invalidate nothing).
	for _, rid := range []string{"r1", "r2"} {
		if _, err := src.Put(context.Background(), dataservice.KindDevice, rid, []byte("old"), dataservice.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// The lease runs from the follower's last sign of life: its subscription.
	start := time.Now()
	sub := src.Subscribe() // a follower that never acknowledges
	if _, err := src.Put(context.Background(), dataservice.KindDevice, "r1", []byte("v"), dataservice.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	waited := time.Since(start)
	if waited < 200*time.Millisecond {
		t.Fatalf("the write returned after %v, before the cut-off follower's lease (2×100ms) ran out", waited)
	}
	select {
	case _, ok := <-sub.C:
		if ok {
			// The invalidation was queued before the cut-off; then the
			// stream ends.
			if _, ok := <-sub.C; ok {
				t.Fatal("the stream of the cut-off follower did not end")
			}
		}
	case <-time.After(time.Second):
		t.Fatal("the stream of the cut-off follower did not end")
	}
	// Later writes do not wait for it any more.
	start = time.Now()
	if _, err := src.Put(context.Background(), dataservice.KindDevice, "r2", []byte("v"), dataservice.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("a write after the cut-off took %v", d)
	}
}

func TestFollowerStopsServingWhenItsStreamBreaks(t *testing.T) {
	in := serve(t, openLevelDB(t), invalidationOn)
	c := dialReady(t, in.URL)
	in.srv.CloseClientConnections()
	deadline := time.Now().Add(5 * time.Second)
	for c.Follower().Serving() {
		if time.Now().After(deadline) {
			t.Fatal("still serving from the cache after its stream broke")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// It comes back by itself.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Follower().Ready(ctx); err != nil {
		t.Fatalf("follower did not reconnect: %v", err)
	}
}

// BenchmarkInvalidation measures a write until every follower acknowledged
// it: what a write pays to keep other processes' caches exact.
func BenchmarkInvalidation(b *testing.B) {
	in := serve(b, openLevelDB(b), invalidationOn)
	writer := dialReady(b, in.URL)
	dialReady(b, in.URL)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		if _, err := writer.PutSessions(ctx, []dataservice.Session{{RegistrationID: fmt.Sprint("d", i%100), Since: time.Now()}}, time.Hour); err != nil {
			b.Fatal(err)
		}
	}
}
