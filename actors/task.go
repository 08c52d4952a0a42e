package actors

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/internal/workpool"
)

// The task actor sends one message to its audience (docs/design.md,
// "Components"). It resolves the audience page by page, stores each page's
// inbox copies and checkpoints the task (write-ahead: a page is committed
// before it is handed to the router), then sends the page through the
// router, at most two pages in flight and, with a rate, no faster than
// the rate allows. A gateway that takes the task over (after a restart,
// or when the owner's lease ran out) resumes from the checkpoint and
// sends the last committed page again: devices that had it drop the
// duplicate, and offline devices are not counted twice.
//
// A cancel (the task's state turned to canceling in the store, by any
// gateway) stops the sending; the actor then withdraws what it sent —
// connectors drop unsent copies, inbox copies of the resolved pages are
// removed and counted withdrawn — and ends the task canceled.

// PageSource yields a task's audience page by page, in a stable order: a
// cursor from one page continues after it, also in another process. Pages
// are in ascending registration id order and a page's cursor is its last
// id (the cursor it continued from, if it is empty): a task tells the
// committed part of a page by comparing ids with its stored cursor.
type PageSource interface {
	// Next returns up to n devices after cursor, the cursor after them,
	// and whether the audience is exhausted. A page may be short without
	// being the last.
	Next(ctx context.Context, cursor string, n int) (rids []string, next string, done bool, err error)
}

// TaskData is what a task actor reads and writes: its task, checkpointed
// page by page (TaskStore); the inbox copies of each page, and on a cancel
// their removal (InboxStore); on the cancel of a broadcast, its entry in
// the app's list (BroadcastStore).
type TaskData interface {
	dataservice.TaskStore
	dataservice.InboxStore
	dataservice.BroadcastStore
}

// TaskConfig starts a task actor.
type TaskConfig struct {
	// Task is the task as last read from the store, owned by Owner.
	Task dataservice.Task
	// Msg is its message. A broadcast is fanned out by the connectors
	// rather than resolved page by page.
	Msg *dataservice.Message
	// Targeted is, for a broadcast, how many devices it was saved for:
	// those the connectors do not have online are counted stored_offline.
	Targeted int64
	// Resumed says the task was started before (by this or another
	// gateway): the last committed page is sent again first.
	Resumed  bool
	Source   PageSource
	Data     TaskData
	Router   *actor.PID
	Receipts Receipts
	Workers  *workpool.Pool
	// PageSize bounds a page. Zero means 1000.
	PageSize int
	// Lease is how long the task stays this gateway's without a renewal.
	// Zero means 30s.
	Lease time.Duration
	// Done is called from the actor when it stops, with the task as it
	// last wrote or read it: final, or taken over by another gateway.
	Done func(dataservice.Task)
	Log  *slog.Logger

	// ticks, if set, replaces the actor's ticker (every taskTickEvery):
	// tests drive the rate and the lease renewal with it.
	ticks <-chan time.Time
}

// taskTickEvery is how often a task actor refills its rate budget (a tenth
// of its rate per tick) and checks its lease.
const taskTickEvery = 100 * time.Millisecond

// CancelTask tells a task actor that its task was turned to canceling.
type CancelTask struct{}

// Messages a task actor sends itself.
type (
	pageCommitted struct {
		rids []string
		task dataservice.Task // as written, with its new generation
		done bool             // the audience is exhausted
		err  error
		// lost: another writer changed the task; state says why.
		lost bool
	}
	taskTick      struct{}
	taskRetry     struct{}
	taskFinished  struct{ task dataservice.Task }
	withdrawnDone struct {
		task dataservice.Task
		err  error
	}
	leaseRenewed struct {
		task dataservice.Task
		lost bool
		err  error
	}
)

