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
// count). What saves and counts add to them is summed in memory
// (pendingDays) and written with the next AddCounters batch — which the
// writer flushes every few hundred milliseconds —, or by the save that
// finds the sums older than dayFlushAfter, or by Flush: a push costs a map
// update, not a store write. A crash loses what was not written yet, at
// most about dayFlushAfter of a day's figures; message reports are not
// affected.
const (
	dayMessages  = "messages"
	dayTargeted  = "targeted"
	dayDelivered = "delivered"

	// dayFlushAfter is how long day totals wait in memory at most, when
	// no AddCounters batch takes them first.
	dayFlushAfter = 500 * time.Millisecond
)

func appDayKey(app string, day time.Time) string { return app + "/" + day.UTC().Format("20060102") }

// appDay names the totals of an app's messages of one day.
type appDay struct {
	app string
	day time.Time // midnight UTC
}

// pendingDays sums day totals not yet written.
type pendingDays struct {
	mu    sync.Mutex
	sums  map[appDay]*[3]int64 // messages, targeted, delivered
	since time.Time            // when the oldest sum began
}

// add adds to the totals of app's messages of id's day, and reports
// whether the sums are due to be written.
func (p *pendingDays) add(app string, id uint64, messages, targeted, delivered int64, now time.Time) (due bool) {
	if checkAppKey(app) != nil {
		return false
	}
	k := appDay{app, idDay(id)}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sums == nil {
		p.sums, p.since = make(map[appDay]*[3]int64), now
	}
	sum := p.sums[k]
	if sum == nil {
		sum = new([3]int64)
		p.sums[k] = sum
	}
	sum[0], sum[1], sum[2] = sum[0]+messages, sum[1]+targeted, sum[2]+delivered
	return now.Sub(p.since) >= dayFlushAfter
}

// take returns the sums as writes and forgets them; putBack restores them
// if writing them failed.
func (p *pendingDays) take() (map[appDay]*[3]int64, []Write) {
	p.mu.Lock()
	sums := p.sums
	p.sums = nil
	p.mu.Unlock()
	writes := make([]Write, 0, len(sums))
	for k, sum := range sums {
		writes = append(writes, Write{Kind: KindAppCount, Key: appDayKey(k.app, k.day), Options: WriteOptions{TTL: MessageListHorizon},
			Deltas: []Delta{{Name: dayMessages, Delta: sum[0]}, {Name: dayTargeted, Delta: sum[1]}, {Name: dayDelivered, Delta: sum[2]}}})
	}
	return sums, writes
}

func (p *pendingDays) putBack(sums map[appDay]*[3]int64, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sums == nil {
		p.sums, p.since = make(map[appDay]*[3]int64), now
	}
	for k, s := range sums {
		if cur := p.sums[k]; cur != nil {
			cur[0], cur[1], cur[2] = cur[0]+s[0], cur[1]+s[1], cur[2]+s[2]
		} else {
			p.sums[k] = s
		}
	}
}

// get returns the unwritten sums of k.
func (p *pendingDays) get(k appDay) [3]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.sums[k]; s != nil {
		return *s
	}
	return [3]int64{}
}

// addDay adds a saved message to its day totals, writing the sums if they
// are due.
func (s *Service) addDay(ctx context.Context, app string, id uint64, targeted int64) {
	if s.days.add(app, id, 1, targeted, 0, s.now()) {
		_ = s.Flush(ctx) // on failure the sums wait for the next write
	}
}

// Flush writes the day totals summed in memory. The node calls it before
// closing the store; AddCounters writes them too.
func (s *Service) Flush(ctx context.Context) error {
	sums, writes := s.days.take()
	if len(writes) == 0 {
		return nil
	}
	if err := s.store.PutMany(ctx, writes); err != nil {
		s.days.putBack(sums, s.now())
		return fmt.Errorf("day totals: %w", err)
	}
	return nil
}

