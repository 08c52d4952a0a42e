//go:build linux && !netpoll_std

package netpoll

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// recorder collects a loop's callbacks.
type recorder struct {
	opened chan *Conn
	mu     sync.Mutex
	closes map[*Conn][]error
	late   []string // OnData after OnClose
	data   func(c *Conn, b []byte)
}

func newRecorder() *recorder {
	return &recorder{opened: make(chan *Conn, 1024), closes: map[*Conn][]error{}}
}

func (r *recorder) config(cfg Config) Config {
	cfg.OnOpen = func(c *Conn) { r.opened <- c }
	cfg.OnData = func(c *Conn, b []byte) {
		r.mu.Lock()
		if len(r.closes[c]) > 0 {
			r.late = append(r.late, fmt.Sprintf("fd %d: %d bytes", c.Fd(), len(b)))
		}
		r.mu.Unlock()
		if r.data != nil {
			r.data(c, b)
		}
	}
	cfg.OnClose = func(c *Conn, err error) {
		r.mu.Lock()
		r.closes[c] = append(r.closes[c], err)
		r.mu.Unlock()
	}
	return cfg
}

// closeErrs returns the errors OnClose got for c.
func (r *recorder) closeErrs(c *Conn) []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.closes[c]...)
}

func (r *recorder) check(t testing.TB) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for c, errs := range r.closes {
		if len(errs) != 1 {
			t.Errorf("fd %d: OnClose called %d times: %v", c.Fd(), len(errs), errs)
		}
	}
	if len(r.late) > 0 {
		t.Errorf("OnData after OnClose: %v", r.late)
	}
}

// next waits for the next opened connection.
func (r *recorder) next(t testing.TB) *Conn {
	t.Helper()
	select {
	case c := <-r.opened:
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no connection opened")
		return nil
	}
}

// watched waits until l watches c, and returns it: OnOpen runs before, so
// a test that pauses or fills c right after it would race the loop.
func watched(t testing.TB, l *Loop, c *Conn) *Conn {
	t.Helper()
	eventually(t, "the connection watched", func() bool {
		l.mu.Lock() // the loop adds c to its poller under l.mu, once the table holds it
		defer l.mu.Unlock()
		return int(c.fd) < len(l.table) && l.table[c.fd] == c
	})
	return c
}

// eventually polls cond until it holds or a deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func start(t testing.TB, cfg Config) *Loop {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := Start(ln, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = l.Shutdown(ctx)
	})
	return l
}

// dial connects to l; rcvbuf > 0 shrinks the client's receive buffer, so
// that the server's writes fill up quickly.
func dial(t testing.TB, l *Loop, rcvbuf int) net.Conn {
	t.Helper()
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		if rcvbuf > 0 {
			_ = rc.Control(func(fd uintptr) {
				_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvbuf)
			})
		}
		return nil
	}}
	nc, err := d.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
	return nc
}

func echo(c *Conn, b []byte) { _, _ = c.Write(b) }

func TestConnRecordIsSmall(t *testing.T) {
	if size := unsafe.Sizeof(Conn{}); size > 80 {
		t.Fatalf("Conn is %d bytes, want at most 80", size)
	}
}

