package connlimit

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"time"
)

// Listener returns ln with l's caps: Accept returns only the connections
// l admits, after trying to make room for one over a cap if
// Config.MakeRoom says so (see the package doc); the others are closed at
// once. Closing a returned connection gives its count back.
//
// To make room, an HTTP server also sets its ConnState to l.ConnState and
// its ConnContext to l.ConnContext, and its handlers report with Start
// what their requests wait for: that is how l knows which connections may
// be closed.
func (l *Limiter) Listener(ln net.Listener) net.Listener { return &listener{Listener: ln, l: l} }

type listener struct {
	net.Listener
	l *Limiter
}

func (ln *listener) Accept() (net.Conn, error) {
	for {
		nc, err := ln.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if c := ln.l.admitConn(nc); c != nil {
			return c, nil
		}
		_ = nc.Close()
	}
}

// States of a connection accepted through Listener, as its HTTP server
// reports them.
const (
	stateNew    uint8 = iota // no request yet: the client is to send one
	stateActive              // a request is under way
	stateIdle                // kept alive between requests
	stateGone                // hijacked or closed: not the limiter's any more
)

// conn is a connection accepted through Listener.
type conn struct {
	net.Conn
	l *Limiter

	// Guarded by l.mu.
	e        *entry // its count; nil once given back
	state    uint8
	handling int32     // requests in a handler
	waiting  int32     // of those, requests still reading their body
	since    time.Time // when it became new, idle, or began to wait for a body
	// Links in the limiter's list and in its address's.
	prev, next   *conn
	aprev, anext *conn
}

// admitConn admits nc, making room if a cap is reached and a connection
// may be closed for it; nil if nc must be refused.
func (l *Limiter) admitConn(nc net.Conn) *conn {
	addr := AddrOf(nc.RemoteAddr())
	var (
		victims []*conn
		line    func()
		c       *conn
	)
	l.mu.Lock()
	for {
		e, full := l.admitLocked(addr)
		if e != nil {
			c = &conn{Conn: nc, l: l, e: e, since: l.now()}
			l.linkLocked(c)
			break
		}
		// At most two rounds: one for each cap.
		var v *conn
		if l.cfg.MakeRoom && len(victims) < 2 {
			v = l.victimLocked(addr, full)
		}
		if v == nil {
			line = l.refuseLocked(addr, full)
			break
		}
		l.dropLocked(v)
		l.evicted++
		l.unevict++
		victims = append(victims, v)
	}
	if line == nil && len(victims) > 0 {
		line = l.lineLocked(totalCap)
	}
	l.mu.Unlock()
	for _, v := range victims {
		_ = v.Conn.Close()
	}
	if line != nil {
		line()
	}
	return c
}

// victimLocked returns the connection to close to make room under the
// cap full, among the connections it covers: the one that has waited the
// longest for the bodies of its requests; else the one that has waited
// the longest, and at least StallAge, for a first request; else the
// keep-alive one idle the longest, and at least IdleAge. Bodies go
// first, at any age: that is where a slow-body flood waits, while a
// client that just connected sends its request at once and would lose
// its place to a flood that opens connections faster than the cap turns
// over; a keep-alive connection idle for an instant is a busy client's,
// whose next request may be on its way. l.mu must be held.
func (l *Limiter) victimLocked(addr netip.Addr, full scope) *conn {
	now := l.now()
	var body, idle, fresh *conn
	oldest := func(v **conn, c *conn) {
		if *v == nil || c.since.Before((*v).since) {
			*v = c
		}
	}
	consider := func(c *conn) {
		age := now.Sub(c.since)
		switch {
		case c.state == stateIdle:
			if age >= l.cfg.IdleAge {
				oldest(&idle, c)
			}
		case !c.stalled():
		case c.state != stateNew:
			oldest(&body, c)
		case age >= l.cfg.StallAge:
			oldest(&fresh, c)
		}
	}
	if full == addressCap {
		key, _ := ClientKey(addr)
		if e := l.addrs[key]; e != nil {
			for c := e.first; c != nil; c = c.anext {
				consider(c)
			}
		}
	} else {
		for c := l.first; c != nil; c = c.next {
			consider(c)
		}
	}
	switch {
	case body != nil:
		return body
	case fresh != nil:
		return fresh
	}
	return idle
}

// stalled reports whether everything under way on c waits for its
// client: a first request, or the bodies of the requests in handlers.
// l.mu must be held.
func (c *conn) stalled() bool {
	switch c.state {
	case stateNew:
		return true
	case stateActive:
		return c.waitsForBodies()
	}
	return false
}

