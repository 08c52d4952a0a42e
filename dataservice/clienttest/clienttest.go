// Package clienttest is the conformance suite of dataservice.Client: every
// implementation (the in-process Service, the HTTP/2 client of package
// remote, with or without caches) must pass it, so components cannot tell
// which one they were given.
package clienttest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

// Run runs the suite. newClient returns a client over a fresh, empty
// dataservice each time it is called.
func Run(t *testing.T, newClient func(t testing.TB) dataservice.Client) {
	tests := []struct {
		name string
		fn   func(t *testing.T, c dataservice.Client)
	}{
		{"Apps", apps},
		{"Devices", devices},
		{"Sessions", sessions},
		{"Messages", messages},
		{"Inbox", inbox},
		{"RemoveInboxExactlyOnce", removeInboxExactlyOnce},
		{"UpdateInbox", updateInbox},
		{"Counters", counters},
		{"EnsureConfig", ensureConfig},
		{"ReadYourWrites", readYourWrites},
		{"DeviceTags", deviceTags},
		{"DeviceIndexAppIsolation", deviceIndexAppIsolation},
		{"DevicePagination", devicePagination},
		{"TagCountsConcurrentDevices", tagCountsConcurrentDevices},
		{"TagCountsConcurrentOneDevice", tagCountsConcurrentOneDevice},
		{"DeviceAlias", deviceAlias},
		{"AliasLimit", aliasLimit},
		{"DeviceIndexValidation", deviceIndexValidation},
		{"Segments", segments},
		{"SegmentAppIsolation", segmentAppIsolation},
		{"SegmentPagination", segmentPagination},
		{"SegmentConcurrentUpdates", segmentConcurrentUpdates},
		{"SegmentValidation", segmentValidation},
		{"Schedules", schedules},
		{"ScheduleAppIsolation", scheduleAppIsolation},
		{"SchedulePagination", schedulePagination},
		{"DueSchedules", dueSchedules},
		{"ScheduleClaimRace", scheduleClaimRace},
		{"ScheduleFiredBound", scheduleFiredBound},
		{"ScheduleValidation", scheduleValidation},
		{"Tasks", tasks},
		{"ActiveTasksPaging", activeTasksPaging},
		{"TaskCompareAndSet", taskCompareAndSet},
		{"TaskValidation", taskValidation},
		{"TaskReport", taskReport},
		{"ReportOutcomes", reportOutcomes},
		{"SaveCopies", saveCopies},
		{"Collapse", collapse},
		{"CollapseConcurrent", collapseConcurrent},
		{"Broadcasts", broadcasts},
		{"BroadcastCursors", broadcastCursors},
		{"ReserveCID", reserveCID},
		{"ReserveCIDRace", reserveCIDRace},
		{"ReserveCIDExpiry", reserveCIDExpiry},
		{"AppDeviceCount", appDeviceCount},
		{"LastActive", lastActive},
		{"ReceiptsOnce", receiptsOnce},
		{"ReceiptsConcurrent", receiptsConcurrent},
		{"ReceiptsLifecycle", receiptsLifecycle},
		{"ReceiptClicks", receiptClicks},
		{"ReceiptValidation", receiptValidation},
		{"AppMessages", appMessages},
		{"AppMessagesValidation", appMessagesValidation},
		{"Cluster", cluster},
		{"NodeClaims", nodeClaims},
		{"UpstreamQueue", upstreamQueue},
		{"UpstreamConcurrent", upstreamConcurrent},
		{"UpstreamRemoveOnce", upstreamRemoveOnce},
		{"UpstreamValidation", upstreamValidation},
		{"Webhooks", webhooks},
		{"WebhookLeaseRace", webhookLeaseRace},
		{"WebhookValidation", webhookValidation},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newClient(t)) })
	}
}

var nextID atomic.Uint64

func init() { nextID.Store(uint64(time.Now().UnixNano())) }

func id() uint64 { return nextID.Add(1) }

func wantErr(t *testing.T, err, sentinel error, what string) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("%s: error %v, want one wrapping %v", what, err, sentinel)
	}
}