func TestEchoManyConnections(t *testing.T) {
	r := newRecorder()
	r.data = echo
	l := start(t, r.config(Config{Pollers: 3}))
	const clients, conns, rounds = 4, 16, 20
	var wg sync.WaitGroup
	errs := make(chan error, clients*conns)
	for g := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ncs []net.Conn
			for range conns {
				nc, err := net.Dial("tcp", l.Addr().String())
				if err != nil {
					errs <- err
					return
				}
				defer nc.Close()
				_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
				ncs = append(ncs, nc)
			}
			got := make([]byte, 64)
			for i := range rounds {
				for j, nc := range ncs {
					msg := fmt.Appendf(nil, "client %d conn %d round %d", g, j, i)
					if _, err := nc.Write(msg); err != nil {
						errs <- err
						return
					}
					if _, err := io.ReadFull(nc, got[:len(msg)]); err != nil {
						errs <- err
						return
					}
					if !bytes.Equal(got[:len(msg)], msg) {
						errs <- fmt.Errorf("echo %q, want %q", got[:len(msg)], msg)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	eventually(t, "every connection closed", func() bool { return l.Len() == 0 })
	r.check(t)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.closes) != clients*conns {
		t.Errorf("%d connections closed, want %d", len(r.closes), clients*conns)
	}
	for c, errs := range r.closes {
		if !errors.Is(errs[0], io.EOF) {
			t.Errorf("fd %d closed with %v, want io.EOF", c.Fd(), errs[0])
		}
	}
}

// pattern is a long byte sequence that shows reordering or loss.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

func TestLargeWritesArriveWholeAndInOrder(t *testing.T) {
	r := newRecorder()
	l := start(t, r.config(Config{Pollers: 1, MaxWriteBuffer: 16 << 20}))
	nc := dial(t, l, 4096)
	c := watched(t, l, r.next(t))

	want := pattern(8 << 20)
	buffered := false
	for off := 0; off < len(want); off += 100 << 10 {
		chunk := want[off:min(off+100<<10, len(want))]
		if n, err := c.Write(chunk); err != nil || n != len(chunk) {
			t.Fatalf("Write at %d: %d, %v", off, n, err)
		}
		c.mu.Lock()
		buffered = buffered || len(c.out) > 0
		c.mu.Unlock()
	}
	if !buffered {
		t.Fatal("no write was buffered; the test did not exercise EAGAIN")
	}
	got := make([]byte, len(want))
	if _, err := io.ReadFull(nc, got); err != nil {
		t.Fatal(err)
	}
	if i := firstDifference(got, want); i >= 0 {
		t.Fatalf("byte %d differs", i)
	}
	eventually(t, "output flushed and EPOLLOUT disarmed", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.out == nil && c.state&armed == 0
	})
}

func firstDifference(a, b []byte) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

// A peer that does not read fast enough overflows the write buffer: the
// output accepted, the Write that overflowed included, and a last message
// (CloseWith, past the bound) still reach the peer, whole and in order,
// then the connection closes with ErrWriteBufferFull.
func TestWriteBufferOverflowCloses(t *testing.T) {
	r := newRecorder()
	l := start(t, r.config(Config{Pollers: 1, MaxWriteBuffer: 64 << 10}))
	nc := dial(t, l, 4096)
	c := watched(t, l, r.next(t))

	chunk := make([]byte, 16<<10)
	var (
		want []byte
		err  error
	)
	for i := 0; i < 10000 && err == nil; i++ {
		chunk[0] = byte(i)
		var n int
		if n, err = c.Write(chunk); n == len(chunk) {
			want = append(want, chunk...) // the Write that overflows is sent too
		}
	}
	if !errors.Is(err, ErrWriteBufferFull) {
		t.Fatalf("Write error %v, want ErrWriteBufferFull", err)
	}
	if _, err := c.Write(chunk); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after overflow: %v, want net.ErrClosed", err)
	}
	last := bytes.Repeat([]byte("bye"), 1000)
	if err := c.CloseWith(last); err != nil {
		t.Fatalf("CloseWith after overflow: %v", err)
	}
	want = append(want, last...)
	if err := c.CloseWith(last); !errors.Is(err, ErrClosed) {
		t.Fatalf("a second CloseWith: %v, want ErrClosed", err)
	}
	got, err := io.ReadAll(nc)
	if err != nil {
		t.Fatalf("client read: %v", err)
	}
	if len(got) != len(want) || firstDifference(got, want) >= 0 {
		t.Fatalf("the peer read %d bytes, want the %d accepted", len(got), len(want))
	}
	eventually(t, "OnClose", func() bool { return len(r.closeErrs(c)) > 0 })
	if errs := r.closeErrs(c); !errors.Is(errs[0], ErrWriteBufferFull) {
		t.Fatalf("OnClose got %v, want ErrWriteBufferFull", errs[0])
	}
	r.check(t)
}

// A peer that reads nothing holds a closing connection for the linger at
// most.
func TestLingerEnds(t *testing.T) {
	r := newRecorder()
	l := start(t, r.config(Config{Pollers: 1, MaxWriteBuffer: 64 << 10, Linger: 50 * time.Millisecond}))
	dial(t, l, 4096)
	overflowed := watched(t, l, r.next(t))
	chunk := make([]byte, 16<<10)
	for err := error(nil); err == nil; {
		_, err = overflowed.Write(chunk)
	}
	// Nobody calls Close after the overflow: the linger ends it anyway.
	eventually(t, "OnClose after the overflow", func() bool { return len(r.closeErrs(overflowed)) > 0 })
	if errs := r.closeErrs(overflowed); !errors.Is(errs[0], ErrWriteBufferFull) {
		t.Fatalf("OnClose got %v, want ErrWriteBufferFull", errs[0])
	}

	dial(t, l, 4096)
	c := watched(t, l, r.next(t))
	for err := error(nil); err == nil; {
		_, err = c.Write(chunk)
	}
	_ = c.Close()
	eventually(t, "OnClose after Close", func() bool { return len(r.closeErrs(c)) > 0 })
	eventually(t, "lingering connections forgotten", func() bool {
		l.lingerMu.Lock()
		defer l.lingerMu.Unlock()
		return len(l.lingering) == 0
	})
	r.check(t)
}

