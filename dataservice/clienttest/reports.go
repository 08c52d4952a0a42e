package clienttest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/internal/ids"
)

// reportTests are the cases of ReportStore: counters, per-device receipts and
// the app's message list.
var reportTests = []test{
	{"Counters", counters},
	{"ReportOutcomes", reportOutcomes},
	{"ReceiptsOnce", receiptsOnce},
	{"ReceiptsConcurrent", receiptsConcurrent},
	{"ReceiptsLifecycle", receiptsLifecycle},
	{"ReceiptClicks", receiptClicks},
	{"ReceiptValidation", receiptValidation},
	{"AppMessages", appMessages},
	{"AppMessagesValidation", appMessagesValidation},
	{"AppDay", appDay},
	{"Settle", settle},
	{"SettleValidation", settleValidation},
}

// settle checks SettleStore: a step counts each send and end once, a
// replay of it nothing more, another writer's end of the same copy
// nothing, and a journaled step of a dead run is replayed by recovery.
func settle(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	m := message(time.Hour)
	if err := c.SaveMessage(ctx, m, []string{"s1", "s2"}); err != nil {
		t.Fatal(err)
	}
	end := func(rid string) dataservice.SettleEnd {
		return dataservice.SettleEnd{Copy: dataservice.InboxCopy{RegistrationID: rid, MessageID: m.ID}, Counter: dataservice.CounterDelivered}
	}
	st := dataservice.Settlement{Writer: "w1", Run: "r1", Seq: 1,
		Sends:  []dataservice.SettleSend{{Count: true, Receipt: dataservice.Receipt{MessageID: m.ID, RegistrationID: "s1", Event: dataservice.ReceiptSent}}},
		Ends:   []dataservice.SettleEnd{end("s1"), end("s1")},
		Deltas: []dataservice.CounterDelta{{MessageID: m.ID, Counter: dataservice.CounterStoredOffline, N: 1}}}
	res, err := c.Settle(ctx, st)
	if err != nil || len(res.Ended) != 2 || res.Ended[0] == res.Ended[1] {
		t.Fatalf("Settle = %+v, %v; want one of the two ends of one copy ended", res, err)
	}
	st.Replay = true
	if _, err := c.Settle(ctx, st); err != nil {
		t.Fatal(err)
	}
	other := dataservice.Settlement{Writer: "w2", Run: "r1", Seq: 1, Ends: []dataservice.SettleEnd{end("s1"), end("s2")}}
	if res, err := c.Settle(ctx, other); err != nil || res.Ended[0] || !res.Ended[1] {
		t.Fatalf("Settle by another writer = %+v, %v; want s1 not ended again, s2 ended", res, err)
	}
	r, err := c.Report(ctx, m.ID)
	want := dataservice.Report{Targeted: 2, Sent: 2, StoredOffline: 1, Delivered: 2}
	if err != nil || r != want {
		t.Fatalf("Report() = %+v, %v; want %+v", r, err, want)
	}
	got, err := c.MessageReceipts(ctx, m.ID, []string{"s1", "s2"})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range got {
		if d.SentAt.IsZero() || d.DeliveredAt.IsZero() || d.Pending {
			t.Fatalf("receipts of %s: %+v", d.RegistrationID, d)
		}
	}
	if n, err := c.RecoverSettlements(ctx, "w1", "r2"); err != nil || n != 0 {
		t.Fatalf("RecoverSettlements with nothing left = %d, %v", n, err)
	}
}

func settleValidation(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	for name, st := range map[string]dataservice.Settlement{
		"no writer":   {Run: "r", Seq: 1},
		"slash":       {Writer: "a/b", Run: "r", Seq: 1},
		"zero seq":    {Writer: "w", Run: "r"},
		"end counter": {Writer: "w", Run: "r", Seq: 1, Ends: []dataservice.SettleEnd{{Copy: dataservice.InboxCopy{RegistrationID: "r", MessageID: 1}, Counter: dataservice.CounterSent}}},
		"bad rid":     {Writer: "w", Run: "r", Seq: 1, Sends: []dataservice.SettleSend{{Receipt: dataservice.Receipt{MessageID: 1, RegistrationID: "\xff", Event: dataservice.ReceiptSent}}}},
		"send event":  {Writer: "w", Run: "r", Seq: 1, Receipts: []dataservice.Receipt{{MessageID: 1, RegistrationID: "r", Event: dataservice.ReceiptSent}}},
	} {
		_, err := c.Settle(ctx, st)
		wantErr(t, err, dataservice.ErrInvalid, name)
	}
}