// linkLocked adds c to the lists. l.mu must be held.
func (l *Limiter) linkLocked(c *conn) {
	c.prev = l.last
	if l.last != nil {
		l.last.next = c
	} else {
		l.first = c
	}
	l.last = c
	e := c.e
	c.aprev = e.last
	if e.last != nil {
		e.last.anext = c
	} else {
		e.first = c
	}
	e.last = c
}

// dropLocked takes c out of the lists and gives its count back, once.
// l.mu must be held.
func (l *Limiter) dropLocked(c *conn) {
	e := c.e
	if e == nil {
		return
	}
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		l.first = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	} else {
		l.last = c.prev
	}
	if c.aprev != nil {
		c.aprev.anext = c.anext
	} else {
		e.first = c.anext
	}
	if c.anext != nil {
		c.anext.aprev = c.aprev
	} else {
		e.last = c.aprev
	}
	c.prev, c.next, c.aprev, c.anext, c.e = nil, nil, nil, nil, nil
	c.state = stateGone
	l.releaseLocked(e)
}

// Close closes the connection and gives its count back.
func (c *conn) Close() error {
	c.l.mu.Lock()
	c.l.dropLocked(c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

// CloseWrite shuts down the writing side, as the HTTP server does before
// closing a connection it answered with an error.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// ConnState is an http.Server ConnState hook: it tells l which of its
// connections are idle between requests.
func (l *Limiter) ConnState(nc net.Conn, s http.ConnState) {
	c, ok := nc.(*conn)
	if !ok || c.l != l {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.e == nil {
		return
	}
	switch s {
	case http.StateActive:
		c.state = stateActive
	case http.StateIdle:
		c.state, c.since = stateIdle, l.now()
	case http.StateHijacked, http.StateClosed:
		c.state = stateGone
	}
}

type connKey struct{}

// ConnContext is an http.Server ConnContext hook: it lets the requests of
// a connection report to l, with Start, what they wait for.
func (l *Limiter) ConnContext(ctx context.Context, nc net.Conn) context.Context {
	if c, ok := nc.(*conn); ok && c.l == l {
		return context.WithValue(ctx, connKey{}, c)
	}
	return ctx
}

// Request is a request under way on a connection of a Limiter.
type Request struct {
	c             *conn
	waiting, done bool // guarded by c.l.mu
}

// Start reports that the request of ctx (a request context of a server
// with ConnContext set) is in its handler. The handler calls Reading
// around each read of the body that may block, and Done when it returns.
// On a context of no such server it returns a Request that does nothing.
func Start(ctx context.Context) *Request {
	c, _ := ctx.Value(connKey{}).(*conn)
	r := &Request{c: c}
	if c == nil {
		return r
	}
	l := c.l
	l.mu.Lock()
	was := c.waitsForBodies()
	c.handling++
	c.markStallLocked(was)
	l.mu.Unlock()
	return r
}

// Reading reports that the request begins (true) or ends (false) a read
// of its body: while it reads, it waits for its client. A handler busy
// with anything else, before or after, is not waiting: on a connection
// whose requests all read their bodies, the wait is the client's.
func (r *Request) Reading(reading bool) {
	if r.c == nil {
		return
	}
	l := r.c.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if r.done || r.waiting == reading {
		return
	}
	was := r.c.waitsForBodies()
	r.waiting = reading
	if reading {
		r.c.waiting++
	} else {
		r.c.waiting--
	}
	r.c.markStallLocked(was)
}

// waitsForBodies reports whether every request in a handler on c waits
// for its body. c.l.mu must be held.
func (c *conn) waitsForBodies() bool { return c.handling > 0 && c.waiting == c.handling }

// markStallLocked starts c's wait for its client if it has just begun
// (was is waitsForBodies before the change): on a multiplexed connection
// requests overlap, and the wait is the time during which all of them
// wait, not the time since one of them began to. c.l.mu must be held.
func (c *conn) markStallLocked(was bool) {
	if !was && c.waitsForBodies() {
		c.since = c.l.now()
	}
}

// Done reports that the request's handler has returned.
func (r *Request) Done() {
	if r.c == nil {
		return
	}
	l := r.c.l
	l.mu.Lock()
	was := r.c.waitsForBodies()
	if r.waiting {
		r.waiting = false
		r.c.waiting--
	}
	if !r.done {
		r.done = true
		r.c.handling--
	}
	r.c.markStallLocked(was)
	l.mu.Unlock()
}
