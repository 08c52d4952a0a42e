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
	state uint8   // the bits below; guarded by mu
	p     *poller // the poller watching fd
	out   []byte  // unsent output; guarded by mu
	value any     // set by OnOpen
	err   error   // why the connection is closing; guarded by mu
}

// Bits of Conn.state.
const (
	closing   uint8 = 1 << iota // no more Writes: Close was called, the output overflowed or the socket failed
	shut                        // the socket is shut down; the poller will finish
	closed                      // the descriptor is closed; nothing may touch it
	armed                       // EPOLLOUT is armed: out is waiting for room
	paused                      // reading is paused (PauseReading)
	final                       // CloseWith queued its last output
	lingering                   // in the loop's linger list: closing once out is sent
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
// and does not block. It fails with ErrClosed after Close.
//
// Once the unsent output exceeds Config.MaxWriteBuffer, the peer is too
// slow: the Write that crossed the bound is still accepted whole, so the
// output stays a sequence of whole Writes, but it returns len(b) and
// ErrWriteBufferFull; later Writes fail with ErrClosed, and the
// connection closes as by Close once its output is sent or after
// Config.Linger, leaving room for one CloseWith to add a last message.
// The output kept so is at most MaxWriteBuffer, one Write and that last
// message.
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
			c.abort(fmt.Errorf("netpoll: write: %w", err))
			return 0, c.err
		}
		if rest = b[n:]; len(rest) == 0 {
			return len(b), nil
		}
	}
	c.out = append(c.out, rest...)
	if err := c.arm(); err != nil {
		return 0, err
	}
	if len(c.out) > c.p.loop.cfg.MaxWriteBuffer {
		return len(b), c.overflow(len(c.out))
	}
	return len(b), nil
}

// overflow ends a connection whose unsent output grew to n bytes, past the
// bound: it stops taking Writes and lingers, sending what it kept, until
// Close or CloseWith (or the linger's end). c.mu must be held.
func (c *Conn) overflow(n int) error {
	err := fmt.Errorf("%w: %d bytes unsent", ErrWriteBufferFull, n)
	c.state |= closing
	c.err = err
	if werr := c.p.watch(int(c.fd), c.events()); werr != nil { // input is no longer read
		c.abort(fmt.Errorf("netpoll: %w", werr))
		return err
	}
	c.linger()
	return err
}

// arm makes the poller wait for room for the kept output. c.mu must be
// held.
func (c *Conn) arm() error {
	if c.state&armed != 0 {
		return nil
	}
	c.state |= armed
	if err := c.p.watch(int(c.fd), c.events()); err != nil {
		c.abort(fmt.Errorf("netpoll: %w", err))
		return c.err
	}
	return nil
}

// events are the epoll events c waits for: input unless reading is paused
// or the connection is closing, room for output while output is kept.
// c.mu must be held.
func (c *Conn) events() uint32 {
	var ev uint32
	if c.state&(closing|paused) == 0 {
		ev = readEvents
	}
	if c.state&armed != 0 {
		ev |= syscall.EPOLLOUT
	}
	return ev
}

// PauseReading stops reading the connection until ResumeReading: no
// OnData starts after it returns, except for data already read when it
// was called (none if it is called from OnData). The peer's data waits in
// the socket, and once the socket's buffers are full the peer's writes
// wait too: TCP's flow control slows the peer down. A peer's close is
// noticed only after ResumeReading, but a reset ends the connection at
// once. Pausing a paused or closed connection does nothing; it costs one
// epoll_ctl and no memory. Like Write, it is for after OnOpen returned.
func (c *Conn) PauseReading() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state&(paused|closing|closed) != 0 {
		return
	}
	c.state |= paused
	if err := c.p.watch(int(c.fd), c.events()); err != nil {
		c.abort(fmt.Errorf("netpoll: %w", err))
	}
}

// ResumeReading undoes PauseReading: data that waits is read at once.
// Resuming a connection that is not paused does nothing.
func (c *Conn) ResumeReading() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state&paused == 0 {
		return
	}
	c.state &^= paused
	if c.state&(closing|closed) != 0 {
		return // it reads nothing any more
	}
	if err := c.p.watch(int(c.fd), c.events()); err != nil {
		c.abort(fmt.Errorf("netpoll: %w", err))
	}
}

// Close closes the connection; OnClose follows on its poller. Output kept
// is sent first, for at most Config.Linger; then the connection closes
// whether or not the peer took it. Closing a closed connection does
// nothing.
func (c *Conn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state&(final|shut|closed) == 0 {
		c.state |= closing | final
		c.closeWhenSent()
	}
	return nil
}

// CloseWith sends last after the output kept, then closes as Close does.
// It is how a server says goodbye (an error message) even to a peer that
// does not read fast enough: last is accepted past Config.MaxWriteBuffer,
// and after a Write that failed with ErrWriteBufferFull. Keep it small.
// It fails with ErrClosed after Close or CloseWith.
func (c *Conn) CloseWith(last []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state&(final|shut|closed) != 0 {
		return ErrClosed
	}
	c.state |= closing | final
	if len(c.out) == 0 {
		n, err := write(int(c.fd), last)
		if err != nil {
			c.abort(fmt.Errorf("netpoll: write: %w", err))
			return c.err
		}
		last = last[n:]
	}
	if len(last) > 0 {
		c.out = append(c.out, last...)
		if err := c.arm(); err != nil {
			return err
		}
	}
	c.closeWhenSent()
	return nil
}

// closeWhenSent shuts the socket down if no output is kept, and otherwise
// leaves the poller to send it and finish, within the linger. c.mu must be
// held, with closing and final set.
func (c *Conn) closeWhenSent() {
	if len(c.out) > 0 {
		_ = c.flush() // a failure shows again when the poller flushes
	}
	if len(c.out) == 0 {
		c.shutdown()
		return
	}
	// Input is no longer read (events), so the kept output gets the
	// poller's attention only when there is room for it.
	if err := c.p.watch(int(c.fd), c.events()); err != nil {
		c.abort(fmt.Errorf("netpoll: %w", err))
		return
	}
	c.linger()
}

// linger puts c in its loop's linger list, once. c.mu must be held.
func (c *Conn) linger() {
	if c.state&lingering == 0 {
		c.state |= lingering
		c.p.loop.linger(c)
	}
}

// abort closes c now with reason err (unless it has one): output kept is
// dropped and the socket shut down, which wakes its poller to finish the
// close. c.mu must be held.
func (c *Conn) abort(err error) {
	if c.state&(shut|closed) != 0 {
		return
	}
	c.state |= closing
	if c.err == nil {
		c.err = err
	}
	c.out = nil
	c.shutdown()
}

// shutdown shuts the socket down, which wakes its poller to finish the
// close. c.mu must be held.
func (c *Conn) shutdown() {
	c.state |= shut
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

// stopsReading reports whether the poller should read no more of c now:
// it is paused, closing or closed.
func (c *Conn) stopsReading() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state&(paused|closing|closed) != 0
}
