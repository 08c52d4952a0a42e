package dataservice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Retention and grace periods of stored delivery data.
const (
	// ReportRetention is how long a message body and its counters are kept
	// after the message expires, so reports can still be read.
	ReportRetention = 30 * 24 * time.Hour
	// AckGrace extends the life of inbox copies past the message's expiry so
	// that a copy sent just before expiry and acknowledged just after still
	// counts as delivered. Connectors never send a copy after its message
	// expired.
	AckGrace = time.Minute
)

// Service implements Client over a Store, in process.
type Service struct {
	store Store
	now   func() time.Time
}

var _ Client = (*Service)(nil)

// New returns a Service over store. The caller keeps ownership of store and
// closes it after the last call.
func New(store Store) *Service {
	return &Service{store: store, now: time.Now}
}

// Store returns the store behind s.
func (s *Service) Store() Store { return s.store }

// CreateApp implements Client.
func (s *Service) CreateApp(ctx context.Context, app App) error {
	v, err := json.Marshal(app)
	if err != nil {
		return fmt.Errorf("dataservice: encode app: %w", err)
	}
	if _, err := s.store.Put(ctx, KindApp, app.Key, v, WriteOptions{CreateOnly: true}); err != nil {
		return fmt.Errorf("create app %s: %w", app.Key, err)
	}
	return nil
}

// App implements Client.
func (s *Service) App(ctx context.Context, key string) (App, error) {
	var app App
	r, err := s.store.Get(ctx, KindApp, key)
	if err != nil {
		return app, fmt.Errorf("app %s: %w", key, err)
	}
	if err := json.Unmarshal(r.Value, &app); err != nil {
		return app, fmt.Errorf("dataservice: decode app %s: %w", key, err)
	}
	return app, nil
}

// CreateDevice implements Client.
func (s *Service) CreateDevice(ctx context.Context, d Device) error {
	return s.createDevice(ctx, d) // with the app's device index: service_devices.go
}

// Device implements Client.
func (s *Service) Device(ctx context.Context, rid string) (Device, error) {
	r, err := s.store.Get(ctx, KindDevice, rid)
	if err != nil {
		return Device{}, fmt.Errorf("device %s: %w", rid, err)
	}
	return decodeDevice(rid, r.Value)
}

// Devices implements Client.
func (s *Service) Devices(ctx context.Context, rids []string) ([]Device, error) {
	recs, err := s.store.GetMany(ctx, KindDevice, rids)
	if err != nil {
		return nil, fmt.Errorf("devices: %w", err)
	}
	out := make([]Device, len(recs))
	for i, r := range recs {
		if !r.Exists() {
			continue
		}
		if out[i], err = decodeDevice(rids[i], r.Value); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// PutSessions implements Client. Each device's last-active mark (see
// PushData.LastActive) becomes its session's Since, in one batch written
// while the sessions are: the sessions are Puts, whose generations the
// caller needs, so the marks cannot share their calls, but they add no
// round trip.
//
// The Puts run side by side, up to sessionWriters at once. Sessions are
// cached by other processes, so in a cluster each Put waits until every
// cache dropped the key: one after the other, a batch of 100 sessions
// waited for 100 of those round trips, which held a connect storm into a
// cluster near 1,100 connections/s with every process mostly idle; side by
// side, their invalidations share the round trips.
func (s *Service) PutSessions(ctx context.Context, sessions []Session, ttl time.Duration) ([]uint32, error) {
	gens := make([]uint32, len(sessions))
	if len(sessions) == 0 {
		return gens, nil
	}
	marks := make(chan error, 1)
	go func() { marks <- s.store.PutMany(ctx, s.lastActiveWrites(sessions)) }()
	errs := make([]error, len(sessions))
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for range min(sessionWriters, len(sessions)) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(sessions); i = int(next.Add(1) - 1) {
				sess := &sessions[i]
				gen, err := s.store.Put(ctx, KindSession, sess.RegistrationID, encodeSession(*sess), WriteOptions{TTL: ttl})
				if err != nil {
					errs[i] = fmt.Errorf("put session %s: %w", sess.RegistrationID, err)
					continue
				}
				gens[i] = gen
			}
		})
	}
	wg.Wait()
	err := firstError(errs)
	if merr := <-marks; merr != nil && err == nil {
		err = fmt.Errorf("put sessions: last active: %w", merr)
	}
	if err != nil {
		return nil, err
	}
	return gens, nil
}

// sessionWriters bounds the session Puts of one PutSessions in flight.
const sessionWriters = 32

// firstError returns the first non-nil error of errs.
func firstError(errs []error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// Sessions implements Client.
func (s *Service) Sessions(ctx context.Context, rids []string) ([]Session, error) {
	recs, err := s.store.GetMany(ctx, KindSession, rids)
	if err != nil {
		return nil, fmt.Errorf("sessions: %w", err)
	}
	out := make([]Session, len(recs))
	for i, r := range recs {
		if !r.Exists() {
			continue
		}
		if out[i], err = decodeSession(rids[i], r.Value); err != nil {
			return nil, err
		}
		out[i].Generation = r.Generation
	}
	return out, nil
}

// DeleteSession implements Client. A session it deletes ends now: that
// becomes the device's last-active mark.
func (s *Service) DeleteSession(ctx context.Context, rid string, generation uint32) error {
	existed, err := s.store.Delete(ctx, KindSession, rid, generation)
	if errors.Is(err, ErrGenerationMismatch) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delete session %s: %w", rid, err)
	}
	if existed {
		if _, err := s.store.Put(ctx, KindLastActive, rid, encodeLastActive(s.now()), WriteOptions{}); err != nil {
			return fmt.Errorf("delete session %s: last active: %w", rid, err)
		}
	}
	return nil
}

