package dataservice

import (
	"context"
	"encoding/json"
	"time"
)

// PushData is the part of the data API behind push tasks: tasks that
// outlive the gateway that started them, broadcasts stored once per app,
// idempotency keys, and the per-device facts audiences filter on.
//
// Methods taking an app key reject an empty one or one with '/' with
// ErrInvalid, as DeviceIndex does; listings take a limit of 1 to MaxPage.
type PushData interface {
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

	// SaveCopies stores inbox copies of a message saved before (with
	// SaveMessage and no recipients) for a page of a task's audience. It
	// does not count them (the task's Targeted does) and leaves copies
	// that exist as they are, so a page committed twice has one copy per
	// device. Copies live until the message expires (plus AckGrace), so
	// m.Created must be set; a message with TTL 0, or expired, gets no
	// copies. A collapse id acts as in SaveMessage (see Message.CollapseID
	// and CheckCollapseID).
	SaveCopies(ctx context.Context, m *Message, rids []string) error

	// SaveBroadcast stores a message to every device of its app: the
	// body (as SaveMessage does), an entry in the app's broadcast list
	// that lives until the message expires (plus AckGrace), and the
	// targeted counter set to targeted. A message with TTL 0 gets no list
	// entry: only online devices get it. m.Broadcast must be set
	// (ErrInvalid otherwise); ErrExists if the message was saved before.
	SaveBroadcast(ctx context.Context, m *Message, targeted int64) error
	// AppBroadcasts returns up to limit ids of the app's unexpired
	// broadcasts with ids above after, ascending.
	AppBroadcasts(ctx context.Context, app string, after uint64, limit int) ([]uint64, error)
	// RemoveBroadcast takes a broadcast off its app's list (a cancel) and
	// reports whether it was there.
	RemoveBroadcast(ctx context.Context, app string, id uint64) (bool, error)
	// BroadcastCursors returns each device's broadcast cursor, in order;
	// for devices without one, the zero cursor (Generation 0) with its
	// RegistrationID set, ready for PutBroadcastCursors.
	BroadcastCursors(ctx context.Context, rids []string) ([]BroadcastCursor, error)
	// PutBroadcastCursors writes cursors by compare-and-set (Generation 0:
	// create only) in one batch and reports per cursor whether it was
	// written; false means another writer changed it since it was read.
	// Cursors never expire.
	PutBroadcastCursors(ctx context.Context, cursors []BroadcastCursor) ([]bool, error)

	// ReserveCID binds an app's idempotency key to a message id for ttl,
	// unless the key is bound already; it returns the id bound to the key
	// and whether this call bound it (a retry of the call that bound it
	// gets its id and false). Of concurrent calls for one key exactly one
	// binds it. The key follows CheckCID; id must be nonzero and ttl
	// positive (ErrInvalid otherwise).
	ReserveCID(ctx context.Context, app, cid string, id uint64, ttl time.Duration) (uint64, bool, error)

	// AppDeviceCount returns how many devices the app has registered
	// (CreateDevice counts them, after creating the device). The count is
	// a counter beside the devices, not a count of them: if counting
	// fails after a device was created, CreateDevice still succeeds (the
	// device exists) and the count stays one short.
	AppDeviceCount(ctx context.Context, app string) (int64, error)
	// LastActive returns, per device, when it was last connected: now
	// for a device with a session, the end of its last session otherwise,
	// the zero time for a device never seen connected. The end of a
	// session is when DeleteSession deleted it, or, for a session that
	// expired (its connector died), its last refresh (PutSessions'
	// Since). Times have millisecond precision.
	LastActive(ctx context.Context, rids []string) ([]time.Time, error)
}

// Record kinds of push tasks. Tasks themselves are KindTask records (see
// store.go): "task/<msg_id>" holds a Task and "active/<msg_id>" marks it
// unfinished. The key and value layouts are listed in service_push.go.
const (
	KindBroadcast       Kind = "bcs" // app_key/msg_id → a broadcast devices of the app get on connecting
	KindBroadcastCursor Kind = "bcc" // registration_id → BroadcastCursor
	KindCID             Kind = "cid" // app_key/cid → message id, for 24 h: idempotent pushes
	KindAppCount        Kind = "apc" // app_key → counter record {"devices": n}
	KindLastActive      Kind = "act" // registration_id → when the device's last session ended
	KindCollapse        Kind = "clp" // registration_id/collapse_id → id of the newest message with it
)

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

// BroadcastCursor is how far a device got through its app's broadcasts.
type BroadcastCursor struct {
	RegistrationID string `json:"registration_id"`
	// Sent is the newest broadcast written to the device, Acked the
	// newest such that it and every older one are acknowledged (or ended
	// otherwise). Broadcasts above Acked are sent on connecting.
	Sent  uint64 `json:"sent,string"`
	Acked uint64 `json:"acked,string"`
	// Generation is the store generation it was read at; 0 for a device
	// without a cursor.
	Generation uint32 `json:"generation"`
}
