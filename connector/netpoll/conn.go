//go:build linux && !netpoll_std

package netpoll

import (
	"fmt"
	"net"
	"sync"
	"syscall"
)

// Conn is one connection of a Loop. Its methods are safe for concurrent
// use.
type Conn struct {
	mu    sync.Mutex
	fd    int32
	state uint8   // closing, closed, armed; guarded by mu
	p     *poller // the poller watching fd
	out   []byte  // unsent output; guarded by mu
	value any     // set by OnOpen
	err   error   // why the connection is closing; guarded by mu
}

// Bits of Conn.state.
const (
	closing uint8 = 1 << iota // Close was called or the socket failed; the poller will finish
	closed                    // the descriptor is closed; nothing may touch it
	armed                     // EPOLLOUT is armed: out is waiting for room
)

// SetValue stores v with the connection. Call it from OnOpen: later
// callbacks see v without further synchronization.
func (c *Conn) SetValue(v any) { c.value = v }

// Value returns what SetValue stored.
func (c *Conn) Value() any { return c.value }

// Fd returns the connection's file descriptor number, for identification
// only: the descriptor is the loop's.
func (c *Conn) Fd() int { return int(c.fd) }

// RemoteAddr returns the peer's address, asked of the kernel (it is not
// kept), or nil once the connection is closed.
func (c *Conn) RemoteAddr() net.Addr {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state&closed != 0 {
		return nil
	}
	sa, err := syscall.Getpeername(int(c.fd))
	if err != nil {
		return nil
	}
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		return &net.TCPAddr{IP: sa.Addr[:], Port: sa.Port}
	case *syscall.SockaddrInet6:
		return &net.TCPAddr{IP: sa.Addr[:], Port: sa.Port}
	case *syscall.SockaddrUnix:
		return &net.UnixAddr{Name: sa.Name, Net: "unix"}
	}
	return nil
}

// Write sends b, or keeps what the socket cannot take now and sends it as
// soon as it can, in order. It returns len(b), nil once b is accepted so,
// and does not block. It fails with ErrClosed after Close, and with
// ErrWriteBufferFull, closing the connection, if the unsent output would
// exceed Config.MaxWriteBuffer.
func (c *Conn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state&(closing|closed) != 0 {
		return 0, ErrClosed
	}
	if len(b) == 0 {
		return 0, nil
	}
	rest := b
	if len(c.out) == 0 {
		n, err := write(int(c.fd), b)
		if err != nil {
			c.shutdown(fmt.Errorf("netpoll: write: %w", err))
			return 0, c.err
		}
		if rest = b[n:]; len(rest) == 0 {
			return len(b), nil
		}
	}
	if len(c.out)+len(rest) > c.p.loop.cfg.MaxWriteBuffer {
		c.shutdown(fmt.Errorf("%w: %d bytes unsent", ErrWriteBufferFull, len(c.out)+len(rest)))
		return 0, c.err
	}
	c.out = append(c.out, rest...)
	if c.state&armed == 0 {
		if err := c.p.watch(int(c.fd), true); err != nil {
			c.shutdown(fmt.Errorf("netpoll: %w", err))
			return 0, c.err
		}
		c.state |= armed
	}
	return len(b), nil
}

// Close closes the connection; OnClose follows on its poller. It first
// tries, without blocking, to send the output still kept. Closing a
// closed connection does nothing.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state&(closing|closed) == 0 {
		if len(c.out) > 0 {
			_ = c.flush()
		}
		c.shutdown(nil)
	}
	return nil
}

// shutdown marks c closing with reason err and shuts the socket down,
// which wakes its poller to finish the close. c.mu must be held.
func (c *Conn) shutdown(err error) {
	if c.state&(closing|closed) != 0 {
		return
	}
	c.state |= closing
	c.err = err
	c.out = nil
	// If the socket is already dead, shutdown fails, but then epoll
	// reports it as hung up anyway.
	_ = syscall.Shutdown(int(c.fd), syscall.SHUT_RDWR)
}

// flush writes as much kept output as the socket takes. c.mu must be held.
func (c *Conn) flush() error {
	n, err := write(int(c.fd), c.out)
	if err != nil {
		return err
	}
	if n == len(c.out) {
		c.out = nil // an idle connection keeps no buffer
		return nil
	}
	c.out = c.out[:copy(c.out, c.out[n:])]
	return nil
}

// write writes b to fd once, as much as the socket takes: 0 if it is full.
func write(fd int, b []byte) (int, error) {
	for {
		n, err := syscall.Write(fd, b)
		switch err {
		case nil:
			return n, nil
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return 0, nil
		default:
			return 0, err
		}
	}
}

// isClosing reports whether Close was called or the connection is closed.
func (c *Conn) isClosing() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state&(closing|closed) != 0
}
