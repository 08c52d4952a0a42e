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

// socketSet holds every open socket, for the sweeper and for draining. It is
// sharded so that opens and closes on different pollers rarely contend.
type socketSet struct {
	shards [64]struct {
		mu sync.Mutex
		m  map[*socket]struct{}
	}
	n atomic.Int64
}

func newSocketSet() *socketSet {
	s := &socketSet{}
	for i := range s.shards {
		s.shards[i].m = make(map[*socket]struct{})
	}
	return s
}

func (s *socketSet) shard(sc *socket) int { return sc.nc.Hash() % len(s.shards) }

func (s *socketSet) add(sc *socket) {
	sh := &s.shards[s.shard(sc)]
	sh.mu.Lock()
	sh.m[sc] = struct{}{}
	sh.mu.Unlock()
	s.n.Add(1)
}

func (s *socketSet) remove(sc *socket) {
	sh := &s.shards[s.shard(sc)]
	sh.mu.Lock()
	_, ok := sh.m[sc]
	delete(sh.m, sc)
	sh.mu.Unlock()
	if ok {
		s.n.Add(-1)
	}
}

func (s *socketSet) len() int { return int(s.n.Load()) }

// each calls f for every socket, one shard locked at a time; f must not
// block.
func (s *socketSet) each(f func(*socket)) {
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		for sc := range sh.m {
			f(sc)
		}
		sh.mu.Unlock()
	}
}
