//go:build linux && !netpoll_std

package netpoll

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/heraldpush/herald/internal/connlimit"
)

// Loop serves the connections accepted on one listener.
type Loop struct {
	cfg     Config
	ln      net.Listener
	accepts *os.File        // a duplicate of ln's descriptor, to accept from
	rc      syscall.RawConn // of accepts
	pollers []*poller

	// mu guards the tables and stopped. The table holds every registered
	// connection in the slot of its file descriptor: 8 bytes per
	// descriptor and no map entry per connection. tickets holds, in the
	// same slot, the connection's count in cfg.Conns (8 more bytes per
	// descriptor, kept out of Conn so that it stays small).
	mu      sync.RWMutex
	table   []*Conn
	tickets []connlimit.Ticket
	stopped bool // no more registrations; the pollers are stopping

	open atomic.Int64 // registered connections whose OnClose has not returned

	// lingerMu guards lingering: the connections closing once their
	// output is sent, with the time (UnixNano) at which they close
	// anyway. reap walks it; it is empty unless peers read slowly.
	lingerMu  sync.Mutex
	lingering map[*Conn]int64
	reapDone  chan struct{} // closed by shutdown: reap returns

	stopAccept   chan struct{} // closed by Shutdown
	acceptDone   chan struct{}
	pollersDone  sync.WaitGroup
	shutdownOnce sync.Once
}

// Start serves ln, which must be a TCP (or Unix) listener from the
// standard library, until Shutdown. The loop owns ln from now on.
func Start(ln net.Listener, cfg Config) (*Loop, error) {
	accepts, err := duplicate(ln)
	if err != nil {
		return nil, err
	}
	rc, err := accepts.SyscallConn()
	if err != nil {
		_ = accepts.Close()
		return nil, fmt.Errorf("netpoll: listener: %w", err)
	}
	cfg = cfg.withDefaults()
	l := &Loop{
		cfg:        cfg,
		ln:         ln,
		accepts:    accepts,
		rc:         rc,
		table:      make([]*Conn, initialTableSize()),
		tickets:    make([]connlimit.Ticket, initialTableSize()),
		stopAccept: make(chan struct{}),
		acceptDone: make(chan struct{}),
		lingering:  make(map[*Conn]int64),
		reapDone:   make(chan struct{}),
	}
	for i := 0; i < cfg.Pollers; i++ {
		p, err := newPoller(l)
		if err != nil {
			for _, p := range l.pollers {
				p.release()
			}
			_ = accepts.Close()
			return nil, err
		}
		l.pollers = append(l.pollers, p)
	}
	l.pollersDone.Add(len(l.pollers))
	for _, p := range l.pollers {
		go p.run()
	}
	go l.accept()
	go l.reap()
	return l, nil
}

// duplicate returns a duplicate of ln's descriptor as a file the runtime
// polls. A standard listener's raw connection cannot wait for readability
// (its Read fails with EINVAL); a file's can. The duplicate shares the
// socket, which keeps listening until both are closed.
func duplicate(ln net.Listener) (*os.File, error) {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("netpoll: listener %T has no file descriptor", ln)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("netpoll: listener: %w", err)
	}
	var (
		dup   uintptr
		errno syscall.Errno
	)
	if err := rc.Control(func(fd uintptr) {
		dup, _, errno = syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return nil, fmt.Errorf("netpoll: listener: %w", err)
	}
	if errno != 0 {
		return nil, fmt.Errorf("netpoll: duplicate listener: %w", errno)
	}
	// The descriptor is non-blocking, as the standard library left it, so
	// the file is registered with the runtime's poller.
	return os.NewFile(dup, "netpoll-listener"), nil
}

// initialTableSize sizes the descriptor table for the process's limit on
// open files, up to 64Ki descriptors (512 KiB of table); it grows beyond
// if needed.
func initialTableSize() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err == nil && rl.Cur > 0 {
		return int(min(rl.Cur, 1<<16))
	}
	return 1024
}

// Addr returns the listener's address.
func (l *Loop) Addr() net.Addr { return l.ln.Addr() }

// Len returns the number of open connections: those opened (OnOpen
// returned) whose OnClose has not returned yet.
func (l *Loop) Len() int { return int(l.open.Load()) }

