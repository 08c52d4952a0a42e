package clienttest

import (
	"context"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

// broadcastTests are the cases of BroadcastStore.
var broadcastTests = []test{
	{"Broadcasts", broadcasts},
	{"BroadcastCursors", broadcastCursors},
}

func broadcastMessage(app string, ttl time.Duration) *dataservice.Message {
	m := message(ttl)
	m.AppKey, m.Broadcast = app, true
	return m
}

func appBroadcasts(t *testing.T, c dataservice.Client, app string, after uint64, limit int) []uint64 {
	t.Helper()
	ids, err := c.AppBroadcasts(context.Background(), app, after, limit)
	if err != nil {
		t.Fatalf("AppBroadcasts(%s, %d, %d): %v", app, after, limit, err)
	}
	return ids
}

func broadcasts(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	wantIDs(t, "broadcasts of an app without any", appBroadcasts(t, c, "app", 0, 10), nil)
	var ids []uint64
	for i := range 3 {
		m := broadcastMessage("app", time.Hour)
		if err := c.SaveBroadcast(ctx, m, int64(100+i)); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	wantErr(t, c.SaveBroadcast(ctx, &dataservice.Message{ID: ids[0], AppKey: "app", Broadcast: true, TTL: time.Hour, Created: time.Now()}, 1),
		dataservice.ErrExists, "saving a broadcast twice")
	elsewhere := broadcastMessage("other", time.Hour)
	if err := c.SaveBroadcast(ctx, elsewhere, 5); err != nil {
		t.Fatal(err)
	}
	live := broadcastMessage("app", 0)
	if err := c.SaveBroadcast(ctx, live, 50); err != nil {
		t.Fatal(err)
	}

	got, err := c.Message(ctx, ids[1])
	if err != nil || !got.Broadcast || got.Content != "hello \u2028 😀" {
		t.Fatalf("Message() of a broadcast = %+v, %v", got, err)
	}
	if r, err := c.Report(ctx, ids[1]); err != nil || r.Targeted != 101 {
		t.Fatalf("Report() of a broadcast = %+v, %v; want targeted 101", r, err)
	}
	if r, err := c.Report(ctx, live.ID); err != nil || r.Targeted != 50 {
		t.Fatalf("Report() of an online-only broadcast = %+v, %v; want targeted 50", r, err)
	}
	wantIDs(t, "AppBroadcasts (the online-only one is not listed)", appBroadcasts(t, c, "app", 0, 10), ids)
	wantIDs(t, "first page", appBroadcasts(t, c, "app", 0, 2), ids[:2])
	wantIDs(t, "second page", appBroadcasts(t, c, "app", ids[1], 2), ids[2:])
	wantIDs(t, "broadcasts of the other app", appBroadcasts(t, c, "other", 0, 10), []uint64{elsewhere.ID})

	// Cancel.
	if ok, err := c.RemoveBroadcast(ctx, "app", ids[1]); err != nil || !ok {
		t.Fatalf("RemoveBroadcast = %v, %v; want true", ok, err)
	}
	if ok, err := c.RemoveBroadcast(ctx, "app", ids[1]); err != nil || ok {
		t.Fatalf("RemoveBroadcast again = %v, %v; want false", ok, err)
	}
	if ok, err := c.RemoveBroadcast(ctx, "app", elsewhere.ID); err != nil || ok {
		t.Fatalf("RemoveBroadcast of another app's broadcast = %v, %v; want false", ok, err)
	}
	wantIDs(t, "AppBroadcasts after a cancel", appBroadcasts(t, c, "app", 0, 10), []uint64{ids[0], ids[2]})
	if _, err := c.Message(ctx, ids[1]); err != nil {
		t.Fatalf("a canceled broadcast's body is kept for its report: %v", err)
	}

	notMarked := message(time.Hour)
	wantErr(t, c.SaveBroadcast(ctx, notMarked, 1), dataservice.ErrInvalid, "SaveBroadcast of a message not marked Broadcast")
	for _, app := range []string{"", "a/b", "bad\xff"} {
		wantErr(t, c.SaveBroadcast(ctx, broadcastMessage(app, time.Hour), 1), dataservice.ErrInvalid, fmt.Sprintf("SaveBroadcast for app %q", app))
		_, err := c.AppBroadcasts(ctx, app, 0, 10)
		wantErr(t, err, dataservice.ErrInvalid, fmt.Sprintf("AppBroadcasts of app %q", app))
		_, err = c.RemoveBroadcast(ctx, app, 1)
		wantErr(t, err, dataservice.ErrInvalid, fmt.Sprintf("RemoveBroadcast of app %q", app))
	}
	wantErr(t, c.SaveBroadcast(ctx, broadcastMessage("app", time.Hour), -1), dataservice.ErrInvalid, "SaveBroadcast with negative targeted")
	zero := broadcastMessage("app", time.Hour)
	zero.ID = 0
	wantErr(t, c.SaveBroadcast(ctx, zero, 1), dataservice.ErrInvalid, "SaveBroadcast with zero id")
	for _, limit := range []int{0, dataservice.MaxPage + 1} {
		_, err := c.AppBroadcasts(ctx, "app", 0, limit)
		wantErr(t, err, dataservice.ErrInvalid, fmt.Sprintf("AppBroadcasts with limit %d", limit))
	}
}

func broadcastCursors(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	cs, err := c.BroadcastCursors(ctx, []string{"a", "b"})
	if err != nil || len(cs) != 2 || cs[0] != (dataservice.BroadcastCursor{RegistrationID: "a"}) || cs[1] != (dataservice.BroadcastCursor{RegistrationID: "b"}) {
		t.Fatalf("BroadcastCursors of devices without any = %+v, %v", cs, err)
	}
	put := func(cursors ...dataservice.BroadcastCursor) []bool {
		t.Helper()
		ok, err := c.PutBroadcastCursors(ctx, cursors)
		if err != nil || len(ok) != len(cursors) {
			t.Fatalf("PutBroadcastCursors(%+v) = %v, %v", cursors, ok, err)
		}
		return ok
	}
	a := cs[0]
	a.Sent, a.Acked = math.MaxUint64, 3
	if ok := put(a); !ok[0] {
		t.Fatal("creating a cursor failed")
	}
	if ok := put(a); ok[0] {
		t.Fatal("creating a cursor that exists succeeded")
	}
	cs, _ = c.BroadcastCursors(ctx, []string{"b", "a"})
	if cs[0].Generation != 0 || cs[1].Sent != math.MaxUint64 || cs[1].Acked != 3 || cs[1].Generation == 0 || cs[1].RegistrationID != "a" {
		t.Fatalf("BroadcastCursors = %+v", cs)
	}
	stale := cs[1]
	next := cs[1]
	next.Sent, next.Acked = 9, 9
	b := cs[0]
	b.Sent = 4
	// One batch, each write on its own.
	if ok := put(next, b); !ok[0] || !ok[1] {
		t.Fatalf("PutBroadcastCursors = %v, want both written", ok)
	}
	stale.Acked = 1
	b.Sent = 5 // b's generation is 0 still: create only
	if ok := put(stale, b); ok[0] || ok[1] {
		t.Fatalf("PutBroadcastCursors of a stale cursor and a re-creation = %v, want neither written", ok)
	}
	cs, _ = c.BroadcastCursors(ctx, []string{"a", "b"})
	if cs[0].Sent != 9 || cs[0].Acked != 9 || cs[1].Sent != 4 {
		t.Fatalf("cursors after conflicts: %+v", cs)
	}
	if ok, err := c.PutBroadcastCursors(ctx, nil); err != nil || len(ok) != 0 {
		t.Fatalf("PutBroadcastCursors of none = %v, %v", ok, err)
	}
	if cs, err := c.BroadcastCursors(ctx, nil); err != nil || len(cs) != 0 {
		t.Fatalf("BroadcastCursors of none = %v, %v", cs, err)
	}
	_, err = c.BroadcastCursors(ctx, []string{"bad\xff"})
	wantErr(t, err, dataservice.ErrInvalid, "BroadcastCursors of an id that is not UTF-8")
	_, err = c.PutBroadcastCursors(ctx, []dataservice.BroadcastCursor{{RegistrationID: ""}})
	wantErr(t, err, dataservice.ErrInvalid, "PutBroadcastCursors without an id")

	// Concurrent writers from one read: exactly one wins. Then
	// read-modify-write loops lose nothing.
	cs, _ = c.BroadcastCursors(ctx, []string{"c"})
	for _, from := range []uint32{0, 1} {
		if from == 1 {
			cs, _ = c.BroadcastCursors(ctx, []string{"c"})
		}
		var wins atomic.Int64
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				cur := cs[0]
				cur.Sent = uint64(i)
				ok, err := c.PutBroadcastCursors(ctx, []dataservice.BroadcastCursor{cur})
				if err != nil {
					t.Error(err)
					return
				}
				if ok[0] {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		if wins.Load() != 1 {
			t.Fatalf("%d concurrent cursor writes from one read succeeded, want exactly 1", wins.Load())
		}
	}
	const workers, rounds = 6, 5
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range rounds {
				for {
					cur, err := c.BroadcastCursors(ctx, []string{"c"})
					if err != nil {
						t.Error(err)
						return
					}
					cur[0].Acked++
					ok, err := c.PutBroadcastCursors(ctx, cur)
					if err != nil {
						t.Error(err)
						return
					}
					if ok[0] {
						break
					}
				}
			}
		})
	}
	wg.Wait()
	if cs, _ := c.BroadcastCursors(ctx, []string{"c"}); cs[0].Acked != workers*rounds {
		t.Fatalf("Acked = %d after %d compare-and-set increments", cs[0].Acked, workers*rounds)
	}
}
