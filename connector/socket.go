package connector

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/heraldpush/herald/actors"
	"github.com/lesismal/nbio"
)

// socket is the connector's state for one connection.
type socket struct {
	nc  *nbio.Conn
	pid *actor.PID // its connection actor; set before published

	// published is set by onOpen once the fields above are. nbio calls
	// OnOpen on the accepting goroutine and OnData on a poller; the atomic
	// makes the hand-over a happens-before edge of the Go memory model.
	published atomic.Bool

	// Owned by the poller goroutine running OnData for this connection.
	partial []byte // bytes of an incomplete record
	broken  bool   // a violation was reported; further input is ignored

	// Shared with the sweeper and the actor.
	lastSeen    atomic.Int64 // coarse clock (seconds) of the last input
	deadline    atomic.Int64 // handshake deadline (seconds); 0 once ready
	idle        atomic.Int64 // silence allowed once ready (seconds)
	unprocessed atomic.Int32 // records sent to the actor, not yet handled
	expired     atomic.Bool  // DeadlinePassed was sent
}

var _ actors.Socket = (*socket)(nil)

func (s *socket) Write(b []byte) (int, error) { return s.nc.Write(b) }
func (s *socket) Close() error                { return s.nc.Close() }
func (s *socket) Processed()                  { s.unprocessed.Add(-1) }

func (s *socket) Ready(idle time.Duration) {
	s.idle.Store(int64((idle + time.Second - 1) / time.Second))
	s.deadline.Store(0)
}

// socketTable holds every open socket in a slot indexed by its file
// descriptor, as nbio does: 8 bytes per descriptor rather than a map entry
// per socket, and a sweep is a walk over one slice. A descriptor can be
// reused by a new connection before the old one's close is processed, so
// removal checks the slot still holds the socket being removed.
type socketTable struct {
	mu    sync.Mutex
	slots []*socket
	n     int
}

func (t *socketTable) add(sc *socket) {
	fd := sc.nc.Hash()
	t.mu.Lock()
	if fd >= len(t.slots) {
		t.slots = append(t.slots, make([]*socket, fd+1-len(t.slots)+len(t.slots)/2)...)
	}
	if t.slots[fd] == nil {
		t.n++
	}
	t.slots[fd] = sc
	t.mu.Unlock()
}

func (t *socketTable) remove(sc *socket) {
	fd := sc.nc.Hash()
	t.mu.Lock()
	if fd < len(t.slots) && t.slots[fd] == sc {
		t.slots[fd] = nil
		t.n--
	}
	t.mu.Unlock()
}

func (t *socketTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}

// each calls f for every socket with the table locked; f must not block.
func (t *socketTable) each(f func(*socket)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, sc := range t.slots {
		if sc != nil {
			f(sc)
		}
	}
}
