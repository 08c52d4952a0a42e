package dataservice

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

var _ PushData = (*Service)(nil)

// Limits of push data.
const (
	// MaxCollapseIDLen bounds a collapse id, in bytes: what APNs accepts
	// as apns-collapse-id, so that the id can be passed on to the bridges.
	MaxCollapseIDLen = 64
	// MaxCIDLen bounds an idempotency key, in bytes (JPush's cid is a
	// 36-byte UUID, usually after a prefix).
	MaxCIDLen = 64
)

// CheckCollapseID validates a message's collapse id: 1 to
// MaxCollapseIDLen bytes of UTF-8 without '/' (the group separator of the
// collapse keys) and without control characters, the rules of tags with
// APNs's length.
func CheckCollapseID(id string) error {
	return checkToken("collapse id", id, MaxCollapseIDLen, unicode.IsControl)
}

// CheckCID validates an idempotency key: 1 to MaxCIDLen bytes of printable
// UTF-8 (unicode.IsPrint: letters, marks, numbers, punctuation, symbols
// and the ASCII space) without '/'.
func CheckCID(cid string) error {
	return checkToken("cid", cid, MaxCIDLen, func(r rune) bool { return !unicode.IsPrint(r) })
}

// checkToken validates a name used as the member of a group key: 1 to max
// bytes of UTF-8 without '/' and without a rune bad reports.
func checkToken(what, s string, limit int, bad func(rune) bool) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: empty %s", ErrInvalid, what)
	case len(s) > limit:
		return fmt.Errorf("%w: %s of %d bytes; at most %d are allowed", ErrInvalid, what, len(s), limit)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: %s is not valid UTF-8", ErrInvalid, what)
	case strings.IndexByte(s, GroupSeparator) >= 0:
		return fmt.Errorf("%w: %s %q contains '/'", ErrInvalid, what, s)
	case strings.IndexFunc(s, bad) >= 0:
		return fmt.Errorf("%w: %s %q contains a control or unprintable character", ErrInvalid, what, s)
	}
	return nil
}

// Keys of push data. Ids in keys are zero-padded decimal (idKey), so that
// byte order of keys is numeric order of ids.
//
//	KindTask            task/<id>          → Task, JSON
//	KindTask            active/<id>        → nothing: the task is not finished
//	KindBroadcast       <app>/<id>         → nothing: an unexpired broadcast
//	KindBroadcastCursor <rid>              → BroadcastCursor, compact (encodeCursor)
//	KindCID             <app>/<cid>        → message id, 8 bytes big endian
//	KindAppCount        <app>              → counter record {"devices": n}
//	KindLastActive      <rid>              → unix ms, 8 bytes big endian
//	KindCollapse        <rid>/<collapse>   → message id, 8 bytes big endian
const (
	taskGroup    = "task/"
	activeGroup  = "active/"
	appCountName = "devices"
)

// idKey is the 20-digit decimal form of an id.
func idKey(id uint64) string {
	var b [20]byte
	for i := len(b) - 1; i >= 0; i-- {
		b[i] = byte('0' + id%10)
		id /= 10
	}
	return string(b[:])
}

// parseIDKey parses what idKey made.
func parseIDKey(s string) (uint64, bool) {
	if len(s) != 20 {
		return 0, false
	}
	var id uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if id > (1<<64-1-d)/10 {
			return 0, false // overflow
		}
		id = id*10 + d
	}
	return id, true
}

func taskKey(id uint64) string                  { return taskGroup + idKey(id) }
func activeKey(id uint64) string                { return activeGroup + idKey(id) }
func broadcastKey(app string, id uint64) string { return app + "/" + idKey(id) }
func cidKey(app, cid string) string             { return app + "/" + cid }
func collapseKey(rid, collapse string) string   { return rid + "/" + collapse }

// Message ids and times as values: 8 bytes big endian.
func encodeID(id uint64) []byte { return binary.BigEndian.AppendUint64(make([]byte, 0, 8), id) }

func decodeID(v []byte) (uint64, bool) {
	if len(v) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(v), true
}

func encodeLastActive(t time.Time) []byte { return encodeID(uint64(t.UnixMilli())) }