func counters(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	m := message(time.Hour)
	if err := c.SaveMessage(ctx, m, []string{"r1", "r2", "r3"}); err != nil {
		t.Fatal(err)
	}
	deltas := []dataservice.CounterDelta{
		{MessageID: m.ID, Counter: dataservice.CounterSent, N: 2},
		{MessageID: m.ID, Counter: dataservice.CounterDelivered, N: 1},
		{MessageID: m.ID, Counter: dataservice.CounterSent, N: 1},
		{MessageID: m.ID, Counter: dataservice.CounterStoredOffline, N: 1},
		{MessageID: m.ID, Counter: dataservice.CounterFailed, N: 0},
	}
	if err := c.AddCounters(ctx, deltas); err != nil {
		t.Fatal(err)
	}
	r, err := c.Report(ctx, m.ID)
	want := dataservice.Report{Targeted: 3, Sent: 3, StoredOffline: 1, Delivered: 1}
	if err != nil || r != want {
		t.Fatalf("Report() = %+v, %v; want %+v", r, err, want)
	}
	_, err = c.Report(ctx, id())
	wantErr(t, err, dataservice.ErrNotFound, "report of an unknown message")
}

// reportOutcomes checks the replaced and withdrawn counters and that the
// expired copies derived after the TTL leave them out.
func reportOutcomes(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	m := message(time.Hour)
	m.Created = time.UnixMilli(time.Now().Add(-2 * time.Hour).UnixMilli()) // expired an hour ago
	if err := c.SaveMessage(ctx, m, []string{"r1", "r2", "r3", "r4", "r5", "r6"}); err != nil {
		t.Fatal(err)
	}
	var deltas []dataservice.CounterDelta
	for _, ctr := range []dataservice.Counter{dataservice.CounterDelivered, dataservice.CounterFailed, dataservice.CounterReplaced, dataservice.CounterWithdrawn, dataservice.CounterWithdrawn} {
		deltas = append(deltas, dataservice.CounterDelta{MessageID: m.ID, Counter: ctr, N: 1})
	}
	if err := c.AddCounters(ctx, deltas); err != nil {
		t.Fatal(err)
	}
	r, err := c.Report(ctx, m.ID)
	want := dataservice.Report{Targeted: 6, Delivered: 1, Failed: 1, Replaced: 1, Withdrawn: 2, Expired: 1}
	if err != nil || r != want {
		t.Fatalf("Report() = %+v, %v; want %+v", r, err, want)
	}
	// Before expiry nothing is derived.
	live := message(time.Hour)
	if err := c.SaveMessage(ctx, live, []string{"r1", "r2"}); err != nil {
		t.Fatal(err)
	}
	if err := c.AddCounters(ctx, []dataservice.CounterDelta{{MessageID: live.ID, Counter: dataservice.CounterWithdrawn, N: 1}}); err != nil {
		t.Fatal(err)
	}
	if r, _ := c.Report(ctx, live.ID); r != (dataservice.Report{Targeted: 2, Withdrawn: 1}) {
		t.Fatalf("report of a live message: %+v", r)
	}
}

// msgAt returns an id of a message created at t (the k-th of its
// millisecond), such as the gateway's generator makes.
func msgAt(t time.Time, k uint64) uint64 { return ids.FirstAt(t) + k }

// appDevice creates a device of app, registered at created.
func appDevice(t *testing.T, c dataservice.Client, rid, app string, created time.Time) {
	t.Helper()
	d := device(rid)
	d.AppKey, d.Created = app, created
	if err := c.CreateDevice(context.Background(), d); err != nil {
		t.Fatal(err)
	}
}

func record(t *testing.T, c dataservice.Client, rs ...dataservice.Receipt) []bool {
	t.Helper()
	got, err := c.RecordReceipts(context.Background(), rs)
	if err != nil {
		t.Fatalf("RecordReceipts: %v", err)
	}
	if len(got) != len(rs) {
		t.Fatalf("RecordReceipts answered %d results for %d receipts", len(got), len(rs))
	}
	return got
}

