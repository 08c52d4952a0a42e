package dataservice

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
)

var (
	_ MessageStore = (*Service)(nil)
	_ InboxStore   = (*Service)(nil)
)

// Keys of messages, beside messageKey (service.go):
//
//	KindInbox    <rid>/<messageKey>   → attempts, 1 byte
//	KindCID      <app>/<cid>          → message id, 8 bytes big endian
//	KindCollapse <rid>/<collapse>     → message id, 8 bytes big endian

func inboxKey(rid string, id uint64) string {
	return rid + string(GroupSeparator) + messageKey(id)
}

func cidKey(app, cid string) string { return app + "/" + cid }

func collapseKey(rid, collapse string) string { return rid + "/" + collapse }

// SaveMessage implements MessageStore. A message with a TTL, a collapse id
// and recipients reads their collapse entries first and settles them
// after (see collapsePlan); without a collapse id it costs one batch.
func (s *Service) SaveMessage(ctx context.Context, m *Message, recipients []string) error {
	return s.saveMessage(ctx, m, recipients, false)
}

// SaveNewMessage implements MessageStore.
func (s *Service) SaveNewMessage(ctx context.Context, m *Message, recipients []string) error {
	return s.saveMessage(ctx, m, recipients, true)
}

// saveMessage is SaveMessage, or SaveNewMessage if isNew: the message and
// its counters are then written without reading whether they exist.
func (s *Service) saveMessage(ctx context.Context, m *Message, recipients []string, isNew bool) error {
	if m.ID == 0 {
		return fmt.Errorf("save message: %w: zero message id", ErrInvalid)
	}
	if m.CollapseID != "" {
		if err := CheckCollapseID(m.CollapseID); err != nil {
			return fmt.Errorf("save message %d: %w", m.ID, err)
		}
	}
	body := encodeMessage(m)
	retain := m.TTL + ReportRetention
	copyTTL := m.TTL + AckGrace
	var plan *collapsePlan
	if m.TTL > 0 && m.CollapseID != "" && len(recipients) > 0 {
		var err error
		if plan, err = s.readCollapse(ctx, m, recipients); err != nil {
			return fmt.Errorf("save message %d: %w", m.ID, err)
		}
	}
	// The targeted counter starts the message's counters. Create-only: a
	// second call for the same message (a retried push) finds them and
	// leaves them as they are, as it leaves the message. A new id has
	// nothing to find.
	first := WriteOptions{TTL: retain, CreateOnly: !isNew, Fresh: isNew}
	writes := make([]Write, 0, 3+len(recipients))
	writes = append(writes, Write{Kind: KindMessage, Key: messageKey(m.ID), Value: body, Options: first})
	writes = append(writes, Write{Kind: KindCounter, Key: messageKey(m.ID),
		Deltas: []Delta{{Name: string(CounterTargeted), Delta: int64(len(recipients))}}, Options: first})
	if w, ok := appMessageWrite(m, retain); ok { // the app's list of messages: reports_service.go
		writes = append(writes, w)
	}
	if m.TTL > 0 {
		for i, rid := range recipients {
			if plan.skips(i) {
				continue
			}
			// Fresh: the key holds the id the gateway generated for this
			// message, which the batch's message write creates (or finds,
			// failing the batch).
			writes = append(writes, Write{Kind: KindInbox, Key: inboxKey(rid, m.ID), Value: []byte{0}, Options: WriteOptions{TTL: copyTTL, Fresh: true}})
		}
	}
	if err := s.store.PutMany(ctx, writes); err != nil {
		return fmt.Errorf("save message %d: %w", m.ID, err)
	}
	// Saved: a save that was a retry failed its message write above. Its
	// day totals are summed in memory (reports_service.go).
	if m.AppKey != "" {
		s.recent.put(m.ID, m.AppKey)
		s.addDay(ctx, m.AppKey, m.ID, int64(len(recipients)))
	}
	if plan != nil {
		if err := s.collapseCopies(ctx, m, plan, copyTTL); err != nil {
			return fmt.Errorf("save message %d: %w", m.ID, err)
		}
	}
	return nil
}

// Message implements MessageStore.
func (s *Service) Message(ctx context.Context, id uint64) (Message, error) {
	r, err := s.store.Get(ctx, KindMessage, messageKey(id))
	if err != nil {
		return Message{}, fmt.Errorf("message %d: %w", id, err)
	}
	return decodeMessage(id, r.Value)
}

