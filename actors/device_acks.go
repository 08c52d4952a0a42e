package actors

import (
	"context"
	"slices"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/internal/ids"
)

func (d *device) ack(ctx actor.Context, acked []uint64) {
	b := d.work()
	var broadcasts []uint64
	b.inflight = slices.DeleteFunc(b.inflight, func(e *entry) bool {
		if !slices.Contains(acked, e.out.ID) {
			return false
		}
		acknowledged(e.out.ID)
		// Its own delivery may still come. For a broadcast caught up on,
		// only if it was stored just now: the fanout of an older one was
		// over long ago.
		if now := d.env.Now(); !e.announced && (!e.out.Broadcast || now.Sub(ids.Time(e.out.ID)) < earlyAckWindow) {
			d.noteEarlyAck(e.out.ID, now)
		}
		if e.out.Broadcast {
			broadcasts = append(broadcasts, e.out.ID)
		}
		return true
	})
	if len(broadcasts) > 0 {
		// Recorded in the broadcast cursor, not in an inbox copy.
		for _, id := range broadcasts {
			d.broadcastDone(id, true)
		}
		acked = slices.DeleteFunc(slices.Clone(acked), func(id uint64) bool { return slices.Contains(broadcasts, id) })
		d.advanceCursor(ctx)
		if len(acked) == 0 {
			return
		}
	}
	if b.acking == nil {
		b.acking = make(map[uint64]struct{}, len(acked))
	}
	for _, id := range acked {
		b.acking[id] = struct{}{}
	}
	b.pendingAcks = append(b.pendingAcks, acked...)
	d.flushAcks(ctx)
}

func (d *device) flushAcks(ctx actor.Context) {
	if d.b == nil || len(d.b.pendingAcks) == 0 {
		return
	}
	if d.removeStored(ctx, d.b.pendingAcks, dataservice.CounterDelivered) {
		d.b.pendingAcks = nil
	}
}

// removeStored deletes inbox copies and counts c for each that still
// existed. It reports false when the worker pool is full; the caller keeps
// the ids and retries.
func (d *device) removeStored(ctx actor.Context, ids []uint64, c dataservice.Counter) bool {
	self, root, data, rid := ctx.Self(), d.env.System.Root, d.env.Data, d.rid
	receipts := d.env.Receipts
	err := d.env.Workers.TrySubmit(func() {
		copies := make([]dataservice.InboxCopy, len(ids))
		for i, id := range ids {
			copies[i] = dataservice.InboxCopy{RegistrationID: rid, MessageID: id}
		}
		if ie, ok := receipts.(InboxEnds); ok {
			// Removed, recorded and counted in one durable step.
			ends := make([]dataservice.SettleEnd, len(ids))
			at := time.Now()
			for i, cp := range copies {
				ends[i] = dataservice.SettleEnd{Copy: cp, Counter: c, At: at}
			}
			existed, err := ie.EndInbox(context.Background(), ends)
			if c == dataservice.CounterDelivered {
				root.Send(self, &acksRemoved{ids: ids, existed: existed, err: err})
			}
			return
		}
		existed, err := data.RemoveInbox(context.Background(), copies)
		if err == nil {
			for i, ok := range existed {
				if ok {
					recordRemoved(receipts, rid, ids[i], c)
				}
			}
		}
		if c == dataservice.CounterDelivered {
			root.Send(self, &acksRemoved{ids: ids, existed: existed, err: err})
		}
	})
	if err != nil {
		d.retryLater(ctx, 100*time.Millisecond)
		return false
	}
	return true
}

func (d *device) acksRemoved(m *acksRemoved) {
	if m.err != nil {
		// The copies stay in the store; the device will get them again on
		// its next connection and ACK again.
		d.env.Log.Warn("recording acknowledgements failed", "rid", d.rid, "err", m.err)
	}
	b := d.work()
	for _, id := range m.ids {
		delete(b.acking, id)
		if d.loading {
			if b.removedWhileLoading == nil {
				b.removedWhileLoading = make(map[uint64]struct{})
			}
			b.removedWhileLoading[id] = struct{}{}
		}
	}
	if len(b.acking) == 0 {
		b.acking = nil
	}
}
