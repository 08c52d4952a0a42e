package clienttest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

// Push data: tasks, task copies, collapse ids, broadcasts and their
// cursors, idempotency keys, device counts and last-active times
// (PushData).

// eventually polls cond until it holds or 10 seconds have passed.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not true after 10s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func newTask(app string) dataservice.Task {
	now := time.UnixMilli(time.Now().UnixMilli()).UTC()
	return dataservice.Task{
		ID: id(), AppKey: app, State: dataservice.TaskRunning,
		Cursor: "tag:vip/r0042", PrevCursor: "tag:vip/", Targeted: 7, Rate: 100,
		Spec:  json.RawMessage(`{"filters":{"tag":["<b>&"]},"local_time":"09:00"}`),
		Owner: "gw-1", LeaseUntil: now.Add(time.Minute), Created: now, Updated: now,
	}
}

func sameTask(a, b dataservice.Task) bool {
	return a.ID == b.ID && a.AppKey == b.AppKey && a.State == b.State && a.Cursor == b.Cursor &&
		a.PrevCursor == b.PrevCursor && a.Targeted == b.Targeted && a.Rate == b.Rate &&
		string(a.Spec) == string(b.Spec) && a.Owner == b.Owner && a.LeaseUntil.Equal(b.LeaseUntil) &&
		a.Error == b.Error && a.Created.Equal(b.Created) && a.Updated.Equal(b.Updated)
}

func readTask(t *testing.T, c dataservice.Client, id uint64) dataservice.Task {
	t.Helper()
	got, err := c.Task(context.Background(), id)
	if err != nil {
		t.Fatalf("Task(%d): %v", id, err)
	}
	if got.Generation == 0 {
		t.Fatalf("Task(%d) has no generation", id)
	}
	return got
}

func activeIDs(t *testing.T, c dataservice.Client, after uint64, limit int) []uint64 {
	t.Helper()
	ts, err := c.ActiveTasks(context.Background(), after, limit)
	if err != nil {
		t.Fatalf("ActiveTasks(%d, %d): %v", after, limit, err)
	}
	ids := make([]uint64, len(ts))
	for i, task := range ts {
		if task.Generation == 0 {
			t.Fatalf("ActiveTasks returned task %d without generation", task.ID)
		}
		ids[i] = task.ID
	}
	return ids
}

func wantIDs(t *testing.T, what string, got, want []uint64) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

