package netpoll

import (
	"errors"
	"fmt"
	"net"
	"runtime"
	"time"

	"github.com/heraldpush/herald/internal/connlimit"
)

// Errors of the loop, wrapped in what Write returns and what OnClose gets.
var (
	// ErrClosed reports use of a closed connection or loop. It wraps
	// net.ErrClosed, so errors.Is(err, net.ErrClosed) holds too.
	ErrClosed = fmt.Errorf("netpoll: %w", net.ErrClosed)
	// ErrWriteBufferFull says a connection's unsent output would have
	// exceeded Config.MaxWriteBuffer: its peer does not read fast
	// enough. The connection closes.
	ErrWriteBufferFull = errors.New("netpoll: write buffer full")
)

// Config configures a Loop. Zero fields take their defaults.
type Config struct {
	// Pollers is the number of epoll instances, each with one goroutine.
	// Zero means GOMAXPROCS.
	Pollers int
	// ReadBufferSize is the size of each poller's read buffer, the most
	// one OnData call receives. Zero means 32 KiB.
	ReadBufferSize int
	// MaxWriteBuffer is how much unsent output a connection may hold;
	// a Write that would exceed it fails with ErrWriteBufferFull and the
	// connection closes (Conn.Write). Zero means 256 KiB.
	MaxWriteBuffer int
	// Linger bounds how long a closing connection keeps sending the
	// output it kept (see Conn.Close); then it closes whatever the peer
	// did not take. Zero means 5s. (The standard library's loop writes
	// synchronously: it has nothing to linger for.)
	Linger time.Duration
	// Conns caps the connections of the loop, in total and per client
	// address: one over a cap is closed as soon as it is accepted, before
	// OnOpen, and counted in Conns' figures. Nil means no caps.
	Conns *connlimit.Limiter
	// OnOpen is called for each accepted connection, on the accepting
	// goroutine; the loop watches the connection once it returns, so it
	// should not Write yet. Nil means nothing.
	OnOpen func(c *Conn)
	// OnData is called with what a connection received. data is valid
	// only during the call. Nil discards input.
	OnData func(c *Conn, data []byte)
	// OnClose is called once when a connection is closed, with the reason:
	// nil after Close, io.EOF when the peer closed, ErrWriteBufferFull, or
	// the socket's error. Nil means nothing.
	OnClose func(c *Conn, err error)
}

func (c Config) withDefaults() Config {
	if c.Pollers <= 0 {
		c.Pollers = runtime.GOMAXPROCS(0)
	}
	if c.ReadBufferSize <= 0 {
		c.ReadBufferSize = 32 << 10
	}
	if c.MaxWriteBuffer <= 0 {
		c.MaxWriteBuffer = 256 << 10
	}
	if c.Linger <= 0 {
		c.Linger = 5 * time.Second
	}
	if c.OnOpen == nil {
		c.OnOpen = func(*Conn) {}
	}
	if c.OnData == nil {
		c.OnData = func(*Conn, []byte) {}
	}
	if c.OnClose == nil {
		c.OnClose = func(*Conn, error) {}
	}
	return c
}
