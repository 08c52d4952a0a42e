package dataservice

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"
)

// SettleStore commits what a batching writer learned of deliveries — the
// inbox copies its devices acknowledged (or that failed), the per-device
// receipts and the counters — in one step that is durable and idempotent,
// so that reports stay exact across a crash of any component:
//
//   - the step is journaled first, under the writer's name, its run and
//     a sequence number: a writer restarted under the same name replays
//     the steps its earlier runs left unfinished (RecoverSettlements);
//   - each delivery record a step changes carries the step's mark, so a
//     replay knows which copies that step ended and which sends it
//     recorded, and counts them again only if their counters were not
//     written;
//   - each message's counter record carries, per writer run, the number
//     of the last step counted in it (a counter named by MarkCounter),
//     written in the same atomic increment as the counts.
//
// A retried Settle (after an error, with Replay) and a replayed one count
// nothing twice. Every backend can do this: it needs single-record
// atomicity (conditional writes, increments) only.
type SettleStore interface {
	// Settle applies s and reports, per end, whether this settlement
	// ended its copy (the copy existed and no other settlement had ended
	// it): those, and only those, count their counter. It fails with
	// ErrInvalid for a malformed settlement, before any effect.
	Settle(ctx context.Context, s Settlement) (SettleResult, error)

	// RecoverSettlements replays, in order, the settlements journaled
	// under writer and not finished (their writer stopped in the middle)
	// by runs other than the caller's — named run, or run followed by a
	// dot and anything (a writer's later runs) — and returns how many it
	// replayed. The caller's own settlements may be in flight.
	RecoverSettlements(ctx context.Context, writer, run string) (int, error)
}

// Settlement is one step of a batching writer (see SettleStore).
type Settlement struct {
	// Writer names the writer across restarts (a connector's id); Run
	// names this run of it; Seq numbers its steps from 1, each one
	// started only once the one before was applied.
	Writer string `json:"writer"`
	Run    string `json:"run"`
	Seq    uint64 `json:"seq,string"`
	// Replay says an earlier Settle of this step may have been applied in
	// part: counters already marked are then not added again.
	Replay bool `json:"replay,omitempty"`
	// Prev is, per message, the Seq of this run's last step that marked
	// it (SettleResult.Marked; 0: none); it makes the mark's increment.
	Prev map[uint64]uint64 `json:"prev,omitempty"`

	// Ends are inbox copies a device acknowledged (Counter delivered) or
	// that failed (Counter failed): each ends its delivery record and is
	// removed, and counted if this settlement ended it.
	Ends []SettleEnd `json:"ends,omitempty"`
	// Sends are first writes of messages to devices (ReceiptSent): each
	// creates its delivery record unless one exists, and counts sent
	// then if Count is set.
	Sends []SettleSend `json:"sends,omitempty"`
	// Receipts are other receipts (attempts, clicks, and the ends of
	// broadcasts, which have no inbox copy and are counted by their
	// cursors), recorded as RecordReceipts does; a click it reports new
	// is counted clicked.
	Receipts []Receipt `json:"receipts,omitempty"`
	// Cursors are broadcasts devices were sent and acknowledged: their
	// cursors move, and what a move newly covers is counted.
	Cursors []SettleCursor `json:"cursors,omitempty"`
	// Deltas are counts made elsewhere (stored offline, expired,
	// withdrawn), added as they are.
	Deltas []CounterDelta `json:"deltas,omitempty"`
}

// SettleEnd is the end of one inbox copy.
type SettleEnd struct {
	Copy    InboxCopy `json:"copy"`
	Counter Counter   `json:"counter"` // CounterDelivered or CounterFailed
	At      time.Time `json:"at"`
	// Retain is when the delivery record may go (see Receipt.Retain);
	// zero reads the message.
	Retain time.Time `json:"retain"`
}

// SettleSend is the first write of a message to a device.
type SettleSend struct {
	Receipt Receipt `json:"receipt"` // Event ReceiptSent
	// Count counts sent if this settlement records the send first (a
	// broadcast's sends are counted by its cursors instead).
	Count bool `json:"count,omitempty"`
}

