package clienttest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

// taskTests are the cases of TaskStore.
var taskTests = []test{
	{"Tasks", tasks},
	{"ActiveTasksPaging", activeTasksPaging},
	{"TaskCompareAndSet", taskCompareAndSet},
	{"TaskValidation", taskValidation},
	{"TaskReport", taskReport},
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
