package actors

import (
	"context"
	"errors"
	"fmt"

	"github.com/heraldpush/herald/dataservice"
)

// Broadcasts are stored once per app; what each device got of them lives
// in its broadcast cursor (dataservice.BroadcastCursor): the newest
// broadcast written to it (Sent) and the newest up to which all are
// acknowledged or ended (Acked). Device actors report what they did as
// CursorAdvances; the writer moves the cursors forward by compare-and-set
// and counts sent, delivered and failed only for what a move newly
// covers, in one settlement (dataservice.SettleStore), so that a crash
// between the move and its count loses nothing; DirectCursors does the
// same without the journal. Two device actors of one device (a device that moved to another
// connector before its old actor stopped) therefore never count one
// broadcast twice.

// CursorAdvance is what a device actor did with broadcasts since its last
// report.
type CursorAdvance struct {
	RID string
	// Sent are broadcasts the actor wrote to the device for the first
	// time.
	Sent []uint64
	// Acked is the newest broadcast up to which every broadcast the actor
	// knows of is acknowledged or ended; zero if none.
	Acked uint64
	// Delivered and Failed are broadcasts up to Acked that the device
	// acknowledged, or that were dropped unacknowledged.
	Delivered, Failed []uint64
}

// Cursors moves broadcast cursors.
type Cursors interface {
	// AdvanceCursors applies the advances and counts what they newly
	// cover. On error nothing of a failed advance was counted; it may be
	// retried whole.
	AdvanceCursors(ctx context.Context, advances []CursorAdvance) error
}

// AsyncCursors is Cursors that take an advance without blocking the
// caller: done is called, on another goroutine, with what AdvanceCursors
// would have returned. Device actors use it when it is there, so that a
// broadcast to every device of a connector holds no goroutine per device
// while the cursors are written (the Writer batches them).
type AsyncCursors interface {
	Cursors
	AdvanceCursor(a CursorAdvance, done func(error))
}

// maxCursorRounds bounds the compare-and-set rounds of one batch: a
// cursor changes only when its device is active on two connectors, so a
// conflict rarely repeats.
const maxCursorRounds = 5

// advanceCursors applies advances (at most one per device) in rounds of
// read, compute, compare-and-set, and counts into receipts what each
// successful write newly covered.
func advanceCursors(ctx context.Context, data dataservice.BroadcastStore, receipts Receipts, advances []CursorAdvance) error {
	pending := advances
	for range maxCursorRounds {
		rids := make([]string, len(pending))
		for i, a := range pending {
			rids[i] = a.RID
		}
		olds, err := data.BroadcastCursors(ctx, rids)
		if err != nil {
			return err
		}
		writes := make([]dataservice.BroadcastCursor, 0, len(pending))
		idx := make([]int, 0, len(pending))
		for i, a := range pending {
			c := olds[i]
			c.RegistrationID = a.RID
			nc := c
			for _, id := range a.Sent {
				nc.Sent = max(nc.Sent, id)
			}
			nc.Acked = max(nc.Acked, a.Acked)
			if nc.Sent == c.Sent && nc.Acked == c.Acked {
				continue // nothing new: another actor covered it all
			}
			writes = append(writes, nc)
			idx = append(idx, i)
		}
		if len(writes) == 0 {
			return nil
		}
		ok, err := data.PutBroadcastCursors(ctx, writes)
		if err != nil {
			return err
		}
		var retry []CursorAdvance
		for j, i := range idx {
			if !ok[j] {
				retry = append(retry, pending[i])
				continue
			}
			a, old := pending[i], olds[i]
			// An advance merged from two actors of the device (the
			// Writer's batches) may name an id twice, or as delivered by
			// one and failed by the other: each counts once, and
			// delivered wins.
			count := func(ids []uint64, c dataservice.Counter, covered func(uint64) bool, seen map[uint64]struct{}) {
				for _, id := range ids {
					if _, dup := seen[id]; !dup && covered(id) {
						seen[id] = struct{}{}
						receipts.Add(id, c, 1)
					}
				}
			}
			count(a.Sent, dataservice.CounterSent, func(id uint64) bool { return id > old.Sent }, make(map[uint64]struct{}, len(a.Sent)))
			newAcked := writes[j].Acked
			inAcked := func(id uint64) bool { return id > old.Acked && id <= newAcked }
			ended := make(map[uint64]struct{}, len(a.Delivered)+len(a.Failed))
			count(a.Delivered, dataservice.CounterDelivered, inAcked, ended)
			count(a.Failed, dataservice.CounterFailed, inAcked, ended)
		}
		if len(retry) == 0 {
			return nil
		}
		pending = retry
	}
	return fmt.Errorf("advancing broadcast cursors: %w", errCursorContention)
}

var errCursorContention = errors.New("cursors kept changing concurrently")

// DirectCursors is Cursors without batching: each call is its own store
// round trip. The Writer batches; this serves components without one.
type DirectCursors struct {
	Data     dataservice.BroadcastStore
	Receipts Receipts
}

// AdvanceCursors implements Cursors.
func (c DirectCursors) AdvanceCursors(ctx context.Context, advances []CursorAdvance) error {
	return advanceCursors(ctx, c.Data, c.Receipts, advances)
}
