package dataservice

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/heraldpush/herald/internal/ids"
)

var _ ReportStore = (*Service)(nil)

// Keys and values of reports.
//
//	KindReceipt     <msg_id hex>|<rid>             → delivery: state ('s', 'd', 'f'), sent at, ended at
//	KindReceipt     <msg_id hex>|<rid>|a           → attempts: at, count
//	KindReceipt     <msg_id hex>|<rid>|c           → click: at
//	KindAppMessage  <app>/<yyyymmdd>/<^msg_id>     → flags (1 byte; 1 = broadcast)
//
// appMessageDay is the day group of id within app's index.
func appMessageDay(app string, day time.Time) string {
	return app + "/" + day.Format("20060102") + "/"
}

func appMessageKey(app string, id uint64) string {
	return appMessageDay(app, idDay(id)) + idKey(^id)
}

// parseAppMessageKey returns the id of an index key of the group prefix.
func parseAppMessageKey(prefix, key string) (uint64, bool) {
	inv, ok := parseIDKey(strings.TrimPrefix(key, prefix))
	return ^inv, ok && len(key) == len(prefix)+20
}

// Day totals: a counter record per app and UTC day of the messages'
// creation (KindAppCount, keyed app/YYYYMMDD beside the app's device
// count), written in the batches that save messages and count their
// deliveries.
const (
	dayMessages  = "messages"
	dayTargeted  = "targeted"
	dayDelivered = "delivered"
)

func appDayKey(app string, day time.Time) string { return app + "/" + day.UTC().Format("20060102") }

// dayWrite adds deltas to the totals of app's messages of id's day; false
// for an app key that has no index (as appMessageWrite).
func dayWrite(app string, id uint64, deltas []Delta) (Write, bool) {
	if checkAppKey(app) != nil {
		return Write{}, false
	}
	return Write{Kind: KindAppCount, Key: appDayKey(app, idDay(id)), Deltas: deltas, Options: WriteOptions{TTL: MessageListHorizon}}, true
}

// AppDay implements ReportStore.
func (s *Service) AppDay(ctx context.Context, app string, day time.Time) (DayTotals, error) {
	if err := checkAppKey(app); err != nil {
		return DayTotals{}, fmt.Errorf("day totals: %w", err)
	}
	c, err := s.store.Counters(ctx, KindAppCount, appDayKey(app, day))
	if errors.Is(err, ErrNotFound) {
		return DayTotals{}, nil
	}
	if err != nil {
		return DayTotals{}, fmt.Errorf("day totals of app %s: %w", app, err)
	}
	return DayTotals{Messages: c[dayMessages], Targeted: c[dayTargeted], Delivered: c[dayDelivered]}, nil
}

// AddCounters implements ReportStore. The targeted and delivered counts
// also go to their messages' day totals: the messages' apps come from a
// map of recently saved messages, or are read.
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
	writes := make([]Write, len(order), len(order)+1)
	for i, id := range order {
		writes[i] = Write{Kind: KindCounter, Key: messageKey(id), Deltas: byMessage[id]}
	}
	days, err := s.dayDeltas(ctx, order, byMessage)
	if err != nil {
		return fmt.Errorf("add counters of %d messages: %w", len(order), err)
	}
	writes = append(writes, days...)
	if err := s.store.PutMany(ctx, writes); err != nil {
		return fmt.Errorf("add counters of %d messages: %w", len(order), err)
	}
	return nil
}

// dayDeltas returns the writes that add the targeted and delivered deltas
// of messages to their day totals, one per app and day.
func (s *Service) dayDeltas(ctx context.Context, order []uint64, byMessage map[uint64][]Delta) ([]Write, error) {
	var counted []uint64
	for _, id := range order {
		for _, d := range byMessage[id] {
			if d.Name == string(CounterTargeted) || d.Name == string(CounterDelivered) {
				counted = append(counted, id)
				break
			}
		}
	}
	if len(counted) == 0 {
		return nil, nil
	}
	apps, err := s.appsOf(ctx, counted)
	if err != nil {
		return nil, err
	}
	type appDay struct {
		app string
		day time.Time
	}
	sums := map[appDay]*[2]int64{} // targeted, delivered
	var keys []appDay
	for i, id := range counted {
		if apps[i] == "" {
			continue // a message no longer kept: its day is past its horizon
		}
		k := appDay{apps[i], idDay(id)}
		sum := sums[k]
		if sum == nil {
			sum = new([2]int64)
			sums[k] = sum
			keys = append(keys, k)
		}
		for _, d := range byMessage[id] {
			switch d.Name {
			case string(CounterTargeted):
				sum[0] += d.Delta
			case string(CounterDelivered):
				sum[1] += d.Delta
			}
		}
	}
	writes := make([]Write, 0, len(keys))
	for _, k := range keys {
		sum := sums[k]
		writes = append(writes, Write{Kind: KindAppCount, Key: appDayKey(k.app, k.day),
			Deltas: []Delta{{Name: dayTargeted, Delta: sum[0]}, {Name: dayDelivered, Delta: sum[1]}}, Options: WriteOptions{TTL: MessageListHorizon}})
	}
	return writes, nil
}