func wantRecorded(t *testing.T, what string, got []bool, want ...bool) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s: recorded %v, want %v", what, got, want)
	}
}

func deviceReceipts(t *testing.T, c dataservice.Client, id uint64, rids ...string) []dataservice.DeviceReceipts {
	t.Helper()
	got, err := c.MessageReceipts(context.Background(), id, rids)
	if err != nil {
		t.Fatalf("MessageReceipts(%d): %v", id, err)
	}
	if len(got) != len(rids) {
		t.Fatalf("MessageReceipts answered %d devices for %d", len(got), len(rids))
	}
	for i, d := range got {
		if d.RegistrationID != rids[i] {
			t.Fatalf("MessageReceipts[%d] is of %q, want %q", i, d.RegistrationID, rids[i])
		}
	}
	return got
}

func receiptsOnce(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	now := time.UnixMilli(time.Now().UnixMilli()).UTC()
	m := message(time.Hour)
	m.ID = msgAt(now, 1)
	if err := c.SaveMessage(ctx, m, []string{"r1", "r2"}); err != nil {
		t.Fatal(err)
	}
	retain := m.Expires().Add(dataservice.ReportRetention)
	sent := dataservice.Receipt{MessageID: m.ID, RegistrationID: "r1", Event: dataservice.ReceiptSent, At: now, Retain: retain}

	// The first of an event creates it, in one call or across calls.
	wantRecorded(t, "sent twice in one call", record(t, c, sent, sent), true, false)
	wantRecorded(t, "sent again", record(t, c, sent), false)
	later := now.Add(time.Second)
	wantRecorded(t, "attempts, delivered", record(t, c,
		dataservice.Receipt{MessageID: m.ID, RegistrationID: "r1", Event: dataservice.ReceiptAttempts, Attempts: 3, Retain: retain},
		dataservice.Receipt{MessageID: m.ID, RegistrationID: "r1", Event: dataservice.ReceiptAttempts, Attempts: 2, Retain: retain},
		dataservice.Receipt{MessageID: m.ID, RegistrationID: "r1", Event: dataservice.ReceiptDelivered, At: later}, // retention read from the message
	), true, false, true)

	got := deviceReceipts(t, c, m.ID, "r1", "r2", "never")
	r1, r2, never := got[0], got[1], got[2]
	if !r1.SentAt.Equal(now) || !r1.DeliveredAt.Equal(later) || r1.Attempts != 3 || !r1.FailedAt.IsZero() || !r1.ClickedAt.IsZero() || !r1.Pending {
		t.Fatalf("r1 = %+v; want sent at %v, delivered at %v, 3 attempts, its copy pending", r1, now, later)
	}
	if !r2.SentAt.IsZero() || !r2.DeliveredAt.IsZero() || r2.Attempts != 0 || !r2.Pending {
		t.Fatalf("r2 = %+v; want only its pending copy", r2)
	}
	if never.Pending || !never.SentAt.IsZero() || never.Attempts != 0 {
		t.Fatalf("a device without a copy: %+v", never)
	}
	// The copy's attempts count when they are ahead of the receipts.
	e, _ := c.Inbox(ctx, "r2", 0, 1)
	e[0].Attempts = 4
	if err := c.UpdateInbox(ctx, "r2", e); err != nil {
		t.Fatal(err)
	}
	wantRecorded(t, "failed", record(t, c, dataservice.Receipt{MessageID: m.ID, RegistrationID: "r2", Event: dataservice.ReceiptFailed, Retain: retain}), true)
	if got := deviceReceipts(t, c, m.ID, "r2")[0]; got.Attempts != 4 || got.FailedAt.IsZero() {
		t.Fatalf("r2 after failing = %+v; want 4 attempts, failed", got)
	}

	// Nothing is recorded for a message that is gone, or past its
	// retention.
	gone := msgAt(now, 2)
	wantRecorded(t, "receipts of unknown messages", record(t, c,
		dataservice.Receipt{MessageID: gone, RegistrationID: "r1", Event: dataservice.ReceiptDelivered},
		dataservice.Receipt{MessageID: m.ID, RegistrationID: "r3", Event: dataservice.ReceiptSent, Retain: now.Add(-time.Second)},
	), false, false)
	_, err := c.MessageReceipts(ctx, gone, []string{"r1"})
	wantErr(t, err, dataservice.ErrNotFound, "receipts of an unknown message")
	if got, err := c.MessageReceipts(ctx, m.ID, nil); err != nil || len(got) != 0 {
		t.Fatalf("MessageReceipts of no device: %v, %v", got, err)
	}
}

