package actors

import (
	"runtime"
	"sync"

	"github.com/asynkron/protoactor-go/actor"
)

// mailbox is the mailbox of connection and device actors, of which a
// connector holds one each per connection. protoactor's own mailboxes keep
// two lock-free queues with a resident node each, about 190 bytes per actor
// even when empty; this one is a mutex-guarded slice that is released when
// it drains, about 110 bytes. Message rates per actor are low (a handful per
// second per device), so the mutex is uncontended.
//
// It is unbounded: what feeds these actors is bounded upstream (records per
// connection by Config.MaxUnprocessed, messages per device by the device
// actor's queue and window), so a full mailbox can only follow a full
// producer, which already applies its policy.
type mailbox struct {
	mu        sync.Mutex
	user      []any // user[head:] wait; nil when empty
	head      int
	system    []any
	suspended bool
	scheduled bool // a run is scheduled or running

	invoker    actor.MessageInvoker
	dispatcher actor.Dispatcher
	run        func() // m.process, made once, so scheduling does not allocate
}

var _ actor.Mailbox = (*mailbox)(nil)

func newMailbox() actor.Mailbox { return &mailbox{} }

func (m *mailbox) RegisterHandlers(invoker actor.MessageInvoker, dispatcher actor.Dispatcher) {
	m.invoker, m.dispatcher = invoker, dispatcher
	m.run = m.process
}

func (m *mailbox) Start() {}

func (m *mailbox) UserMessageCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.user) - m.head
}

func (m *mailbox) PostUserMessage(msg any) {
	m.mu.Lock()
	m.user = append(m.user, msg)
	m.scheduleLocked()
}

func (m *mailbox) PostSystemMessage(msg any) {
	m.mu.Lock()
	m.system = append(m.system, msg)
	m.scheduleLocked()
}

// scheduleLocked starts a run unless one is under way, and unlocks.
func (m *mailbox) scheduleLocked() {
	start := !m.scheduled
	m.scheduled = true
	m.mu.Unlock()
	if start {
		m.dispatcher.Schedule(m.run)
	}
}

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
	throughput := m.dispatcher.Throughput()
	for i := 1; ; i++ {
		if i > throughput {
			i = 1
			runtime.Gosched() // let other actors on this thread run
		}
		m.mu.Lock()
		if len(m.system) > 0 {
			msg = m.system[0]
			m.system[0] = nil
			if m.system = m.system[1:]; len(m.system) == 0 {
				m.system = nil
			}
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
		if m.suspended || m.head == len(m.user) {
			if m.head == len(m.user) {
				m.user, m.head = nil, 0 // an idle actor holds no queue
			}
			m.scheduled = false
			m.mu.Unlock()
			return false
		}
		msg = m.user[m.head]
		m.user[m.head] = nil
		m.head++
		m.mu.Unlock()
		m.invoker.InvokeUserMessage(msg)
	}
}