type taskActor struct {
	cfg  TaskConfig
	task dataservice.Task
	log  *slog.Logger

	inflight   int  // pages committing or routing
	committing bool // a commit job is running
	exhausted  bool
	replaying  bool
	canceling  bool // stop sending; withdraw once nothing is in flight
	stopping   bool // the task is no longer ours: stop once nothing is in flight
	finishing  bool

	// extraRIDs are the devices of a page whose copies were saved but
	// whose checkpoint a cancel refused: their copies exist beyond the
	// stored cursor, though the page was neither counted nor sent.
	extraRIDs []string

	tokens    float64 // rate budget
	lastWrite time.Time
	backoff   time.Duration
	ticker    *time.Ticker
	stopTick  chan struct{}
}

// maxPagesInFlight is how many pages a task has committing or routing at
// once.
const maxPagesInFlight = 2

// SpawnTask starts a task actor.
func SpawnTask(system *actor.ActorSystem, cfg TaskConfig) *actor.PID {
	if cfg.PageSize <= 0 {
		cfg.PageSize = 1000
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 30 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return &taskActor{cfg: cfg, task: cfg.Task, log: cfg.Log.With("task", cfg.Task.ID)}
	}))
}

func (t *taskActor) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *actor.Started:
		tasksStarted.Inc()
		tasksRunning.Add(1)
		t.start(ctx)
	case *taskTick:
		if t.task.Rate > 0 {
			t.tokens = math.Min(t.tokens+float64(t.task.Rate)/10, float64(max(t.task.Rate, 1)))
		}
		if !t.committing && !t.finishing && time.Since(t.lastWrite) > t.cfg.Lease/3 {
			t.renewLease(ctx)
		}
	case *taskRetry:
		t.backoff = 0
	case *CancelTask:
		t.canceling = true
	case *pageCommitted:
		t.committed(ctx, m)
	case *replayed:
		t.committing = false
		switch {
		case m.err != nil:
			t.inflight--
			t.replaying = true // the page is still to be sent again
			t.log.Warn("reading the page to send again failed; retrying", "err", m.err)
			t.retryLater(ctx)
			return
		case len(m.rids) == 0:
			t.inflight--
		default:
			ctx.Request(t.cfg.Router, &Route{Msg: t.cfg.Msg, RIDs: m.rids, Replay: true})
		}
	case *resubmit:
		t.submit(ctx, m.job)
		return
	case *Routed:
		t.inflight--
		if errors.Is(m.Err, ErrRouterBusy) {
			t.log.Warn("router busy; devices of the page get it from their inbox when they reconnect")
		}
	case *FannedOut:
		t.inflight--
		t.fannedOut(m)
	case *leaseRenewed:
		t.renewed(m)
	case *withdrawnDone:
		t.finishing = false
		switch {
		case errors.Is(m.err, errCancelAfterDone):
			t.canceling = true
		case m.err != nil:
			t.log.Error("ending the task failed; retrying", "err", m.err)
			t.retryLater(ctx)
			return
		}
	case *taskFinished:
		countTaskEnd(m.task.State)
		t.task = m.task
		t.stop(ctx)
		return
	case *actor.Stopped:
		tasksRunning.Add(-1)
		if t.stopTick != nil {
			close(t.stopTick)
		}
		return
	}
	t.step(ctx)
}

func (t *taskActor) start(ctx actor.Context) {
	t.lastWrite = time.Now()
	t.tokens = float64(max(t.task.Rate/10, 1))
	t.canceling = t.task.State == dataservice.TaskCanceling
	t.replaying = t.cfg.Resumed && !t.canceling
	// One ticker drives the rate and lease renewal.
	t.stopTick = make(chan struct{})
	self, root, stop, ticks := ctx.Self(), ctx.ActorSystem().Root, t.stopTick, t.cfg.ticks
	go func() {
		if ticks == nil {
			tk := time.NewTicker(taskTickEvery)
			defer tk.Stop()
			ticks = tk.C
		}
		for {
			select {
			case <-stop:
				return
			case <-ticks:
				root.Send(self, &taskTick{})
			}
		}
	}()
}

