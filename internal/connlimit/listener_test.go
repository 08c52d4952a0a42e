package connlimit

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// dialFrom connects to addr from the loopback address src (Linux routes
// all of 127.0.0.0/8 to lo).
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedSoon reports whether the server closes c within half a second.
func closedSoon(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

func TestListenerClosesConnectionsOverACapAtOnce(t *testing.T) {
	lim := New(Config{PerAddress: 2})
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := lim.Listener(raw)
	defer ln.Close()
	accepted := make(chan net.Conn, 10)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	a := dialFrom(t, "127.0.0.2", raw.Addr().String())
	dialFrom(t, "127.0.0.2", raw.Addr().String())
	first := <-accepted
	<-accepted
	over := dialFrom(t, "127.0.0.2", raw.Addr().String())
	if !closedSoon(over) {
		t.Fatal("a third connection from the same address was not closed")
	}
	other := dialFrom(t, "127.0.0.3", raw.Addr().String())
	<-accepted
	if closedSoon(other) {
		t.Fatal("another address's connection was closed")
	}
	if s := lim.Stats(); s.Open != 3 || s.Refused != 1 {
		t.Fatalf("stats %+v, want 3 open, 1 refused", s)
	}
	first.Close() // gives its count back
	first.Close() // only once
	again := dialFrom(t, "127.0.0.2", raw.Addr().String())
	select {
	case <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("no room after a connection closed")
	}
	_ = a
	_ = again
	if s := lim.Stats(); s.Open != 3 {
		t.Fatalf("stats %+v, want 3 open", s)
	}
}

// testServer serves HTTP/1.1 on a listener with lim's caps; its handlers
// report to lim what they wait for. /slow reads its body; /work blocks
// until release is closed.
func testServer(t *testing.T, lim *Limiter, release chan struct{}) string {
	t.Helper()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			req := Start(r.Context())
			defer req.Done()
			if r.URL.Path == "/work" {
				<-release
			}
			req.Reading(true)
			_, _ = io.Copy(io.Discard, r.Body)
			req.Reading(false)
			fmt.Fprintln(w, "ok")
		}),
		ConnState:   lim.ConnState,
		ConnContext: lim.ConnContext,
	}
	go srv.Serve(lim.Listener(raw))
	t.Cleanup(func() { srv.Close() })
	return raw.Addr().String()
}

// get sends a request on c and reads the answer's status line.
func get(t *testing.T, c net.Conn, br *bufio.Reader, path string) string {
	t.Helper()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.Status
}

func TestIdleKeepAliveConnectionMakesRoom(t *testing.T) {
	lim := New(Config{Total: 2, MakeRoom: true, StallAge: 50 * time.Millisecond, IdleAge: 50 * time.Millisecond})
	release := make(chan struct{})
	defer close(release)
	addr := testServer(t, lim, release)

	idle := dialFrom(t, "127.0.0.2", addr)
	if s := get(t, idle, bufio.NewReader(idle), "/"); !strings.HasPrefix(s, "200") {
		t.Fatal(s)
	}
	busy := dialFrom(t, "127.0.0.3", addr)
	fmt.Fprint(busy, "GET /work HTTP/1.1\r\nHost: x\r\n\r\n")
	waitFor(t, func() bool { s := lim.Stats(); return s.Open == 2 })
	time.Sleep(100 * time.Millisecond) // idle past StallAge

	fresh := dialFrom(t, "127.0.0.4", addr)
	if s := get(t, fresh, bufio.NewReader(fresh), "/"); !strings.HasPrefix(s, "200") {
		t.Fatal(s)
	}
	if !closedSoon(idle) {
		t.Fatal("the idle keep-alive connection was not closed to make room")
	}
	if closedSoon(busy) {
		t.Fatal("the connection with a request at work was closed")
	}
	if s := lim.Stats(); s.Evicted != 1 || s.Refused != 0 {
		t.Fatalf("stats %+v, want 1 evicted, none refused", s)
	}
}