// SettleResult says what a Settle did.
type SettleResult struct {
	// Ended is, per end, whether this settlement ended the copy.
	Ended []bool `json:"ended"`
	// Marked are the messages whose counter records carry this
	// settlement's mark: the next step of the run gives them this Seq
	// as their Prev.
	Marked []uint64 `json:"marked"`
}

// markPrefix starts the names of the counters that mark the steps counted
// in a counter record; reports ignore them.
const markPrefix = "~"

// MarkCounter names the counter in which a writer's run marks the last of
// its steps counted in a message's counter record.
func MarkCounter(writer, run string) Counter { return Counter(markPrefix + writer + "/" + run) }

// CheckSettlement validates a settlement: writer and run names of 1 to 64
// bytes of UTF-8 without GroupSeparator, a nonzero Seq, ends counting
// delivered or failed, sends of ReceiptSent and other receipts of other
// events, each passing CheckReceipt. Else ErrInvalid.
func CheckSettlement(s *Settlement) error {
	name := func(what, v string) error {
		if v == "" || len(v) > 64 || !utf8.ValidString(v) || containsSep(v) {
			return fmt.Errorf("%w: settlement %s %q: want 1 to 64 bytes of UTF-8 without '/'", ErrInvalid, what, v)
		}
		return nil
	}
	if err := name("writer", s.Writer); err != nil {
		return err
	}
	if err := name("run", s.Run); err != nil {
		return err
	}
	if s.Seq == 0 {
		return fmt.Errorf("%w: settlement with sequence 0", ErrInvalid)
	}
	for i := range s.Ends {
		e := &s.Ends[i]
		if e.Counter != CounterDelivered && e.Counter != CounterFailed {
			return fmt.Errorf("%w: settlement end counts %q: want delivered or failed", ErrInvalid, e.Counter)
		}
		if err := CheckReceipt(&Receipt{MessageID: e.Copy.MessageID, RegistrationID: e.Copy.RegistrationID, Event: ReceiptDelivered}); err != nil {
			return fmt.Errorf("settlement end: %w", err)
		}
	}
	for i := range s.Sends {
		r := &s.Sends[i].Receipt
		if r.Event != ReceiptSent {
			return fmt.Errorf("%w: settlement send of event %q", ErrInvalid, r.Event)
		}
		if err := CheckReceipt(r); err != nil {
			return fmt.Errorf("settlement send: %w", err)
		}
	}
	for _, c := range s.Cursors {
		if err := CheckReceipt(&Receipt{MessageID: 1, RegistrationID: c.RID, Event: ReceiptSent}); err != nil {
			return fmt.Errorf("settlement cursor: %w", err)
		}
	}
	for i := range s.Receipts {
		r := &s.Receipts[i]
		if r.Event == ReceiptSent {
			return fmt.Errorf("%w: settlement receipt of event %q: sends have a field of their own", ErrInvalid, r.Event)
		}
		if err := CheckReceipt(r); err != nil {
			return fmt.Errorf("settlement receipt: %w", err)
		}
	}
	return nil
}

func containsSep(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == GroupSeparator {
			return true
		}
	}
	return false
}

// SettlementMessages lists the messages st names, each once.
func SettlementMessages(st *Settlement) []uint64 {
	var out []uint64
	seen := make(map[uint64]bool)
	add := func(id uint64) {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	for _, e := range st.Ends {
		add(e.Copy.MessageID)
	}
	for _, s := range st.Sends {
		add(s.Receipt.MessageID)
	}
	for _, r := range st.Receipts {
		add(r.MessageID)
	}
	for _, c := range st.Cursors {
		for _, l := range [][]uint64{c.Sent, c.Delivered, c.Failed} {
			for _, id := range l {
				add(id)
			}
		}
	}
	for _, d := range st.Deltas {
		add(d.MessageID)
	}
	return out
}
