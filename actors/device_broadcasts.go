package actors

import (
	"context"
	"math"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// loadBroadcasts reads the broadcasts of the device's app it has not
// acknowledged (those before floor, the first id of when it registered,
// excepted); nothing is sent until they are in, so broadcasts go out in id
// order. It reports false if the worker pool was full.
func (d *device) loadBroadcasts(ctx actor.Context, app string, floor uint64) bool {
	d.bcChecked = true
	self, root, data, rid := ctx.Self(), d.env.System.Root, d.env.Data, d.rid
	loaded := d.broadcastCap()
	err := d.env.Workers.TrySubmit(func() {
		c := context.Background()
		cursors, err := data.BroadcastCursors(c, []string{rid})
		if err != nil {
			root.Send(self, &broadcastsLoaded{err: err})
			return
		}
		after := max(cursors[0].Acked, floor-min(floor, 1), loaded)
		list, err := data.AppBroadcasts(c, app, after, maxBroadcastsLoaded)
		if err != nil || len(list) == 0 {
			root.Send(self, &broadcastsLoaded{err: err})
			return
		}
		msgs, err := data.Messages(c, list)
		root.Send(self, &broadcastsLoaded{app: app, msgs: msgs, last: list[len(list)-1], more: len(list) == maxBroadcastsLoaded, err: err})
	})
	if err != nil {
		d.bcChecked = false
		return false
	}
	d.bcLoading = true
	return true
}

// maxBroadcastsLoaded bounds the missed broadcasts one store read loads;
// the next page is read once the device's queue has run dry.
const maxBroadcastsLoaded = 100

func (d *device) broadcastsLoaded(ctx actor.Context, m *broadcastsLoaded) {
	d.bcLoading = false
	if m.err != nil {
		d.env.Log.Warn("loading missed broadcasts failed; the device gets them on its next connection", "rid", d.rid, "err", m.err)
		d.bcChecked = false
		return
	}
	switch {
	case m.more:
		// Newer ones wait for the next page, also those that arrived live
		// while the list was read (nothing was sent since).
		b := d.work()
		b.bcCap, b.bcApp = m.last, m.app
		b.queue = slices.DeleteFunc(b.queue, func(e *entry) bool {
			return e.out.Broadcast && e.out.AckRequested && e.out.ID > m.last
		})
	case d.b != nil:
		d.b.bcCap, d.b.bcApp = 0, ""
	}
	for i := range m.msgs {
		msg := &m.msgs[i]
		if msg.ID == 0 || d.known(msg.ID) || d.env.Withdrawn.Has(msg.ID) {
			continue
		}
		d.insert(&entry{out: NewOutgoing(msg)})
	}
}

// broadcastDone records that a broadcast left the window: acknowledged,
// or dropped after MaxAttempts.
func (d *device) broadcastDone(id uint64, delivered bool) {
	bc := d.broadcastLog()
	if delivered {
		bc.delivered = append(bc.delivered, id)
	} else {
		bc.failed = append(bc.failed, id)
	}
}

// broadcastCap returns the backlog's bcCap.
func (d *device) broadcastCap() uint64 {
	if d.b == nil {
		return 0
	}
	return d.b.bcCap
}

func (d *device) broadcastLog() *broadcastLog {
	b := d.work()
	if b.bc == nil {
		b.bc = &broadcastLog{}
	}
	return b.bc
}

// advanceCursor writes what the broadcast log holds to the device's
// cursor: broadcasts sent, and those acknowledged or failed up to the
// oldest still in the queue or the window.
func (d *device) advanceCursor(ctx actor.Context) {
	if d.b == nil || d.b.bc == nil || d.b.bc.advancing || d.env.Cursors == nil {
		return
	}
	bc := d.b.bc
	pending := uint64(math.MaxUint64) // the oldest broadcast not done
	for _, list := range [][]*entry{d.b.queue, d.b.inflight} {
		for _, e := range list {
			if e.out.Broadcast && e.out.AckRequested {
				pending = min(pending, e.out.ID)
			}
		}
	}
	if c := d.b.bcCap; c != 0 {
		pending = min(pending, c+1) // newer ones may wait in the store
	}
	adv := CursorAdvance{RID: d.rid, Sent: bc.sent}
	split := func(ids []uint64) (done, rest []uint64) {
		for _, id := range ids {
			if id < pending {
				done = append(done, id)
				adv.Acked = max(adv.Acked, id)
			} else {
				rest = append(rest, id)
			}
		}
		return done, rest
	}
	var keepDelivered, keepFailed []uint64
	adv.Delivered, keepDelivered = split(bc.delivered)
	adv.Failed, keepFailed = split(bc.failed)
	if len(adv.Sent) == 0 && adv.Acked == 0 {
		return
	}
	if adv.Acked == 0 && d.conn != nil && d.broadcastInflight() {
		// Sends only, while their ACKs are on their way: they go with the
		// ACKs, one cursor write per device and broadcast instead of two.
		// Were the actor to stop first, the next one sends them again and
		// counts them then.
		return
	}
	bc.sent, bc.delivered, bc.failed = nil, keepDelivered, keepFailed
	bc.advancing = true
	self, root, cursors := ctx.Self(), d.env.System.Root, d.env.Cursors
	if async, ok := cursors.(AsyncCursors); ok {
		async.AdvanceCursor(adv, func(err error) { root.Send(self, &cursorsAdvanced{adv: adv, err: err}) })
		return
	}
	if err := d.env.Workers.TrySubmit(func() {
		root.Send(self, &cursorsAdvanced{adv: adv, err: cursors.AdvanceCursors(context.Background(), []CursorAdvance{adv})})
	}); err != nil {
		root.Send(self, &cursorsAdvanced{adv: adv, err: err})
	}
}

func (d *device) cursorsAdvanced(ctx actor.Context, m *cursorsAdvanced) {
	bc := d.broadcastLog()
	bc.advancing = false
	if m.err != nil {
		// Nothing of it was counted: keep it for the next attempt.
		// Debug: a store outage fails every device at once (the Writer
		// warns once per failed batch).
		d.env.Log.Debug("recording broadcast deliveries failed; retrying", "rid", d.rid, "err", m.err)
		bc.sent = append(m.adv.Sent, bc.sent...)
		bc.delivered = append(m.adv.Delivered, bc.delivered...)
		bc.failed = append(m.adv.Failed, bc.failed...)
		d.retryLater(ctx, time.Second)
		return
	}
	if len(bc.sent) == 0 && len(bc.delivered) == 0 && len(bc.failed) == 0 {
		d.b.bc = nil
		return
	}
	d.advanceCursor(ctx)
}

// broadcastInflight reports whether a broadcast awaits the device's ACK.
func (d *device) broadcastInflight() bool {
	for _, e := range d.b.inflight {
		if e.out.Broadcast && e.out.AckRequested {
			return true
		}
	}
	return false
}
