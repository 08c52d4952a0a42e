package connector_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald/node"
	"github.com/heraldpush/herald/node/nodetest"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/sdk"
)

// A well-behaved client is never cut off (issue 16, item 2): the ACKs of
// concurrent pushes on top of the 64 upstreams the protocol allows in
// flight used to tip its connection over the connector's bound on
// unprocessed records (10 disconnects in 20 rounds). The connector now
// stops reading such a connection until it caught up instead.
func TestBusyClientIsSlowedDownNotCutOff(t *testing.T) {
	h := nodetest.Start(t) // the connector's default bounds
	app := h.CreateApp()
	cr := register(t, h, app)
	var (
		received      atomic.Int64
		disconnects   atomic.Int64
		disconnectErr atomic.Value
	)
	c, err := sdk.Dial(context.Background(), sdk.Config{
		Gateway:     h.URL,
		Credentials: cr,
		Handler:     func(*sdk.Message) error { received.Add(1); return nil },
		OnState: func(s sdk.State, err error) {
			if s == sdk.StateDisconnected {
				disconnects.Add(1)
				if err != nil {
					disconnectErr.Store(err.Error())
				}
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })

	const (
		rounds  = 20
		sends   = 64 // protocol.MaxUpstreamsInFlight
		pushes  = 20
		payload = 4000
	)
	data := make([]byte, payload)
	for round := range rounds {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		var wg sync.WaitGroup
		errs := make(chan error, sends)
		for range sends {
			wg.Go(func() {
				if _, err := c.Send(ctx, data); err != nil {
					errs <- err
				}
			})
		}
		for i := range pushes {
			wg.Go(func() {
				h.Push(app, nodetest.Push{RegistrationIDs: []string{cr.RegistrationID}, Content: fmt.Sprint(round, i)})
			})
		}
		wg.Wait()
		cancel()
		close(errs)
		for err := range errs {
			t.Fatalf("round %d: Send: %v", round, err)
		}
		want := int64((round + 1) * pushes)
		nodetest.Eventually(t, 10*time.Second, func() bool { return received.Load() >= want }, func() string {
			return fmt.Sprintf("round %d: received %d of %d", round, received.Load(), want)
		})
	}
	if n := disconnects.Load(); n != 0 {
		t.Fatalf("the client was disconnected %d times (last: %v)", n, disconnectErr.Load())
	}
	if st := c.Stats(); st.Sent != rounds*sends || st.Connects != 1 {
		t.Fatalf("stats %+v: want %d sent on 1 connection", st, rounds*sends)
	}
}

// A device that sends frames faster than the connector handles them, and
// more of them than flow control absorbs, is cut off with ERROR flooding,
// which tells it when to come back.
func TestFlooderIsCutOffWithError(t *testing.T) {
	h := nodetest.Start(t) // the connector's default bounds
	app := h.CreateApp()
	cr := register(t, h, app)
	d := dialRaw(t, h)
	d.handshake(h.Node.ServerKey)
	d.hello(cr, 0)
	d.welcome()

	var burst []byte
	for i := range 4000 {
		rec, err := d.sess.SealRecord(nil, protocol.AppendPing(nil, uint32(i+1), &protocol.Ping{}))
		if err != nil {
			t.Fatal(err)
		}
		burst = append(burst, rec...)
	}
	flooding := make(chan struct{})
	go func() {
		defer close(flooding)
		_, _ = d.nc.Write(burst) // the server may cut us off mid-write
	}()
	defer func() { <-flooding }()
	_ = d.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		hd, body, err := d.next()
		if err != nil {
			t.Fatalf("waiting for ERROR flooding: %v", err)
		}
		if hd.Type != protocol.TypeError {
			continue
		}
		var e protocol.Error
		if err := e.Unmarshal(body); err != nil {
			t.Fatal(err)
		}
		if e.Code != protocol.CodeFlooding || e.RetryAfter != 30*time.Second {
			t.Fatalf("ERROR %v retry_after %v (%s), want flooding with retry_after 30s", e.Code, e.RetryAfter, e.Message)
		}
		break
	}
	d.expectClosed()
}

// A device that does not read what is pushed to it is cut off once its
// output outgrows the connector's bound, and what it gets last, after
// the pushes the connector accepted, is ERROR too_slow.
func TestSlowReaderIsToldWhy(t *testing.T) {
	if stdLoop {
		t.Skip("the standard library's loop writes synchronously: a write that times out leaves no room for an ERROR")
	}
	h := nodetest.Start(t, func(c *node.AllConfig) {
		c.Connector.MaxWriteBuffer = 16 << 10
		c.Connector.Linger = time.Minute // the test reads only after pushing everything
		c.Connector.Settings.Window = 4096
	})
	app := h.CreateApp()
	cr := register(t, h, app)
	d := dialRaw(t, h, withReceiveBuffer(4096))
	d.handshake(h.Node.ServerKey)
	d.hello(cr, 0)
	d.welcome()

	// 7.2 MB, more than the sockets' buffers hold (2.8 MB on the
	// development machine; Linux's usual maximum send buffer is 4 MiB) on
	// top of the connector's 16 KiB.
	const pushes = 2400
	content := strings.Repeat("x", 3000)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range pushes / 8 {
				h.Push(app, nodetest.Push{RegistrationIDs: []string{cr.RegistrationID}, Content: content})
			}
		})
	}
	wg.Wait()
	received := 0
	_ = d.nc.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		hd, body, err := d.next()
		if err != nil {
			t.Fatalf("after %d pushes: %v", received, err)
		}
		if hd.Type == protocol.TypePush {
			received++
			continue
		}
		var e protocol.Error
		if err := e.Unmarshal(body); hd.Type != protocol.TypeError || err != nil {
			t.Fatalf("got %v (%v), want PUSH or ERROR", hd.Type, err)
		}
		if e.Code != protocol.CodeTooSlow {
			t.Fatalf("ERROR %v (%s), want too_slow", e.Code, e.Message)
		}
		break
	}
	if received == 0 || received >= pushes {
		t.Fatalf("%d pushes before the ERROR, want some but not all %d", received, pushes)
	}
	t.Logf("ERROR too_slow after %d of %d pushes", received, pushes)
	d.expectClosed()
}

// Half-open handshakes — a TCP connection that never sends record 1, or
// sends half of it — cost the connector little while they wait, and its
// sweeper closes each with a handshake_timeout refusal.
func TestHalfOpenHandshakesCostLittle(t *testing.T) {
	h := startHerald(t) // a handshake deadline of 1s
	in, err := protocol.NewInitiator(h.Node.ServerKey, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec1, _ := in.AppendRecord1(nil)
	half := protocol.AppendRecord(nil, rec1)[:30]

	const conns = 400
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	devices := make([]*rawDevice, conns)
	for i := range devices {
		devices[i] = dialRaw(t, h)
		if i%2 == 1 {
			devices[i].writeRaw(half)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	// Both ends live in this process: the client's connections count too.
	per := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / conns
	t.Logf("%d bytes of heap per half-open connection, both ends", per)
	if per > 4096 && !stdLoop { // that loop has a goroutine and a read buffer per connection
		t.Errorf("%d bytes of heap per half-open connection, want at most 4 KiB", per)
	}
	var wg sync.WaitGroup
	for _, d := range devices {
		wg.Go(func() { d.expectRefusal(protocol.CodeHandshakeTimeout) })
	}
	wg.Wait()
}
