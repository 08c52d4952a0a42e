package netpoll

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/connlimit"
)

// These tests use only the package's API, so they run against both
// loops: the epoll one on Linux, the standard library's elsewhere (and on
// Linux with -tags netpoll_std).

func startEcho(t *testing.T) (*Loop, chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closes := make(chan error, 64)
	l, err := Start(ln, Config{
		OnData:  func(c *Conn, b []byte) { _, _ = c.Write(bytes.ToUpper(b)) },
		OnClose: func(_ *Conn, err error) { closes <- err },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = l.Shutdown(ctx)
	})
	return l, closes
}

func TestAPIEchoAndPeerClose(t *testing.T) {
	l, closes := startEcho(t)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			nc, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				t.Error(err)
				return
			}
			defer nc.Close()
			_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
			for _, msg := range []string{"hello", "world"} {
				if _, err := nc.Write([]byte(msg)); err != nil {
					t.Error(err)
					return
				}
				got := make([]byte, len(msg))
				if _, err := io.ReadFull(nc, got); err != nil || string(got) != string(bytes.ToUpper([]byte(msg))) {
					t.Errorf("echo of %q: %q, %v", msg, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
	for range 8 {
		select {
		case err := <-closes:
			if !errors.Is(err, io.EOF) {
				t.Errorf("a peer's close was reported as %v, want io.EOF", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a peer's close was never reported")
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for l.Len() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still counted open", l.Len())
		}
		time.Sleep(time.Millisecond)
	}
}

func TestAPICloseAndShutdown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opened := make(chan *Conn, 4)
	closes := make(chan error, 4)
	l, err := Start(ln, Config{
		OnOpen:  func(c *Conn) { opened <- c },
		OnClose: func(_ *Conn, err error) { closes <- err },
	})
	if err != nil {
		t.Fatal(err)
	}
	var peers []net.Conn
	for range 2 {
		nc, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		peers = append(peers, nc)
	}
	first, second := <-opened, <-opened

	// Closed by this side: OnClose gets nil, Write fails, the peer reads
	// what was written before the close, then EOF.
	if _, err := first.Write([]byte("bye")); err != nil {
		t.Fatal(err)
	}
	_ = first.Close()
	_ = first.Close()
	if err := <-closes; err != nil {
		t.Errorf("Close was reported as %v, want nil", err)
	}
	if _, err := first.Write([]byte("x")); !errors.Is(err, ErrClosed) || !errors.Is(err, net.ErrClosed) {
		t.Errorf("Write after Close: %v, want ErrClosed", err)
	}
	for _, nc := range peers {
		_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	}
	var got []byte
	buf := make([]byte, 16)
	for {
		n, err := peers[0].Read(buf)
		got = append(got, buf[:n]...)
		if err != nil {
			break
		}
	}
	if string(got) != "bye" {
		t.Errorf("the peer read %q before the close, want %q", got, "bye")
	}

	// Shutdown closes what is left and stops accepting.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := l.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closes:
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not close the second connection")
	}
	if l.Len() != 0 {
		t.Errorf("%d connections open after Shutdown", l.Len())
	}
	if _, err := second.Write([]byte("x")); !errors.Is(err, ErrClosed) {
		t.Errorf("Write after Shutdown: %v, want ErrClosed", err)
	}
	if err := l.Shutdown(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("a second Shutdown returned %v, want ErrClosed", err)
	}
	if nc, err := net.DialTimeout("tcp", l.Addr().String(), time.Second); err == nil {
		nc.Close()
		t.Error("the listener still accepts after Shutdown")
	}
}

// A paused connection is not read: its peer's writes back up until they
// block (TCP's flow control), and after ResumeReading every byte arrives,
// in order. CloseWith's last message reaches the peer before the close.
func TestAPIPauseReading(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu       sync.Mutex
		received []byte
		paused   atomic.Bool
	)
	opened := make(chan *Conn, 1)
	l, err := Start(ln, Config{
		OnOpen: func(c *Conn) { opened <- c },
		OnData: func(c *Conn, b []byte) {
			mu.Lock()
			received = append(received, b...)
			mu.Unlock()
			if paused.CompareAndSwap(false, true) {
				c.PauseReading() // after the first data
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = l.Shutdown(ctx)
	})
	nc, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c := <-opened
	if _, err := nc.Write([]byte("first")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first data", func() bool { return paused.Load() })

	// The server reads nothing more: the client's writes fill the
	// sockets' buffers and then block.
	want := []byte("first")
	chunk := make([]byte, 64<<10)
	_ = nc.SetWriteDeadline(time.Now().Add(300 * time.Millisecond))
	for i := 0; ; i++ {
		if i == 10000 {
			t.Fatal("640 MB written to a paused connection: it is still read")
		}
		chunk[0] = byte(i)
		n, err := nc.Write(chunk)
		want = append(want, chunk[:n]...)
		if err != nil {
			break
		}
	}
	mu.Lock()
	got := len(received)
	mu.Unlock()
	if got > len("first")+len(chunk) {
		// At most the read under way when it paused.
		t.Fatalf("%d bytes read while paused", got-len("first"))
	}
	c.ResumeReading()
	waitFor(t, "everything written", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(received) >= len(want)
	})
	mu.Lock()
	if !bytes.Equal(received, want) {
		t.Errorf("received %d bytes, not the %d written in order", len(received), len(want))
	}
	mu.Unlock()

	if err := c.CloseWith([]byte("goodbye")); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	last, err := io.ReadAll(nc)
	if string(last) != "goodbye" {
		t.Fatalf("the peer read %q (%v), want the last message", last, err)
	}
	if err := c.CloseWith([]byte("again")); !errors.Is(err, ErrClosed) {
		t.Errorf("CloseWith after CloseWith: %v, want ErrClosed", err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestAPICapsRefuseConnectionsBeforeOnOpen(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lim := connlimit.New(connlimit.Config{Total: 3, PerAddress: 2})
	opened := make(chan *Conn, 8)
	l, err := Start(ln, Config{
		Conns:  lim,
		OnOpen: func(c *Conn) { opened <- c },
		OnData: func(c *Conn, b []byte) { _, _ = c.Write(b) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = l.Shutdown(ctx)
	})
	dial := func(src string) net.Conn {
		t.Helper()
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		nc, err := d.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		return nc
	}
	// open reports whether nc is served (it echoes) rather than closed.
	open := func(nc net.Conn) bool {
		_ = nc.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := nc.Write([]byte("x")); err != nil {
			return false
		}
		_, err := io.ReadFull(nc, make([]byte, 1))
		return err == nil
	}
	a1, a2 := dial("127.0.0.2"), dial("127.0.0.2")
	if !open(a1) || !open(a2) {
		t.Fatal("connections within the caps were not served")
	}
	if open(dial("127.0.0.2")) {
		t.Fatal("a third connection from one address was served; its cap is 2")
	}
	b1 := dial("127.0.0.3")
	if !open(b1) {
		t.Fatal("another address's connection was not served")
	}
	if open(dial("127.0.0.4")) {
		t.Fatal("a fourth connection was served; the total cap is 3")
	}
	if got := len(opened); got != 3 {
		t.Fatalf("OnOpen ran %d times, want 3: refused connections must not reach it", got)
	}
	a1.Close() // its count comes back once the loop has closed it
	deadline := time.Now().Add(5 * time.Second)
	for lim.Stats().Open != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("stats %+v after a close", lim.Stats())
		}
		time.Sleep(time.Millisecond)
	}
	if !open(dial("127.0.0.2")) {
		t.Fatal("no room after a connection closed")
	}
	if s := lim.Stats(); s.Refused != 2 || s.Open != 3 {
		t.Fatalf("stats %+v, want 3 open and 2 refused", s)
	}
}