func tasks(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	wantIDs(t, "ActiveTasks of an empty store", activeIDs(t, c, 0, 10), nil)
	t1, t2, t3 := newTask("app"), newTask("app"), newTask("app")
	t3.State = dataservice.TaskCanceling
	for _, task := range []dataservice.Task{t3, t1, t2} {
		if err := c.CreateTask(ctx, task); err != nil {
			t.Fatal(err)
		}
	}
	wantErr(t, c.CreateTask(ctx, t1), dataservice.ErrExists, "creating a task twice")
	got := readTask(t, c, t1.ID)
	if !sameTask(got, t1) {
		t.Fatalf("Task() = %+v\nwant %+v (Spec verbatim)", got, t1)
	}
	_, err := c.Task(ctx, id())
	wantErr(t, err, dataservice.ErrNotFound, "unknown task")

	// Listing, ascending, paged.
	wantIDs(t, "ActiveTasks", activeIDs(t, c, 0, 10), []uint64{t1.ID, t2.ID, t3.ID})
	wantIDs(t, "first page", activeIDs(t, c, 0, 2), []uint64{t1.ID, t2.ID})
	wantIDs(t, "second page", activeIDs(t, c, t2.ID, 2), []uint64{t3.ID})
	wantIDs(t, "after the last", activeIDs(t, c, t3.ID, 2), nil)
	if ts, _ := c.ActiveTasks(ctx, 0, 1); len(ts) != 1 || !sameTask(ts[0], t1) || ts[0].Generation != got.Generation {
		t.Fatalf("ActiveTasks()[0] = %+v, want %+v at generation %d", ts, t1, got.Generation)
	}

	// Compare-and-set.
	next := got
	next.Cursor, next.Targeted, next.Updated = "tag:vip/r0099", 12, got.Updated.Add(time.Second)
	gen, err := c.UpdateTask(ctx, next)
	if err != nil || gen == 0 || gen == got.Generation {
		t.Fatalf("UpdateTask = %d, %v; want a new generation", gen, err)
	}
	_, err = c.UpdateTask(ctx, next) // at the generation it had before
	wantErr(t, err, dataservice.ErrGenerationMismatch, "updating at a stale generation")
	now := readTask(t, c, t1.ID)
	next.Generation = gen
	if now.Generation != gen || !sameTask(now, next) {
		t.Fatalf("after update: %+v, want %+v", now, next)
	}
	ghost := newTask("app")
	ghost.Generation = 1
	_, err = c.UpdateTask(ctx, ghost)
	wantErr(t, err, dataservice.ErrNotFound, "updating a task that does not exist")

	// Finishing takes a task off the list; it can still be read and
	// updated.
	done := readTask(t, c, t2.ID)
	done.State, done.Error = dataservice.TaskDone, ""
	if done.Generation, err = c.UpdateTask(ctx, done); err != nil {
		t.Fatal(err)
	}
	wantIDs(t, "ActiveTasks after one finished", activeIDs(t, c, 0, 10), []uint64{t1.ID, t3.ID})
	done.Targeted++
	if _, err := c.UpdateTask(ctx, done); err != nil {
		t.Fatalf("updating a finished task: %v", err)
	}
	if got := readTask(t, c, t2.ID); got.State != dataservice.TaskDone || got.Targeted != done.Targeted {
		t.Fatalf("finished task: %+v", got)
	}
	failed := readTask(t, c, t3.ID)
	failed.State, failed.Error = dataservice.TaskFailed, "audience <resolver> & co failed"
	if _, err := c.UpdateTask(ctx, failed); err != nil {
		t.Fatal(err)
	}
	if got := readTask(t, c, t3.ID); got.Error != failed.Error {
		t.Fatalf("Error = %q, want %q", got.Error, failed.Error)
	}
	wantIDs(t, "ActiveTasks after two finished", activeIDs(t, c, 0, 10), []uint64{t1.ID})

	// A finished task made active again (a cancel after the sending
	// ended) is listed again.
	again := readTask(t, c, t2.ID)
	again.State = dataservice.TaskCanceling
	if again.Generation, err = c.UpdateTask(ctx, again); err != nil {
		t.Fatal(err)
	}
	wantIDs(t, "ActiveTasks after a finished task was reactivated", activeIDs(t, c, 0, 10), []uint64{t1.ID, t2.ID})
	again.State = dataservice.TaskCanceled
	if _, err := c.UpdateTask(ctx, again); err != nil {
		t.Fatal(err)
	}
	wantIDs(t, "ActiveTasks after it finished again", activeIDs(t, c, 0, 10), []uint64{t1.ID})

	// A task created finished is never listed; creating it again is
	// still ErrExists.
	canceled := newTask("app")
	canceled.State = dataservice.TaskCanceled
	if err := c.CreateTask(ctx, canceled); err != nil {
		t.Fatal(err)
	}
	wantErr(t, c.CreateTask(ctx, canceled), dataservice.ErrExists, "creating a finished task twice")
	readTask(t, c, canceled.ID)
	wantIDs(t, "ActiveTasks with a task created finished", activeIDs(t, c, 0, 10), []uint64{t1.ID})
	// Retrying the creation of a finished task leaves no active entry
	// that lists it.
	wantErr(t, c.CreateTask(ctx, done), dataservice.ErrExists, "creating a finished task again")
	wantIDs(t, "ActiveTasks after re-creating a finished task", activeIDs(t, c, 0, 10), []uint64{t1.ID})
}

// activeTasksPaging checks that pages stay full when entries are skipped:
// a short page means the end.
func activeTasksPaging(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	var active []uint64
	for i := range 25 {
		task := newTask("app")
		if err := c.CreateTask(ctx, task); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			// Finished, then created again (a retry): the retry writes an
			// active entry the listing must skip.
			got := readTask(t, c, task.ID)
			got.State = dataservice.TaskDone
			if _, err := c.UpdateTask(ctx, got); err != nil {
				t.Fatal(err)
			}
			wantErr(t, c.CreateTask(ctx, task), dataservice.ErrExists, "re-creating a finished task")
			continue
		}
		active = append(active, task.ID)
	}
	var got []uint64
	var after uint64
	for {
		page := activeIDs(t, c, after, 4)
		got = append(got, page...)
		if len(page) < 4 {
			break
		}
		after = page[len(page)-1]
	}
	wantIDs(t, "ActiveTasks page by page", got, active)
}

