//go:build !linux || netpoll_std

package netpoll

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// On systems other than Linux the loop is the standard library's: a
// goroutine and a read buffer per connection, so that Herald runs on a
// developer's machine. It has the Linux loop's API and callbacks, not its
// memory per connection; production connectors run on Linux.

// writeTimeout bounds a Write the peer does not read: the connection is
// closed as too slow, as the Linux loop does when MaxWriteBuffer fills.
const writeTimeout = 10 * time.Second

// closeDrain is how long a connection closed by this side still reads
// (and drops) its peer's input: closing with unread input resets the
// connection, which can destroy the last output before the peer read it.
// Writes are synchronous here, so there is no output left to linger for.
const closeDrain = 100 * time.Millisecond

// Loop serves the connections accepted on one listener.
type Loop struct {
	cfg Config
	ln  net.Listener

	mu      sync.Mutex
	conns   map[*Conn]struct{}
	stopped bool

	open         atomic.Int64
	stopAccept   chan struct{}
	acceptDone   chan struct{}
	stopOnce     sync.Once
	shutdownOnce sync.Once
}

// Conn is one connection of a Loop. Its methods are safe for concurrent
// use.
type Conn struct {
	nc     net.Conn
	value  any
	wmu    sync.Mutex // serializes writes
	closed atomic.Bool
	final  atomic.Bool           // Close or CloseWith was called
	err    atomic.Pointer[error] // why it was closed by this side

	// rmu guards paused and resumed; serve waits on resumed while paused.
	rmu     sync.Mutex
	paused  bool
	resumed chan struct{} // closed by ResumeReading or close
}

// Start serves ln until Shutdown. The loop owns ln from now on.
func Start(ln net.Listener, cfg Config) (*Loop, error) {
	if cfg.Conns != nil {
		ln = cfg.Conns.Listener(ln) // closing a connection gives its count back
	}
	l := &Loop{
		cfg:        cfg.withDefaults(),
		ln:         ln,
		conns:      make(map[*Conn]struct{}),
		stopAccept: make(chan struct{}),
		acceptDone: make(chan struct{}),
	}
	go l.accept()
	return l, nil
}

// Addr returns the listener's address.
func (l *Loop) Addr() net.Addr { return l.ln.Addr() }

// Len returns the number of open connections.
func (l *Loop) Len() int { return int(l.open.Load()) }

// Each calls f for every open connection, with the loop locked: f must be
// quick and must not block.
func (l *Loop) Each(f func(*Conn)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		f(c)
	}
}

// StopAccepting closes the listener.
func (l *Loop) StopAccepting() {
	l.stopOnce.Do(func() {
		close(l.stopAccept)
		_ = l.ln.Close()
	})
}

// Shutdown stops accepting and closes every connection (OnClose is called
// for each), waiting until ctx is done at most. Later calls return
// ErrClosed.
func (l *Loop) Shutdown(ctx context.Context) error {
	err := ErrClosed
	l.shutdownOnce.Do(func() {
		l.StopAccepting()
		select {
		case <-l.acceptDone:
		case <-ctx.Done():
		}
		l.mu.Lock()
		l.stopped = true
		l.mu.Unlock()
		l.Each(func(c *Conn) { _ = c.Close() })
		for l.Len() > 0 && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		l.Each(func(c *Conn) { c.abort() })
		err = nil
		if ctx.Err() != nil {
			err = fmt.Errorf("netpoll: shutdown: %w", ctx.Err())
		}
	})
	return err
}

func (l *Loop) accept() {
	defer close(l.acceptDone)
	var backoff time.Duration
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			select {
			case <-l.stopAccept:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of descriptors or similar: wait a little, do not spin.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		c := &Conn{nc: nc}
		l.cfg.OnOpen(c)
		l.mu.Lock()
		if l.stopped {
			l.mu.Unlock()
			_ = nc.Close()
			l.cfg.OnClose(c, ErrClosed)
			continue
		}
		l.conns[c] = struct{}{}
		l.open.Add(1)
		l.mu.Unlock()
		go l.serve(c)
	}
}

