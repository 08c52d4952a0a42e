package dataservice

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"

	"time"
)

// KindSettlement holds the journal of settlements (SettleStore):
// writer/run/seq as 16 hex digits → the Settlement, as JSON, until it is
// applied.
const KindSettlement Kind = "stl"

// settlementTTL bounds how long a settlement waits for its writer to come
// back and replay it.
const settlementTTL = 7 * 24 * time.Hour

// settleMarkLen is the size of a settlement's mark on a delivery record:
// a hash of the writer and run (8 bytes), the step (8) and what it
// counted (1).
const settleMarkLen = 17

// What a settlement counted of a delivery record (settleMark.counted).
const (
	countedSent = 1 << iota
	countedEnd
)

// settleMark names the settlement that wrote a delivery record.
type settleMark struct {
	run     uint64 // hash of writer and run; 0 for none
	seq     uint64
	counted byte
}

func runHash(writer, run string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(writer))
	h.Write([]byte{GroupSeparator})
	h.Write([]byte(run))
	if v := h.Sum64(); v != 0 {
		return v
	}
	return 1
}

func (m settleMark) append(b []byte) []byte {
	b = binary.BigEndian.AppendUint64(b, m.run)
	b = binary.BigEndian.AppendUint64(b, m.seq)
	return append(b, m.counted)
}

func decodeSettleMark(v []byte) settleMark {
	return settleMark{run: binary.BigEndian.Uint64(v[0:8]), seq: binary.BigEndian.Uint64(v[8:16]), counted: v[16]}
}

func settlementKey(writer, run string, seq uint64) string {
	return writer + string(GroupSeparator) + run + string(GroupSeparator) + fmt.Sprintf("%016x", seq)
}

// settlePlan is what one settlement does to one delivery record.
type settlePlan struct {
	pair
	send, end int // indexes in Sends and Ends; -1 for none
	// rend is the index in Receipts of a broadcast's end (delivered or
	// failed, counted by its cursor) written with the send in one write;
	// -1 for none.
	rend     int
	rec      Record
	old      delivery
	copyHere bool // the inbox copy exists
	retain   time.Time
	done     bool
}