// Pausing and resuming reads changes the events epoll waits for, and a
// reset of a paused connection still ends it.
func TestPausedConnectionIsNotPolledForInput(t *testing.T) {
	r := newRecorder()
	l := start(t, r.config(Config{Pollers: 1}))
	nc := dial(t, l, 0)
	c := watched(t, l, r.next(t))
	c.PauseReading()
	c.PauseReading()
	c.mu.Lock()
	if ev := c.events(); ev != 0 {
		t.Errorf("paused: events %#x, want none", ev)
	}
	c.mu.Unlock()
	c.ResumeReading()
	c.ResumeReading()
	c.mu.Lock()
	if ev := c.events(); ev != readEvents {
		t.Errorf("resumed: events %#x, want %#x", ev, readEvents)
	}
	c.mu.Unlock()

	c.PauseReading()
	_, _ = nc.Write([]byte("unread"))
	_ = nc.(*net.TCPConn).SetLinger(0)
	nc.Close() // a reset
	eventually(t, "OnClose of a paused connection", func() bool { return len(r.closeErrs(c)) > 0 })
	r.check(t)
}

func TestCloseWhileDataFlows(t *testing.T) {
	var seen atomic.Int64
	r := newRecorder()
	r.data = func(c *Conn, b []byte) { seen.Add(int64(len(b))) }
	l := start(t, r.config(Config{Pollers: 2}))
	nc := dial(t, l, 0)
	c := r.next(t)

	stop := make(chan struct{})
	sent := make(chan struct{})
	go func() {
		defer close(sent)
		buf := make([]byte, 4096)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := nc.Write(buf); err != nil {
				return
			}
		}
	}()
	eventually(t, "data flowing", func() bool { return seen.Load() > 1<<20 })
	var wg sync.WaitGroup
	for range 4 { // concurrent Closes: one OnClose
		wg.Add(1)
		go func() { defer wg.Done(); _ = c.Close() }()
	}
	wg.Wait()
	eventually(t, "OnClose", func() bool { return len(r.closeErrs(c)) > 0 })
	close(stop)
	<-sent
	if errs := r.closeErrs(c); errs[0] != nil {
		t.Errorf("OnClose after Close got %v, want nil", errs[0])
	}
	eventually(t, "closed connection forgotten", func() bool { return l.Len() == 0 })
	r.check(t)
}

func TestPeerCloseIsReported(t *testing.T) {
	tests := []struct {
		name  string
		close func(nc net.Conn)
		want  func(error) bool
	}{
		{"fin", func(nc net.Conn) { nc.Close() }, func(err error) bool { return errors.Is(err, io.EOF) }},
		{"fin after data", func(nc net.Conn) { _, _ = nc.Write([]byte("bye")); nc.Close() },
			func(err error) bool { return errors.Is(err, io.EOF) }},
		{"reset", func(nc net.Conn) {
			_ = nc.(*net.TCPConn).SetLinger(0)
			nc.Close()
		}, func(err error) bool { return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRecorder()
			l := start(t, r.config(Config{Pollers: 1}))
			nc := dial(t, l, 0)
			c := r.next(t)
			tt.close(nc)
			eventually(t, "OnClose", func() bool { return len(r.closeErrs(c)) > 0 })
			if err := r.closeErrs(c)[0]; !tt.want(err) {
				t.Errorf("OnClose got %v", err)
			}
			if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
				t.Errorf("Write after close: %v, want net.ErrClosed", err)
			}
			if a := c.RemoteAddr(); a != nil {
				t.Errorf("RemoteAddr after close: %v, want nil", a)
			}
			eventually(t, "closed connection forgotten", func() bool { return l.Len() == 0 })
			r.check(t)
		})
	}
}

func TestWriteAfterCloseFails(t *testing.T) {
	r := newRecorder()
	l := start(t, r.config(Config{}))
	nc := dial(t, l, 0)
	c := r.next(t)
	if got, want := c.RemoteAddr().String(), nc.LocalAddr().String(); got != want {
		t.Errorf("RemoteAddr %s, want %s", got, want)
	}
	_ = c.Close()
	if n, err := c.Write([]byte("late")); n != 0 || !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close: %d, %v; want 0, net.ErrClosed", n, err)
	}
	eventually(t, "OnClose", func() bool { return len(r.closeErrs(c)) > 0 })
	_ = c.Close() // again: nothing
	r.check(t)
}