// step starts whatever the state allows.
func (t *taskActor) step(ctx actor.Context) {
	switch {
	case t.finishing || t.backoff > 0:
		return
	case t.stopping:
		if t.inflight == 0 && !t.committing {
			t.stop(ctx)
		}
	case t.canceling:
		if t.inflight == 0 && !t.committing {
			t.withdraw(ctx)
		}
	case t.cfg.Msg.Broadcast:
		if t.inflight == 0 && !t.exhausted {
			t.exhausted = true
			t.inflight++
			ctx.Request(t.cfg.Router, &Fanout{Msg: t.cfg.Msg})
		} else if t.inflight == 0 {
			t.finish(ctx)
		}
	case t.replaying:
		if !t.committing {
			t.replay(ctx)
		}
	case t.exhausted:
		if t.inflight == 0 && !t.committing {
			t.finish(ctx)
		}
	default:
		if t.committing || t.inflight >= maxPagesInFlight {
			return
		}
		n := t.cfg.PageSize
		if t.task.Rate > 0 {
			n = min(n, int(t.tokens))
			if n < 1 {
				return // wait for the next tick
			}
			t.tokens -= float64(n)
		}
		t.commit(ctx, n)
	}
}

// commit resolves the next page, saves its copies and checkpoints.
func (t *taskActor) commit(ctx actor.Context, n int) {
	t.committing = true
	t.inflight++
	task, cfg := t.task, t.cfg
	t.submit(ctx, func() any {
		c, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		rids, next, done, err := cfg.Source.Next(c, task.Cursor, n)
		if err != nil {
			return &pageCommitted{err: err}
		}
		if len(rids) > 0 && cfg.Msg.TTL > 0 {
			if err := cfg.Data.SaveCopies(c, cfg.Msg, rids); err != nil {
				return &pageCommitted{err: err}
			}
		}
		nt := task
		nt.PrevCursor, nt.Cursor = task.Cursor, next
		nt.Targeted += int64(len(rids))
		now := time.Now()
		nt.Updated, nt.LeaseUntil = now, now.Add(cfg.Lease)
		gen, err := cfg.Data.UpdateTask(c, nt)
		if errors.Is(err, dataservice.ErrGenerationMismatch) {
			cur, rerr := cfg.Data.Task(c, task.ID)
			if rerr != nil {
				return &pageCommitted{err: rerr}
			}
			return &pageCommitted{rids: rids, task: cur, lost: true}
		}
		if err != nil {
			return &pageCommitted{err: err}
		}
		nt.Generation = gen
		return &pageCommitted{rids: rids, task: nt, done: done}
	})
}

func (t *taskActor) committed(ctx actor.Context, m *pageCommitted) {
	t.committing = false
	if m.err != nil {
		t.inflight--
		t.log.Warn("committing a page failed; retrying", "err", m.err)
		t.retryLater(ctx)
		return
	}
	t.backoff = 0
	t.lastWrite = time.Now()
	if m.lost {
		t.inflight--
		t.lostTask(m.task, m.rids)
		return
	}
	t.task = m.task
	t.exhausted = m.done
	taskPages.Inc()
	taskDevices.Add(len(m.rids))
	if len(m.rids) == 0 {
		t.inflight--
		return
	}
	ctx.Request(t.cfg.Router, &Route{Msg: t.cfg.Msg, RIDs: m.rids})
}

// lostTask handles a task another writer changed: a cancel, or another
// gateway that took it over.
func (t *taskActor) lostTask(cur dataservice.Task, uncommitted []string) {
	switch {
	case cur.State == dataservice.TaskCanceling && cur.Owner == t.task.Owner:
		t.task = cur
		t.canceling = true
		t.extraRIDs = append(t.extraRIDs, uncommitted...)
	case cur.Owner != t.task.Owner || dataservice.TaskFinished(cur.State):
		t.log.Info("task taken over by another gateway", "owner", cur.Owner, "state", cur.State)
		t.task = cur
		t.stopping = true
	default:
		// Our own task, changed by something else (a renewal raced us):
		// continue from what is stored.
		t.task = cur
		t.log.Warn("task changed concurrently; continuing from the stored checkpoint")
	}
}