// Settle implements SettleStore. In order: the journal record; the
// delivery records (read with the inbox copies of the ends, then written
// by create-only or generation-checked writes carrying the settlement's
// mark, again for the records another writer changed meanwhile); other
// receipts (RecordReceipts); the counters with the run's mark (one
// AddCounters; with Replay, the counter records are read first and those
// marked already skipped); the removal of the copies; the deletion of the
// journal record. A crash anywhere leaves the journal record, and a replay
// finds from the marks what was done.
func (s *Service) Settle(ctx context.Context, st Settlement) (SettleResult, error) {
	if err := CheckSettlement(&st); err != nil {
		return SettleResult{}, fmt.Errorf("settle: %w", err)
	}
	res := SettleResult{Ended: make([]bool, len(st.Ends))}
	jkey := settlementKey(st.Writer, st.Run, st.Seq)
	journaled := st
	journaled.Replay = true
	body, err := json.Marshal(journaled)
	if err != nil {
		return SettleResult{}, fmt.Errorf("settle: %w", err)
	}
	if len(body) > MaxValueLen {
		return SettleResult{}, fmt.Errorf("settle: %w: %d bytes journaled; at most %d (settle smaller batches)", ErrInvalid, len(body), MaxValueLen)
	}
	// A step's first call writes a key never written (Fresh skips the
	// read); a replay may find it.
	if _, err := s.store.Put(ctx, KindSettlement, jkey, body, WriteOptions{TTL: settlementTTL, Fresh: !st.Replay}); err != nil {
		return SettleResult{}, fmt.Errorf("settle %s: journal: %w", jkey, err)
	}
	mark := settleMark{run: runHash(st.Writer, st.Run), seq: st.Seq}
	now := s.now()

	// One plan per delivery record.
	plans := make(map[pair]*settlePlan)
	var order []*settlePlan
	planOf := func(id uint64, rid string) *settlePlan {
		p := pair{id, rid}
		pl := plans[p]
		if pl == nil {
			pl = &settlePlan{pair: p, send: -1, end: -1, rend: -1}
			plans[p] = pl
			order = append(order, pl)
		}
		return pl
	}
	for i := range st.Sends {
		r := &st.Sends[i].Receipt
		if pl := planOf(r.MessageID, r.RegistrationID); pl.send < 0 {
			pl.send = i
			pl.retain = r.Retain
		}
	}
	for i := range st.Ends {
		e := &st.Ends[i]
		pl := planOf(e.Copy.MessageID, e.Copy.RegistrationID)
		if pl.end < 0 || (e.Counter == CounterDelivered && st.Ends[pl.end].Counter != CounterDelivered) {
			pl.end = i
		}
		if pl.retain.IsZero() {
			pl.retain = e.Retain
		}
	}

	// A broadcast's end whose send is in this settlement goes with it.
	folded := make([]bool, len(st.Receipts))
	for i := range st.Receipts {
		r := &st.Receipts[i]
		if r.Event != ReceiptDelivered && r.Event != ReceiptFailed {
			continue
		}
		if pl := plans[pair{r.MessageID, r.RegistrationID}]; pl != nil && pl.send >= 0 && pl.end < 0 &&
			(pl.rend < 0 || (r.Event == ReceiptDelivered && st.Receipts[pl.rend].Event != ReceiptDelivered)) {
			if pl.rend >= 0 {
				folded[pl.rend] = false
			}
			pl.rend, folded[i] = i, true
		}
	}

	counts := make(map[counterKey]int64)
	for round := range casAttempts {
		var todo []*settlePlan
		for _, pl := range order {
			if !pl.done {
				todo = append(todo, pl)
			}
		}
		if len(todo) == 0 {
			break
		}
		// A send's record is new but for a redelivery: the first round
		// of a first call creates it without reading it (a miss costs
		// LevelDB a walk of its levels), and reads it only if it exists.
		if err := s.readSettlePlans(ctx, todo, round == 0 && !st.Replay); err != nil {
			return SettleResult{}, err
		}
		var writes []Write
		var wrote []*settlePlan
		for _, pl := range todo {
			w, ok := s.settleWrite(&st, pl, mark, now, counts, &res, folded)
			if ok {
				writes, wrote = append(writes, w), append(wrote, pl)
			}
		}
		if len(writes) == 0 {
			continue
		}
		errs, err := PerWrite(s.store.PutMany(ctx, writes), len(writes))
		if err != nil {
			return SettleResult{}, fmt.Errorf("settle %s: %d delivery records: %w", jkey, len(writes), err)
		}
		for j, e := range errs {
			pl := wrote[j]
			switch {
			case e == nil:
				pl.done = true
				s.countSettled(&st, pl, pl.old.mark, counts, &res)
			case errors.Is(e, ErrExists), errors.Is(e, ErrGenerationMismatch):
				// Another writer changed it meanwhile: decide again.
			default:
				return SettleResult{}, fmt.Errorf("settle %s: delivery record %q: %w", jkey, writes[j].Key, e)
			}
		}
	}
	for _, pl := range order {
		if !pl.done {
			return SettleResult{}, fmt.Errorf("settle %s: %w: delivery record of message %d on %s keeps changing", jkey, ErrGenerationMismatch, pl.id, pl.rid)
		}
	}

	if err := s.settleCursors(ctx, &st, mark, counts); err != nil {
		return SettleResult{}, fmt.Errorf("settle %s: %w", jkey, err)
	}

	// Attempts, clicks, and the ends of broadcasts not written above.
	var others []Receipt
	for i, r := range st.Receipts {
		if !folded[i] {
			others = append(others, r)
		}
	}
	if len(others) > 0 {
		recorded, err := s.RecordReceipts(ctx, others)
		if err != nil {
			return SettleResult{}, fmt.Errorf("settle %s: %w", jkey, err)
		}
		for i, ok := range recorded {
			if ok && others[i].Event == ReceiptClicked {
				counts[counterKey{others[i].MessageID, CounterClicked}]++
			}
		}
	}

	if res.Marked, err = s.settleCounters(ctx, &st, counts); err != nil {
		return SettleResult{}, fmt.Errorf("settle %s: %w", jkey, err)
	}

	if len(st.Ends) > 0 {
		keys := make([]string, len(st.Ends))
		for i, e := range st.Ends {
			keys[i] = inboxKey(e.Copy.RegistrationID, e.Copy.MessageID)
		}
		if _, err := s.store.DeleteMany(ctx, KindInbox, keys); err != nil {
			return SettleResult{}, fmt.Errorf("settle %s: remove %d inbox copies: %w", jkey, len(keys), err)
		}
	}
	if _, err := s.store.Delete(ctx, KindSettlement, jkey, 0); err != nil {
		return SettleResult{}, fmt.Errorf("settle %s: journal: %w", jkey, err)
	}
	return res, nil
}