// Each calls f for every connection registered with the loop, with the
// loop's table read-locked: f must be quick and must not block, open or
// finish closing a connection (Conn.Close is fine).
func (l *Loop) Each(f func(*Conn)) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	for _, c := range l.table {
		if c != nil {
			f(c)
		}
	}
}

// StopAccepting closes the listener: no more connections are accepted.
// Shutdown does it too.
func (l *Loop) StopAccepting() {
	select {
	case <-l.stopAccept:
	default:
		close(l.stopAccept)
		_ = l.accepts.Close() // wakes the accepting goroutine
		_ = l.ln.Close()
	}
}

// Shutdown stops accepting, closes every connection (OnClose is called for
// each), stops the pollers and releases their resources. It returns once
// everything stopped, or ctx's error if ctx is done first; the pollers
// then finish on their own. Only the first call does anything; later ones
// return ErrClosed.
func (l *Loop) Shutdown(ctx context.Context) error {
	err := ErrClosed
	l.shutdownOnce.Do(func() { err = l.shutdown(ctx) })
	return err
}

func (l *Loop) shutdown(ctx context.Context) error {
	l.StopAccepting()
	// The accepting goroutine ends as soon as the listener is closed,
	// unless an OnOpen is stuck; a later registration then sees stopped.
	select {
	case <-l.acceptDone:
	case <-ctx.Done():
	}
	l.Each(func(c *Conn) { _ = c.Close() })
	for l.Len() > 0 && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond)
	}
	// The pollers close whatever is left, lingering or not, and release
	// their descriptors.
	l.mu.Lock()
	l.stopped = true
	l.mu.Unlock()
	for _, p := range l.pollers {
		p.wake()
	}
	close(l.reapDone)
	done := make(chan struct{})
	go func() { l.pollersDone.Wait(); close(done) }()
	if ctx.Err() != nil {
		// Out of time already; the pollers still finish in a moment.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("netpoll: shutdown: %w", ctx.Err())
	}
}

// linger adds c to the connections closing once their output is sent.
func (l *Loop) linger(c *Conn) {
	deadline := time.Now().Add(l.cfg.Linger).UnixNano()
	l.lingerMu.Lock()
	l.lingering[c] = deadline
	l.lingerMu.Unlock()
}

// unlinger removes a closed connection from the linger list.
func (l *Loop) unlinger(c *Conn) {
	l.lingerMu.Lock()
	delete(l.lingering, c)
	l.lingerMu.Unlock()
}

// reap closes the lingering connections whose linger ran out, dropping
// the output their peers did not take, until Shutdown. Runs in its own
// goroutine: one per loop, not a timer per connection.
func (l *Loop) reap() {
	tick := time.NewTicker(min(max(l.cfg.Linger/4, 10*time.Millisecond), time.Second))
	defer tick.Stop()
	var late []*Conn
	for {
		select {
		case <-l.reapDone:
			return
		case now := <-tick.C:
			late = late[:0]
			l.lingerMu.Lock()
			for c, deadline := range l.lingering {
				if now.UnixNano() >= deadline {
					late = append(late, c)
				}
			}
			l.lingerMu.Unlock()
			for _, c := range late {
				c.mu.Lock()
				c.abort(nil) // keeps the reason it closes for
				c.mu.Unlock()
			}
			clear(late)
		}
	}
}

// accept takes new connections off the listener until it is closed.
// Runs in its own goroutine.
func (l *Loop) accept() {
	defer close(l.acceptDone)
	var (
		nfd     int
		aerr    error
		backoff time.Duration
		peer    syscall.RawSockaddrAny // the address of the latest connection
	)
	// One closure for the whole loop: accepting does not allocate.
	try := func(fd uintptr) bool {
		nfd, aerr = accept4(int(fd), &peer)
		return aerr != syscall.EAGAIN // false: wait until readable
	}
	for {
		if err := l.rc.Read(try); err != nil {
			return // closed by StopAccepting
		}
		switch aerr {
		case nil:
			backoff = 0
			var t connlimit.Ticket
			if l.cfg.Conns != nil {
				var ok bool
				if t, ok = l.cfg.Conns.Admit(peerAddr(&peer)); !ok {
					_ = syscall.Close(nfd) // over a cap: closed before anything is read
					continue
				}
			}
			l.open1(nfd, t)
		case syscall.EINTR, syscall.ECONNABORTED, syscall.EPROTO:
			// The connection went away before it was accepted: next.
		default:
			// EMFILE, ENFILE, ENOBUFS, ENOMEM or worse: the listener stays
			// readable, so retrying at once would spin. Wait a little.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			t := time.NewTimer(backoff)
			select {
			case <-t.C:
			case <-l.stopAccept:
				t.Stop()
				return
			}
		}
	}
}

