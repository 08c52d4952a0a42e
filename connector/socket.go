package connector

import (
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/heraldpush/herald/actors"
	"github.com/heraldpush/herald/connector/netpoll"
)

// socket is the connector's state for one connection: the event loop's
// connection's value. The event loop holds every open one, in a table
// indexed by file descriptor, which the sweeper walks.
type socket struct {
	// Set by onOpen, before the event loop calls anything else for the
	// connection or shows it to the sweeper.
	nc  *netpoll.Conn
	pid *actor.PID // its connection actor

	// Owned by the poller goroutine running OnData for this connection.
	partial []byte // bytes of an incomplete record
	broken  bool   // a violation was reported; further input is ignored

	// Shared with the sweeper and the actor. Times are seconds of the
	// connector's coarse clock, which fits 32 bits for 68 years: a socket
	// is 64 bytes rather than 80.
	lastSeen    atomic.Int32 // clock of the last input
	deadline    atomic.Int32 // handshake deadline; 0 once ready
	idle        atomic.Int32 // silence allowed once ready
	unprocessed atomic.Int32 // records sent to the actor, not yet handled
	expired     atomic.Bool  // DeadlinePassed was sent
}

var _ actors.Socket = (*socket)(nil)

func (s *socket) Write(b []byte) (int, error) { return s.nc.Write(b) }
func (s *socket) Close() error                { return s.nc.Close() }
func (s *socket) Processed()                  { s.unprocessed.Add(-1) }

func (s *socket) Ready(idle time.Duration) {
	s.idle.Store(int32((idle + time.Second - 1) / time.Second))
	s.deadline.Store(0)
}
