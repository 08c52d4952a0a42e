package actors_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/heraldpush/herald/actors"
	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/dataservice/leveldb"
	"github.com/heraldpush/herald/internal/workpool"
)

// taskEvent is one thing a task actor did, as its data and router saw it.
type taskEvent struct {
	kind    string // save, update, route, fanout, withdraw
	rids    []string
	task    dataservice.Task // update: what was written
	gen     uint32           // update: the generation it got
	err     error            // update: why it was refused
	replay  bool             // route
	tick    int64            // route: the ticks sent when it arrived
	id      uint64           // withdraw
	expires time.Time        // withdraw
}

// eventLog records task events in the order they happened.
type eventLog struct {
	mu     sync.Mutex
	events []taskEvent
}

func (l *eventLog) add(e taskEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

// since returns the events from index from on, of the given kinds (all if
// none given).
func (l *eventLog) since(from int, kinds ...string) []taskEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []taskEvent
	for _, e := range l.events[from:] {
		if len(kinds) == 0 || slices.Contains(kinds, e.kind) {
			out = append(out, e)
		}
	}
	return out
}

func (l *eventLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.events)
}

// taskData is the store behind task actors, recording what they write.
type taskData struct {
	*dataservice.Service
	log *eventLog
	// beforeSave and beforeUpdate, if set, run before the write.
	beforeSave   func(rids []string)
	beforeUpdate func(t dataservice.Task)
}

func (d *taskData) SaveCopies(ctx context.Context, m *dataservice.Message, rids []string) error {
	if d.beforeSave != nil {
		d.beforeSave(rids)
	}
	d.log.add(taskEvent{kind: "save", rids: slices.Clone(rids)})
	return d.Service.SaveCopies(ctx, m, rids)
}

func (d *taskData) UpdateTask(ctx context.Context, t dataservice.Task) (uint32, error) {
	if d.beforeUpdate != nil {
		d.beforeUpdate(t)
	}
	gen, err := d.Service.UpdateTask(ctx, t)
	d.log.add(taskEvent{kind: "update", task: t, gen: gen, err: err})
	return gen, err
}

// listSource is an audience of sorted registration ids; a cursor is the
// last id of a page, as the gateway's resolver does it.
type listSource struct {
	rids []string

	mu       sync.Mutex
	failures int // the next calls that fail
	holdAt   string
	held     chan struct{} // receives when a call from holdAt waits; nil once it did
	release  chan struct{} // closed to let it go on
}

var errSource = errors.New("audience unavailable")

// holdFrom makes the first call continuing from cursor wait until release
// is called; held receives when it waits.
func (s *listSource) holdFrom(cursor string) (held <-chan struct{}, release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.holdAt, s.held, s.release = cursor, make(chan struct{}, 1), make(chan struct{})
	return s.held, func() { close(s.release) }
}

// waitHeld returns once the held call waits.
func waitHeld(t *testing.T, held <-chan struct{}) {
	t.Helper()
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("the held page was never asked for")
	}
}

func (s *listSource) Next(ctx context.Context, cursor string, n int) ([]string, string, bool, error) {
	s.mu.Lock()
	if s.failures > 0 {
		s.failures--
		s.mu.Unlock()
		return nil, cursor, false, errSource
	}
	var release chan struct{}
	if s.held != nil && cursor == s.holdAt {
		s.held <- struct{}{}
		release, s.held = s.release, nil
	}
	s.mu.Unlock()
	if release != nil {
		select {
		case <-release:
		case <-ctx.Done():
			return nil, cursor, false, ctx.Err()
		}
	}
	i := sort.Search(len(s.rids), func(i int) bool { return s.rids[i] > cursor })
	j := min(i+n, len(s.rids))
	page := slices.Clone(s.rids[i:j])
	next := cursor
	if len(page) > 0 {
		next = page[len(page)-1]
	}
	return page, next, j == len(s.rids), nil
}

// taskRouter stands in for the router: it records requests and answers
// them, at once or when the test says.
type taskRouter struct {
	pid *actor.PID
	// manual: requests go to pending and the test answers them.
	manual  bool
	pending chan routerCall
	// fanned is the answer to Fanout.
	fanned actors.FannedOut
	ticks  *atomic.Int64
}

type routerCall struct {
	route  *actors.Route
	sender *actor.PID
}

