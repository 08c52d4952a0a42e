package dataservice

import (
	"context"
	"encoding/json"
	"time"
)

// TaskStore holds push tasks: the progress of sending one message to its
// audience page by page, checkpointed so that the task outlives the
// gateway that started it: another gateway (or the same after a restart)
// resumes it. Every update is a compare-and-set of the task's record, so
// gateways racing to take over a task, or a cancel racing with the
// sending, never both win. Listings take a limit of 1 to MaxPage.
type TaskStore interface {
	// CreateTask stores a new task, listed by ActiveTasks while it is
	// not finished; ErrExists if a task has its id. A task needs a
	// nonzero id, an app key and a known state (else ErrInvalid); one
	// created in a final state is never listed.
	CreateTask(ctx context.Context, t Task) error
	// Task returns a task, with its Generation, or ErrNotFound.
	Task(ctx context.Context, id uint64) (Task, error)
	// UpdateTask replaces a task if its generation is still t.Generation
	// and returns the new generation; ErrGenerationMismatch if it changed
	// (another gateway or a cancel wrote it: read it again), ErrNotFound
	// if it does not exist, ErrInvalid if t.Generation is 0 (update only
	// what Task or ActiveTasks returned). A task reaching a final state
	// (TaskFinished) leaves ActiveTasks, and lives on for ReportRetention
	// past its message's expiry (past now if the message is gone).
	// A finished task updated to an active state again (a cancel after
	// the sending ended, to withdraw undelivered copies) is listed again.
	UpdateTask(ctx context.Context, t Task) (uint32, error)
	// ActiveTasks returns up to limit (1 to MaxPage) unfinished tasks
	// with ids above after, ascending, each with its Generation. A page
	// shorter than limit is the last.
	ActiveTasks(ctx context.Context, after uint64, limit int) ([]Task, error)
}

// Tasks are KindTask records (store.go): "task/<msg_id>" holds a Task and
// "active/<msg_id>" marks it unfinished. The layouts are in
// tasks_service.go.

// TaskState is where a task is in its life.
type TaskState string

// Task states. Running and canceling tasks are active; the others are
// final.
const (
	TaskRunning   TaskState = "running"
	TaskCanceling TaskState = "canceling" // a cancel asked it to stop; its owner withdraws what it sent
	TaskDone      TaskState = "done"
	TaskCanceled  TaskState = "canceled"
	TaskFailed    TaskState = "failed"
)

// TaskFinished reports whether s is a final state.
func TaskFinished(s TaskState) bool { return s == TaskDone || s == TaskCanceled || s == TaskFailed }

// Task is the progress of sending one message to its audience, written at
// each checkpoint so that another gateway (or the same after a restart)
// resumes it.
type Task struct {
	// ID is the message's id.
	ID     uint64    `json:"id,string"`
	AppKey string    `json:"app"`
	State  TaskState `json:"state"`
	// Cursor is where the audience resolution continues; PrevCursor where
	// the last committed page started (resumption sends it again, as its
	// dispatch may not have finished). Their meaning is the resolver's.
	Cursor     string `json:"cursor,omitempty"`
	PrevCursor string `json:"prev_cursor,omitempty"`
	// Targeted counts the devices of committed pages.
	Targeted int64 `json:"targeted"`
	// Rate bounds the sending, in messages per second; 0 means as fast as
	// possible.
	Rate int `json:"rate,omitempty"`
	// Spec holds what the gateway needs to run the task beyond the
	// message (such as filters of a scheduled occurrence).
	Spec json.RawMessage `json:"spec,omitempty"`
	// Owner names the gateway running the task; LeaseUntil is when others
	// may take it over if the owner has not renewed the lease.
	Owner      string    `json:"owner,omitempty"`
	LeaseUntil time.Time `json:"lease_until"`
	Error      string    `json:"error,omitempty"`
	Created    time.Time `json:"created"`
	Updated    time.Time `json:"updated"`
	// Generation is the store generation the task was read at, for
	// UpdateTask.
	Generation uint32 `json:"-"`
}
