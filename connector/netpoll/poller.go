//go:build linux && !netpoll_std

package netpoll

import (
	"fmt"
	"io"
	"syscall"
)

// Events a poller watches: input and hang-ups unless reading is paused or
// the connection is closing, room for output only while output is kept
// (Conn.events). Level-triggered.
const (
	readEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP
	// maxReads bounds the reads for one readiness event, so that one busy
	// connection does not starve the others of its poller.
	maxReads = 4
)

// poller is one epoll instance and the goroutine waiting on it. Its
// connections are those whose descriptor is its index modulo the number of
// pollers, so a reused descriptor stays with the same poller.
type poller struct {
	loop   *Loop
	epfd   int
	wakeR  int // read end of the pipe that wakes the poller to stop
	wakeW  int
	buf    []byte // owned by run
	events []syscall.EpollEvent
}

func newPoller(l *Loop) (*poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("netpoll: epoll_create1: %w", err)
	}
	var pipe [2]int
	if err := syscall.Pipe2(pipe[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC); err != nil {
		_ = syscall.Close(epfd)
		return nil, fmt.Errorf("netpoll: pipe2: %w", err)
	}
	p := &poller{
		loop:   l,
		epfd:   epfd,
		wakeR:  pipe[0],
		wakeW:  pipe[1],
		buf:    make([]byte, l.cfg.ReadBufferSize),
		events: make([]syscall.EpollEvent, 256),
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(p.wakeR)}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, p.wakeR, &ev); err != nil {
		p.release()
		return nil, fmt.Errorf("netpoll: epoll_ctl: %w", err)
	}
	return p, nil
}

// release closes the poller's own descriptors.
func (p *poller) release() {
	_ = syscall.Close(p.wakeR)
	_ = syscall.Close(p.wakeW)
	_ = syscall.Close(p.epfd)
}

// add starts watching fd for input.
func (p *poller) add(fd int) error {
	ev := syscall.EpollEvent{Events: readEvents, Fd: int32(fd)}
	if err := syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
		return fmt.Errorf("netpoll: epoll_ctl add: %w", err)
	}
	return nil
}

// watch sets the events the poller waits for on fd (Conn.events).
func (p *poller) watch(fd int, events uint32) error {
	ev := syscall.EpollEvent{Events: events, Fd: int32(fd)}
	return syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_MOD, fd, &ev)
}

// wake makes run look at the loop's stopped flag.
func (p *poller) wake() {
	_, _ = syscall.Write(p.wakeW, []byte{0})
}

// run waits for events and handles them until the loop stops, then
// closes the connections left and releases the poller. Runs in its own
// goroutine.
func (p *poller) run() {
	defer p.loop.pollersDone.Done()
	for {
		n, err := syscall.EpollWait(p.epfd, p.events, -1)
		if err != nil {
			if err == syscall.EINTR {
				continue
			}
			// Not expected with valid arguments; stop rather than spin.
			p.stop()
			return
		}
		for i := range n {
			ev := &p.events[i]
			if ev.Fd == int32(p.wakeR) {
				if p.stopping() {
					p.stop()
					return
				}
				continue
			}
			if c := p.loop.lookup(ev.Fd); c != nil {
				p.handle(c, ev.Events)
			}
		}
	}
}

func (p *poller) stopping() bool {
	p.loop.mu.RLock()
	defer p.loop.mu.RUnlock()
	return p.loop.stopped
}

// stop closes the poller's remaining connections and releases it.
func (p *poller) stop() {
	var left []*Conn
	p.loop.Each(func(c *Conn) {
		if c.p == p {
			left = append(left, c)
		}
	})
	for _, c := range left {
		p.finish(c, ErrClosed)
	}
	p.release()
}

// handle serves one readiness event of c.
func (p *poller) handle(c *Conn, events uint32) {
	c.mu.Lock()
	if c.state&closed != 0 {
		c.mu.Unlock()
		return
	}
	if c.state&shut != 0 {
		c.mu.Unlock()
		p.finish(c, nil)
		return
	}
	if events&syscall.EPOLLOUT != 0 && len(c.out) > 0 {
		if err := c.flush(); err != nil {
			c.mu.Unlock()
			p.finish(c, fmt.Errorf("netpoll: write: %w", err))
			return
		}
	}
	if len(c.out) == 0 && c.state&armed != 0 {
		c.state &^= armed
		if err := p.watch(int(c.fd), c.events()); err != nil {
			c.mu.Unlock()
			p.finish(c, fmt.Errorf("netpoll: epoll_ctl: %w", err))
			return
		}
	}
	hungUp := events&(syscall.EPOLLHUP|syscall.EPOLLERR) != 0
	if c.state&(closing|paused) != 0 {
		// Closing: done once Close (or CloseWith) was called and the
		// output is sent. Paused: not reading. Either way a dead socket
		// ends the connection.
		done := c.state&final != 0 && len(c.out) == 0
		c.mu.Unlock()
		switch {
		case done:
			p.finish(c, nil)
		case hungUp:
			p.finish(c, io.ErrUnexpectedEOF)
		}
		return
	}
	c.mu.Unlock()
	if events&(syscall.EPOLLIN|syscall.EPOLLRDHUP) == 0 && !hungUp {
		return
	}
	// Reading needs no lock: only this goroutine closes the descriptor.
	for range maxReads {
		n, err := syscall.Read(int(c.fd), p.buf)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			if hungUp {
				p.finish(c, io.ErrUnexpectedEOF) // hung up yet nothing to read: do not spin
			}
			return
		case err != nil:
			p.finish(c, fmt.Errorf("netpoll: read: %w", err))
			return
		case n == 0:
			p.finish(c, io.EOF)
			return
		}
		p.loop.cfg.OnData(c, p.buf[:n])
		if n < len(p.buf) || c.stopsReading() {
			return
		}
	}
}

// finish closes c for good and calls OnClose, once. The reason given by
// Close or a failed Write, if any, wins over err. Only the poller calls
// it, so the descriptor cannot be reused while c is still in use.
func (p *poller) finish(c *Conn, err error) {
	c.mu.Lock()
	if c.state&closed != 0 {
		c.mu.Unlock()
		return
	}
	if c.state&closing != 0 {
		err = c.err
	}
	wasLingering := c.state&lingering != 0
	c.state = closed
	c.out, c.err = nil, nil
	fd := int(c.fd)
	_ = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, fd, nil)
	// Unread input makes close reset the connection, which can destroy
	// output not yet sent (an ERROR frame just before Close): drain it.
	for range maxReads {
		if n, rerr := syscall.Read(fd, p.buf); rerr != syscall.EINTR && (rerr != nil || n < len(p.buf)) {
			break
		}
	}
	_ = syscall.Close(fd)
	c.mu.Unlock()
	if wasLingering {
		p.loop.unlinger(c)
	}
	p.loop.unregister(c)
	p.loop.cfg.OnClose(c, err)
	p.loop.open.Add(-1)
}
