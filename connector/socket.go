package connector

import (
	"errors"
	"fmt"
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
	greeted bool   // record 1 arrived: later records may be longer

	// Shared with the sweeper and the actor. Times are seconds of the
	// connector's coarse clock, which fits 32 bits for 68 years: a socket
	// is 64 bytes rather than 80.
	lastSeen    atomic.Int32  // clock of the last input
	deadline    atomic.Int32  // handshake deadline; 0 once ready
	idle        atomic.Int32  // silence allowed once ready
	unprocessed atomic.Int32  // records sent to the actor, not yet handled
	flags       atomic.Uint32 // the bits below, and floodSweeps
}

// Bits of socket.flags.
const (
	// expired: DeadlinePassed (or a Kick for flooding) was sent by the
	// sweeper, which looks at the socket no more.
	expired uint32 = 1 << iota
	// held: reading is paused until the actor handled every record
	// (flow control); set by the poller, cleared by whoever resumes.
	held
	// resumed: reading resumed since the sweeper's last look; set by
	// whoever resumes, cleared by the sweeper.
	resumed
)

// floodSweeps are the bits of socket.flags counting the sweeps in a row
// that found the socket held without a break; the sweeper owns them.
const (
	floodSweepsShift        = 8
	floodSweepsMask  uint32 = 0xff << floodSweepsShift
)

var _ actors.Socket = (*socket)(nil)

// Write sends b; see actors.Socket for its errors.
func (s *socket) Write(b []byte) (int, error) {
	n, err := s.nc.Write(b)
	if errors.Is(err, netpoll.ErrWriteBufferFull) {
		err = fmt.Errorf("%w: %w", actors.ErrSocketFull, err)
	}
	return n, err
}

func (s *socket) CloseWith(last []byte) error { return s.nc.CloseWith(last) }
func (s *socket) Close() error                { return s.nc.Close() }

// Processed counts one record handled, and resumes reading once the
// actor has handled every record of a held socket. Runs in the actor.
func (s *socket) Processed() {
	if s.unprocessed.Add(-1) == 0 && s.flags.Load()&held != 0 {
		s.resume()
	}
}

// hold stops reading the socket until its actor caught up (flow control).
// Runs on the poller, from onData.
func (s *socket) hold() {
	s.flags.Or(held)
	s.nc.PauseReading()
	// Until reading resumes, the count only goes down, so it reaches zero
	// once. If that happened before this look, its actor may have resumed
	// before the pause (or seen no reason to): resume here. If it happens
	// after, its actor finds held set, and resumes.
	if s.unprocessed.Load() == 0 {
		s.flags.Or(resumed)
		s.flags.And(^held)
		s.nc.ResumeReading()
	}
}

// resume undoes hold; a second resume does nothing.
func (s *socket) resume() {
	if s.flags.And(^held)&held != 0 {
		s.flags.Or(resumed)
		s.nc.ResumeReading()
	}
}

func (s *socket) Ready(idle time.Duration) {
	s.idle.Store(int32((idle + time.Second - 1) / time.Second))
	s.deadline.Store(0)
}
