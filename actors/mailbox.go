package actors

import (
	"runtime"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/heraldpush/herald/internal/workpool"
)

// mailbox is the mailbox of connection and device actors, of which a
// connector holds one each per connection. protoactor's own mailboxes keep
// two lock-free queues with a resident node each, about 190 bytes per actor
// even when empty; this one is a mutex and, only while messages wait, a
// queue taken from a pool: 64 bytes for an idle actor. Message rates per
// actor are low (a handful per second per device), so the mutex is
// uncontended.
//
// It is unbounded: what feeds these actors is bounded upstream (records per
// connection by Config.MaxUnprocessed, messages per device by the device
// actor's queue and window), so a full mailbox can only follow a full
// producer, which already applies its policy.
type mailbox struct {
	mu        sync.Mutex
	q         *mailQueue // nil when no message waits
	suspended bool
	scheduled bool // a run is scheduled or running

	invoker   actor.MessageInvoker
	scheduler actor.Dispatcher // protoactor's name for what starts runs
}

// mailQueue holds the messages waiting in a mailbox: user[head:] and
// system.
type mailQueue struct {
	user   []any
	head   int
	system []any
}

// maxPooledQueue is the largest backing array a queue keeps when it goes
// back to the pool; a burst that grew one larger does not pin the memory.
const maxPooledQueue = 64

var mailQueues = sync.Pool{New: func() any { return new(mailQueue) }}

// release returns an empty queue to the pool.
func (q *mailQueue) release() {
	if cap(q.user) > maxPooledQueue {
		q.user = nil
	}
	if cap(q.system) > maxPooledQueue {
		q.system = nil
	}
	q.user, q.head, q.system = q.user[:0], 0, q.system[:0]
	mailQueues.Put(q)
}

var _ actor.Mailbox = (*mailbox)(nil)

func newMailbox() actor.Mailbox { return &mailbox{} }

func (m *mailbox) RegisterHandlers(invoker actor.MessageInvoker, scheduler actor.Dispatcher) {
	m.invoker, m.scheduler = invoker, scheduler
}

func (m *mailbox) Start() {}

func (m *mailbox) UserMessageCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.q == nil {
		return 0
	}
	return len(m.q.user) - m.q.head
}

// queue returns the mailbox's queue, taking one from the pool if it has
// none. m.mu must be held.
func (m *mailbox) queue() *mailQueue {
	if m.q == nil {
		m.q = mailQueues.Get().(*mailQueue)
	}
	return m.q
}

func (m *mailbox) PostUserMessage(msg any) {
	m.mu.Lock()
	q := m.queue()
	q.user = append(q.user, msg)
	m.scheduleLocked()
}

func (m *mailbox) PostSystemMessage(msg any) {
	m.mu.Lock()
	q := m.queue()
	q.system = append(q.system, msg)
	m.scheduleLocked()
}

// scheduleLocked starts a run unless one is under way, and unlocks.
func (m *mailbox) scheduleLocked() {
	start := !m.scheduled
	m.scheduled = true
	m.mu.Unlock()
	if !start {
		return
	}
	if s, ok := m.scheduler.(poolScheduler); ok {
		s.pool.Go(m) // no closure: the mailbox is the task
	} else {
		m.scheduler.Schedule(m.process)
	}
}

// Run is a run of the mailbox on a pool's worker.
func (m *mailbox) Run() { m.process() }

// process handles messages until none is left: system messages first, user
// messages unless suspended. A panic in the actor is escalated to its
// supervisor, and processing goes on (the supervisor's directive arrives as
// a system message).
func (m *mailbox) process() {
	for m.drain() {
	}
}

// drain reports whether it stopped because the actor panicked.
func (m *mailbox) drain() (panicked bool) {
	var msg any
	defer func() {
		if r := recover(); r != nil {
			m.invoker.EscalateFailure(r, msg)
			panicked = true
		}
	}()
	throughput := m.scheduler.Throughput()
	for i := 1; ; i++ {
		if i > throughput {
			i = 1
			runtime.Gosched() // let other actors on this thread run
		}
		m.mu.Lock()
		q := m.q
		if q != nil && len(q.system) > 0 {
			msg = q.system[0]
			q.system[0] = nil
			// Shift rather than reslice, so the pooled array is reused.
			n := copy(q.system, q.system[1:])
			q.system[n] = nil
			q.system = q.system[:n]
			switch msg.(type) {
			case *actor.SuspendMailbox:
				m.suspended = true
				m.mu.Unlock()
			case *actor.ResumeMailbox:
				m.suspended = false
				m.mu.Unlock()
			default:
				m.mu.Unlock()
				m.invoker.InvokeSystemMessage(msg)
			}
			continue
		}
		if q == nil || q.head == len(q.user) {
			if q != nil {
				m.q = nil // an idle actor holds no queue
				q.release()
			}
			m.scheduled = false
			m.mu.Unlock()
			return false
		}
		if m.suspended {
			m.scheduled = false
			m.mu.Unlock()
			return false
		}
		msg = q.user[q.head]
		q.user[q.head] = nil
		q.head++
		m.mu.Unlock()
		m.invoker.InvokeUserMessage(msg)
	}
}

// NewMailboxPool returns a pool for the mailboxes of many actors (the
// connection, device and directory actors of a connector):
// 2×GOMAXPROCS workers and a queue of 65,536 runs, beyond which a run gets
// a goroutine of its own.
func NewMailboxPool() *workpool.Pool { return workpool.New(2*runtime.GOMAXPROCS(0), 1<<16) }

// NewMailboxPoolForOne returns a pool for the mailbox of one actor (a
// router, a writer): one worker, and a queue of a few runs, since a
// mailbox has at most one run queued (65,536 slots would keep a MiB).
func NewMailboxPoolForOne() *workpool.Pool { return workpool.New(1, 4) }

// onPool runs the mailboxes of the actors spawned with it on pool (see
// package workpool for why) instead of a new goroutine per run, as
// protoactor does; with a nil pool, it leaves protoactor's way.
func onPool(pool *workpool.Pool) actor.PropsOption {
	if pool == nil {
		return func(*actor.Props) {}
	}
	return actor.WithDispatcher(poolScheduler{pool})
}

// poolScheduler starts mailbox runs on a pool: protoactor's
// actor.Dispatcher. Runs go to the pool's workers, or when its queue is
// full (or it is closed) to goroutines of their own (workpool.Pool.Go), so
// an actor posting to another never waits and late messages still arrive.
// A mailbox of this package hands over itself; others, a closure.
type poolScheduler struct{ pool *workpool.Pool }

var _ actor.Dispatcher = poolScheduler{}

// Schedule hands run to the pool.
func (s poolScheduler) Schedule(run func()) { s.pool.Go(workpool.Func(run)) }

// Throughput is how many messages a run handles before yielding, as
// protoactor's default.
func (poolScheduler) Throughput() int { return 300 }