func decodeLastActive(rid string, v []byte) (time.Time, error) {
	ms, ok := decodeID(v)
	if !ok {
		return time.Time{}, fmt.Errorf("dataservice: corrupt last-active record %s", rid)
	}
	return time.UnixMilli(int64(ms)).UTC(), nil
}

// Broadcast cursors are read and written on every connection of a device
// of an app with broadcasts: version, sent, acked (uint64, big endian).
const cursorRecordVersion = 1

func encodeCursor(c BroadcastCursor) []byte {
	b := make([]byte, 0, 17)
	b = append(b, cursorRecordVersion)
	b = binary.BigEndian.AppendUint64(b, c.Sent)
	return binary.BigEndian.AppendUint64(b, c.Acked)
}

func decodeCursor(rid string, v []byte) (BroadcastCursor, error) {
	if len(v) != 17 || v[0] != cursorRecordVersion {
		return BroadcastCursor{}, fmt.Errorf("dataservice: corrupt broadcast cursor record %s", rid)
	}
	return BroadcastCursor{
		RegistrationID: rid,
		Sent:           binary.BigEndian.Uint64(v[1:9]),
		Acked:          binary.BigEndian.Uint64(v[9:17]),
	}, nil
}

// Tasks are written once per checkpoint, not on a hot path: JSON, which
// keeps their many optional fields easy to evolve.

// checkTask validates a task before it is written.
func checkTask(t *Task) error {
	if t.ID == 0 {
		return fmt.Errorf("%w: zero task id", ErrInvalid)
	}
	if err := checkAppKey(t.AppKey); err != nil {
		return err
	}
	switch t.State {
	case TaskRunning, TaskCanceling, TaskDone, TaskCanceled, TaskFailed:
	default:
		return fmt.Errorf("%w: unknown task state %q", ErrInvalid, t.State)
	}
	if t.Targeted < 0 || t.Rate < 0 {
		return fmt.Errorf("%w: negative targeted (%d) or rate (%d)", ErrInvalid, t.Targeted, t.Rate)
	}
	return nil
}