func apps(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	app := dataservice.App{Key: "3abdab7debf1dc3aee6377fa", Name: "shop <&>", SecretHash: [32]byte{1, 2, 3}, Created: time.UnixMilli(1_700_000_000_000).UTC()}
	if err := c.CreateApp(ctx, app); err != nil {
		t.Fatal(err)
	}
	wantErr(t, c.CreateApp(ctx, app), dataservice.ErrExists, "creating an app twice")
	got, err := c.App(ctx, app.Key)
	if err != nil || got.Key != app.Key || got.Name != app.Name || got.SecretHash != app.SecretHash || !got.Created.Equal(app.Created) {
		t.Fatalf("App() = %+v, %v; want %+v", got, err, app)
	}
	_, err = c.App(ctx, "000000000000000000000000")
	wantErr(t, err, dataservice.ErrNotFound, "unknown app")
}

func device(rid string) dataservice.Device {
	return dataservice.Device{RegistrationID: rid, AppKey: "app", Platform: "ios", StoredKey: [32]byte{7}, ServerKey: [32]byte{8}, Created: time.UnixMilli(1_700_000_000_000).UTC()}
}

func sameDevice(a, b dataservice.Device) bool {
	return a.RegistrationID == b.RegistrationID && a.AppKey == b.AppKey && a.Platform == b.Platform &&
		a.StoredKey == b.StoredKey && a.ServerKey == b.ServerKey && a.Created.Equal(b.Created)
}

func devices(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	d := device("r1")
	if err := c.CreateDevice(ctx, d); err != nil {
		t.Fatal(err)
	}
	wantErr(t, c.CreateDevice(ctx, d), dataservice.ErrExists, "creating a device twice")
	got, err := c.Device(ctx, "r1")
	if err != nil || !sameDevice(got, d) {
		t.Fatalf("Device() = %+v, %v; want %+v", got, err, d)
	}
	_, err = c.Device(ctx, "nope")
	wantErr(t, err, dataservice.ErrNotFound, "unknown device")
	if err := c.CreateDevice(ctx, device("r2")); err != nil {
		t.Fatal(err)
	}
	ds, err := c.Devices(ctx, []string{"r2", "nope", "r1"})
	if err != nil || len(ds) != 3 || ds[0].RegistrationID != "r2" || ds[1].Exists() || !sameDevice(ds[2], d) {
		t.Fatalf("Devices() = %+v, %v", ds, err)
	}
}

func putSession(t *testing.T, c dataservice.Client, s dataservice.Session) uint32 {
	t.Helper()
	gens, err := c.PutSessions(context.Background(), []dataservice.Session{s}, time.Hour)
	if err != nil || len(gens) != 1 || gens[0] == 0 {
		t.Fatalf("PutSessions: %v, %v", gens, err)
	}
	return gens[0]
}

func sessions(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	since := time.UnixMilli(1_700_000_000_000)
	g1 := putSession(t, c, dataservice.Session{RegistrationID: "r1", Connector: "c1", Since: since})
	gens, err := c.PutSessions(ctx, []dataservice.Session{
		{RegistrationID: "m1", Connector: "c1", Since: since}, {RegistrationID: "m2", Connector: "c2", Since: since},
	}, time.Hour)
	if err != nil || len(gens) != 2 || gens[0] == 0 || gens[1] == 0 {
		t.Fatalf("PutSessions of two: %v, %v", gens, err)
	}
	if ss, _ := c.Sessions(ctx, []string{"m2", "m1"}); ss[0].Connector != "c2" || ss[1].Connector != "c1" {
		t.Fatalf("sessions written in one call: %+v", ss)
	}
	ss, err := c.Sessions(ctx, []string{"r1", "r2"})
	if err != nil || len(ss) != 2 || ss[0].Connector != "c1" || ss[0].Generation != g1 || !ss[0].Since.Equal(since) || ss[0].RegistrationID != "r1" || ss[1].Exists() {
		t.Fatalf("Sessions() = %+v, %v", ss, err)
	}
	// Another connection took over: deleting the old session keeps the new.
	g2 := putSession(t, c, dataservice.Session{RegistrationID: "r1", Connector: "c2", Since: since})
	if g2 == g1 {
		t.Fatalf("second PutSession kept generation %d", g2)
	}
	if err := c.DeleteSession(ctx, "r1", g1); err != nil {
		t.Fatalf("DeleteSession of a replaced session: %v", err)
	}
	if ss, _ := c.Sessions(ctx, []string{"r1"}); ss[0].Connector != "c2" {
		t.Fatalf("the newer session was deleted: %+v", ss)
	}
	if err := c.DeleteSession(ctx, "r1", g2); err != nil {
		t.Fatal(err)
	}
	if ss, _ := c.Sessions(ctx, []string{"r1"}); ss[0].Exists() {
		t.Fatalf("session not deleted: %+v", ss)
	}
}