func TestConnectionWaitingForItsClientMakesRoom(t *testing.T) {
	lim := New(Config{Total: 2, MakeRoom: true, StallAge: 50 * time.Millisecond, IdleAge: 50 * time.Millisecond})
	release := make(chan struct{})
	defer close(release)
	addr := testServer(t, lim, release)

	slow := dialFrom(t, "127.0.0.2", addr)
	fmt.Fprint(slow, "POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n{")
	busy := dialFrom(t, "127.0.0.3", addr)
	fmt.Fprint(busy, "GET /work HTTP/1.1\r\nHost: x\r\n\r\n")
	waitFor(t, func() bool { s := lim.Stats(); return s.Open == 2 })
	time.Sleep(100 * time.Millisecond) // past StallAge

	fresh := dialFrom(t, "127.0.0.4", addr)
	if s := get(t, fresh, bufio.NewReader(fresh), "/"); !strings.HasPrefix(s, "200") {
		t.Fatal(s)
	}
	if !closedSoon(slow) {
		t.Fatal("the connection stalled on its body was not closed to make room")
	}
	if closedSoon(busy) {
		t.Fatal("the connection with a request at work was closed")
	}

	// Now both connections work (fresh is idle only after its answer,
	// and busy waits for release): a third is refused... unless fresh is
	// idle, which it is, past StallAge: it goes instead.
	time.Sleep(100 * time.Millisecond)
	third := dialFrom(t, "127.0.0.5", addr)
	if s := get(t, third, bufio.NewReader(third), "/"); !strings.HasPrefix(s, "200") {
		t.Fatal(s)
	}
	// Two connections at work: nothing may go.
	fmt.Fprint(third, "GET /work HTTP/1.1\r\nHost: x\r\n\r\n")
	waitFor(t, func() bool { return lim.Stats().Evicted == 2 })
	time.Sleep(100 * time.Millisecond)
	refused := dialFrom(t, "127.0.0.6", addr)
	if !closedSoon(refused) {
		t.Fatal("a connection over the cap was served while every other one was at work")
	}
	if s := lim.Stats(); s.Refused != 1 {
		t.Fatalf("stats %+v, want 1 refused", s)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Issue 16: a flood of slow bodies that opens connections faster than the
// cap turns over took every place it freed. A connection waiting for a
// body goes first, at any age; an idle one only once it has been idle
// IdleAge (its client may be about to send its next request).
func TestSlowBodiesGoBeforeIdleConnections(t *testing.T) {
	lim := New(Config{Total: 3, MakeRoom: true, StallAge: 200 * time.Millisecond, IdleAge: 200 * time.Millisecond})
	release := make(chan struct{})
	defer close(release)
	addr := testServer(t, lim, release)

	idle := dialFrom(t, "127.0.0.2", addr)
	if s := get(t, idle, bufio.NewReader(idle), "/"); !strings.HasPrefix(s, "200") {
		t.Fatal(s)
	}
	busy := dialFrom(t, "127.0.0.3", addr)
	fmt.Fprint(busy, "GET /work HTTP/1.1\r\nHost: x\r\n\r\n")
	slow := dialFrom(t, "127.0.0.4", addr)
	fmt.Fprint(slow, "POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n{")
	waitFor(t, func() bool { return lim.Stats().Open == 3 })
	time.Sleep(50 * time.Millisecond) // the server reads slow's headers

	first := dialFrom(t, "127.0.0.5", addr)
	if !closedSoon(slow) {
		t.Fatal("the connection stalled on its body was not the first closed to make room")
	}
	if s := get(t, first, bufio.NewReader(first), "/"); !strings.HasPrefix(s, "200") {
		t.Fatal(s)
	}
	// idle has been idle past IdleAge, first not yet: idle goes.
	time.Sleep(200 * time.Millisecond)
	if s := get(t, first, bufio.NewReader(first), "/"); !strings.HasPrefix(s, "200") {
		t.Fatal(s)
	}
	second := dialFrom(t, "127.0.0.6", addr)
	if !closedSoon(idle) {
		t.Fatal("the connection idle past IdleAge was not closed to make room")
	}
	if closedSoon(first) {
		t.Fatal("a connection idle for an instant was closed")
	}
	fmt.Fprint(second, "GET /work HTTP/1.1\r\nHost: x\r\n\r\n")
}

// A multiplexed (HTTP/2) connection waits for its client only while every
// request in a handler is reading its body; the wait starts when that
// begins, not when the first of its overlapping requests did, and a
// handler busy with anything else is not waiting. (A busy push connection
// whose requests always overlapped was taken for the oldest slow body,
// and closed to make room.)
func TestStallOfAMultiplexedConnectionStartsWhenAllItsRequestsWait(t *testing.T) {
	lim := New(Config{Total: 10})
	at := time.Unix(1000, 0)
	lim.now = func() time.Time { return at }
	c := &conn{l: lim, state: stateActive, since: at}
	ctx := context.WithValue(context.Background(), connKey{}, c)
	check := func(stalled bool, since int64) {
		t.Helper()
		lim.mu.Lock()
		defer lim.mu.Unlock()
		if c.stalled() != stalled || (stalled && c.since.Unix() != since) {
			t.Fatalf("stalled %v since %v; want %v since %d", c.stalled(), c.since.Unix(), stalled, since)
		}
	}
	first := Start(ctx)
	check(false, 0) // in its handler, not reading yet
	first.Reading(true)
	check(true, 1000)
	at = at.Add(time.Second)
	second := Start(ctx) // busy in its handler: the connection does not wait
	check(false, 0)
	second.Reading(true)
	check(true, 1001) // all reading again, from now
	first.Reading(false)
	check(false, 0)
	at = at.Add(time.Second)
	third := Start(ctx)
	third.Reading(true)
	check(false, 0)
	at = at.Add(time.Second)
	first.Done() // the others read: from now
	check(true, 1003)
	second.Done()
	third.Done()
	check(false, 0)
}