// replay sends the last committed page again, without counting.
func (t *taskActor) replay(ctx actor.Context) {
	t.replaying = false
	if t.task.PrevCursor == "" && t.task.Cursor == "" {
		return // nothing was committed yet
	}
	t.committing = true
	t.inflight++
	task, cfg := t.task, t.cfg
	t.submit(ctx, func() any {
		c, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		rids, _, _, err := cfg.Source.Next(c, task.PrevCursor, cfg.PageSize)
		if err != nil {
			return &replayed{err: err}
		}
		// Keep the page as committed: up to the stored cursor.
		return &replayed{rids: upTo(rids, task.Cursor)}
	})
}

type replayed struct {
	rids []string
	err  error
}

func (t *taskActor) renewLease(ctx actor.Context) {
	t.lastWrite = time.Now()
	t.committing = true
	task, cfg := t.task, t.cfg
	t.submit(ctx, func() any {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		nt := task
		now := time.Now()
		nt.Updated, nt.LeaseUntil = now, now.Add(cfg.Lease)
		gen, err := cfg.Data.UpdateTask(c, nt)
		if errors.Is(err, dataservice.ErrGenerationMismatch) {
			cur, rerr := cfg.Data.Task(c, task.ID)
			if rerr != nil {
				return &leaseRenewed{err: rerr}
			}
			return &leaseRenewed{task: cur, lost: true}
		}
		if err != nil {
			return &leaseRenewed{err: err}
		}
		nt.Generation = gen
		return &leaseRenewed{task: nt}
	})
}

func (t *taskActor) renewed(m *leaseRenewed) {
	t.committing = false
	switch {
	case m.err != nil:
		t.log.Warn("renewing the task's lease failed", "err", m.err)
	case m.lost:
		t.lostTask(m.task, nil)
	default:
		t.task = m.task
	}
}

func (t *taskActor) fannedOut(m *FannedOut) {
	if m.Err != nil {
		t.log.Warn("broadcast did not reach every connector; their devices get it when they reconnect", "failed", m.Failed, "err", m.Err)
	}
	if offline := t.cfg.Targeted - int64(m.Online); offline > 0 && t.cfg.Msg.TTL > 0 {
		t.cfg.Receipts.Add(t.cfg.Msg.ID, dataservice.CounterStoredOffline, offline)
	} else if offline > 0 {
		t.cfg.Receipts.Add(t.cfg.Msg.ID, dataservice.CounterExpired, offline)
	}
}

// finish marks the task done.
func (t *taskActor) finish(ctx actor.Context) {
	t.finishing = true
	t.final(ctx, dataservice.TaskDone, func(dataservice.Task) any { return nil })
}

// final writes the task's final state (retrying on races with renewals)
// and then stops; work runs first, in the worker, and may replace the
// answer.
func (t *taskActor) final(ctx actor.Context, state dataservice.TaskState, work func(dataservice.Task) any) {
	task, cfg := t.task, t.cfg
	t.submit(ctx, func() any {
		c, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if a := work(task); a != nil {
			return a
		}
		for range 5 {
			nt := task
			nt.State, nt.Updated = state, time.Now()
			gen, err := cfg.Data.UpdateTask(c, nt)
			if err == nil {
				nt.Generation = gen
				return &taskFinished{task: nt}
			}
			if !errors.Is(err, dataservice.ErrGenerationMismatch) {
				return &withdrawnDone{err: err}
			}
			cur, err := cfg.Data.Task(c, task.ID)
			if err != nil {
				return &withdrawnDone{err: err}
			}
			if cur.Owner != task.Owner || dataservice.TaskFinished(cur.State) {
				return &taskFinished{task: cur} // someone else finished it
			}
			if cur.State == dataservice.TaskCanceling && state == dataservice.TaskDone {
				return &withdrawnDone{err: errCancelAfterDone} // canceled after the last page: withdraw
			}
			task = cur
		}
		return &withdrawnDone{err: errors.New("task changed concurrently too often")}
	})
}

var errCancelAfterDone = errors.New("canceled while finishing")