// counterKey names one counter of one message.
type counterKey struct {
	id uint64
	c  Counter
}

// readSettlePlans reads the delivery records of plans, the inbox copies of
// their ends, and the retention of those that create a record without
// being given one.
func (s *Service) readSettlePlans(ctx context.Context, plans []*settlePlan, guessSends bool) error {
	var keys []string
	var read []*settlePlan
	var inbox []string
	var withEnd []*settlePlan
	for _, pl := range plans {
		if guessSends && pl.send >= 0 {
			pl.rec, pl.old = Record{}, delivery{} // created; read if it exists
		} else {
			keys = append(keys, deliveryKey(pl.id, pl.rid))
			read = append(read, pl)
		}
		if pl.end >= 0 {
			inbox = append(inbox, inboxKey(pl.rid, pl.id))
			withEnd = append(withEnd, pl)
		}
	}
	var err error
	if len(keys) > 0 {
		recs, err := s.store.GetMany(ctx, KindReceipt, keys)
		if err != nil {
			return fmt.Errorf("settle: delivery records: %w", err)
		}
		for i, pl := range read {
			pl.rec = recs[i]
			if pl.old, err = decodeDelivery(recs[i]); err != nil {
				return err
			}
		}
	}
	if len(inbox) > 0 {
		copies, err := s.store.GetMany(ctx, KindInbox, inbox)
		if err != nil {
			return fmt.Errorf("settle: inbox copies: %w", err)
		}
		for i, pl := range withEnd {
			pl.copyHere = copies[i].Exists()
		}
	}
	var ids []uint64
	var need []*settlePlan
	for _, pl := range plans {
		if pl.retain.IsZero() && !pl.old.exists {
			ids = append(ids, pl.id)
			need = append(need, pl)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	mkeys := make([]string, len(ids))
	for i, id := range ids {
		mkeys[i] = messageKey(id)
	}
	msgs, err := s.store.GetMany(ctx, KindMessage, mkeys)
	if err != nil {
		return fmt.Errorf("settle: messages: %w", err)
	}
	for i, pl := range need {
		switch {
		case !msgs[i].Exists():
			// The message is gone: its record would outlive nothing.
		case msgs[i].Expires.IsZero():
			pl.retain = s.now().Add(ReportRetention)
		default:
			pl.retain = msgs[i].Expires
		}
	}
	return nil
}

// settleWrite decides what st does to pl's delivery record: the write to
// make, or none (ok false; pl is then done, and what it counts counted).
func (s *Service) settleWrite(st *Settlement, pl *settlePlan, mark settleMark, now time.Time, counts map[counterKey]int64, res *SettleResult, folded []bool) (Write, bool) {
	old := &pl.old
	if old.exists && old.mark.run == mark.run && old.mark.seq == mark.seq {
		// Written by this very settlement before (a replay).
		pl.done = true
		s.countSettled(st, pl, old.mark, counts, res)
		return Write{}, false
	}
	var m settleMark = mark
	create := !old.exists
	if create && (pl.send < 0 || st.Sends[pl.send].Count) {
		m.counted |= countedSent // an end without its send proves it too
	}
	if pl.end >= 0 && pl.copyHere && (!old.exists || old.state == deliverySent) {
		m.counted |= countedEnd
	}
	retain := pl.retain
	if old.exists && retain.IsZero() {
		retain = old.retain
	}
	ttl := min(retain.Sub(now), MaxTTL)
	if (!create && m.counted&countedEnd == 0) || ttl <= 0 {
		pl.done = true // nothing new: a send recorded before, an end another made
		if pl.rend >= 0 && ttl > 0 {
			folded[pl.rend] = false // recorded as RecordReceipts does
		}
		return Write{}, false
	}
	if pl.end >= 0 && !pl.copyHere && create {
		// The copy ended elsewhere (withdrawn, expired) and nothing of
		// the delivery is recorded: record the send only, if there is one.
		if pl.send < 0 {
			pl.done = true
			return Write{}, false
		}
	}
	state, sent, ended := byte(deliverySent), time.Time{}, time.Time{}
	if old.exists {
		state, sent, ended = old.state, old.sent, old.ended
	}
	if sent.IsZero() {
		switch {
		case pl.send >= 0:
			sent = atOr(st.Sends[pl.send].Receipt.At, now)
		case pl.end >= 0:
			sent = atOr(st.Ends[pl.end].At, now)
		}
	}
	if m.counted&countedEnd != 0 {
		state, ended = endState(receiptOfCounter(st.Ends[pl.end].Counter)), atOr(st.Ends[pl.end].At, now)
	}
	if pl.rend >= 0 && state == deliverySent {
		r := &st.Receipts[pl.rend]
		state, ended = endState(r.Event), atOr(r.At, now)
	}
	opts := WriteOptions{TTL: ttl}
	if create {
		opts.CreateOnly = true
	} else {
		opts.Generation = pl.rec.Generation
	}
	pl.old.mark = m // counted once the write succeeds
	return Write{Kind: KindReceipt, Key: deliveryKey(pl.id, pl.rid), Value: m.append(encodeDelivery(state, sent, ended)), Options: opts}, true
}

// countSettled counts what mark says pl's record counted.
func (s *Service) countSettled(st *Settlement, pl *settlePlan, m settleMark, counts map[counterKey]int64, res *SettleResult) {
	if m.counted&countedSent != 0 {
		counts[counterKey{pl.id, CounterSent}]++
	}
	if m.counted&countedEnd != 0 && pl.end >= 0 {
		counts[counterKey{pl.id, st.Ends[pl.end].Counter}]++
		res.Ended[pl.end] = true
	}
}

func receiptOfCounter(c Counter) ReceiptEvent {
	if c == CounterDelivered {
		return ReceiptDelivered
	}
	return ReceiptFailed
}

func atOr(t, now time.Time) time.Time {
	if t.IsZero() {
		return now
	}
	return t
}

// settleCounters adds counts and st's deltas with the run's mark on each
// message's counter record. With Replay, messages whose mark shows this
// step are skipped.
func (s *Service) settleCounters(ctx context.Context, st *Settlement, counts map[counterKey]int64) ([]uint64, error) {
	deltas := make([]CounterDelta, 0, len(counts)+len(st.Deltas))
	touched := make(map[uint64]bool)
	var order []uint64
	touch := func(id uint64) {
		if !touched[id] {
			touched[id] = true
			order = append(order, id)
		}
	}
	for k, n := range counts {
		if n != 0 {
			deltas = append(deltas, CounterDelta{MessageID: k.id, Counter: k.c, N: n})
			touch(k.id)
		}
	}
	for _, d := range st.Deltas {
		if d.N != 0 {
			deltas = append(deltas, d)
			touch(d.MessageID)
		}
	}
	if len(order) == 0 {
		return []uint64{}, nil
	}
	markName := MarkCounter(st.Writer, st.Run)
	skip := make(map[uint64]bool)
	if st.Replay {
		for _, id := range order {
			c, err := s.store.Counters(ctx, KindCounter, messageKey(id))
			if err != nil && !errors.Is(err, ErrNotFound) {
				return nil, fmt.Errorf("counters of message %d: %w", id, err)
			}
			if uint64(c[string(markName)]) >= st.Seq {
				skip[id] = true // counted before the crash
			}
		}
	}
	out := deltas[:0]
	for _, d := range deltas {
		if !skip[d.MessageID] {
			out = append(out, d)
		}
	}
	for _, id := range order {
		if !skip[id] {
			out = append(out, CounterDelta{MessageID: id, Counter: markName, N: int64(st.Seq - min(st.Prev[id], st.Seq-1))})
		}
	}
	if err := s.AddCounters(ctx, out); err != nil {
		return nil, err
	}
	return order, nil
}

// RecoverSettlements implements SettleStore.
func (s *Service) RecoverSettlements(ctx context.Context, writer, run string) (int, error) {
	if err := CheckSettlement(&Settlement{Writer: writer, Run: run, Seq: 1}); err != nil {
		return 0, fmt.Errorf("recover settlements: %w", err)
	}
	prefix := writer + string(GroupSeparator)
	n, after := 0, ""
	for {
		recs, err := s.store.Scan(ctx, KindSettlement, prefix, after, 64)
		if err != nil {
			return n, fmt.Errorf("recover settlements of %s: %w", writer, err)
		}
		for _, r := range recs {
			after = r.Key
			var st Settlement
			if err := json.Unmarshal(r.Value, &st); err != nil {
				return n, fmt.Errorf("dataservice: corrupt settlement %q: %w", r.Key, err)
			}
			if st.Run == run || strings.HasPrefix(st.Run, run+".") || settlementKey(st.Writer, st.Run, st.Seq) != r.Key {
				continue
			}
			st.Replay = true
			if _, err := s.Settle(ctx, st); err != nil {
				return n, fmt.Errorf("recover settlements of %s: %w", writer, err)
			}
			n++
		}
		if len(recs) < 64 {
			return n, nil
		}
	}
}