func message(ttl time.Duration) *dataservice.Message {
	return &dataservice.Message{
		ID: id(), AppKey: "app", Title: "<b>Sale</b> & more", Content: "hello \u2028 😀",
		Extras: json.RawMessage(`{"html":"<a href=\"x\">&amp;</a>","n":1}`),
		TTL:    ttl, Created: time.UnixMilli(time.Now().UnixMilli()),
	}
}

// messages checks SaveMessage and SaveNewMessage, which store the same
// (SaveNewMessage skips the reads a new id does not need), and that
// saving a message again is a retry that changes nothing.
func messages(t *testing.T, c dataservice.Client) {
	savers := []struct {
		name, rid string // rid prefixes the recipients, apart per saver
		save      func(context.Context, *dataservice.Message, []string) error
	}{
		{"SaveMessage", "r", c.SaveMessage},
		{"SaveNewMessage", "n", c.SaveNewMessage},
	}
	for _, sv := range savers {
		t.Run(sv.name, func(t *testing.T) { savedMessages(t, c, sv.rid, sv.save) })
	}
}

func savedMessages(t *testing.T, c dataservice.Client, rid string, save func(context.Context, *dataservice.Message, []string) error) {
	ctx := context.Background()
	r1, r2, r3 := rid+"1", rid+"2", rid+"3"
	m := message(time.Hour)
	if err := save(ctx, m, []string{r1, r2}); err != nil {
		t.Fatal(err)
	}
	got, err := c.Message(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != m.ID || got.AppKey != m.AppKey || got.Title != m.Title || got.Content != m.Content ||
		string(got.Extras) != string(m.Extras) || got.TTL != m.TTL || !got.Created.Equal(m.Created) {
		t.Fatalf("Message() = %+v\nwant %+v (bytes verbatim)", got, *m)
	}
	ms, err := c.Messages(ctx, []uint64{id(), m.ID})
	if err != nil || len(ms) != 2 || ms[0].ID != 0 || ms[1].ID != m.ID {
		t.Fatalf("Messages() = %+v, %v", ms, err)
	}
	_, err = c.Message(ctx, id())
	wantErr(t, err, dataservice.ErrNotFound, "unknown message")
	r, err := c.Report(ctx, m.ID)
	if err != nil || r.Targeted != 2 {
		t.Fatalf("Report() = %+v, %v; want targeted 2", r, err)
	}
	// Saved again (a retried push): ErrExists, and the counters the first
	// save started, and what came since, stay as they are.
	if err := c.AddCounters(ctx, []dataservice.CounterDelta{{MessageID: m.ID, Counter: dataservice.CounterDelivered, N: 1}}); err != nil {
		t.Fatal(err)
	}
	wantErr(t, c.SaveMessage(ctx, m, []string{r1, r2}), dataservice.ErrExists, "saving a message again")
	if r, err := c.Report(ctx, m.ID); err != nil || r.Targeted != 2 || r.Delivered != 1 {
		t.Fatalf("Report() after a second save = %+v, %v; want targeted 2, delivered 1", r, err)
	}
	for _, rid := range []string{r1, r2} {
		if e, err := c.Inbox(ctx, rid, 0, 10); err != nil || len(e) != 1 || e[0].MessageID != m.ID {
			t.Fatalf("inbox of %s: %+v, %v", rid, e, err)
		}
	}
	// Online only: no inbox copy.
	live := message(0)
	if err := save(ctx, live, []string{r3}); err != nil {
		t.Fatal(err)
	}
	if e, _ := c.Inbox(ctx, r3, 0, 10); len(e) != 0 {
		t.Fatalf("online-only message left inbox copies: %+v", e)
	}
	if r, err := c.Report(ctx, live.ID); err != nil || r.Targeted != 1 {
		t.Fatalf("Report() of the online-only message = %+v, %v; want targeted 1", r, err)
	}
	wantErr(t, save(ctx, &dataservice.Message{Content: "x"}, nil), dataservice.ErrInvalid, "saving a message without id")
}

func inbox(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	var ids []uint64
	for range 5 {
		m := message(time.Hour)
		if err := c.SaveMessage(ctx, m, []string{"r1"}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	e, err := c.Inbox(ctx, "r1", 0, 3)
	if err != nil || len(e) != 3 || e[0].MessageID != ids[0] || e[2].MessageID != ids[2] || e[0].Attempts != 0 || e[0].Generation == 0 {
		t.Fatalf("first page: %+v, %v", e, err)
	}
	if time.Until(e[0].Expires) < 59*time.Minute {
		t.Fatalf("inbox copy expires at %v, want about an hour from now", e[0].Expires)
	}
	e, err = c.Inbox(ctx, "r1", ids[2], 3)
	if err != nil || len(e) != 2 || e[0].MessageID != ids[3] {
		t.Fatalf("second page: %+v, %v", e, err)
	}
	if e, _ := c.Inbox(ctx, "r10", 0, 10); len(e) != 0 {
		t.Fatalf("inbox of another device (a prefix of it): %+v", e)
	}
}

func removeInboxExactlyOnce(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	m := message(time.Hour)
	if err := c.SaveMessage(ctx, m, []string{"r1"}); err != nil {
		t.Fatal(err)
	}
	var wins atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			existed, err := c.RemoveInbox(ctx, []dataservice.InboxCopy{{RegistrationID: "r1", MessageID: m.ID}, {RegistrationID: "r1", MessageID: id()}})
			if err != nil {
				t.Error(err)
				return
			}
			if existed[1] {
				t.Error("a copy that never existed was reported removed")
			}
			if existed[0] {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d removals reported the copy existed, want exactly 1", wins.Load())
	}
}

func updateInbox(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	a, b := message(time.Hour), message(time.Hour)
	for _, m := range []*dataservice.Message{a, b} {
		if err := c.SaveMessage(ctx, m, []string{"r1"}); err != nil {
			t.Fatal(err)
		}
	}
	e, _ := c.Inbox(ctx, "r1", 0, 10)
	if len(e) != 2 {
		t.Fatalf("inbox %+v", e)
	}
	// b is acknowledged meanwhile: its update must not bring it back.
	if _, err := c.RemoveInbox(ctx, []dataservice.InboxCopy{{RegistrationID: "r1", MessageID: b.ID}}); err != nil {
		t.Fatal(err)
	}
	e[0].Attempts, e[1].Attempts = 3, 4
	if err := c.UpdateInbox(ctx, "r1", e); err != nil {
		t.Fatal(err)
	}
	got, _ := c.Inbox(ctx, "r1", 0, 10)
	if len(got) != 1 || got[0].MessageID != a.ID || got[0].Attempts != 3 {
		t.Fatalf("after update: %+v; want only %d with 3 attempts", got, a.ID)
	}
	// A stale generation leaves the copy alone.
	stale := got[0]
	stale.Attempts = 9
	stale.Generation = got[0].Generation - 1
	if err := c.UpdateInbox(ctx, "r1", []dataservice.InboxEntry{stale}); err != nil {
		t.Fatal(err)
	}
	if now, _ := c.Inbox(ctx, "r1", 0, 10); now[0].Attempts != 3 {
		t.Fatalf("a stale update was applied: %+v", now)
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

func ensureConfig(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	v, err := c.EnsureConfig(ctx, "k", []byte("first"))
	if err != nil || string(v) != "first" {
		t.Fatalf("first EnsureConfig: %q, %v", v, err)
	}
	v, err = c.EnsureConfig(ctx, "k", []byte("second"))
	if err != nil || string(v) != "first" {
		t.Fatalf("second EnsureConfig: %q, %v; the first value must win", v, err)
	}
}

// readYourWrites checks that a read after a write sees it, for every
// cached record kind, also when the old value was read (and cached) first.
func readYourWrites(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	for i := range 20 {
		rid := fmt.Sprint("ryw", i)
		putSession(t, c, dataservice.Session{RegistrationID: rid, Connector: "old", Since: time.Now()})
		if ss, _ := c.Sessions(ctx, []string{rid}); ss[0].Connector != "old" {
			t.Fatalf("read %+v", ss)
		}
		putSession(t, c, dataservice.Session{RegistrationID: rid, Connector: "new", Since: time.Now()})
		if ss, _ := c.Sessions(ctx, []string{rid}); ss[0].Connector != "new" {
			t.Fatalf("read after write returned %+v", ss)
		}
		ss, _ := c.Sessions(ctx, []string{rid})
		if err := c.DeleteSession(ctx, rid, ss[0].Generation); err != nil {
			t.Fatal(err)
		}
		if ss, _ := c.Sessions(ctx, []string{rid}); ss[0].Exists() {
			t.Fatalf("read after delete returned %+v", ss)
		}
	}
}
