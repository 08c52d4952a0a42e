package dataservice

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
)

// SettleCursor is what a device did with broadcasts (see
// Settlement.Cursors): the broadcast cursor moves forward by
// compare-and-set, and what the move newly covers is counted — sent for
// Sent above the old Sent, delivered and failed for those up to Acked
// above the old Acked (delivered wins when an id is both).
type SettleCursor struct {
	RID   string   `json:"rid"`
	Sent  []uint64 `json:"sent,omitempty"`
	Acked uint64   `json:"acked,string,omitempty"`
	// Delivered and Failed are broadcasts up to Acked the device
	// acknowledged, or that were dropped unacknowledged.
	Delivered []uint64 `json:"delivered,omitempty"`
	Failed    []uint64 `json:"failed,omitempty"`
}

// A cursor record a settlement wrote (version 2) keeps, after the cursor,
// its last few moves: the settlement's mark and the cursor before it, so
// that a replay counts what the move covered even if the cursor moved
// again since.
const (
	cursorRecordVersion2 = 2
	maxCursorMoves       = 4
	cursorMoveLen        = settleMarkLen + 16
)

type cursorMove struct {
	mark            settleMark
	oldSent, oldAck uint64
}

func encodeCursorMoves(c BroadcastCursor, moves []cursorMove) []byte {
	b := make([]byte, 0, 18+len(moves)*cursorMoveLen)
	b = append(b, cursorRecordVersion2)
	b = binary.BigEndian.AppendUint64(b, c.Sent)
	b = binary.BigEndian.AppendUint64(b, c.Acked)
	b = append(b, byte(len(moves)))
	for _, m := range moves {
		b = m.mark.append(b)
		b = binary.BigEndian.AppendUint64(b, m.oldSent)
		b = binary.BigEndian.AppendUint64(b, m.oldAck)
	}
	return b
}

// decodeCursorRecord decodes a cursor record of either version.
func decodeCursorRecord(rid string, v []byte) (BroadcastCursor, []cursorMove, error) {
	if len(v) >= 1 && v[0] == cursorRecordVersion {
		c, err := decodeCursor(rid, v)
		return c, nil, err
	}
	if len(v) < 18 || v[0] != cursorRecordVersion2 || len(v) != 18+int(v[17])*cursorMoveLen {
		return BroadcastCursor{}, nil, fmt.Errorf("dataservice: corrupt broadcast cursor record %s", rid)
	}
	c := BroadcastCursor{RegistrationID: rid, Sent: binary.BigEndian.Uint64(v[1:9]), Acked: binary.BigEndian.Uint64(v[9:17])}
	moves := make([]cursorMove, v[17])
	for i := range moves {
		p := v[18+i*cursorMoveLen:]
		moves[i] = cursorMove{mark: decodeSettleMark(p), oldSent: binary.BigEndian.Uint64(p[settleMarkLen:]), oldAck: binary.BigEndian.Uint64(p[settleMarkLen+8:])}
	}
	return c, moves, nil
}

// settleCursors moves the cursors of st (merged per device) and counts
// what the moves newly cover; a move this settlement made before (a
// replay) is counted from the cursor it replaced.
func (s *Service) settleCursors(ctx context.Context, st *Settlement, mark settleMark, counts map[counterKey]int64) error {
	byRID := make(map[string]int)
	var merged []SettleCursor
	for _, c := range st.Cursors {
		i, ok := byRID[c.RID]
		if !ok {
			byRID[c.RID] = len(merged)
			merged = append(merged, c)
			continue
		}
		m := &merged[i]
		m.Sent = append(m.Sent, c.Sent...)
		m.Acked = max(m.Acked, c.Acked)
		m.Delivered = append(m.Delivered, c.Delivered...)
		m.Failed = append(m.Failed, c.Failed...)
	}
	pending := merged
	for range casAttempts {
		if len(pending) == 0 {
			return nil
		}
		rids := make([]string, len(pending))
		for i, a := range pending {
			rids[i] = a.RID
		}
		recs, err := s.store.GetMany(ctx, KindBroadcastCursor, rids)
		if err != nil {
			return fmt.Errorf("broadcast cursors: %w", err)
		}
		var writes []Write
		var moved []cursorMove
		var idx []int
		for i, a := range pending {
			cur, moves := BroadcastCursor{RegistrationID: a.RID}, []cursorMove(nil)
			if recs[i].Exists() {
				if cur, moves, err = decodeCursorRecord(a.RID, recs[i].Value); err != nil {
					return err
				}
			}
			if j := ourMove(moves, mark); j >= 0 {
				countCursor(&a, moves[j].oldSent, moves[j].oldAck, counts) // a replay
				continue
			}
			nc := cur
			for _, id := range a.Sent {
				nc.Sent = max(nc.Sent, id)
			}
			nc.Acked = max(nc.Acked, a.Acked)
			if nc.Sent == cur.Sent && nc.Acked == cur.Acked {
				continue // nothing new: another actor covered it all
			}
			mv := cursorMove{mark: mark, oldSent: cur.Sent, oldAck: cur.Acked}
			keep := append([]cursorMove{mv}, moves[:min(len(moves), maxCursorMoves-1)]...)
			opts := WriteOptions{Generation: recs[i].Generation, CreateOnly: !recs[i].Exists()}
			writes = append(writes, Write{Kind: KindBroadcastCursor, Key: a.RID, Value: encodeCursorMoves(nc, keep), Options: opts})
			moved = append(moved, mv)
			idx = append(idx, i)
		}
		if len(writes) == 0 {
			return nil
		}
		errs, err := PerWrite(s.store.PutMany(ctx, writes), len(writes))
		if err != nil {
			return fmt.Errorf("put %d broadcast cursors: %w", len(writes), err)
		}
		var retry []SettleCursor
		for j, e := range errs {
			a := pending[idx[j]]
			switch {
			case e == nil:
				countCursor(&a, moved[j].oldSent, moved[j].oldAck, counts)
			case errors.Is(e, ErrExists), errors.Is(e, ErrGenerationMismatch):
				retry = append(retry, a)
			default:
				return fmt.Errorf("put broadcast cursor %s: %w", a.RID, e)
			}
		}
		pending = retry
	}
	if len(pending) > 0 {
		return fmt.Errorf("broadcast cursors: %w: they kept changing concurrently", ErrGenerationMismatch)
	}
	return nil
}

func ourMove(moves []cursorMove, mark settleMark) int {
	for i, m := range moves {
		if m.mark.run == mark.run && m.mark.seq == mark.seq {
			return i
		}
	}
	return -1
}

// countCursor counts what a's move from (oldSent, oldAcked) covers: each id
// once, delivered over failed.
func countCursor(a *SettleCursor, oldSent, oldAcked uint64, counts map[counterKey]int64) {
	seen := make(map[uint64]bool, len(a.Sent))
	for _, id := range a.Sent {
		if !seen[id] && id > oldSent {
			seen[id] = true
			counts[counterKey{id, CounterSent}]++
		}
	}
	newAcked := max(oldAcked, a.Acked)
	ended := make(map[uint64]bool, len(a.Delivered)+len(a.Failed))
	for _, l := range []struct {
		ids []uint64
		c   Counter
	}{{a.Delivered, CounterDelivered}, {a.Failed, CounterFailed}} {
		for _, id := range l.ids {
			if !ended[id] && id > oldAcked && id <= newAcked {
				ended[id] = true
				counts[counterKey{id, l.c}]++
			}
		}
	}
}