func receiptsConcurrent(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	m := message(time.Hour)
	m.ID = msgAt(time.Now(), 3)
	if err := c.SaveMessage(ctx, m, []string{"r1"}); err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			got, err := c.RecordReceipts(ctx, []dataservice.Receipt{{MessageID: m.ID, RegistrationID: "r1", Event: dataservice.ReceiptSent}})
			if err != nil {
				t.Error(err)
				return
			}
			if got[0] {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d concurrent calls recorded the same sent receipt, want exactly 1", wins.Load())
	}
}

func receiptClicks(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	now := time.UnixMilli(time.Now().UnixMilli()).UTC()
	registered := now.Add(-time.Hour)
	appDevice(t, c, "mine", "app", registered)
	appDevice(t, c, "other", "app", registered)
	appDevice(t, c, "stranger", "app2", registered)
	appDevice(t, c, "late", "app", now.Add(time.Hour)) // registered after the broadcast below
	m := message(time.Hour)
	m.ID = msgAt(now, 4)
	if err := c.SaveMessage(ctx, m, []string{"mine", "other"}); err != nil {
		t.Fatal(err)
	}
	click := func(id uint64, rid string) dataservice.Receipt {
		return dataservice.Receipt{MessageID: id, RegistrationID: rid, Event: dataservice.ReceiptClicked}
	}
	sent := func(id uint64, rid string) dataservice.Receipt {
		return dataservice.Receipt{MessageID: id, RegistrationID: rid, Event: dataservice.ReceiptSent}
	}
	// A copy that waits is not a message the device has: no click yet.
	wantRecorded(t, "click before the message was sent", record(t, c, click(m.ID, "mine")), false)
	wantRecorded(t, "click with the sent receipt in the same call", record(t, c, sent(m.ID, "mine"), click(m.ID, "mine"), click(m.ID, "mine")), true, true, false)
	wantRecorded(t, "click again", record(t, c, click(m.ID, "mine")), false)
	// Another device of the app that was sent the message earlier.
	wantRecorded(t, "sent to other", record(t, c, sent(m.ID, "other")), true)
	wantRecorded(t, "click of other", record(t, c, click(m.ID, "other")), true)
	// Devices that never got it, another app's device, unknown devices
	// and messages.
	wantRecorded(t, "clicks that must not count", record(t, c,
		click(m.ID, "late"), click(m.ID, "stranger"), click(m.ID, "ghost"), click(msgAt(now, 5), "mine"),
	), false, false, false, false)
	// Even with a sent receipt, another app's device cannot click.
	wantRecorded(t, "stranger with a forged sent receipt", record(t, c, sent(m.ID, "stranger"), click(m.ID, "stranger")), true, false)
	if d := deviceReceipts(t, c, m.ID, "mine")[0]; d.ClickedAt.IsZero() {
		t.Fatalf("the click of mine is not recorded: %+v", d)
	}

	// A broadcast: the device's cursor proves it got it, for devices
	// registered before it.
	b := broadcastMessage("app", time.Hour)
	b.ID = msgAt(now, 6)
	if err := c.SaveBroadcast(ctx, b, 3); err != nil {
		t.Fatal(err)
	}
	curs, err := c.BroadcastCursors(ctx, []string{"mine", "late"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range curs {
		curs[i].Sent = b.ID
	}
	if ok, err := c.PutBroadcastCursors(ctx, curs); err != nil || !ok[0] || !ok[1] {
		t.Fatalf("PutBroadcastCursors: %v, %v", ok, err)
	}
	wantRecorded(t, "broadcast clicks", record(t, c, click(b.ID, "mine"), click(b.ID, "other"), click(b.ID, "late")), true, false, false)
	got := deviceReceipts(t, c, b.ID, "mine", "other")
	if !got[0].BroadcastSent || got[0].BroadcastAcked || got[0].ClickedAt.IsZero() || got[1].BroadcastSent || got[0].Pending {
		t.Fatalf("broadcast receipts = %+v", got)
	}
}

func receiptValidation(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	m := message(time.Hour)
	m.ID = msgAt(time.Now(), 7)
	if err := c.SaveMessage(ctx, m, []string{"r1"}); err != nil {
		t.Fatal(err)
	}
	ok := dataservice.Receipt{MessageID: m.ID, RegistrationID: "r1", Event: dataservice.ReceiptSent}
	for _, tc := range []struct {
		name string
		r    dataservice.Receipt
	}{
		{"zero message id", dataservice.Receipt{RegistrationID: "r1", Event: dataservice.ReceiptSent}},
		{"empty registration id", dataservice.Receipt{MessageID: m.ID, Event: dataservice.ReceiptSent}},
		{"long registration id", dataservice.Receipt{MessageID: m.ID, RegistrationID: string(make([]byte, 65)), Event: dataservice.ReceiptSent}},
		{"registration id not UTF-8", dataservice.Receipt{MessageID: m.ID, RegistrationID: "r\xff", Event: dataservice.ReceiptSent}},
		{"unknown event", dataservice.Receipt{MessageID: m.ID, RegistrationID: "r1", Event: "opened"}},
		{"one attempt", dataservice.Receipt{MessageID: m.ID, RegistrationID: "r1", Event: dataservice.ReceiptAttempts, Attempts: 1}},
		{"256 attempts", dataservice.Receipt{MessageID: m.ID, RegistrationID: "r1", Event: dataservice.ReceiptAttempts, Attempts: 256}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.RecordReceipts(ctx, []dataservice.Receipt{ok, tc.r})
			wantErr(t, err, dataservice.ErrInvalid, tc.name)
		})
	}
	// Nothing of a rejected call was recorded.
	wantRecorded(t, "the valid receipt of rejected calls", record(t, c, ok), true)
	if got, err := c.RecordReceipts(ctx, nil); err != nil || len(got) != 0 {
		t.Fatalf("RecordReceipts of nothing: %v, %v", got, err)
	}
	_, err := c.MessageReceipts(ctx, m.ID, make([]string, dataservice.MaxReceiptDevices+1))
	wantErr(t, err, dataservice.ErrInvalid, "receipts of too many devices")
	_, err = c.MessageReceipts(ctx, m.ID, []string{"r\xff"})
	wantErr(t, err, dataservice.ErrInvalid, "receipts of a registration id that is not UTF-8")
}

// listed returns the ids of a page, and checks each summary's message is
// the app's.
func listed(t *testing.T, c dataservice.Client, app string, q dataservice.MessageQuery) ([]uint64, uint64) {
	t.Helper()
	page, err := c.AppMessages(context.Background(), app, q)
	if err != nil {
		t.Fatalf("AppMessages(%s, %+v): %v", app, q, err)
	}
	out := make([]uint64, len(page.Messages))
	for i, s := range page.Messages {
		if s.Message.AppKey != app {
			t.Fatalf("listing of %s holds a message of %s", app, s.Message.AppKey)
		}
		out[i] = s.Message.ID
	}
	return out, page.Next
}

// listAll follows Next to the end.
func listAll(t *testing.T, c dataservice.Client, app string, q dataservice.MessageQuery) []uint64 {
	t.Helper()
	var all []uint64
	for range 100 {
		got, next := listed(t, c, app, q)
		all = append(all, got...)
		if next == 0 {
			return all
		}
		q.After = next
	}
	t.Fatal("the listing does not end")
	return nil
}

func appMessages(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	now := time.Now()
	// Seven messages over four days, newest last: three today, one
	// yesterday, two three days ago (one a broadcast), one a week ago.
	at := []time.Time{now.Add(-7 * 24 * time.Hour), now.Add(-72 * time.Hour), now.Add(-71 * time.Hour), now.Add(-25 * time.Hour),
		now.Add(-3 * time.Minute), now.Add(-2 * time.Minute), now.Add(-time.Minute)}
	msgs := make([]uint64, len(at))
	for i, t0 := range at {
		m := message(time.Hour)
		m.ID = msgAt(t0, uint64(i))
		msgs[i] = m.ID
		var err error
		if i == 2 {
			m.Broadcast = true
			err = c.SaveBroadcast(ctx, m, 10)
		} else {
			err = c.SaveMessage(ctx, m, []string{"r1", "r2"})
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// Another app's message, and one without an app key: never listed.
	other := message(time.Hour)
	other.ID, other.AppKey = msgAt(now, 50), "app2"
	if err := c.SaveMessage(ctx, other, nil); err != nil {
		t.Fatal(err)
	}
	// One message has a finished task, one a running one, one clicks.
	for i, state := range map[int]dataservice.TaskState{3: dataservice.TaskCanceled, 5: dataservice.TaskRunning} {
		task := newTask("app")
		task.ID, task.State, task.Targeted = msgs[i], state, 5
		if err := c.CreateTask(ctx, task); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.AddCounters(ctx, []dataservice.CounterDelta{{MessageID: msgs[6], Counter: dataservice.CounterClicked, N: 2}}); err != nil {
		t.Fatal(err)
	}
	newestFirst := []uint64{msgs[6], msgs[5], msgs[4], msgs[3], msgs[2], msgs[1], msgs[0]}

	page, err := c.AppMessages(ctx, "app", dataservice.MessageQuery{Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if page.Next != 0 || len(page.Messages) != len(msgs) {
		t.Fatalf("first page of 10: %d messages, next %d; want all %d and no next", len(page.Messages), page.Next, len(msgs))
	}
	for i, s := range page.Messages {
		if s.Message.ID != newestFirst[i] {
			t.Fatalf("message %d of the listing is %d, want %d (newest first)", i, s.Message.ID, newestFirst[i])
		}
	}
	byID := map[uint64]dataservice.MessageSummary{}
	for _, s := range page.Messages {
		byID[s.Message.ID] = s
	}
	for _, tc := range []struct {
		id       uint64
		state    dataservice.TaskState
		targeted int64
		clicked  int64
	}{
		{msgs[6], dataservice.TaskDone, 2, 2}, {msgs[5], dataservice.TaskRunning, 7, 0}, {msgs[3], dataservice.TaskCanceled, 7, 0}, {msgs[2], dataservice.TaskDone, 10, 0},
	} {
		s := byID[tc.id]
		if s.State != tc.state || s.Report.Targeted != tc.targeted || s.Report.Clicked != tc.clicked {
			t.Errorf("summary of %d: state %s, targeted %d, clicked %d; want %s, %d, %d", tc.id, s.State, s.Report.Targeted, s.Report.Clicked, tc.state, tc.targeted, tc.clicked)
		}
	}
	if s := byID[msgs[2]]; !s.Message.Broadcast || s.Message.Content == "" {
		t.Errorf("summary of the broadcast: %+v", s.Message)
	}

	// Paging: pages of two cover the listing once, in order.
	if got := listAll(t, c, "app", dataservice.MessageQuery{Limit: 2}); fmt.Sprint(got) != fmt.Sprint(newestFirst) {
		t.Fatalf("pages of 2: %v, want %v", got, newestFirst)
	}
	for _, tc := range []struct {
		name string
		q    dataservice.MessageQuery
		want []uint64
	}{
		{"after", dataservice.MessageQuery{After: msgs[4], Limit: 10}, newestFirst[3:]},
		{"from", dataservice.MessageQuery{From: at[3], Limit: 10}, newestFirst[:4]},
		{"to", dataservice.MessageQuery{To: at[3], Limit: 10}, newestFirst[4:]},
		{"from and to", dataservice.MessageQuery{From: at[1], To: at[4], Limit: 10}, newestFirst[3:6]},
		{"to and after", dataservice.MessageQuery{To: at[5], After: msgs[2], Limit: 10}, newestFirst[5:]},
		{"broadcasts", dataservice.MessageQuery{Broadcast: dataservice.OnlyBroadcasts, Limit: 10}, []uint64{msgs[2]}},
		{"no broadcasts", dataservice.MessageQuery{Broadcast: dataservice.ExcludeBroadcasts, Limit: 10}, []uint64{msgs[6], msgs[5], msgs[4], msgs[3], msgs[1], msgs[0]}},
		{"running", dataservice.MessageQuery{State: dataservice.TaskRunning, Limit: 10}, []uint64{msgs[5]}},
		{"done", dataservice.MessageQuery{State: dataservice.TaskDone, Limit: 10}, []uint64{msgs[6], msgs[4], msgs[2], msgs[1], msgs[0]}},
		{"nothing before the first id", dataservice.MessageQuery{To: ids.Epoch, Limit: 10}, nil},
		{"empty window", dataservice.MessageQuery{From: now.Add(time.Hour), Limit: 10}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := listAll(t, c, "app", tc.q); fmt.Sprint(got) != fmt.Sprint(tc.want) && (len(got) != 0 || len(tc.want) != 0) {
				t.Fatalf("listed %v, want %v", got, tc.want)
			}
		})
	}
	// Filtered pages of one still cover everything once.
	if got := listAll(t, c, "app", dataservice.MessageQuery{State: dataservice.TaskDone, Limit: 1}); len(got) != 5 {
		t.Fatalf("done messages one per page: %v", got)
	}
	if got := listAll(t, c, "app2", dataservice.MessageQuery{Limit: 10}); fmt.Sprint(got) != fmt.Sprint([]uint64{other.ID}) {
		t.Fatalf("listing of app2: %v", got)
	}
	if got := listAll(t, c, "app3", dataservice.MessageQuery{Limit: 10}); len(got) != 0 {
		t.Fatalf("listing of an app without messages: %v", got)
	}
}

func appMessagesValidation(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	now := time.Now()
	for _, tc := range []struct {
		name string
		app  string
		q    dataservice.MessageQuery
	}{
		{"empty app", "", dataservice.MessageQuery{Limit: 1}},
		{"app with slash", "a/b", dataservice.MessageQuery{Limit: 1}},
		{"zero limit", "app", dataservice.MessageQuery{}},
		{"limit too large", "app", dataservice.MessageQuery{Limit: dataservice.MaxMessagePage + 1}},
		{"unknown broadcast filter", "app", dataservice.MessageQuery{Limit: 1, Broadcast: 3}},
		{"unknown state", "app", dataservice.MessageQuery{Limit: 1, State: "sleeping"}},
		{"from after to", "app", dataservice.MessageQuery{Limit: 1, From: now, To: now.Add(-time.Second)}},
		{"from equals to", "app", dataservice.MessageQuery{Limit: 1, From: now, To: now}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.AppMessages(ctx, tc.app, tc.q)
			wantErr(t, err, dataservice.ErrInvalid, tc.name)
		})
	}
}

// receiptsLifecycle: a delivery's send and end, in one call or apart,
// through one device actor or two.
func receiptsLifecycle(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	now := time.UnixMilli(time.Now().UnixMilli()).UTC()
	m := message(time.Hour)
	m.ID = msgAt(now, 8)
	if err := c.SaveMessage(ctx, m, []string{"a", "b", "c"}); err != nil {
		t.Fatal(err)
	}
	retain := m.Expires().Add(dataservice.ReportRetention)
	ev := func(rid string, e dataservice.ReceiptEvent, at time.Time) dataservice.Receipt {
		return dataservice.Receipt{MessageID: m.ID, RegistrationID: rid, Event: e, At: at, Retain: retain}
	}
	t1, t2, t3 := now.Add(time.Second), now.Add(2*time.Second), now.Add(3*time.Second)

	// a: sent and acknowledged within one call.
	wantRecorded(t, "a sent and delivered", record(t, c, ev("a", dataservice.ReceiptSent, now), ev("a", dataservice.ReceiptDelivered, t1)), true, true)
	// b: sent by one device actor; sent again and acknowledged through
	// another, in one call: the send is not new, the end is recorded and
	// the first send kept.
	wantRecorded(t, "b sent", record(t, c, ev("b", dataservice.ReceiptSent, now)), true)
	wantRecorded(t, "b sent again and delivered", record(t, c, ev("b", dataservice.ReceiptSent, t1), ev("b", dataservice.ReceiptDelivered, t2)), false, true)
	// c: delivered, then a failure and a send from a late device actor.
	wantRecorded(t, "c sent", record(t, c, ev("c", dataservice.ReceiptSent, now)), true)
	wantRecorded(t, "c delivered", record(t, c, ev("c", dataservice.ReceiptDelivered, t1)), true)
	wantRecorded(t, "c failed and sent late", record(t, c, ev("c", dataservice.ReceiptFailed, t2), ev("c", dataservice.ReceiptSent, t3)), false, false)
	wantRecorded(t, "c failed alone", record(t, c, ev("c", dataservice.ReceiptFailed, t3)), false)

	got := deviceReceipts(t, c, m.ID, "a", "b", "c")
	for i, want := range []struct{ sent, delivered time.Time }{{now, t1}, {now, t2}, {now, t1}} {
		d := got[i]
		if !d.SentAt.Equal(want.sent) || !d.DeliveredAt.Equal(want.delivered) || !d.FailedAt.IsZero() || d.Attempts != 1 {
			t.Errorf("%s = %+v; want sent at %v, delivered at %v, one attempt, not failed", d.RegistrationID, d, want.sent, want.delivered)
		}
	}
}

// appDay checks the totals of an app's messages of a day: what saving
// messages and counting their deliveries add to them, and that a retried
// save adds nothing.
func appDay(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	app := fmt.Sprintf("dayapp%d", id())
	day := time.Now().UTC().Add(-48 * time.Hour).Truncate(24 * time.Hour)
	at := func(d time.Time, k uint64) *dataservice.Message {
		m := message(time.Hour)
		m.ID, m.AppKey, m.Created = msgAt(d.Add(13*time.Hour), k+nextID.Add(1)%1000*10), app, d.Add(13*time.Hour)
		return m
	}
	inline, task, yesterday := at(day, 1), at(day, 2), at(day.Add(-24*time.Hour), 3)
	if err := c.SaveMessage(ctx, inline, []string{"r1", "r2", "r3"}); err != nil {
		t.Fatal(err)
	}
	if err := c.SaveNewMessage(ctx, task, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.SaveMessage(ctx, yesterday, []string{"r1"}); err != nil {
		t.Fatal(err)
	}
	bc := at(day, 4)
	bc.Broadcast = true
	if err := c.SaveBroadcast(ctx, bc, 10); err != nil {
		t.Fatal(err)
	}
	err := c.AddCounters(ctx, []dataservice.CounterDelta{
		{MessageID: inline.ID, Counter: dataservice.CounterSent, N: 3},
		{MessageID: inline.ID, Counter: dataservice.CounterDelivered, N: 2},
		{MessageID: task.ID, Counter: dataservice.CounterTargeted, N: 5},
		{MessageID: task.ID, Counter: dataservice.CounterDelivered, N: 1},
		{MessageID: bc.ID, Counter: dataservice.CounterDelivered, N: 4},
		{MessageID: yesterday.ID, Counter: dataservice.CounterDelivered, N: 1},
		{MessageID: id(), Counter: dataservice.CounterDelivered, N: 1}, // a message not kept: no day to count
	})
	if err != nil {
		t.Fatal(err)
	}
	// A retried save stores and counts nothing again.
	if err := c.SaveMessage(ctx, inline, []string{"r1", "r2", "r3"}); err == nil || !errors.Is(err, dataservice.ErrExists) {
		t.Fatalf("saving a message again: %v, want ErrExists", err)
	}
	for _, tc := range []struct {
		app  string
		day  time.Time
		want dataservice.DayTotals
	}{
		{app, day.Add(5 * time.Hour), dataservice.DayTotals{Messages: 3, Targeted: 3 + 5 + 10, Delivered: 2 + 1 + 4}},
		{app, day.Add(-24 * time.Hour), dataservice.DayTotals{Messages: 1, Targeted: 1, Delivered: 1}},
		{app, day.Add(24 * time.Hour), dataservice.DayTotals{}},
		{"nomessages", day, dataservice.DayTotals{}},
	} {
		got, err := c.AppDay(ctx, tc.app, tc.day)
		if err != nil || got != tc.want {
			t.Errorf("AppDay(%s, %s) = %+v, %v; want %+v", tc.app, tc.day.Format(time.DateOnly), got, err, tc.want)
		}
	}
	_, err = c.AppDay(ctx, "a/b", day)
	wantErr(t, err, dataservice.ErrInvalid, "day totals of an invalid app key")
}
