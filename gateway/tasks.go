package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/heraldpush/herald/actors"
	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway/audience"
	"github.com/heraldpush/herald/gateway/lease"
)

// taskContainer is the task container (docs/design.md, "Words"): it runs
// the task actors of this gateway, and takes over the tasks of gateways
// that stopped renewing their leases (or of this gateway's previous run).
type taskContainer struct {
	g     *Gateway
	owner lease.Owner

	mu      sync.Mutex
	running map[uint64]*actor.PID
	closed  bool

	stop chan struct{}
	done chan struct{}
}

func newTaskContainer(g *Gateway) *taskContainer {
	return &taskContainer{
		g:       g,
		owner:   g.owner,
		running: make(map[uint64]*actor.PID),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
}

// start begins looking for tasks to take over: at once (to resume what
// this gateway ran before a restart) and every TaskScan.
func (tc *taskContainer) start() {
	go func() {
		defer close(tc.done)
		t := time.NewTicker(tc.g.cfg.TaskScan)
		defer t.Stop()
		for {
			tc.scan()
			select {
			case <-tc.stop:
				return
			case <-t.C:
			}
		}
	}()
}

func (tc *taskContainer) close() {
	tc.mu.Lock()
	tc.closed = true
	running := make([]*actor.PID, 0, len(tc.running))
	for _, pid := range tc.running {
		running = append(running, pid)
	}
	tc.mu.Unlock()
	close(tc.stop)
	<-tc.done
	for _, pid := range running {
		_ = tc.g.system.Root.StopFuture(pid).Wait()
	}
}

// scan takes over the active tasks whose owner's lease ran out.
func (tc *taskContainer) scan() {
	ctx, cancel := context.WithTimeout(context.Background(), tc.g.cfg.TaskScan)
	defer cancel()
	after := uint64(0)
	for {
		tasks, err := tc.g.data.ActiveTasks(ctx, after, 100)
		if err != nil {
			tc.g.log.Warn("listing active push tasks failed", "err", err)
			return
		}
		for _, t := range tasks {
			if tc.isRunning(t.ID) {
				continue
			}
			// Not running here: this gateway's own (its start was
			// refused while closing, or it was created by a retried
			// call), or one whose owner stopped renewing its lease.
			if !tc.owner.Holds(t.Owner) && time.Now().Before(t.LeaseUntil) && !tc.owner.SameNode(t.Owner) {
				continue
			}
			if tc.owner.Holds(t.Owner) && time.Since(t.Updated) < tc.g.cfg.TaskScan {
				continue // just created: its start may be on the way
			}
			tc.takeOver(ctx, t)
		}
		if len(tasks) < 100 {
			return
		}
		after = tasks[len(tasks)-1].ID
	}
}

func (tc *taskContainer) isRunning(id uint64) bool {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	_, ok := tc.running[id]
	return ok
}

// takeOver claims a task by compare-and-set and resumes it.
func (tc *taskContainer) takeOver(ctx context.Context, t dataservice.Task) {
	prev := t.Owner
	t.Owner, t.LeaseUntil, t.Updated = tc.owner.String(), time.Now().Add(tc.g.cfg.TaskLease), time.Now()
	gen, err := tc.g.data.UpdateTask(ctx, t)
	if errors.Is(err, dataservice.ErrGenerationMismatch) {
		return // someone else was quicker, or the owner renewed
	}
	if err != nil {
		tc.g.log.Warn("taking over a push task failed", "task", t.ID, "err", err)
		return
	}
	t.Generation = gen
	msg, err := tc.g.data.Message(ctx, t.ID)
	if err != nil {
		tc.g.log.Error("a push task lost its message; ending it failed", "task", t.ID, "err", err)
		tc.fail(ctx, t, "its message is gone: "+err.Error())
		return
	}
	tc.g.log.Info("resuming push task", "task", t.ID, "previous_owner", prev, "cursor", t.Cursor, "state", t.State)
	// A broadcast fanned out again counts no stored_offline (targeted 0):
	// the first run counted the devices offline then, unless it died
	// in the middle of its fan-out.
	if err := tc.run(ctx, t, &msg, 0, true); err != nil {
		tc.fail(ctx, t, err.Error())
	}
}

// create stores a new task owned by this gateway and starts it.
func (tc *taskContainer) create(ctx context.Context, msg *dataservice.Message, rate int, spec audience.LocalTime, targeted int64) error {
	now := time.Now()
	t := dataservice.Task{
		ID: msg.ID, AppKey: msg.AppKey, State: dataservice.TaskRunning, Rate: rate,
		Owner: tc.owner.String(), LeaseUntil: now.Add(tc.g.cfg.TaskLease), Created: now, Updated: now,
	}
	if spec != (audience.LocalTime{}) {
		raw, err := json.Marshal(spec)
		if err != nil {
			return err
		}
		t.Spec = raw
	}
	if err := tc.g.data.CreateTask(ctx, t); err != nil {
		return err
	}
	t.Generation = 1 // a created record's (Store contract)
	return tc.run(ctx, t, msg, targeted, false)
}

// run starts the task actor of t.
func (tc *taskContainer) run(ctx context.Context, t dataservice.Task, msg *dataservice.Message, targeted int64, resumed bool) error {
	var src actors.PageSource = noPages{}
	if !msg.Broadcast {
		var aud audience.Audience
		if err := json.Unmarshal(msg.Audience, &aud); err != nil {
			return fmt.Errorf("its audience does not parse: %w", err)
		}
		var spec audience.LocalTime
		if len(t.Spec) > 0 {
			if err := json.Unmarshal(t.Spec, &spec); err != nil {
				return fmt.Errorf("its spec does not parse: %w", err)
			}
		}
		r := audience.NewResolver(tc.g.data, msg.AppKey, aud, spec)
		if err := r.Prepare(ctx); err != nil {
			return fmt.Errorf("resolving its audience: %w", err)
		}
		src = r
	}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if tc.closed {
		return nil // shutting down: the lease runs out and the task resumes elsewhere
	}
	if _, ok := tc.running[t.ID]; ok {
		return nil
	}
	id := t.ID
	tc.running[id] = actors.SpawnTask(tc.g.system, actors.TaskConfig{
		Task: t, Msg: msg, Targeted: targeted, Resumed: resumed,
		Source: src, Data: tc.g.data, Router: tc.g.router, Receipts: tc.g.receipts, Workers: tc.g.workers,
		Lease: tc.g.cfg.TaskLease, Log: tc.g.log,
		Done: func(final dataservice.Task) {
			tc.mu.Lock()
			delete(tc.running, id)
			tc.mu.Unlock()
			if final.State == dataservice.TaskDone || final.State == dataservice.TaskCanceled {
				tc.g.log.Info("push task ended", "task", id, "state", final.State, "targeted", final.Targeted)
			}
		},
	})
	return nil
}

// fail ends a task that cannot run.
func (tc *taskContainer) fail(ctx context.Context, t dataservice.Task, why string) {
	t.State, t.Error, t.Updated = dataservice.TaskFailed, why, time.Now()
	if _, err := tc.g.data.UpdateTask(ctx, t); err != nil {
		tc.g.log.Warn("marking a push task failed did not work", "task", t.ID, "err", err)
	}
}

// cancel turns a task to canceling; its owner (this gateway, another one,
// or whoever takes it over) stops it and withdraws what it sent. It
// returns the task's state after the call.
func (tc *taskContainer) cancel(ctx context.Context, id uint64) (dataservice.TaskState, error) {
	for range 10 {
		t, err := tc.g.data.Task(ctx, id)
		if err != nil {
			return "", err
		}
		if t.State == dataservice.TaskCanceled || t.State == dataservice.TaskFailed || t.State == dataservice.TaskCanceling {
			return t.State, nil
		}
		done := t.State == dataservice.TaskDone
		t.State, t.Updated = dataservice.TaskCanceling, time.Now()
		if done {
			// Its sending ended: this gateway withdraws what is still
			// undelivered.
			t.Owner, t.LeaseUntil = tc.owner.String(), time.Now().Add(tc.g.cfg.TaskLease)
		}
		gen, err := tc.g.data.UpdateTask(ctx, t)
		if errors.Is(err, dataservice.ErrGenerationMismatch) {
			continue
		} else if err != nil {
			return "", err
		}
		if done {
			t.Generation = gen
			msg, err := tc.g.data.Message(ctx, id)
			if err == nil {
				err = tc.run(ctx, t, &msg, 0, true)
			}
			if err != nil {
				tc.fail(ctx, t, "withdrawing: "+err.Error())
				return "", err
			}
			return dataservice.TaskCanceling, nil
		}
		tc.mu.Lock()
		pid := tc.running[id]
		tc.mu.Unlock()
		if pid != nil {
			tc.g.system.Root.Send(pid, &actors.CancelTask{})
		}
		return dataservice.TaskCanceling, nil
	}
	return "", fmt.Errorf("cancel task %d: %w", id, dataservice.ErrGenerationMismatch)
}

// noPages is the source of a broadcast: the connectors fan it out.
type noPages struct{}

func (noPages) Next(context.Context, string, int) ([]string, string, bool, error) {
	return nil, "", true, nil
}
