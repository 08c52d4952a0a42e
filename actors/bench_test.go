package actors_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/heraldpush/herald/actors"
	"github.com/heraldpush/herald/dataservice"
)

// connectorLike gives a harness the receipts and cursors of a connector:
// a Writer batching them to the store.
func connectorLike(h *harness) {
	w := actors.NewWriter(h.env.System, actors.WriterConfig{}, h.data, h.env.Log)
	h.env.Receipts, h.env.Cursors = w, w
	h.env.Mailboxes = actors.NewMailboxPool()
	h.env.Directory = actors.NewDirectory(h.env, 2) // its actors on the pool
}

// counted stands in for the connection actors of many devices in the
// benchmarks: it counts the pushes written to them, and each acknowledges
// what it gets at once, as a device on a fast network would.
type counted struct {
	pushes atomic.Int64
	want   atomic.Int64
	done   chan struct{}
}

func newCounted() *counted { return &counted{done: make(chan struct{}, 1)} }

// expect arms the counter: done fires when n more pushes have arrived.
func (c *counted) expect(n int64) { c.want.Store(c.pushes.Load() + n) }

func (c *counted) wait(b *testing.B) {
	select {
	case <-c.done:
	case <-time.After(30 * time.Second):
		b.Fatalf("%d of %d pushes arrived", c.pushes.Load(), c.want.Load())
	}
}

// attach connects a device whose connection acknowledges every push.
func (c *counted) attach(b *testing.B, h *harness, rid string) {
	attached := make(chan struct{})
	var device *actor.PID
	pid := h.env.System.Root.Spawn(actor.PropsFromFunc(func(ctx actor.Context) {
		switch m := ctx.Message().(type) {
		case *actors.Attached:
			device = m.Device
			close(attached)
		case *actors.Send:
			ids := make([]uint64, 0, len(m.Pushes))
			for _, p := range m.Pushes {
				if p.AckRequested {
					ids = append(ids, p.ID)
				}
			}
			if len(ids) > 0 {
				ctx.Send(device, &actors.Acked{IDs: ids})
			}
			if c.pushes.Add(int64(len(m.Pushes))) == c.want.Load() {
				c.done <- struct{}{}
			}
		}
	}, actors.OnPool(h.env.Mailboxes)))
	h.env.Directory.Attach(h.env.System.Root, dataservice.Device{RegistrationID: rid, AppKey: testApp, Created: h.created}, pid)
	select {
	case <-attached:
	case <-time.After(10 * time.Second):
		b.Fatalf("device %s not attached", rid)
	}
}

// BenchmarkDevicePath measures one push through the actors of a connector:
// directory shard, device actor, connection actor, and the ACK back to the
// device actor. "online" pushes (TTL 0) need no acknowledgement; "stored"
// ones (stored before, as the gateway does) are acknowledged, which
// removes their inbox copy through the receipt writer.
func BenchmarkDevicePath(b *testing.B) {
	for _, tc := range []struct {
		name string
		ttl  time.Duration
	}{{"online", 0}, {"stored", time.Hour}} {
		b.Run(tc.name, func(b *testing.B) {
			h := newHarness(b, nil)
			connectorLike(h)
			c := newCounted()
			c.attach(b, h, "d1")
			outs := make([]*actors.Outgoing, b.N)
			for i := range outs {
				h.nextID++
				m := &dataservice.Message{ID: h.nextID, AppKey: testApp, Content: "benchmark push", TTL: tc.ttl, Created: time.Now()}
				if tc.ttl > 0 {
					if err := h.data.SaveMessage(context.Background(), m, []string{"d1"}); err != nil {
						b.Fatal(err)
					}
				}
				outs[i] = actors.NewOutgoing(m)
			}
			rids := []string{"d1"}
			b.ReportAllocs()
			b.ResetTimer()
			for _, out := range outs {
				c.expect(1)
				h.env.Directory.Deliver(out, rids)
				c.wait(b)
			}
		})
	}
}

// BenchmarkBroadcastFanout measures a connector's fan-out of one broadcast
// to every device of the app it holds, until every connection has been
// asked to write it and every device has acknowledged it. ns/device is the
// figure that compares across sizes.
func BenchmarkBroadcastFanout(b *testing.B) {
	for _, devices := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("devices=%d", devices), func(b *testing.B) {
			h := newBroadcastHarness(b, nil)
			connectorLike(h.harness)
			c := newCounted()
			for i := range devices {
				c.attach(b, h.harness, fmt.Sprintf("d%06d", i))
			}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				b.StopTimer()
				m := h.broadcast(testApp, h.gen.Next())
				out := actors.NewOutgoing(m)
				c.expect(int64(devices))
				b.StartTimer()
				n, err := h.env.Directory.Broadcast(context.Background(), out, testApp)
				if err != nil {
					b.Fatal(err)
				}
				if n != devices {
					b.Fatalf("broadcast reached %d devices, want %d", n, devices)
				}
				c.wait(b)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*devices), "ns/device")
		})
	}
}