// serve reads c until it closes, then reports the close. Once this side
// closed it, input is read and dropped for closeDrain.
func (l *Loop) serve(c *Conn) {
	buf := make([]byte, l.cfg.ReadBufferSize)
	var err error
	for {
		c.waitResumed()
		n, rerr := c.nc.Read(buf)
		if n > 0 && !c.closed.Load() {
			l.cfg.OnData(c, buf[:n])
		}
		if rerr != nil {
			err = rerr
			break
		}
	}
	_ = c.nc.Close()
	switch {
	case c.closed.Load():
		err = nil
		if p := c.err.Load(); p != nil {
			err = *p
		}
	case errors.Is(err, io.EOF):
		err = io.EOF
	default:
		err = fmt.Errorf("netpoll: read: %w", err)
	}
	c.closed.Store(true)
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
	l.cfg.OnClose(c, err)
	l.open.Add(-1)
}

// SetValue stores v with the connection. Call it from OnOpen.
func (c *Conn) SetValue(v any) { c.value = v }

// Value returns what SetValue stored.
func (c *Conn) Value() any { return c.value }

// Fd returns -1: this loop does not expose descriptors.
func (c *Conn) Fd() int { return -1 }

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// Write sends b. It fails with ErrClosed after Close, and closes the
// connection, failing with ErrWriteBufferFull, if the peer does not take
// b within writeTimeout; a CloseWith after that sends nothing, as b may
// have been sent in part.
func (c *Conn) Write(b []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.closed.Load() {
		return 0, ErrClosed
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(writeTimeout))
	n, err := c.nc.Write(b)
	if err != nil {
		err = fmt.Errorf("%w: %v", ErrWriteBufferFull, err)
		c.closeWith(err)
		return n, err
	}
	return n, nil
}

// PauseReading stops reading the connection until ResumeReading: no
// OnData starts after it returns, except for data already read when it
// was called (none if it is called from OnData).
func (c *Conn) PauseReading() {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if !c.paused && !c.closed.Load() { // closeWith resumes after it sets closed
		c.paused = true
		c.resumed = make(chan struct{})
	}
}

// ResumeReading undoes PauseReading.
func (c *Conn) ResumeReading() {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.paused {
		c.paused = false
		close(c.resumed)
	}
}

// waitResumed waits while reading is paused and the connection open.
func (c *Conn) waitResumed() {
	c.rmu.Lock()
	paused, resumed := c.paused, c.resumed
	c.rmu.Unlock()
	if paused {
		<-resumed
	}
}

// Close closes the connection; OnClose follows within closeDrain.
// Closing a closed connection does nothing.
func (c *Conn) Close() error {
	c.final.Store(true)
	c.closeWith(nil)
	return nil
}

// CloseWith sends last, then closes as Close does. It fails with
// ErrClosed after Close, CloseWith or a failed Write.
func (c *Conn) CloseWith(last []byte) error {
	if !c.final.CompareAndSwap(false, true) {
		return ErrClosed
	}
	if _, err := c.Write(last); err != nil {
		return err
	}
	c.closeWith(nil)
	return nil
}

// closeWith closes c with reason err: the peer gets end of file after the
// output written, and serve drops its input for closeDrain.
func (c *Conn) closeWith(err error) {
	if !c.closed.CompareAndSwap(false, true) {
		return
	}
	if err != nil {
		c.err.Store(&err)
	}
	c.ResumeReading() // serve must see the close
	// A TCP connection, or one a connlimit listener wraps.
	tc, ok := c.nc.(interface{ CloseWrite() error })
	if !ok || err != nil || tc.CloseWrite() != nil {
		_ = c.nc.Close() // wakes serve, which reports the close
		return
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(closeDrain))
}

// abort closes c at once, without lingering.
func (c *Conn) abort() {
	c.closeWith(nil)
	_ = c.nc.Close()
}