// An ERROR frame written just before Close reaches the peer, even when
// the peer sent input the server never read.
func TestOutputBeforeCloseReachesPeer(t *testing.T) {
	r := newRecorder()
	r.data = func(c *Conn, b []byte) {
		_, _ = c.Write([]byte("error: go away"))
		_ = c.Close()
	}
	l := start(t, r.config(Config{Pollers: 1}))
	nc := dial(t, l, 0)
	r.next(t)
	if _, err := nc.Write(bytes.Repeat([]byte("garbage"), 10000)); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(nc)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatal(err)
	}
	if string(got) != "error: go away" {
		t.Fatalf("peer got %q (%v)", got, err)
	}
}

func TestShutdownClosesEverythingAndLeaksNothing(t *testing.T) {
	before := runtime.NumGoroutine()
	r := newRecorder()
	r.data = echo
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l, err := Start(ln, r.config(Config{Pollers: 3}))
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	var ncs []net.Conn
	var conns []*Conn
	for range n {
		ncs = append(ncs, dial(t, l, 0))
		conns = append(conns, r.next(t))
	}
	// A connection is registered (counted, and seen by Each) just after its
	// OnOpen returns.
	eventually(t, fmt.Sprintf("Len %d", n), func() bool { return l.Len() == n })
	counted := 0
	l.Each(func(*Conn) { counted++ })
	if counted != n {
		t.Fatalf("Each saw %d connections, want %d", counted, n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if l.Len() != 0 {
		t.Errorf("Len %d after Shutdown", l.Len())
	}
	for _, c := range conns {
		if errs := r.closeErrs(c); len(errs) != 1 {
			t.Errorf("fd %d: OnClose called %d times", c.Fd(), len(errs))
		}
	}
	for _, nc := range ncs {
		if _, err := nc.Read(make([]byte, 1)); err == nil {
			t.Error("client connection still open after Shutdown")
		}
	}
	if _, err := net.Dial("tcp", l.Addr().String()); err == nil {
		t.Error("still accepting after Shutdown")
	}
	if err := l.Shutdown(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("second Shutdown: %v, want ErrClosed", err)
	}
	r.check(t)
	eventually(t, "goroutines gone", func() bool { return runtime.NumGoroutine() <= before })
}

func TestWriteWithRoomDoesNotAllocate(t *testing.T) {
	r := newRecorder()
	l := start(t, r.config(Config{Pollers: 1}))
	nc := dial(t, l, 0)
	c := r.next(t)
	go func() { _, _ = io.Copy(io.Discard, nc) }()
	msg := make([]byte, 128)
	if allocs := testing.AllocsPerRun(1000, func() {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
	}); allocs != 0 {
		t.Fatalf("Write allocates %v times", allocs)
	}
}

// BenchmarkWriteEcho sends a frame-sized message through the loop and back:
// a client write, OnData, Conn.Write, a client read.
func BenchmarkWriteEcho(b *testing.B) {
	for _, size := range []int{64, 1024} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			r := newRecorder()
			r.data = echo
			l := start(b, r.config(Config{Pollers: 1}))
			nc := dial(b, l, 0)
			_ = nc.SetDeadline(time.Time{})
			r.next(b)
			msg, got := make([]byte, size), make([]byte, size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := nc.Write(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(nc, got); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A closed connection's descriptor goes to the next connection accepted;
// writes to the old Conn must not reach the new socket.
func TestReusedDescriptorIsNotWrittenByOldConn(t *testing.T) {
	r := newRecorder()
	l := start(t, r.config(Config{Pollers: 2}))
	dial(t, l, 0)
	old := r.next(t)
	// The new client's socket exists before the old descriptor is freed,
	// so that the server's next accept gets the old number.
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	_ = syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &syscall.Timeval{Sec: 10})
	_ = old.Close()
	eventually(t, "OnClose", func() bool { return len(r.closeErrs(old)) > 0 })
	port := l.Addr().(*net.TCPAddr).Port
	if err := syscall.Connect(fd, &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	c := r.next(t)
	if c.Fd() != old.Fd() {
		t.Logf("descriptor %d not reused (new %d); checking anyway", old.Fd(), c.Fd())
	}
	if _, err := old.Write([]byte("stale")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write on the old Conn: %v, want net.ErrClosed", err)
	}
	if _, err := c.Write([]byte("fresh")); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 16)
	n, err := syscall.Read(fd, got)
	if err != nil || string(got[:n]) != "fresh" {
		t.Fatalf("new peer read %q, %v; want \"fresh\"", got[:max(n, 0)], err)
	}
	// Len counts a connection from after its OnOpen until after its
	// OnClose, so right after the two callbacks it may still read 0 or 2.
	eventually(t, "Len 1", func() bool { return l.Len() == 1 })
	r.check(t)
}