// withdraw takes back what the task sent, then ends it canceled.
func (t *taskActor) withdraw(ctx actor.Context) {
	t.finishing = true
	cfg, extra := t.cfg, t.extraRIDs
	root := ctx.ActorSystem().Root
	t.final(ctx, dataservice.TaskCanceled, func(task dataservice.Task) any {
		c, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		// Connectors drop their unsent copies first, so none is sent
		// while the inbox copies go.
		f := root.RequestFuture(cfg.Router, &Withdraw{ID: cfg.Msg.ID, Expires: cfg.Msg.Expires()}, time.Minute)
		res, err := f.Result()
		if err != nil {
			return &withdrawnDone{err: err}
		}
		if w, ok := res.(*Withdrawn); ok && w.Err != nil {
			cfg.Log.Warn("a connector did not take the withdrawal; its devices may still get the message", "task", task.ID, "err", w.Err)
		}
		if cfg.Msg.Broadcast {
			if _, err := cfg.Data.RemoveBroadcast(c, cfg.Msg.AppKey, cfg.Msg.ID); err != nil {
				return &withdrawnDone{err: err}
			}
			return nil
		}
		if cfg.Msg.TTL == 0 {
			return nil // online-only: nothing stored
		}
		// remove deletes the copies of rids; count says they were
		// targeted, so those that still existed count withdrawn.
		remove := func(rids []string, count bool) error {
			if len(rids) == 0 {
				return nil
			}
			copies := make([]dataservice.InboxCopy, len(rids))
			for i, rid := range rids {
				copies[i] = dataservice.InboxCopy{RegistrationID: rid, MessageID: cfg.Msg.ID}
			}
			existed, err := cfg.Data.RemoveInbox(c, copies)
			if err != nil {
				return err
			}
			n := int64(0)
			for _, ok := range existed {
				if ok {
					n++
				}
			}
			if n > 0 && count {
				cfg.Receipts.Add(cfg.Msg.ID, dataservice.CounterWithdrawn, n)
			}
			return nil
		}
		// The uncommitted page: its copies go uncounted, as its devices
		// were never counted targeted.
		if err := remove(extra, false); err != nil {
			return &withdrawnDone{err: err}
		}
		// The committed pages: resolve the audience again up to the
		// stored cursor.
		cursor := ""
		for task.Cursor != "" {
			rids, next, done, err := cfg.Source.Next(c, cursor, cfg.PageSize)
			if err != nil {
				return &withdrawnDone{err: err}
			}
			if err := remove(upTo(rids, task.Cursor), true); err != nil {
				return &withdrawnDone{err: err}
			}
			if done || next >= task.Cursor || next == cursor {
				break
			}
			cursor = next
		}
		return nil
	})
}

// resubmit is a job that found the worker pool full.
type resubmit struct{ job func() any }

// submit runs job on the worker pool and sends its answer to the actor;
// when the pool is full, it tries again shortly (the actor's state stays
// as the caller set it: the job is only late).
func (t *taskActor) submit(ctx actor.Context, job func() any) {
	self, root := ctx.Self(), ctx.ActorSystem().Root
	if err := t.cfg.Workers.TrySubmit(func() {
		if a := job(); a != nil {
			root.Send(self, a)
		}
	}); err != nil {
		time.AfterFunc(100*time.Millisecond, func() { root.Send(self, &resubmit{job: job}) })
	}
}

func (t *taskActor) retryLater(ctx actor.Context) {
	t.backoff = min(max(2*t.backoff, 500*time.Millisecond), 30*time.Second)
	self, root := ctx.Self(), ctx.ActorSystem().Root
	time.AfterFunc(t.backoff, func() { root.Send(self, &taskRetry{}) })
}

func (t *taskActor) stop(ctx actor.Context) {
	if t.cfg.Done != nil {
		t.cfg.Done(t.task)
	}
	ctx.Stop(ctx.Self())
}

// upTo returns the ids of a page (ascending) up to cursor: what the task
// committed of it.
func upTo(rids []string, cursor string) []string {
	n, _ := slices.BinarySearch(rids, cursor)
	if n < len(rids) && rids[n] == cursor {
		n++
	}
	return rids[:n]
}