// Messages implements MessageStore.
func (s *Service) Messages(ctx context.Context, ids []uint64) ([]Message, error) {
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = messageKey(id)
	}
	recs, err := s.store.GetMany(ctx, KindMessage, keys)
	if err != nil {
		return nil, fmt.Errorf("messages: %w", err)
	}
	out := make([]Message, len(recs))
	for i, r := range recs {
		if !r.Exists() {
			continue
		}
		if out[i], err = decodeMessage(ids[i], r.Value); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ReserveCID implements MessageStore: a create-only write, and on ErrExists a
// read of what is bound.
func (s *Service) ReserveCID(ctx context.Context, app, cid string, id uint64, ttl time.Duration) (uint64, bool, error) {
	if err := checkAppKey(app); err != nil {
		return 0, false, fmt.Errorf("reserve cid: %w", err)
	}
	if err := CheckCID(cid); err != nil {
		return 0, false, fmt.Errorf("reserve cid: %w", err)
	}
	switch {
	case id == 0:
		return 0, false, fmt.Errorf("reserve cid %q: %w: zero message id", cid, ErrInvalid)
	case ttl <= 0 || ttl > MaxTTL:
		return 0, false, fmt.Errorf("reserve cid %q: %w: TTL %v outside (0, %v]", cid, ErrInvalid, ttl, MaxTTL)
	}
	key := cidKey(app, cid)
	for range casAttempts {
		_, err := s.store.Put(ctx, KindCID, key, encodeID(id), WriteOptions{TTL: ttl, CreateOnly: true})
		if err == nil {
			return id, true, nil
		}
		if !errors.Is(err, ErrExists) {
			return 0, false, fmt.Errorf("reserve cid %q of app %s: %w", cid, app, err)
		}
		r, err := s.store.Get(ctx, KindCID, key)
		if errors.Is(err, ErrNotFound) {
			continue // expired in between: bind it again
		}
		if err != nil {
			return 0, false, fmt.Errorf("reserve cid %q of app %s: %w", cid, app, err)
		}
		bound, ok := decodeID(r.Value)
		if !ok {
			return 0, false, fmt.Errorf("dataservice: corrupt cid record %q", key)
		}
		return bound, false, nil
	}
	return 0, false, fmt.Errorf("reserve cid %q of app %s: %w: the key keeps expiring and being bound; retry", cid, app, ErrGenerationMismatch)
}

// Inbox implements InboxStore.
func (s *Service) Inbox(ctx context.Context, rid string, after uint64, limit int) ([]InboxEntry, error) {
	prefix := rid + string(GroupSeparator)
	var from string
	if after > 0 {
		from = inboxKey(rid, after)
	}
	recs, err := s.store.Scan(ctx, KindInbox, prefix, from, limit)
	if err != nil {
		return nil, fmt.Errorf("inbox of %s: %w", rid, err)
	}
	out := make([]InboxEntry, 0, len(recs))
	for _, r := range recs {
		id, err := strconv.ParseUint(r.Key[len(prefix):], 16, 64)
		if err != nil || len(r.Value) != 1 {
			return nil, fmt.Errorf("dataservice: corrupt inbox record %q", r.Key)
		}
		out = append(out, InboxEntry{MessageID: id, Attempts: r.Value[0], Expires: r.Expires, Generation: r.Generation})
	}
	return out, nil
}

// RemoveInbox implements InboxStore.
func (s *Service) RemoveInbox(ctx context.Context, copies []InboxCopy) ([]bool, error) {
	keys := make([]string, len(copies))
	for i, c := range copies {
		keys[i] = inboxKey(c.RegistrationID, c.MessageID)
	}
	existed, err := s.store.DeleteMany(ctx, KindInbox, keys)
	if err != nil {
		return nil, fmt.Errorf("remove %d inbox copies: %w", len(copies), err)
	}
	return existed, nil
}

// UpdateInbox implements InboxStore.
func (s *Service) UpdateInbox(ctx context.Context, rid string, entries []InboxEntry) error {
	now := s.now()
	writes := make([]Write, 0, len(entries))
	for _, e := range entries {
		ttl := e.Expires.Sub(now)
		if ttl <= 0 || e.Generation == 0 {
			continue
		}
		writes = append(writes, Write{Kind: KindInbox, Key: inboxKey(rid, e.MessageID), Value: []byte{e.Attempts}, Options: WriteOptions{TTL: ttl, Generation: e.Generation}})
	}
	// Copies acknowledged or rewritten meanwhile fail their generation check:
	// that is the intended outcome, not an error. Apply one by one so one
	// mismatch does not hide the others.
	for _, w := range writes {
		if _, err := s.store.Put(ctx, w.Kind, w.Key, w.Value, w.Options); err != nil && !errors.Is(err, ErrGenerationMismatch) {
			return fmt.Errorf("update inbox of %s: %w", rid, err)
		}
	}
	return nil
}

// checkMessage validates the message of SaveCopies and SaveBroadcast.
func checkMessage(m *Message) error {
	switch {
	case m == nil || m.ID == 0:
		return fmt.Errorf("%w: zero message id", ErrInvalid)
	case m.TTL < 0:
		return fmt.Errorf("%w: negative TTL %v", ErrInvalid, m.TTL)
	case m.CollapseID != "":
		return CheckCollapseID(m.CollapseID)
	}
	return nil
}

// SaveCopies implements InboxStore: the copies in one batch of create-only
// writes, which live until the message expires (plus AckGrace), like
// those of SaveMessage. A message that has expired gets none. With a
// collapse id, one GetMany of the collapse entries comes first and the
// collapse is settled after (collapseCopies).
func (s *Service) SaveCopies(ctx context.Context, m *Message, rids []string) error {
	if err := checkMessage(m); err != nil {
		return fmt.Errorf("save copies: %w", err)
	}
	if m.TTL == 0 || len(rids) == 0 {
		return nil
	}
	if m.Created.IsZero() {
		return fmt.Errorf("save copies of message %d: %w: no creation time (copies live until the message expires)", m.ID, ErrInvalid)
	}
	ttl := min(m.Expires().Add(AckGrace).Sub(s.now()), MaxTTL)
	if ttl <= 0 {
		return nil // no copy could be delivered any more
	}
	var plan *collapsePlan
	if m.CollapseID != "" {
		var err error
		if plan, err = s.readCollapse(ctx, m, rids); err != nil {
			return fmt.Errorf("save copies: %w", err)
		}
	}
	writes := make([]Write, 0, len(rids))
	for i, rid := range rids {
		if plan.skips(i) {
			continue
		}
		writes = append(writes, Write{Kind: KindInbox, Key: inboxKey(rid, m.ID), Value: []byte{0}, Options: WriteOptions{TTL: ttl, CreateOnly: true}})
	}
	if len(writes) > 0 {
		errs, err := PerWrite(s.store.PutMany(ctx, writes), len(writes))
		if err != nil {
			return fmt.Errorf("save copies of message %d: %w", m.ID, err)
		}
		for _, e := range errs {
			if e != nil && !errors.Is(e, ErrExists) { // an existing copy stays as it is
				return fmt.Errorf("save copies of message %d: %w", m.ID, e)
			}
		}
	}
	if plan != nil {
		return s.collapseCopies(ctx, m, plan, ttl)
	}
	return nil
}

// Collapse ids. Per device, a KindCollapse entry names the newest message
// with the collapse id whose copy was written. A message m with a collapse
// id is saved in three steps:
//
//  1. the entries of its recipients are read (readCollapse); recipients
//     whose entry names a newer message get no copy, and count as
//     replaced on m;
//  2. the copies of the others are written;
//  3. each of their entries is made to name m by compare-and-set, unless it
//     names m or a newer message already (re-read on conflict); whoever
//     moves an entry from message o to a newer one removes o's copy, and
//     counts it replaced on o if it still existed; a message that finds a
//     newer one in step 3 removes its own copy, likewise.
//
// As a copy is written before the entry names its message, whoever moves
// the entry on finds the copy to remove: once concurrent saves return,
// a device holds the newest copy only, and each replaced copy is counted
// once. A crash between the steps can leave an older copy beside a newer
// one (the device gets both); nothing is counted twice.

// collapsePlan is what readCollapse found.
type collapsePlan struct {
	skip    []bool   // per recipient: a newer message has the collapse id
	newer   int64    // how many were skipped
	pending []string // the other recipients, distinct
	entries []Record // their entries as read
}

// skips reports whether recipient i gets no copy. A nil plan skips none.
func (p *collapsePlan) skips(i int) bool { return p != nil && p.skip[i] }

// readCollapse reads the collapse entries of rids for m.
func (s *Service) readCollapse(ctx context.Context, m *Message, rids []string) (*collapsePlan, error) {
	keys := make([]string, len(rids))
	for i, rid := range rids {
		keys[i] = collapseKey(rid, m.CollapseID)
	}
	recs, err := s.store.GetMany(ctx, KindCollapse, keys)
	if err != nil {
		return nil, fmt.Errorf("collapse id %q: %w", m.CollapseID, err)
	}
	p := &collapsePlan{skip: make([]bool, len(rids))}
	seen := make(map[string]bool, len(rids))
	for i, r := range recs {
		if id, _ := decodeID(r.Value); r.Exists() && id > m.ID {
			p.skip[i] = true
			p.newer++
			continue
		}
		if !seen[rids[i]] {
			seen[rids[i]] = true
			p.pending = append(p.pending, rids[i])
			p.entries = append(p.entries, r)
		}
	}
	return p, nil
}

// collapseCopies is step 3 (see collapsePlan), with the counting.
func (s *Service) collapseCopies(ctx context.Context, m *Message, p *collapsePlan, ttl time.Duration) error {
	var removals []InboxCopy // copies replaced: older messages', or m's own
	pending, entries := p.pending, p.entries
	for round := 0; len(pending) > 0; round++ {
		if round == casAttempts {
			return fmt.Errorf("collapse id %q of message %d: %w: %d concurrent changes in a row; retry", m.CollapseID, m.ID, ErrGenerationMismatch, casAttempts)
		}
		if err := backoff(ctx, round); err != nil {
			return fmt.Errorf("collapse id %q of message %d: %w", m.CollapseID, m.ID, err)
		}
		var (
			writes []Write
			wrote  []int // index in pending of each write
		)
		for i, r := range entries {
			cur, _ := decodeID(r.Value)
			switch {
			case r.Exists() && cur == m.ID:
			case r.Exists() && cur > m.ID:
				removals = append(removals, InboxCopy{RegistrationID: pending[i], MessageID: m.ID})
			default:
				writes = append(writes, Write{
					Kind: KindCollapse, Key: collapseKey(pending[i], m.CollapseID), Value: encodeID(m.ID),
					Options: WriteOptions{TTL: ttl, Generation: r.Generation, CreateOnly: !r.Exists()},
				})
				wrote = append(wrote, i)
			}
		}
		if len(writes) == 0 {
			break
		}
		errs, err := PerWrite(s.store.PutMany(ctx, writes), len(writes))
		if err != nil {
			return fmt.Errorf("collapse id %q of message %d: %w", m.CollapseID, m.ID, err)
		}
		var retry []string
		for j, e := range errs {
			i := wrote[j]
			if e != nil {
				retry = append(retry, pending[i])
				continue
			}
			if old, ok := decodeID(entries[i].Value); entries[i].Exists() && ok && old != 0 {
				removals = append(removals, InboxCopy{RegistrationID: pending[i], MessageID: old})
			}
		}
		if len(retry) == 0 {
			break
		}
		keys := make([]string, len(retry))
		for i, rid := range retry {
			keys[i] = collapseKey(rid, m.CollapseID)
		}
		if entries, err = s.store.GetMany(ctx, KindCollapse, keys); err != nil {
			return fmt.Errorf("collapse id %q of message %d: %w", m.CollapseID, m.ID, err)
		}
		pending = retry
	}

	deltas := []CounterDelta{{MessageID: m.ID, Counter: CounterReplaced, N: p.newer}}
	if len(removals) > 0 {
		existed, err := s.RemoveInbox(ctx, removals)
		if err != nil {
			return fmt.Errorf("collapse id %q of message %d: %w", m.CollapseID, m.ID, err)
		}
		for i, ok := range existed {
			if ok {
				deltas = append(deltas, CounterDelta{MessageID: removals[i].MessageID, Counter: CounterReplaced, N: 1})
			}
		}
	}
	if err := s.AddCounters(ctx, deltas); err != nil {
		return fmt.Errorf("collapse id %q: %w", m.CollapseID, err)
	}
	return nil
}