func encodeTask(t *Task) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // Spec and Error hold caller bytes: keep them verbatim
	if err := enc.Encode(t); err != nil {
		return nil, fmt.Errorf("%w: encode task %d: %v", ErrInvalid, t.ID, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

func decodeTask(id uint64, r Record) (Task, error) {
	var t Task
	if err := json.Unmarshal(r.Value, &t); err != nil {
		return Task{}, fmt.Errorf("dataservice: decode task %d: %w", id, err)
	}
	t.ID, t.Generation = id, r.Generation
	return t, nil
}

// finishedTaskTTL is how long a finished task lives: ReportRetention past
// its message's expiry, or past now if its message is gone.
func (s *Service) finishedTaskTTL(ctx context.Context, id uint64) (time.Duration, error) {
	now := s.now()
	until := now.Add(ReportRetention)
	r, err := s.store.Get(ctx, KindMessage, messageKey(id))
	switch {
	case err == nil:
		m, err := decodeMessage(id, r.Value)
		if err != nil {
			return 0, err
		}
		until = m.Expires().Add(ReportRetention)
	case !errors.Is(err, ErrNotFound):
		return 0, fmt.Errorf("message of task %d: %w", id, err)
	}
	// The floor only matters for clocks that disagree on when the
	// message expires.
	return min(max(until.Sub(now), time.Minute), MaxTTL), nil
}

// CreateTask implements PushData: the task record and its active entry in
// one batch, both create-only. A create that failed half-way and is
// retried finds its task (ErrExists) or writes it; an active entry that
// exists already (from such a failed attempt) is no error.
func (s *Service) CreateTask(ctx context.Context, t Task) error {
	if err := checkTask(&t); err != nil {
		return fmt.Errorf("create task %d: %w", t.ID, err)
	}
	v, err := encodeTask(&t)
	if err != nil {
		return fmt.Errorf("create task: %w", err)
	}
	if TaskFinished(t.State) {
		ttl, err := s.finishedTaskTTL(ctx, t.ID)
		if err != nil {
			return fmt.Errorf("create task: %w", err)
		}
		if _, err := s.store.Put(ctx, KindTask, taskKey(t.ID), v, WriteOptions{TTL: ttl, CreateOnly: true}); err != nil {
			return fmt.Errorf("create task %d: %w", t.ID, err)
		}
		return nil
	}
	errs, err := PerWrite(s.store.PutMany(ctx, []Write{
		{Kind: KindTask, Key: taskKey(t.ID), Value: v, Options: WriteOptions{CreateOnly: true}},
		{Kind: KindTask, Key: activeKey(t.ID), Value: []byte{}, Options: WriteOptions{CreateOnly: true}},
	}), 2)
	if err == nil {
		err = errs[0]
	}
	if err != nil {
		return fmt.Errorf("create task %d: %w", t.ID, err)
	}
	return nil
}

// Task implements PushData.
func (s *Service) Task(ctx context.Context, id uint64) (Task, error) {
	r, err := s.store.Get(ctx, KindTask, taskKey(id))
	if err != nil {
		return Task{}, fmt.Errorf("task %d: %w", id, err)
	}
	return decodeTask(id, r)
}

// UpdateTask implements PushData: one compare-and-set of the task record;
// for a final state, with the task's retention as TTL, after reading the
// message for its expiry, and followed by the deletion of the active
// entry. If that deletion fails the update still succeeded: ActiveTasks
// skips and deletes the entry of a finished task.
func (s *Service) UpdateTask(ctx context.Context, t Task) (uint32, error) {
	if err := checkTask(&t); err != nil {
		return 0, fmt.Errorf("update task %d: %w", t.ID, err)
	}
	if t.Generation == 0 {
		return 0, fmt.Errorf("update task %d: %w: no generation (update a task read with Task or ActiveTasks)", t.ID, ErrInvalid)
	}
	v, err := encodeTask(&t)
	if err != nil {
		return 0, fmt.Errorf("update task: %w", err)
	}
	final := TaskFinished(t.State)
	opts := WriteOptions{Generation: t.Generation}
	if final {
		if opts.TTL, err = s.finishedTaskTTL(ctx, t.ID); err != nil {
			return 0, fmt.Errorf("update task: %w", err)
		}
	}
	gen, err := s.store.Put(ctx, KindTask, taskKey(t.ID), v, opts)
	if errors.Is(err, ErrGenerationMismatch) {
		// A conditional write of a missing record mismatches too: tell
		// the two apart.
		if _, gerr := s.store.Get(ctx, KindTask, taskKey(t.ID)); errors.Is(gerr, ErrNotFound) {
			err = gerr
		}
	}
	if err != nil {
		return 0, fmt.Errorf("update task %d: %w", t.ID, err)
	}
	if final {
		// Best effort, see above.
		_, _ = s.store.Delete(ctx, KindTask, activeKey(t.ID), 0)
	} else if _, err := s.store.Put(ctx, KindTask, activeKey(t.ID), []byte{}, WriteOptions{}); err != nil {
		// Listed again if it was finished; a no-op rewrite otherwise.
		return 0, fmt.Errorf("update task %d: active entry: %w", t.ID, err)
	}
	return gen, nil
}

// ActiveTasks implements PushData: a Scan of the active entries, then a
// GetMany of their tasks. Entries whose task is missing (a CreateTask in
// flight, or a task expired after a crash) are skipped; entries of
// finished tasks (a delete of UpdateTask that failed, or a CreateTask of
// a finished task retried) are skipped and deleted. Skipped entries are
// made up for by reading further, so that a short page means the end.
func (s *Service) ActiveTasks(ctx context.Context, after uint64, limit int) ([]Task, error) {
	if err := checkPage(limit); err != nil {
		return nil, fmt.Errorf("active tasks: %w", err)
	}
	from := ""
	if after > 0 {
		from = activeKey(after)
	}
	out := make([]Task, 0, min(limit, 256))
	for len(out) < limit {
		want := limit - len(out)
		entries, err := s.store.Scan(ctx, KindTask, activeGroup, from, want)
		if err != nil {
			return nil, fmt.Errorf("active tasks: %w", err)
		}
		if len(entries) == 0 {
			break
		}
		ids := make([]uint64, len(entries))
		keys := make([]string, len(entries))
		for i, e := range entries {
			id, ok := parseIDKey(e.Key[len(activeGroup):])
			if !ok {
				return nil, fmt.Errorf("dataservice: corrupt active task entry %q", e.Key)
			}
			ids[i], keys[i] = id, taskKey(id)
		}
		recs, err := s.store.GetMany(ctx, KindTask, keys)
		if err != nil {
			return nil, fmt.Errorf("active tasks: %w", err)
		}
		for i, r := range recs {
			if !r.Exists() {
				continue
			}
			t, err := decodeTask(ids[i], r)
			if err != nil {
				return nil, err
			}
			if TaskFinished(t.State) {
				// Only this entry, as read: best effort, the next call
				// tries again.
				_, _ = s.store.Delete(ctx, KindTask, entries[i].Key, entries[i].Generation)
				continue
			}
			out = append(out, t)
		}
		if len(entries) < want {
			break
		}
		from = entries[len(entries)-1].Key
	}
	return out, nil
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

// SaveCopies implements PushData: the copies in one batch of create-only
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

// SaveBroadcast implements PushData: the body and the list entry in one
// batch, then the targeted counter.
func (s *Service) SaveBroadcast(ctx context.Context, m *Message, targeted int64) error {
	if err := checkMessage(m); err != nil {
		return fmt.Errorf("save broadcast: %w", err)
	}
	switch {
	case !m.Broadcast:
		return fmt.Errorf("save broadcast %d: %w: the message is not marked Broadcast", m.ID, ErrInvalid)
	case targeted < 0:
		return fmt.Errorf("save broadcast %d: %w: negative targeted %d", m.ID, ErrInvalid, targeted)
	}
	if err := checkAppKey(m.AppKey); err != nil {
		return fmt.Errorf("save broadcast %d: %w", m.ID, err)
	}
	retain := m.TTL + ReportRetention
	writes := []Write{{Kind: KindMessage, Key: messageKey(m.ID), Value: encodeMessage(m), Options: WriteOptions{TTL: retain, CreateOnly: true}}}
	if w, ok := appMessageWrite(m, retain); ok { // the app's list of messages: service_receipts.go
		writes = append(writes, w)
	}
	if m.TTL > 0 {
		writes = append(writes, Write{Kind: KindBroadcast, Key: broadcastKey(m.AppKey, m.ID), Value: []byte{}, Options: WriteOptions{TTL: m.TTL + AckGrace, Fresh: true}})
	}
	if err := s.store.PutMany(ctx, writes); err != nil {
		return fmt.Errorf("save broadcast %d: %w", m.ID, err)
	}
	if _, err := s.store.Incr(ctx, KindCounter, messageKey(m.ID), []Delta{{Name: string(CounterTargeted), Delta: targeted}}, retain); err != nil {
		return fmt.Errorf("save broadcast %d: targeted counter: %w", m.ID, err)
	}
	return nil
}

// AppBroadcasts implements PushData.
func (s *Service) AppBroadcasts(ctx context.Context, app string, after uint64, limit int) ([]uint64, error) {
	if err := checkAppKey(app); err != nil {
		return nil, fmt.Errorf("broadcasts: %w", err)
	}
	if err := checkPage(limit); err != nil {
		return nil, fmt.Errorf("broadcasts of app %s: %w", app, err)
	}
	prefix, from := app+"/", ""
	if after > 0 {
		from = broadcastKey(app, after)
	}
	recs, err := s.store.Scan(ctx, KindBroadcast, prefix, from, limit)
	if err != nil {
		return nil, fmt.Errorf("broadcasts of app %s: %w", app, err)
	}
	out := make([]uint64, len(recs))
	for i, r := range recs {
		id, ok := parseIDKey(r.Key[len(prefix):])
		if !ok {
			return nil, fmt.Errorf("dataservice: corrupt broadcast entry %q", r.Key)
		}
		out[i] = id
	}
	return out, nil
}

// RemoveBroadcast implements PushData.
func (s *Service) RemoveBroadcast(ctx context.Context, app string, id uint64) (bool, error) {
	if err := checkAppKey(app); err != nil {
		return false, fmt.Errorf("remove broadcast %d: %w", id, err)
	}
	existed, err := s.store.Delete(ctx, KindBroadcast, broadcastKey(app, id), 0)
	if err != nil {
		return false, fmt.Errorf("remove broadcast %d of app %s: %w", id, app, err)
	}
	return existed, nil
}

// BroadcastCursors implements PushData.
func (s *Service) BroadcastCursors(ctx context.Context, rids []string) ([]BroadcastCursor, error) {
	out := make([]BroadcastCursor, len(rids))
	if len(rids) == 0 {
		return out, nil
	}
	recs, err := s.store.GetMany(ctx, KindBroadcastCursor, rids)
	if err != nil {
		return nil, fmt.Errorf("broadcast cursors: %w", err)
	}
	for i, r := range recs {
		if !r.Exists() {
			out[i].RegistrationID = rids[i]
			continue
		}
		if out[i], err = decodeCursor(rids[i], r.Value); err != nil {
			return nil, err
		}
		out[i].Generation = r.Generation
	}
	return out, nil
}

// PutBroadcastCursors implements PushData: one batch of conditional
// writes.
func (s *Service) PutBroadcastCursors(ctx context.Context, cursors []BroadcastCursor) ([]bool, error) {
	out := make([]bool, len(cursors))
	if len(cursors) == 0 {
		return out, nil
	}
	writes := make([]Write, len(cursors))
	for i, c := range cursors {
		writes[i] = Write{Kind: KindBroadcastCursor, Key: c.RegistrationID, Value: encodeCursor(c),
			Options: WriteOptions{Generation: c.Generation, CreateOnly: c.Generation == 0}}
	}
	errs, err := PerWrite(s.store.PutMany(ctx, writes), len(writes))
	if err != nil {
		return nil, fmt.Errorf("put %d broadcast cursors: %w", len(cursors), err)
	}
	for i, e := range errs {
		switch {
		case e == nil:
			out[i] = true
		case !errors.Is(e, ErrExists) && !errors.Is(e, ErrGenerationMismatch):
			return nil, fmt.Errorf("put broadcast cursor %s: %w", cursors[i].RegistrationID, e)
		}
	}
	return out, nil
}

// ReserveCID implements PushData: a create-only write, and on ErrExists a
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

// countAppDevice counts a device createDevice created. See
// PushData.AppDeviceCount for why a failure is not reported.
func (s *Service) countAppDevice(ctx context.Context, app string) {
	_, _ = s.store.Incr(ctx, KindAppCount, app, []Delta{{Name: appCountName, Delta: 1}}, 0)
}

// AppDeviceCount implements PushData.
func (s *Service) AppDeviceCount(ctx context.Context, app string) (int64, error) {
	if err := checkAppKey(app); err != nil {
		return 0, fmt.Errorf("device count: %w", err)
	}
	c, err := s.store.Counters(ctx, KindAppCount, app)
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("device count of app %s: %w", app, err)
	}
	return c[appCountName], nil
}

// lastActiveWrites are the last-active marks of PutSessions.
func (s *Service) lastActiveWrites(sessions []Session) []Write {
	writes := make([]Write, len(sessions))
	for i, sess := range sessions {
		since := sess.Since
		if since.IsZero() {
			since = s.now()
		}
		writes[i] = Write{Kind: KindLastActive, Key: sess.RegistrationID, Value: encodeLastActive(since)}
	}
	return writes
}

// LastActive implements PushData: the sessions, then the last-active
// marks of the devices without one.
func (s *Service) LastActive(ctx context.Context, rids []string) ([]time.Time, error) {
	out := make([]time.Time, len(rids))
	if len(rids) == 0 {
		return out, nil
	}
	sessions, err := s.Sessions(ctx, rids)
	if err != nil {
		return nil, fmt.Errorf("last active: %w", err)
	}
	now := time.UnixMilli(s.now().UnixMilli()).UTC()
	var (
		rest []string
		at   []int
	)
	for i, sess := range sessions {
		if sess.Exists() {
			out[i] = now
			continue
		}
		rest, at = append(rest, rids[i]), append(at, i)
	}
	if len(rest) == 0 {
		return out, nil
	}
	recs, err := s.store.GetMany(ctx, KindLastActive, rest)
	if err != nil {
		return nil, fmt.Errorf("last active: %w", err)
	}
	for k, r := range recs {
		if !r.Exists() {
			continue
		}
		if out[at[k]], err = decodeLastActive(rest[k], r.Value); err != nil {
			return nil, err
		}
	}
	return out, nil
}