func spawnTaskRouter(system *actor.ActorSystem, log *eventLog, r *taskRouter) {
	r.pending = make(chan routerCall, 1024)
	r.pid = system.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *actors.Route:
			log.add(taskEvent{kind: "route", rids: slices.Clone(m.RIDs), replay: m.Replay, tick: r.ticks.Load()})
			if r.manual {
				r.pending <- routerCall{route: m, sender: ctx.Sender()}
				return
			}
			ctx.Respond(&actors.Routed{Online: len(m.RIDs)})
		case *actors.Fanout:
			log.add(taskEvent{kind: "fanout"})
			a := r.fanned
			ctx.Respond(&a)
		case *actors.Withdraw:
			log.add(taskEvent{kind: "withdraw", id: m.ID, expires: m.Expires})
			ctx.Respond(&actors.Withdrawn{})
		}
	}))
}

type taskHarness struct {
	t        *testing.T
	system   *actor.ActorSystem
	store    *dataservice.Service
	data     *taskData
	log      *eventLog
	receipts *receipts
	router   *taskRouter
	workers  *workpool.Pool
	source   *listSource
	msg      *dataservice.Message
	ticks    atomic.Int64 // sent by tick
	tickCh   chan time.Time
}

// newTaskHarness prepares a message with a TTL of ttl (zero: online only)
// to n devices d000, d001, ….
func newTaskHarness(t *testing.T, n int, ttl time.Duration, router *taskRouter) *taskHarness {
	t.Helper()
	store, err := leveldb.Open(leveldb.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	h := &taskHarness{t: t, system: newSystem(t), store: dataservice.New(store), log: &eventLog{}, receipts: &receipts{},
		workers: workpool.New(4, 64), source: &listSource{}, tickCh: make(chan time.Time)}
	t.Cleanup(h.workers.Close)
	h.data = &taskData{Service: h.store, log: h.log}
	for i := range n {
		h.source.rids = append(h.source.rids, fmt.Sprintf("d%03d", i))
	}
	h.msg = &dataservice.Message{ID: 77, AppKey: testApp, Content: "hello", TTL: ttl, Created: time.Now()}
	if err := h.store.SaveMessage(context.Background(), h.msg, nil); err != nil {
		t.Fatal(err)
	}
	if router == nil {
		router = &taskRouter{}
	}
	router.ticks = &h.ticks
	h.router = router
	spawnTaskRouter(h.system, h.log, router)
	return h
}

// create stores the task, owned by g1, as the gateway does.
func (h *taskHarness) create(mod func(*dataservice.Task)) dataservice.Task {
	h.t.Helper()
	now := time.Now()
	task := dataservice.Task{ID: h.msg.ID, AppKey: testApp, State: dataservice.TaskRunning, Owner: "g1",
		LeaseUntil: now.Add(time.Minute), Created: now, Updated: now}
	if mod != nil {
		mod(&task)
	}
	if err := h.store.CreateTask(context.Background(), task); err != nil {
		h.t.Fatal(err)
	}
	task.Generation = 1
	return task
}

// stored reads the task from the store.
func (h *taskHarness) stored() dataservice.Task {
	h.t.Helper()
	task, err := h.store.Task(context.Background(), h.msg.ID)
	if err != nil {
		h.t.Fatal(err)
	}
	return task
}

// update writes the task as another gateway would, by compare-and-set.
func (h *taskHarness) update(mod func(*dataservice.Task)) dataservice.Task {
	h.t.Helper()
	task := h.stored()
	mod(&task)
	task.Updated = time.Now()
	gen, err := h.store.UpdateTask(context.Background(), task)
	if err != nil {
		h.t.Fatal(err)
	}
	task.Generation = gen
	return task
}

type taskRun struct {
	pid  *actor.PID
	done chan dataservice.Task
}

// spawn starts a task actor; manualTicks makes it tick only on h.tick.
func (h *taskHarness) spawn(task dataservice.Task, manualTicks bool, mod func(*actors.TaskConfig)) *taskRun {
	r := &taskRun{done: make(chan dataservice.Task, 1)}
	cfg := actors.TaskConfig{
		Task: task, Msg: h.msg, Source: h.source, Data: h.data, Router: h.router.pid,
		Receipts: h.receipts, Workers: h.workers, Log: discardLog(),
		Done: func(final dataservice.Task) { r.done <- final },
	}
	if manualTicks {
		actors.WithTaskTicks(&cfg, h.tickCh)
	}
	if mod != nil {
		mod(&cfg)
	}
	r.pid = actors.SpawnTask(h.system, cfg)
	return r
}

// tick makes the task actor tick once.
func (h *taskHarness) tick() {
	h.ticks.Add(1)
	select {
	case h.tickCh <- time.Now():
	case <-time.After(10 * time.Second):
		h.t.Fatal("the task actor took no tick")
	}
}

func (r *taskRun) wait(t *testing.T) dataservice.Task {
	t.Helper()
	select {
	case final := <-r.done:
		return final
	case <-time.After(20 * time.Second):
		t.Fatal("the task actor did not stop")
		return dataservice.Task{}
	}
}

// routed returns the devices of routes that are not replays, in order.
func routed(events []taskEvent) []string {
	var out []string
	for _, e := range events {
		if e.kind == "route" && !e.replay {
			out = append(out, e.rids...)
		}
	}
	return out
}

// eventually polls cond until it holds or 10s passed.
func eventually(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not met within 10s: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (h *taskHarness) inboxCopies(rid string) int {
	h.t.Helper()
	e, err := h.store.Inbox(context.Background(), rid, 0, 10)
	if err != nil {
		h.t.Fatal(err)
	}
	return len(e)
}

func TestTaskSendsEveryDeviceOnceInCursorOrder(t *testing.T) {
	h := newTaskHarness(t, 95, time.Hour, &taskRouter{manual: true})
	var saves, answered, overlimit atomic.Int64
	h.data.beforeSave = func([]string) {
		// A commit starts: the pages committing or routing, answers not
		// yet sent, must be fewer than two before it.
		if saves.Add(1)-answered.Load() > 2 {
			overlimit.Add(1)
		}
	}
	run := h.spawn(h.create(nil), false, func(c *actors.TaskConfig) { c.PageSize = 10 })
	last := h.source.rids[len(h.source.rids)-1]
	var waiting []routerCall
	answer := func() {
		c := waiting[0]
		waiting = waiting[1:]
		answered.Add(1)
		h.system.Root.Send(c.sender, &actors.Routed{Online: len(c.route.RIDs)})
	}
	// Answer a page only once the next one is routed too: the actor must
	// keep two pages in flight to get anywhere.
	for done := false; !done; {
		select {
		case c := <-h.router.pending:
			waiting = append(waiting, c)
			if slices.Contains(c.route.RIDs, last) {
				for len(waiting) > 0 {
					answer()
				}
				done = true
			} else if len(waiting) == 2 {
				answer()
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("no page routed; %d waiting for an answer", len(waiting))
		}
	}
	final := run.wait(t)
	if n := overlimit.Load(); n > 0 {
		t.Fatalf("%d pages were committed with two others in flight", n)
	}
	events := h.log.since(0)
	if got := routed(events); !slices.Equal(got, h.source.rids) {
		t.Fatalf("routed %v, want every device once in cursor order", got)
	}
	// Checkpoints are a chain of compare-and-sets, one per page, then the
	// final one.
	updates := h.log.since(0, "update")
	pages := len(h.source.rids)/10 + 1
	if len(updates) != pages+1 {
		t.Fatalf("%d task writes for %d pages, want one per page and the final one", len(updates), pages)
	}
	prev := dataservice.Task{Generation: 1}
	for i, u := range updates {
		want := min(10*(i+1), len(h.source.rids))
		switch {
		case u.err != nil:
			t.Fatalf("write %d refused: %v", i, u.err)
		case u.task.Generation != prev.Generation:
			t.Fatalf("write %d at generation %d, want %d (the last written)", i, u.task.Generation, prev.Generation)
		case i == pages:
			if u.task.State != dataservice.TaskDone || u.task.Cursor != prev.Cursor {
				t.Fatalf("final write %+v", u.task)
			}
		case u.task.Cursor != h.source.rids[want-1] || u.task.PrevCursor != prev.Cursor || u.task.Targeted != int64(want):
			t.Fatalf("checkpoint %d: %+v after %+v", i, u.task, prev)
		}
		prev = u.task
		prev.Generation = u.gen
	}
	// Write-ahead: a page's copies, then its checkpoint, then the page.
	index := func(match func(taskEvent) bool) int { return slices.IndexFunc(events, match) }
	for _, r := range h.log.since(0, "route") {
		page := r.rids
		save := index(func(e taskEvent) bool { return e.kind == "save" && slices.Equal(e.rids, page) })
		update := index(func(e taskEvent) bool { return e.kind == "update" && e.task.Cursor == page[len(page)-1] })
		route := index(func(e taskEvent) bool { return e.kind == "route" && slices.Equal(e.rids, page) })
		if save < 0 || !(save < update && update < route) {
			t.Fatalf("page %v: copies at %d, checkpoint at %d, routed at %d", page, save, update, route)
		}
	}
	if final.State != dataservice.TaskDone || final.Targeted != 95 || final.Cursor != last {
		t.Fatalf("task ended %+v", final)
	}
	if s := h.stored(); s.State != dataservice.TaskDone || s.Targeted != 95 {
		t.Fatalf("stored task %+v", s)
	}
	for _, rid := range h.source.rids {
		if n := h.inboxCopies(rid); n != 1 {
			t.Fatalf("%s has %d inbox copies", rid, n)
		}
	}
}

func TestOnlineOnlyTaskStoresNoCopies(t *testing.T) {
	h := newTaskHarness(t, 12, 0, nil)
	final := h.spawn(h.create(nil), false, func(c *actors.TaskConfig) { c.PageSize = 5 }).wait(t)
	if final.State != dataservice.TaskDone || final.Targeted != 12 {
		t.Fatalf("task ended %+v", final)
	}
	if got := routed(h.log.since(0)); !slices.Equal(got, h.source.rids) {
		t.Fatalf("routed %v", got)
	}
	for _, rid := range h.source.rids {
		if n := h.inboxCopies(rid); n != 0 {
			t.Fatalf("%s has %d inbox copies of an online-only message", rid, n)
		}
	}
}

// A gateway takes the task over while its page 3 commits: the first
// actor stops without writing; the new owner resumes from the checkpoint,
// sends page 2 again as a replay, and goes on.
func TestTakenOverTaskResumesWithOneReplayedPage(t *testing.T) {
	h := newTaskHarness(t, 50, time.Hour, nil)
	rids := h.source.rids
	held, release := h.source.holdFrom(rids[19]) // page 3
	first := h.spawn(h.create(nil), false, func(c *actors.TaskConfig) { c.PageSize = 10 })
	waitHeld(t, held)
	taken := h.update(func(task *dataservice.Task) {
		task.Owner, task.LeaseUntil = "g2", time.Now().Add(time.Minute)
	})
	if taken.Cursor != rids[19] || taken.PrevCursor != rids[9] || taken.Targeted != 20 {
		t.Fatalf("checkpoint %+v, want pages 1 and 2 committed", taken)
	}
	release()
	lost := first.wait(t)
	if lost.Owner != "g2" || lost.Generation != taken.Generation {
		t.Fatalf("first actor ended with %+v, want the new owner's task", lost)
	}
	if s := h.stored(); s.Generation != taken.Generation || s.Owner != "g2" || s.Cursor != rids[19] {
		t.Fatalf("the first actor wrote after losing the task: %+v", s)
	}
	if got := routed(h.log.since(0)); !slices.Equal(got, rids[:20]) {
		t.Fatalf("first actor routed %v, want pages 1 and 2 only", got)
	}

	mark := h.log.len()
	final := h.spawn(taken, false, func(c *actors.TaskConfig) {
		c.PageSize = 10
		c.Resumed = true
	}).wait(t)
	if final.State != dataservice.TaskDone || final.Targeted != 50 || final.Owner != "g2" {
		t.Fatalf("resumed task ended %+v", final)
	}
	routes := h.log.since(mark, "route")
	if len(routes) == 0 || !routes[0].replay || !slices.Equal(routes[0].rids, rids[10:20]) {
		t.Fatalf("resumed actor's first route %+v, want page 2 replayed", routes)
	}
	for _, r := range routes[1:] {
		if r.replay {
			t.Fatalf("more than one page replayed: %+v", routes)
		}
	}
	if got := routed(h.log.since(0)); !slices.Equal(got, rids) {
		t.Fatalf("routed %v over both actors, want every device once", got)
	}
	for _, e := range h.log.since(mark, "save") {
		if slices.ContainsFunc(e.rids, func(rid string) bool { return rid <= rids[19] }) {
			t.Fatalf("resumed actor stored copies of a committed page again: %v", e.rids)
		}
	}
	for _, rid := range rids {
		if n := h.inboxCopies(rid); n != 1 {
			t.Fatalf("%s has %d inbox copies, want one", rid, n)
		}
	}
}

func TestReplayIsRetriedAfterAnError(t *testing.T) {
	h := newTaskHarness(t, 30, time.Hour, nil)
	rids := h.source.rids
	if err := h.store.SaveCopies(context.Background(), h.msg, rids[:20]); err != nil {
		t.Fatal(err)
	}
	task := h.create(func(task *dataservice.Task) {
		task.Cursor, task.PrevCursor, task.Targeted, task.Owner = rids[19], rids[9], 20, "g2"
	})
	h.source.failures = 1 // the read of the page to replay
	final := h.spawn(task, false, func(c *actors.TaskConfig) {
		c.PageSize = 10
		c.Resumed = true
	}).wait(t)
	if final.State != dataservice.TaskDone || final.Targeted != 30 {
		t.Fatalf("task ended %+v", final)
	}
	routes := h.log.since(0, "route")
	if len(routes) == 0 || !routes[0].replay || !slices.Equal(routes[0].rids, rids[10:20]) {
		t.Fatalf("routes %+v: want page 2 replayed first despite the failed read", routes)
	}
	if got := routed(routes); !slices.Equal(got, rids[20:]) {
		t.Fatalf("routed %v after the checkpoint", got)
	}
}

func TestLeaseIsRenewedAndItsLossStopsTheTask(t *testing.T) {
	h := newTaskHarness(t, 10, time.Hour, nil)
	// A rate of 10/s spends one device a tick; a lease this short is due
	// for renewal at every tick.
	task := h.create(func(task *dataservice.Task) { task.Rate = 10 })
	run := h.spawn(task, true, func(c *actors.TaskConfig) { c.Lease = 3 * time.Microsecond })
	eventually(t, func() bool { return len(h.log.since(0, "route")) == 1 }, "first page routed")
	before := h.stored()

	h.tick()
	eventually(t, func() bool { return len(h.log.since(0, "route")) == 2 }, "second page routed")
	var renewal *taskEvent
	for _, e := range h.log.since(0, "update") {
		if e.task.Cursor == before.Cursor && e.task.Generation == before.Generation {
			renewal = &e
		}
	}
	if renewal == nil || renewal.err != nil || renewal.gen != before.Generation+1 || !renewal.task.LeaseUntil.After(before.LeaseUntil) {
		t.Fatalf("no renewal of the lease by compare-and-set at the tick: %+v", renewal)
	}

	taken := h.update(func(task *dataservice.Task) { task.Owner = "g2" })
	mark := h.log.len()
	h.tick()
	lost := run.wait(t)
	if lost.Owner != "g2" || lost.Generation != taken.Generation {
		t.Fatalf("actor ended with %+v, want the new owner's task", lost)
	}
	if s := h.stored(); s.Generation != taken.Generation {
		t.Fatalf("the actor wrote after losing its lease: %+v", s)
	}
	for _, e := range h.log.since(mark) {
		if e.kind == "route" || e.kind == "save" || (e.kind == "update" && e.err == nil) {
			t.Fatalf("the actor went on after losing its lease: %+v", e)
		}
	}
}

func TestRateSendsNoMoreThanTheBudgetPerTick(t *testing.T) {
	tests := []struct {
		rate, page int
		first      float64 // the budget before the first tick
	}{
		{rate: 50, page: 3, first: 5},    // 5 a tick, in pages of 3 and 2
		{rate: 5, page: 10, first: 1},    // half a device a tick
		{rate: 20, page: 1000, first: 2}, // pages as large as the budget
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("rate %d page %d", tt.rate, tt.page), func(t *testing.T) {
			const n = 23
			h := newTaskHarness(t, n, time.Hour, nil)
			run := h.spawn(h.create(func(task *dataservice.Task) { task.Rate = tt.rate }), true, func(c *actors.TaskConfig) { c.PageSize = tt.page })
			budget := func(ticks int64) int {
				return min(n, int(tt.first+float64(ticks)*float64(tt.rate)/10))
			}
			sent := func() int { return len(routed(h.log.since(0))) }
			for k := int64(0); ; k++ {
				if k > 0 {
					h.tick()
				}
				want := budget(k)
				eventually(t, func() bool { return sent() >= want }, fmt.Sprintf("%d devices sent after %d ticks", want, k))
				if want == n {
					break
				}
			}
			if final := run.wait(t); final.State != dataservice.TaskDone || final.Targeted != n {
				t.Fatalf("task ended %+v", final)
			}
			// Count per tick: what arrived before tick k+1 was sent
			// was paid for by the first budget and k ticks.
			total := 0
			for _, e := range h.log.since(0, "route") {
				if len(e.rids) > tt.page {
					t.Fatalf("a page of %d devices, page size %d", len(e.rids), tt.page)
				}
				total += len(e.rids)
				if total > budget(e.tick) {
					t.Fatalf("%d devices sent within %d ticks, budget %d", total, e.tick, budget(e.tick))
				}
			}
			if total != n {
				t.Fatalf("sent %d of %d", total, n)
			}
		})
	}
}

func TestCancelWithdrawsExactlyWhatWasSent(t *testing.T) {
	tests := []struct {
		name string
		// run starts the task and cancels it once pages 1 and 2 went out.
		run func(t *testing.T, h *taskHarness) *taskRun
	}{
		{"cancel while waiting for the rate", func(t *testing.T, h *taskHarness) *taskRun {
			run := h.spawn(h.create(func(task *dataservice.Task) { task.Rate = 100 }), true, func(c *actors.TaskConfig) { c.PageSize = 10 })
			eventually(t, func() bool { return len(h.log.since(0, "route")) == 1 }, "page 1 routed")
			h.tick()
			eventually(t, func() bool { return len(h.log.since(0, "route")) == 2 }, "page 2 routed")
			h.update(func(task *dataservice.Task) { task.State = dataservice.TaskCanceling })
			h.system.Root.Send(run.pid, &actors.CancelTask{})
			return run
		}},
		{"cancel found by the commit of page 3", func(t *testing.T, h *taskHarness) *taskRun {
			held, release := h.source.holdFrom(h.source.rids[19])
			run := h.spawn(h.create(nil), false, func(c *actors.TaskConfig) { c.PageSize = 10 })
			waitHeld(t, held)
			// Another gateway's cancel: only the store says so.
			h.update(func(task *dataservice.Task) { task.State = dataservice.TaskCanceling })
			release()
			return run
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTaskHarness(t, 50, time.Hour, nil)
			rids := h.source.rids
			// Two devices already acknowledged the message: their copies
			// are gone before the cancel.
			delivered := []string{rids[0], rids[13]}
			h.data.beforeUpdate = func(task dataservice.Task) {
				if task.State == dataservice.TaskCanceling || task.Cursor != rids[19] {
					return
				}
				copies := []dataservice.InboxCopy{{RegistrationID: delivered[0], MessageID: h.msg.ID}, {RegistrationID: delivered[1], MessageID: h.msg.ID}}
				_, _ = h.store.RemoveInbox(context.Background(), copies)
			}
			final := tt.run(t, h).wait(t)
			if final.State != dataservice.TaskCanceled || final.Targeted != 20 {
				t.Fatalf("task ended %+v, want canceled after 20 devices", final)
			}
			if got := routed(h.log.since(0)); !slices.Equal(got, rids[:20]) {
				t.Fatalf("routed %v, want pages 1 and 2 only", got)
			}
			withdrawals := h.log.since(0, "withdraw")
			if len(withdrawals) != 1 || withdrawals[0].id != h.msg.ID || !withdrawals[0].expires.Equal(h.msg.Expires()) {
				t.Fatalf("withdrawals %+v, want one of message %d until it expires", withdrawals, h.msg.ID)
			}
			for _, rid := range rids {
				if n := h.inboxCopies(rid); n != 0 {
					t.Fatalf("%s still has %d copies", rid, n)
				}
			}
			if got := h.receipts.get(h.msg.ID, dataservice.CounterWithdrawn); got != 20-int64(len(delivered)) {
				t.Fatalf("withdrawn %d, want the %d copies sent and not delivered", got, 20-len(delivered))
			}
			if s := h.stored(); s.State != dataservice.TaskCanceled || s.Targeted != 20 {
				t.Fatalf("stored task %+v", s)
			}
		})
	}
}

// A cancel that lands after the last page, while the task writes that it
// is done, still withdraws everything.
func TestCancelWhileFinishingWithdraws(t *testing.T) {
	h := newTaskHarness(t, 15, time.Hour, nil)
	var once sync.Once
	h.data.beforeUpdate = func(task dataservice.Task) {
		if task.State != dataservice.TaskDone {
			return
		}
		once.Do(func() {
			// The gateway's cancel, just before the final write.
			cur, err := h.store.Task(context.Background(), task.ID)
			if err == nil {
				cur.State = dataservice.TaskCanceling
				_, err = h.store.UpdateTask(context.Background(), cur)
			}
			if err != nil {
				t.Errorf("canceling: %v", err)
			}
		})
	}
	final := h.spawn(h.create(nil), false, func(c *actors.TaskConfig) { c.PageSize = 10 }).wait(t)
	if final.State != dataservice.TaskCanceled || final.Targeted != 15 {
		t.Fatalf("task ended %+v", final)
	}
	if len(h.log.since(0, "withdraw")) != 1 {
		t.Fatal("connectors were not told to drop the message")
	}
	for _, rid := range h.source.rids {
		if n := h.inboxCopies(rid); n != 0 {
			t.Fatalf("%s still has %d copies", rid, n)
		}
	}
	if got := h.receipts.get(h.msg.ID, dataservice.CounterWithdrawn); got != 15 {
		t.Fatalf("withdrawn %d, want 15", got)
	}
}

func TestBroadcastTaskFansOutOnceAndCountsTheRest(t *testing.T) {
	tests := []struct {
		name        string
		ttl         time.Duration
		fanned      actors.FannedOut
		wantCounter dataservice.Counter
		want        int64
	}{
		{"stored for offline devices", time.Hour, actors.FannedOut{Online: 4}, dataservice.CounterStoredOffline, 6},
		{"online only", 0, actors.FannedOut{Online: 4}, dataservice.CounterExpired, 6},
		{"a connector failed", time.Hour, actors.FannedOut{Online: 3, Failed: 1, Err: errConnector}, dataservice.CounterStoredOffline, 7},
		{"more online than targeted", time.Hour, actors.FannedOut{Online: 12}, dataservice.CounterStoredOffline, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newTaskHarness(t, 0, tt.ttl, &taskRouter{fanned: tt.fanned})
			h.msg.ID++ // a broadcast of its own
			h.msg.Broadcast = true
			if err := h.store.SaveBroadcast(context.Background(), h.msg, 10); err != nil {
				t.Fatal(err)
			}
			final := h.spawn(h.create(nil), false, func(c *actors.TaskConfig) { c.Targeted = 10 }).wait(t)
			if final.State != dataservice.TaskDone {
				t.Fatalf("task ended %+v", final)
			}
			if f, r := h.log.since(0, "fanout"), h.log.since(0, "route"); len(f) != 1 || len(r) != 0 {
				t.Fatalf("%d fanouts and %d routes, want one fanout", len(f), len(r))
			}
			for _, c := range []dataservice.Counter{dataservice.CounterStoredOffline, dataservice.CounterExpired} {
				want := int64(0)
				if c == tt.wantCounter {
					want = tt.want
				}
				if got := h.receipts.get(h.msg.ID, c); got != want {
					t.Errorf("%s = %d, want %d", c, got, want)
				}
			}
		})
	}
}

func TestCanceledBroadcastIsWithdrawnAndUnlisted(t *testing.T) {
	h := newTaskHarness(t, 0, time.Hour, nil)
	h.msg.ID++
	h.msg.Broadcast = true
	if err := h.store.SaveBroadcast(context.Background(), h.msg, 10); err != nil {
		t.Fatal(err)
	}
	// As the gateway resumes a broadcast canceled after it was sent.
	task := h.create(func(task *dataservice.Task) { task.State = dataservice.TaskCanceling })
	final := h.spawn(task, false, func(c *actors.TaskConfig) { c.Resumed = true }).wait(t)
	if final.State != dataservice.TaskCanceled {
		t.Fatalf("task ended %+v", final)
	}
	if f, w := h.log.since(0, "fanout"), h.log.since(0, "withdraw"); len(f) != 0 || len(w) != 1 {
		t.Fatalf("%d fanouts and %d withdrawals, want one withdrawal", len(f), len(w))
	}
	listed, err := h.store.AppBroadcasts(context.Background(), testApp, 0, 10)
	if err != nil || len(listed) != 0 {
		t.Fatalf("app broadcasts %v, %v: the canceled one is still listed", listed, err)
	}
}