// SaveMessage implements Client. A message with a TTL, a collapse id and
// recipients reads their collapse entries first and settles them after
// (see collapsePlan in service_push.go); without a collapse id it costs
// one batch.
func (s *Service) SaveMessage(ctx context.Context, m *Message, recipients []string) error {
	return s.saveMessage(ctx, m, recipients, false)
}

// SaveNewMessage implements Client.
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
	if w, ok := appMessageWrite(m, retain); ok { // the app's list of messages: service_receipts.go
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
	if plan != nil {
		if err := s.collapseCopies(ctx, m, plan, copyTTL); err != nil {
			return fmt.Errorf("save message %d: %w", m.ID, err)
		}
	}
	return nil
}

// Message implements Client.
func (s *Service) Message(ctx context.Context, id uint64) (Message, error) {
	r, err := s.store.Get(ctx, KindMessage, messageKey(id))
	if err != nil {
		return Message{}, fmt.Errorf("message %d: %w", id, err)
	}
	return decodeMessage(id, r.Value)
}

// Messages implements Client.
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

// Inbox implements Client.
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

// RemoveInbox implements Client.
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

// UpdateInbox implements Client.
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

// AddCounters implements Client.
func (s *Service) AddCounters(ctx context.Context, deltas []CounterDelta) error {
	// Group by message so each message's counters change in one atomic
	// step; all messages' changes go to the store in one batch.
	byMessage := make(map[uint64][]Delta, len(deltas))
	order := make([]uint64, 0, len(deltas))
	for _, d := range deltas {
		if d.N == 0 {
			continue
		}
		if _, ok := byMessage[d.MessageID]; !ok {
			order = append(order, d.MessageID)
		}
		byMessage[d.MessageID] = append(byMessage[d.MessageID], Delta{Name: string(d.Counter), Delta: d.N})
	}
	if len(order) == 0 {
		return nil
	}
	writes := make([]Write, len(order))
	for i, id := range order {
		writes[i] = Write{Kind: KindCounter, Key: messageKey(id), Deltas: byMessage[id]}
	}
	if err := s.store.PutMany(ctx, writes); err != nil {
		return fmt.Errorf("add counters of %d messages: %w", len(order), err)
	}
	return nil
}

// Report implements Client. It reads the message, its counters and its
// task (if it was sent by one) at once: three reads, one round trip of
// latency. A task's Targeted counts the copies SaveCopies stored, which
// the counters do not.
func (s *Service) Report(ctx context.Context, id uint64) (Report, error) {
	var (
		wg         sync.WaitGroup
		c          map[string]int64
		task       Record
		cerr, terr error
	)
	wg.Go(func() { c, cerr = s.store.Counters(ctx, KindCounter, messageKey(id)) })
	wg.Go(func() { task, terr = s.store.Get(ctx, KindTask, taskKey(id)) })
	m, err := s.Message(ctx, id)
	wg.Wait()
	if err != nil {
		return Report{}, err
	}
	if cerr != nil {
		return Report{}, fmt.Errorf("report of message %d: %w", id, cerr)
	}
	if terr != nil && !errors.Is(terr, ErrNotFound) {
		return Report{}, fmt.Errorf("report of message %d: task: %w", id, terr)
	}
	var t *Task
	if terr == nil {
		tt, err := decodeTask(id, task)
		if err != nil {
			return Report{}, err
		}
		t = &tt
	}
	return s.reportOf(&m, c, t), nil
}

// reportOf computes the report of m from its counters and its task (nil
// if it has none).
func (s *Service) reportOf(m *Message, c map[string]int64, t *Task) Report {
	r := Report{
		Targeted:      c[string(CounterTargeted)],
		Sent:          c[string(CounterSent)],
		StoredOffline: c[string(CounterStoredOffline)],
		Delivered:     c[string(CounterDelivered)],
		Clicked:       c[string(CounterClicked)],
		Expired:       c[string(CounterExpired)],
		Failed:        c[string(CounterFailed)],
		Replaced:      c[string(CounterReplaced)],
		Withdrawn:     c[string(CounterWithdrawn)],
	}
	if t != nil {
		r.Targeted += t.Targeted
	}
	// Every copy of a message with a TTL ends delivered, failed, replaced,
	// withdrawn or expired; once no copy can be delivered any more, the
	// rest expired.
	if m.TTL > 0 && !s.now().Before(m.Expires().Add(AckGrace)) {
		if rest := r.Targeted - r.Delivered - r.Failed - r.Replaced - r.Withdrawn - r.Expired; rest > 0 {
			r.Expired += rest
		}
	}
	return r
}

// EnsureConfig implements Client.
func (s *Service) EnsureConfig(ctx context.Context, name string, value []byte) ([]byte, error) {
	_, err := s.store.Put(ctx, KindConfig, name, value, WriteOptions{CreateOnly: true})
	if err == nil {
		return value, nil
	}
	if !errors.Is(err, ErrExists) {
		return nil, fmt.Errorf("config %s: %w", name, err)
	}
	r, err := s.store.Get(ctx, KindConfig, name)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", name, err)
	}
	return r.Value, nil
}

// messageKey is the fixed-width hexadecimal form of a message id, so that
// byte order of keys is numeric order of ids.
func messageKey(id uint64) string {
	var b [16]byte
	const hex = "0123456789abcdef"
	for i := 15; i >= 0; i-- {
		b[i] = hex[id&0xf]
		id >>= 4
	}
	return string(b[:])
}

func inboxKey(rid string, id uint64) string {
	return rid + string(GroupSeparator) + messageKey(id)
}