// accept4 accepts a connection as a non-blocking, close-on-exec
// descriptor, and writes its peer's address to peer.
func accept4(fd int, peer *syscall.RawSockaddrAny) (int, error) {
	for {
		size := uint32(syscall.SizeofSockaddrAny)
		r, _, e := syscall.Syscall6(syscall.SYS_ACCEPT4, uintptr(fd), uintptr(unsafe.Pointer(peer)), uintptr(unsafe.Pointer(&size)),
			syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0, 0)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return -1, e
		}
		return int(r), nil
	}
}

// peerAddr returns the IP address of an accepted connection's peer, or the
// invalid Addr for a Unix socket.
func peerAddr(sa *syscall.RawSockaddrAny) netip.Addr {
	switch sa.Addr.Family {
	case syscall.AF_INET:
		return netip.AddrFrom4((*syscall.RawSockaddrInet4)(unsafe.Pointer(sa)).Addr)
	case syscall.AF_INET6:
		return netip.AddrFrom16((*syscall.RawSockaddrInet6)(unsafe.Pointer(sa)).Addr)
	}
	return netip.Addr{}
}

// open1 sets up an accepted descriptor, admitted with t: OnOpen, then
// registration in the tables and with its poller.
func (l *Loop) open1(fd int, t connlimit.Ticket) {
	// Writes of small frames must not wait for acknowledgements, as the
	// standard library arranges for its TCP connections. Not a TCP socket
	// (a Unix listener): nothing to set.
	_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	c := &Conn{fd: int32(fd), p: l.pollers[fd%len(l.pollers)]}
	l.cfg.OnOpen(c)
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		_ = syscall.Close(fd)
		l.release(t)
		l.cfg.OnClose(c, ErrClosed)
		return
	}
	if fd >= len(l.table) {
		grown := make([]*Conn, max(fd+1, 2*len(l.table)))
		copy(grown, l.table)
		l.table = grown
		tickets := make([]connlimit.Ticket, len(grown))
		copy(tickets, l.tickets)
		l.tickets = tickets
	}
	// A connection still in the slot closed its descriptor (which the
	// kernel gave to this one) and is about to unregister: it is gone.
	l.release(l.tickets[fd])
	l.table[fd], l.tickets[fd] = c, t
	l.open.Add(1)
	// Registered under the table's lock: the pollers cannot have stopped.
	err := c.p.add(fd)
	if err != nil {
		l.table[fd], l.tickets[fd] = nil, connlimit.Ticket{}
		l.release(t)
	}
	l.mu.Unlock()
	if err != nil {
		c.mu.Lock()
		c.state |= closed
		c.mu.Unlock()
		_ = syscall.Close(fd)
		l.cfg.OnClose(c, err)
		l.open.Add(-1)
	}
}

// lookup returns the connection registered for fd, or nil.
func (l *Loop) lookup(fd int32) *Conn {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if int(fd) < len(l.table) {
		return l.table[fd]
	}
	return nil
}

// unregister removes c from the tables, if it is still there, and gives
// its count back.
func (l *Loop) unregister(c *Conn) {
	l.mu.Lock()
	if int(c.fd) < len(l.table) && l.table[c.fd] == c {
		l.release(l.tickets[c.fd])
		l.table[c.fd], l.tickets[c.fd] = nil, connlimit.Ticket{}
	}
	l.mu.Unlock()
}

// release gives back a connection's count in cfg.Conns.
func (l *Loop) release(t connlimit.Ticket) {
	if l.cfg.Conns != nil {
		l.cfg.Conns.Release(t)
	}
}