// appsOf returns the app of each message of ids ("" for one not kept):
// from the messages saved recently through s, else read.
func (s *Service) appsOf(ctx context.Context, ids []uint64) ([]string, error) {
	out := make([]string, len(ids))
	var missing []uint64
	var at []int
	for i, id := range ids {
		if app, ok := s.recent.get(id); ok {
			out[i] = app
		} else {
			missing = append(missing, id)
			at = append(at, i)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	ms, err := s.Messages(ctx, missing)
	if err != nil {
		return nil, err
	}
	for j, m := range ms {
		out[at[j]] = m.AppKey
		if m.AppKey != "" {
			s.recent.put(missing[j], m.AppKey)
		}
	}
	return out, nil
}

// recentApps remembers the apps of recently saved or counted messages, so
// that counting their deliveries reads no message. It is bounded: when
// full, it starts again empty.
type recentApps struct {
	mu sync.Mutex
	m  map[uint64]string
}

// maxRecentApps bounds recentApps: a few seconds of pushes at the highest
// rates, where deliveries follow their saves closely.
const maxRecentApps = 1 << 16

func (r *recentApps) get(id uint64) (string, bool) {
	r.mu.Lock()
	app, ok := r.m[id]
	r.mu.Unlock()
	return app, ok
}

func (r *recentApps) put(id uint64, app string) {
	r.mu.Lock()
	if r.m == nil || len(r.m) >= maxRecentApps {
		r.m = make(map[uint64]string, 1024)
	}
	r.m[id] = app
	r.mu.Unlock()
}

// Report implements ReportStore. It reads the message, its counters and its
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

// appMessageWrite is the index entry of m in its app's list of messages,
// written with the message's body and living as long (retain); false for a
// message without a valid app key, which no app can list.
func appMessageWrite(m *Message, retain time.Duration) (Write, bool) {
	if checkAppKey(m.AppKey) != nil {
		return Write{}, false
	}
	var flags byte
	if m.Broadcast {
		flags |= appMessageBroadcast
	}
	// Fresh: written once, with the message, under its just-generated id.
	return Write{Kind: KindAppMessage, Key: appMessageKey(m.AppKey, m.ID), Value: []byte{flags}, Options: WriteOptions{TTL: retain, Fresh: true}}, true
}

// idDay is the UTC day id was generated on.
func idDay(id uint64) time.Time {
	return ids.Time(id).UTC().Truncate(24 * time.Hour)
}

// listBudget bounds the index entries one AppMessages call reads past
// its page when a state filter discards messages: a page that would need
// more ends early, with Next set.
const listBudget = 4 * MaxMessagePage

// reportWorkers bounds the counter reads of one AppMessages call in
// flight at once.
const reportWorkers = 8

// AppMessages implements ReportStore. It walks the app's index one day group
// at a time, newest first, then reads the page's messages and tasks (one
// GetMany each) and their counters (reportWorkers at a time).
func (s *Service) AppMessages(ctx context.Context, app string, q MessageQuery) (MessagePage, error) {
	if err := checkAppKey(app); err != nil {
		return MessagePage{}, fmt.Errorf("messages: %w", err)
	}
	if err := CheckMessageQuery(&q); err != nil {
		return MessagePage{}, fmt.Errorf("messages of app %s: %w", app, err)
	}
	now := s.now()
	// Ids below bound (exclusive; 0: no bound), at or above floor.
	bound := q.After
	if !q.To.IsZero() {
		to := ids.FirstAt(q.To)
		if to == 0 {
			return MessagePage{Messages: []MessageSummary{}}, nil // before the first id
		}
		if bound == 0 || to < bound {
			bound = to
		}
	}
	floor := ids.FirstAt(now.Add(-MessageListHorizon))
	if !q.From.IsZero() {
		floor = max(floor, ids.FirstAt(q.From))
	}
	page := MessagePage{Messages: make([]MessageSummary, 0, min(q.Limit, 64))}
	if bound != 0 && bound <= max(floor, 1) {
		return page, nil
	}
	// Ids of other nodes may run a little ahead of this clock: start a
	// day later than today.
	day := now.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour)
	after := ""
	if bound != 0 {
		day = idDay(bound - 1)
		after = appMessageDay(app, day) + idKey(^bound) // keys after it: ids below bound
	}
	lastDay := idDay(floor)
	examined := 0
	for !day.Before(lastDay) && len(page.Messages) < q.Limit {
		prefix := appMessageDay(app, day)
		want := q.Limit - len(page.Messages)
		recs, err := s.store.Scan(ctx, KindAppMessage, prefix, after, want)
		if err != nil {
			return MessagePage{}, fmt.Errorf("messages of app %s: %w", app, err)
		}
		var batch []uint64
		done := false
		for _, r := range recs {
			id, ok := parseAppMessageKey(prefix, r.Key)
			if !ok || len(r.Value) != 1 {
				return MessagePage{}, fmt.Errorf("dataservice: corrupt app message entry %q", r.Key)
			}
			if id < floor {
				done = true
				break
			}
			examined++
			page.Next = id
			broadcast := r.Value[0]&appMessageBroadcast != 0
			if (q.Broadcast == OnlyBroadcasts && !broadcast) || (q.Broadcast == ExcludeBroadcasts && broadcast) {
				continue
			}
			batch = append(batch, id)
		}
		summaries, err := s.summaries(ctx, batch)
		if err != nil {
			return MessagePage{}, fmt.Errorf("messages of app %s: %w", app, err)
		}
		for _, sum := range summaries {
			if q.State == "" || sum.State == q.State {
				page.Messages = append(page.Messages, sum)
			}
		}
		if done {
			page.Next = 0
			return page, nil
		}
		if len(recs) < want {
			// The day is done: the next one starts at its newest.
			day, after = day.Add(-24*time.Hour), ""
			if day.Before(lastDay) {
				page.Next = 0
			}
			continue
		}
		after = recs[len(recs)-1].Key
		if examined >= listBudget && len(page.Messages) < q.Limit {
			return page, nil // Next continues where this call stopped
		}
	}
	if len(page.Messages) < q.Limit {
		page.Next = 0
	}
	return page, nil
}

// summaries reads the messages of ids with their tasks and counters, in
// order; messages that are gone (expired since they were listed) are left
// out.
func (s *Service) summaries(ctx context.Context, idList []uint64) ([]MessageSummary, error) {
	if len(idList) == 0 {
		return nil, nil
	}
	taskKeys := make([]string, len(idList))
	for i, id := range idList {
		taskKeys[i] = taskKey(id)
	}
	var (
		wg     sync.WaitGroup
		tasks  []Record
		terr   error
		counts = make([]map[string]int64, len(idList))
		cerrs  = make([]error, len(idList))
		next   = make(chan int, len(idList))
	)
	for i := range idList {
		next <- i
	}
	close(next)
	wg.Go(func() { tasks, terr = s.store.GetMany(ctx, KindTask, taskKeys) })
	for range min(reportWorkers, len(idList)) {
		wg.Go(func() {
			for i := range next {
				counts[i], cerrs[i] = s.store.Counters(ctx, KindCounter, messageKey(idList[i]))
				if errors.Is(cerrs[i], ErrNotFound) {
					counts[i], cerrs[i] = nil, nil // no counter yet
				}
			}
		})
	}
	msgs, err := s.Messages(ctx, idList)
	wg.Wait()
	if err == nil {
		err = errors.Join(append(cerrs, terr)...)
	}
	if err != nil {
		return nil, err
	}
	out := make([]MessageSummary, 0, len(idList))
	for i, id := range idList {
		m := &msgs[i]
		if m.ID == 0 {
			continue
		}
		sum := MessageSummary{Message: *m, State: TaskDone}
		var t *Task
		if tasks[i].Exists() {
			tt, err := decodeTask(id, tasks[i])
			if err != nil {
				return nil, err
			}
			t, sum.State = &tt, tt.State
		}
		sum.Report = s.reportOf(m, counts[i], t)
		out = append(out, sum)
	}
	return out, nil
}