// AppDay implements ReportStore: what is written, and what this Service
// summed and has not written yet.
func (s *Service) AppDay(ctx context.Context, app string, day time.Time) (DayTotals, error) {
	if err := checkAppKey(app); err != nil {
		return DayTotals{}, fmt.Errorf("day totals: %w", err)
	}
	pending := s.days.get(appDay{app, day.UTC().Truncate(24 * time.Hour)})
	t := DayTotals{Messages: pending[0], Targeted: pending[1], Delivered: pending[2]}
	c, err := s.store.Counters(ctx, KindAppCount, appDayKey(app, day))
	if errors.Is(err, ErrNotFound) {
		return t, nil
	}
	if err != nil {
		return DayTotals{}, fmt.Errorf("day totals of app %s: %w", app, err)
	}
	t.Messages, t.Targeted, t.Delivered = t.Messages+c[dayMessages], t.Targeted+c[dayTargeted], t.Delivered+c[dayDelivered]
	return t, nil
}

// AddCounters implements ReportStore. The targeted and delivered counts
// also go to their messages' day totals, and the day totals summed so far
// are written in the same batch: the messages' apps come from a map of
// recently saved messages, or are read.
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
	if err := s.countDays(ctx, order, byMessage); err != nil {
		return fmt.Errorf("add counters of %d messages: %w", len(order), err)
	}
	sums, days := s.days.take()
	writes := make([]Write, len(order), len(order)+len(days))
	for i, id := range order {
		writes[i] = Write{Kind: KindCounter, Key: messageKey(id), Deltas: byMessage[id]}
	}
	writes = append(writes, days...)
	if err := s.store.PutMany(ctx, writes); err != nil {
		s.days.putBack(sums, s.now())
		return fmt.Errorf("add counters of %d messages: %w", len(order), err)
	}
	return nil
}

// countDays adds the targeted and delivered deltas of messages to their
// day totals.
func (s *Service) countDays(ctx context.Context, order []uint64, byMessage map[uint64][]Delta) error {
	type dayDelta struct {
		app                 string
		id                  uint64 // one of the day's messages
		targeted, delivered int64
	}
	var sums []dayDelta // one per app and day: a batch usually has one
	var unknown []uint64
	add := func(app string, id uint64, deltas []Delta) {
		var targeted, delivered int64
		for _, d := range deltas {
			switch d.Name {
			case string(CounterTargeted):
				targeted += d.Delta
			case string(CounterDelivered):
				delivered += d.Delta
			}
		}
		if targeted == 0 && delivered == 0 {
			return
		}
		day := idDay(id)
		for i := range sums {
			if sums[i].app == app && idDay(sums[i].id) == day {
				sums[i].targeted, sums[i].delivered = sums[i].targeted+targeted, sums[i].delivered+delivered
				return
			}
		}
		sums = append(sums, dayDelta{app, id, targeted, delivered})
	}
	for _, id := range order {
		if app, ok := s.recent.get(id); ok {
			add(app, id, byMessage[id])
		} else if counts(byMessage[id]) {
			unknown = append(unknown, id)
		}
	}
	if len(unknown) > 0 {
		ms, err := s.Messages(ctx, unknown)
		if err != nil {
			return err
		}
		for i, m := range ms {
			if m.AppKey != "" { // else a message no longer kept: its day is past its horizon
				s.recent.put(unknown[i], m.AppKey)
				add(m.AppKey, unknown[i], byMessage[unknown[i]])
			}
		}
	}
	now := s.now()
	for _, d := range sums {
		s.days.add(d.app, d.id, 0, d.targeted, d.delivered, now)
	}
	return nil
}

// counts reports whether deltas change a count of the day totals.
func counts(deltas []Delta) bool {
	for _, d := range deltas {
		if d.Name == string(CounterTargeted) || d.Name == string(CounterDelivered) {
			return true
		}
	}
	return false
}

// recentApps remembers the apps of recently saved or counted messages, so
// that counting their deliveries reads no message: a direct-mapped table
// by message id, where a newer message takes the slot of an older one.
type recentApps struct {
	mu    sync.Mutex
	slots *[recentSlots]recentApp // allocated on first use
}

type recentApp struct {
	id  uint64
	app string
}

// recentSlots sizes recentApps: a few seconds of pushes at the highest
// rates, where deliveries follow their saves closely.
const recentSlots = 1 << 16

func (r *recentApps) get(id uint64) (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.slots == nil {
		return "", false
	}
	e := r.slots[id%recentSlots]
	return e.app, e.id == id && e.app != ""
}

func (r *recentApps) put(id uint64, app string) {
	r.mu.Lock()
	if r.slots == nil {
		r.slots = new([recentSlots]recentApp)
	}
	r.slots[id%recentSlots] = recentApp{id, app}
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