// taskCompareAndSet checks that of concurrent updates from one read exactly
// one wins, and that read-modify-write loops lose no update.
func taskCompareAndSet(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	task := newTask("app")
	task.Targeted = 0
	if err := c.CreateTask(ctx, task); err != nil {
		t.Fatal(err)
	}
	read := readTask(t, c, task.ID)
	var wins atomic.Int64
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			u := read
			u.Owner = fmt.Sprint("gw-", i)
			_, err := c.UpdateTask(ctx, u)
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, dataservice.ErrGenerationMismatch):
				t.Errorf("UpdateTask: %v, want nil or ErrGenerationMismatch", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d concurrent updates from one read succeeded, want exactly 1", wins.Load())
	}

	const workers, rounds = 6, 5
	for range workers {
		wg.Go(func() {
			for range rounds {
				for {
					cur, err := c.Task(ctx, task.ID)
					if err != nil {
						t.Error(err)
						return
					}
					cur.Targeted++
					if _, err := c.UpdateTask(ctx, cur); err == nil {
						break
					} else if !errors.Is(err, dataservice.ErrGenerationMismatch) {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	if got := readTask(t, c, task.ID); got.Targeted != workers*rounds {
		t.Fatalf("Targeted = %d after %d compare-and-set increments", got.Targeted, workers*rounds)
	}
}

// taskReport checks that a message's report counts the task's devices.
func taskReport(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	m := message(time.Hour)
	if err := c.SaveMessage(ctx, m, []string{"direct"}); err != nil {
		t.Fatal(err)
	}
	if r, _ := c.Report(ctx, m.ID); r.Targeted != 1 {
		t.Fatalf("Targeted before the task = %d, want 1", r.Targeted)
	}
	task := newTask("app")
	task.ID, task.Targeted = m.ID, 0
	if err := c.CreateTask(ctx, task); err != nil {
		t.Fatal(err)
	}
	// A page: copies stored (not counted), then the checkpoint.
	if err := c.SaveCopies(ctx, m, []string{"p1", "p2", "p3"}); err != nil {
		t.Fatal(err)
	}
	if r, _ := c.Report(ctx, m.ID); r.Targeted != 1 {
		t.Fatalf("Targeted after SaveCopies = %d, want 1: copies of a page are counted by the task", r.Targeted)
	}
	cur := readTask(t, c, m.ID)
	cur.Targeted = 3
	if _, err := c.UpdateTask(ctx, cur); err != nil {
		t.Fatal(err)
	}
	if r, err := c.Report(ctx, m.ID); err != nil || r.Targeted != 4 {
		t.Fatalf("Report() = %+v, %v; want targeted 4 (3 of the task, 1 saved with the message)", r, err)
	}
}

// reportOutcomes checks the replaced and withdrawn counters and that the
// expired copies derived after the TTL leave them out.
func reportOutcomes(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	m := message(time.Hour)
	m.Created = time.UnixMilli(time.Now().Add(-2 * time.Hour).UnixMilli()) // expired an hour ago
	if err := c.SaveMessage(ctx, m, []string{"r1", "r2", "r3", "r4", "r5", "r6"}); err != nil {
		t.Fatal(err)
	}
	var deltas []dataservice.CounterDelta
	for _, ctr := range []dataservice.Counter{dataservice.CounterDelivered, dataservice.CounterFailed, dataservice.CounterReplaced, dataservice.CounterWithdrawn, dataservice.CounterWithdrawn} {
		deltas = append(deltas, dataservice.CounterDelta{MessageID: m.ID, Counter: ctr, N: 1})
	}
	if err := c.AddCounters(ctx, deltas); err != nil {
		t.Fatal(err)
	}
	r, err := c.Report(ctx, m.ID)
	want := dataservice.Report{Targeted: 6, Delivered: 1, Failed: 1, Replaced: 1, Withdrawn: 2, Expired: 1}
	if err != nil || r != want {
		t.Fatalf("Report() = %+v, %v; want %+v", r, err, want)
	}
	// Before expiry nothing is derived.
	live := message(time.Hour)
	if err := c.SaveMessage(ctx, live, []string{"r1", "r2"}); err != nil {
		t.Fatal(err)
	}
	if err := c.AddCounters(ctx, []dataservice.CounterDelta{{MessageID: live.ID, Counter: dataservice.CounterWithdrawn, N: 1}}); err != nil {
		t.Fatal(err)
	}
	if r, _ := c.Report(ctx, live.ID); r != (dataservice.Report{Targeted: 2, Withdrawn: 1}) {
		t.Fatalf("report of a live message: %+v", r)
	}
}

func inboxIDs(t *testing.T, c dataservice.Client, rid string) []uint64 {
	t.Helper()
	es, err := c.Inbox(context.Background(), rid, 0, 100)
	if err != nil {
		t.Fatalf("Inbox(%s): %v", rid, err)
	}
	ids := make([]uint64, len(es))
	for i, e := range es {
		ids[i] = e.MessageID
	}
	return ids
}

func saveCopies(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	m := message(time.Hour)
	if err := c.SaveMessage(ctx, m, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.SaveCopies(ctx, m, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	es, _ := c.Inbox(ctx, "a", 0, 10)
	if len(es) != 1 || es[0].MessageID != m.ID {
		t.Fatalf("inbox of a: %+v", es)
	}
	// Copies expire with the message, not a TTL after the page.
	if d := es[0].Expires.Sub(m.Expires().Add(dataservice.AckGrace)); d < -time.Second || d > time.Second {
		t.Fatalf("copy expires at %v, want %v", es[0].Expires, m.Expires().Add(dataservice.AckGrace))
	}
	// The page again, and an overlapping one: existing copies stay as
	// they are (attempts kept).
	es[0].Attempts = 2
	if err := c.UpdateInbox(ctx, "a", es); err != nil {
		t.Fatal(err)
	}
	for _, page := range [][]string{{"a", "b"}, {"b", "c", "a"}} {
		if err := c.SaveCopies(ctx, m, page); err != nil {
			t.Fatalf("SaveCopies(%q) again: %v", page, err)
		}
	}
	for _, rid := range []string{"a", "b", "c"} {
		wantIDs(t, "inbox of "+rid, inboxIDs(t, c, rid), []uint64{m.ID})
	}
	if es, _ := c.Inbox(ctx, "a", 0, 10); es[0].Attempts != 2 {
		t.Fatalf("a page committed twice reset the copy: %+v", es[0])
	}
	if r, _ := c.Report(ctx, m.ID); r.Targeted != 0 {
		t.Fatalf("SaveCopies counted targeted %d", r.Targeted)
	}
	if err := c.SaveCopies(ctx, m, nil); err != nil {
		t.Fatalf("SaveCopies of no device: %v", err)
	}

	// Online only, or expired: no copies.
	live := message(0)
	old := message(time.Hour)
	old.Created = time.UnixMilli(time.Now().Add(-2 * time.Hour).UnixMilli())
	for _, m := range []*dataservice.Message{live, old} {
		if err := c.SaveMessage(ctx, m, nil); err != nil {
			t.Fatal(err)
		}
		if err := c.SaveCopies(ctx, m, []string{"d"}); err != nil {
			t.Fatal(err)
		}
	}
	wantIDs(t, "inbox after copies of online-only and expired messages", inboxIDs(t, c, "d"), nil)

	for _, tc := range []struct {
		name string
		m    *dataservice.Message
	}{
		{"zero id", &dataservice.Message{AppKey: "app", TTL: time.Hour, Created: time.Now()}},
		{"no creation time", &dataservice.Message{ID: id(), AppKey: "app", TTL: time.Hour}},
		{"negative TTL", &dataservice.Message{ID: id(), AppKey: "app", TTL: -time.Second, Created: time.Now()}},
		{"collapse id with '/'", &dataservice.Message{ID: id(), AppKey: "app", TTL: time.Hour, Created: time.Now(), CollapseID: "a/b"}},
	} {
		wantErr(t, c.SaveCopies(ctx, tc.m, []string{"e"}), dataservice.ErrInvalid, "SaveCopies of a message with "+tc.name)
	}
	wantErr(t, c.SaveCopies(ctx, m, []string{"bad\xff"}), dataservice.ErrInvalid, "SaveCopies for an id that is not UTF-8")
}

func collapsing(collapse string, ttl time.Duration) *dataservice.Message {
	m := message(ttl)
	m.CollapseID = collapse
	return m
}

func replaced(t *testing.T, c dataservice.Client, id uint64) int64 {
	t.Helper()
	r, err := c.Report(context.Background(), id)
	if err != nil {
		t.Fatalf("Report(%d): %v", id, err)
	}
	return r.Replaced
}

func collapse(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	// An id allocated first is older than every later one.
	older := collapsing("score", time.Hour)
	m1 := collapsing("score", time.Hour)
	if err := c.SaveMessage(ctx, m1, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	other := collapsing("weather", time.Hour)
	plain := message(time.Hour)
	for _, m := range []*dataservice.Message{other, plain} {
		if err := c.SaveMessage(ctx, m, []string{"a"}); err != nil {
			t.Fatal(err)
		}
	}
	// A newer message with the collapse id replaces a's copy of m1 only.
	m2 := collapsing("score", time.Hour)
	if err := c.SaveMessage(ctx, m2, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	wantIDs(t, "inbox of a", inboxIDs(t, c, "a"), []uint64{other.ID, plain.ID, m2.ID})
	wantIDs(t, "inbox of b", inboxIDs(t, c, "b"), []uint64{m1.ID})
	if n := replaced(t, c, m1.ID); n != 1 {
		t.Fatalf("m1 replaced %d, want 1", n)
	}

	// A delivered copy is not counted as replaced.
	if _, err := c.RemoveInbox(ctx, []dataservice.InboxCopy{{RegistrationID: "a", MessageID: m2.ID}}); err != nil {
		t.Fatal(err)
	}
	m3 := collapsing("score", time.Hour)
	if err := c.SaveMessage(ctx, m3, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	if n := replaced(t, c, m2.ID); n != 0 {
		t.Fatalf("m2, delivered before m3 came, replaced %d, want 0", n)
	}
	if n := replaced(t, c, m1.ID); n != 2 {
		t.Fatalf("m1 replaced %d, want 2 (a, then b)", n)
	}
	wantIDs(t, "inbox of b", inboxIDs(t, c, "b"), []uint64{m3.ID})

	// An older message arriving later (a slow task page) gets no copy
	// where a newer one holds the collapse id, and counts that as
	// replaced.
	if err := c.SaveMessage(ctx, older, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.SaveCopies(ctx, older, []string{"a", "c"}); err != nil {
		t.Fatal(err)
	}
	wantIDs(t, "inbox of a after an older message", inboxIDs(t, c, "a"), []uint64{other.ID, plain.ID, m3.ID})
	wantIDs(t, "inbox of c", inboxIDs(t, c, "c"), []uint64{older.ID})
	if n := replaced(t, c, older.ID); n != 1 {
		t.Fatalf("older replaced %d, want 1 (a)", n)
	}
	if n := replaced(t, c, m3.ID); n != 0 {
		t.Fatalf("m3 replaced %d, want 0", n)
	}

	// Task pages replace like SaveMessage, and a page saved twice is
	// idempotent.
	m4 := collapsing("score", time.Hour)
	if err := c.SaveMessage(ctx, m4, nil); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := c.SaveCopies(ctx, m4, []string{"a", "c", "a"}); err != nil {
			t.Fatal(err)
		}
	}
	wantIDs(t, "inbox of a after a task page", inboxIDs(t, c, "a"), []uint64{other.ID, plain.ID, m4.ID})
	wantIDs(t, "inbox of c after a task page", inboxIDs(t, c, "c"), []uint64{m4.ID})
	if a, b := replaced(t, c, m3.ID), replaced(t, c, older.ID); a != 1 || b != 2 {
		t.Fatalf("replaced m3 %d, older %d; want 1 and 2", a, b)
	}
	if n := replaced(t, c, m4.ID); n != 0 {
		t.Fatalf("m4 replaced %d, want 0", n)
	}

	// Online-only messages neither replace nor get replaced.
	live := collapsing("score", 0)
	if err := c.SaveMessage(ctx, live, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	wantIDs(t, "inbox of a after an online-only message", inboxIDs(t, c, "a"), []uint64{other.ID, plain.ID, m4.ID})

	for _, bad := range []string{"a/b", "ctl\x01", "bad\xff", strings.Repeat("x", dataservice.MaxCollapseIDLen+1)} {
		m := collapsing(bad, time.Hour)
		wantErr(t, c.SaveCopies(ctx, m, []string{"a"}), dataservice.ErrInvalid, fmt.Sprintf("SaveCopies with collapse id %q", bad))
	}
	for _, bad := range []string{"a/b", "ctl\x01", strings.Repeat("x", dataservice.MaxCollapseIDLen+1)} {
		m := collapsing(bad, time.Hour)
		wantErr(t, c.SaveMessage(ctx, m, []string{"a"}), dataservice.ErrInvalid, fmt.Sprintf("SaveMessage with collapse id %q", bad))
	}
	if err := c.SaveMessage(ctx, collapsing(strings.Repeat("é", dataservice.MaxCollapseIDLen/2), time.Hour), []string{"z"}); err != nil {
		t.Fatalf("collapse id of %d bytes: %v", dataservice.MaxCollapseIDLen, err)
	}
}

// collapseConcurrent saves messages with one collapse id to the same
// devices at once: every device ends with the newest copy only, and every
// other copy is counted replaced exactly once. Rounds repeat the race.
func collapseConcurrent(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	const rounds, messages = 4, 6
	for round := range rounds {
		collapse := fmt.Sprint("live-score-", round)
		rids := []string{"d1", "d2", "d3", "d4"}
		ms := make([]*dataservice.Message, messages)
		for i := range ms {
			ms[i] = collapsing(collapse, time.Hour)
		}
		var wg sync.WaitGroup
		for i, m := range ms {
			wg.Go(func() {
				var err error
				if i%2 == 0 {
					err = c.SaveMessage(ctx, m, rids)
				} else if err = c.SaveMessage(ctx, m, nil); err == nil {
					err = c.SaveCopies(ctx, m, rids)
				}
				if err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		newest := ms[messages-1].ID
		for _, rid := range rids {
			var copies []uint64
			for _, id := range inboxIDs(t, c, rid) {
				if slices.ContainsFunc(ms, func(m *dataservice.Message) bool { return m.ID == id }) {
					copies = append(copies, id)
				}
			}
			wantIDs(t, fmt.Sprintf("round %d: copies in the inbox of %s", round, rid), copies, []uint64{newest})
		}
		var total int64
		for _, m := range ms[:messages-1] {
			total += replaced(t, c, m.ID)
		}
		if want := int64((messages - 1) * len(rids)); total != want {
			t.Fatalf("round %d: %d copies counted replaced, want %d", round, total, want)
		}
		if n := replaced(t, c, newest); n != 0 {
			t.Fatalf("round %d: the newest message counted %d replaced", round, n)
		}
	}
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

func reserveCID(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	first, second := id(), id()
	reserve := func(app, cid string, id uint64, ttl time.Duration) (uint64, bool) {
		t.Helper()
		got, bound, err := c.ReserveCID(ctx, app, cid, id, ttl)
		if err != nil {
			t.Fatalf("ReserveCID(%s, %q, %d): %v", app, cid, id, err)
		}
		return got, bound
	}
	const cid = "8103a4c628a0b98974ec1949-711261d4-5f17-4d2f-a855-5e5a8909b26e"
	if got, bound := reserve("app", cid, first, time.Hour); got != first || !bound {
		t.Fatalf("first ReserveCID = %d, %v; want %d, true", got, bound, first)
	}
	if got, bound := reserve("app", cid, second, time.Hour); got != first || bound {
		t.Fatalf("second ReserveCID = %d, %v; want %d, false", got, bound, first)
	}
	if got, bound := reserve("app", cid, first, time.Hour); got != first || bound {
		t.Fatalf("retried ReserveCID = %d, %v; want %d, false", got, bound, first)
	}
	if got, bound := reserve("other", cid, second, time.Hour); got != second || !bound {
		t.Fatalf("ReserveCID of another app = %d, %v; want %d, true", got, bound, second)
	}
	if got, bound := reserve("app", "订单 #42", second, time.Hour); got != second || !bound {
		t.Fatalf("ReserveCID of another key = %d, %v; want %d, true", got, bound, second)
	}

	for _, tc := range []struct {
		name, app, cid string
		id             uint64
		ttl            time.Duration
	}{
		{"empty cid", "app", "", 1, time.Hour},
		{"cid with '/'", "app", "a/b", 1, time.Hour},
		{"cid with a control character", "app", "a\nb", 1, time.Hour},
		{"cid with a tab", "app", "a\tb", 1, time.Hour},
		{"cid not UTF-8", "app", "a\xffb", 1, time.Hour},
		{"cid too long", "app", strings.Repeat("c", dataservice.MaxCIDLen+1), 1, time.Hour},
		{"empty app", "", "k", 1, time.Hour},
		{"app with '/'", "a/b", "k", 1, time.Hour},
		{"zero id", "app", "k", 0, time.Hour},
		{"zero TTL", "app", "k", 1, 0},
		{"negative TTL", "app", "k", 1, -time.Second},
	} {
		_, _, err := c.ReserveCID(ctx, tc.app, tc.cid, tc.id, tc.ttl)
		wantErr(t, err, dataservice.ErrInvalid, "ReserveCID with "+tc.name)
	}
	if got, bound := reserve("app", strings.Repeat("c", dataservice.MaxCIDLen), first, time.Hour); got != first || !bound {
		t.Fatalf("ReserveCID of a %d-byte key = %d, %v", dataservice.MaxCIDLen, got, bound)
	}
}

// reserveCIDRace: of concurrent reservations of one key exactly one binds
// it, and every caller learns the id it bound.
func reserveCIDRace(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	for round := range 3 {
		cid := fmt.Sprint("race-", round)
		const callers = 12
		ids := make([]uint64, callers)
		got := make([]uint64, callers)
		bound := make([]bool, callers)
		for i := range ids {
			ids[i] = id()
		}
		var wg sync.WaitGroup
		for i := range callers {
			wg.Go(func() {
				var err error
				if got[i], bound[i], err = c.ReserveCID(ctx, "app", cid, ids[i], time.Hour); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		winner := -1
		for i, b := range bound {
			if b {
				if winner >= 0 {
					t.Fatalf("callers %d and %d both bound %q", winner, i, cid)
				}
				winner = i
			}
		}
		if winner < 0 {
			t.Fatalf("no caller bound %q", cid)
		}
		for i, g := range got {
			if g != ids[winner] {
				t.Fatalf("caller %d got %d, want the winner's %d", i, g, ids[winner])
			}
		}
	}
}

// reserveCIDExpiry: a key is free again once its TTL has passed.
func reserveCIDExpiry(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	first := id()
	if got, bound, err := c.ReserveCID(ctx, "app", "short", first, time.Second); err != nil || got != first || !bound {
		t.Fatalf("ReserveCID = %d, %v, %v", got, bound, err)
	}
	next := id()
	eventually(t, "the key is free after its TTL", func() bool {
		got, bound, err := c.ReserveCID(ctx, "app", "short", next, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if !bound && got != first {
			t.Fatalf("ReserveCID = %d, false; want the first id %d until it expires", got, first)
		}
		return bound && got == next
	})
}

func appDeviceCount(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	count := func(app string) int64 {
		t.Helper()
		n, err := c.AppDeviceCount(ctx, app)
		if err != nil {
			t.Fatalf("AppDeviceCount(%s): %v", app, err)
		}
		return n
	}
	if n := count("counted"); n != 0 {
		t.Fatalf("count of an app without devices = %d", n)
	}
	createDevices(t, c, "counted", "c1", "c2", "c3")
	createDevices(t, c, "other", "o1")
	d := device("c1")
	d.AppKey = "counted"
	wantErr(t, c.CreateDevice(ctx, d), dataservice.ErrExists, "creating a device twice")
	d.AppKey = "other"
	wantErr(t, c.CreateDevice(ctx, d), dataservice.ErrExists, "creating another app's device")
	// Concurrent creations of one device count it once.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			d := device("c4")
			d.AppKey = "counted"
			if err := c.CreateDevice(ctx, d); err != nil && !errors.Is(err, dataservice.ErrExists) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if a, b := count("counted"), count("other"); a != 4 || b != 1 {
		t.Fatalf("counts %d and %d, want 4 and 1", a, b)
	}
	for _, app := range []string{"", "a/b", "bad\xff"} {
		_, err := c.AppDeviceCount(ctx, app)
		wantErr(t, err, dataservice.ErrInvalid, fmt.Sprintf("AppDeviceCount(%q)", app))
	}
}

func lastActive(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	read := func(rids ...string) []time.Time {
		t.Helper()
		ts, err := c.LastActive(ctx, rids)
		if err != nil || len(ts) != len(rids) {
			t.Fatalf("LastActive(%q) = %v, %v", rids, ts, err)
		}
		return ts
	}
	within := func(what string, got, from, to time.Time) {
		t.Helper()
		if got.Before(from.Truncate(time.Millisecond)) || got.After(to) {
			t.Fatalf("%s = %v, want between %v and %v", what, got, from, to)
		}
	}
	if ts := read("never"); !ts[0].IsZero() {
		t.Fatalf("a device never connected was last active at %v", ts[0])
	}
	since := time.UnixMilli(1_700_000_000_000)
	gens, err := c.PutSessions(ctx, []dataservice.Session{
		{RegistrationID: "on", Connector: "c1", Since: since},
		{RegistrationID: "gone", Connector: "c1", Since: since},
	}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	ts := read("on", "never", "gone")
	within("a connected device", ts[0], before, time.Now())
	if !ts[1].IsZero() {
		t.Fatalf("never connected: %v", ts[1])
	}
	// A session that ends: the device was last active when it ended.
	before = time.Now()
	if err := c.DeleteSession(ctx, "gone", gens[1]); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	within("a device whose session was deleted", read("gone")[0], before, after)
	// Deleting a session that was replaced changes nothing.
	putSession(t, c, dataservice.Session{RegistrationID: "on", Connector: "c2", Since: since})
	if err := c.DeleteSession(ctx, "on", gens[0]); err != nil {
		t.Fatal(err)
	}
	within("a device whose old session was deleted", read("on")[0], after, time.Now())

	// A session that expires (its connector died): the last refresh.
	if _, err := c.PutSessions(ctx, []dataservice.Session{{RegistrationID: "crashed", Connector: "c1", Since: since}}, time.Second); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a device whose session expired was last active at its last refresh", func() bool {
		return read("crashed")[0].Equal(since)
	})
	if ts, err := c.LastActive(ctx, nil); err != nil || len(ts) != 0 {
		t.Fatalf("LastActive of none = %v, %v", ts, err)
	}
	_, err = c.LastActive(ctx, []string{"bad\xff"})
	wantErr(t, err, dataservice.ErrInvalid, "LastActive of an id that is not UTF-8")
}

func taskValidation(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	valid := newTask("app")
	for _, tc := range []struct {
		name   string
		mutate func(*dataservice.Task)
	}{
		{"zero id", func(t *dataservice.Task) { t.ID = 0 }},
		{"empty app", func(t *dataservice.Task) { t.AppKey = "" }},
		{"app with '/'", func(t *dataservice.Task) { t.AppKey = "a/b" }},
		{"app not UTF-8", func(t *dataservice.Task) { t.AppKey = "a\xff" }},
		{"unknown state", func(t *dataservice.Task) { t.State = "paused" }},
		{"no state", func(t *dataservice.Task) { t.State = "" }},
		{"negative targeted", func(t *dataservice.Task) { t.Targeted = -1 }},
		{"negative rate", func(t *dataservice.Task) { t.Rate = -1 }},
		{"spec not JSON", func(t *dataservice.Task) { t.Spec = json.RawMessage(`{"a":`) }},
	} {
		bad := valid
		tc.mutate(&bad)
		wantErr(t, c.CreateTask(ctx, bad), dataservice.ErrInvalid, "CreateTask with "+tc.name)
		bad.Generation = 1
		_, err := c.UpdateTask(ctx, bad)
		wantErr(t, err, dataservice.ErrInvalid, "UpdateTask with "+tc.name)
	}
	if err := c.CreateTask(ctx, valid); err != nil {
		t.Fatal(err)
	}
	_, err := c.UpdateTask(ctx, valid) // Generation 0: never read
	wantErr(t, err, dataservice.ErrInvalid, "UpdateTask without a generation")
	for _, limit := range []int{0, -1, dataservice.MaxPage + 1} {
		_, err := c.ActiveTasks(ctx, 0, limit)
		wantErr(t, err, dataservice.ErrInvalid, fmt.Sprintf("ActiveTasks with limit %d", limit))
	}
	wantIDs(t, "ActiveTasks after invalid calls", activeIDs(t, c, 0, 10), []uint64{valid.ID})
}
