package clienttest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

// scheduleTests are the cases of ScheduleStore.
var scheduleTests = []test{
	{"Schedules", schedules},
	{"ScheduleAppIsolation", scheduleAppIsolation},
	{"SchedulePagination", schedulePagination},
	{"DueSchedules", dueSchedules},
	{"ScheduleClaimRace", scheduleClaimRace},
	{"ScheduleFiredBound", scheduleFiredBound},
	{"ScheduleValidation", scheduleValidation},
}

// scheduleSpec is a Spec with bytes JSON encoders like to escape: stored
// verbatim.
const scheduleSpec = `{"trigger":{"single":{"time":"2030-01-02 09:00:00"}},"push":{"message":{"content":"<b>&amp;</b> \u2028"}}}`

// msTime is now at millisecond precision in UTC, plus d: how schedules
// keep times.
func msTime(d time.Duration) time.Time {
	return time.UnixMilli(time.Now().Add(d).UnixMilli()).UTC()
}

func newSchedule(app, id string, next *dataservice.ScheduleFiring) dataservice.Schedule {
	return dataservice.Schedule{ID: id, AppKey: app, Name: "morning <news> 早报", Enabled: true, Spec: json.RawMessage(scheduleSpec), Next: next}
}

func firingAt(d time.Duration) *dataservice.ScheduleFiring {
	return &dataservice.ScheduleFiring{At: msTime(d)}
}

func createSchedule(t *testing.T, c dataservice.Client, s dataservice.Schedule) dataservice.Schedule {
	t.Helper()
	got, err := c.CreateSchedule(context.Background(), s)
	if err != nil {
		t.Fatalf("CreateSchedule(%s/%s): %v", s.AppKey, s.ID, err)
	}
	if got.Generation == 0 {
		t.Fatalf("CreateSchedule(%s/%s) returned no generation", s.AppKey, s.ID)
	}
	return got
}

func getSchedule(t *testing.T, c dataservice.Client, app, id string) dataservice.Schedule {
	t.Helper()
	s, err := c.Schedule(context.Background(), app, id)
	if err != nil {
		t.Fatalf("Schedule(%s, %s): %v", app, id, err)
	}
	if s.Generation == 0 {
		t.Fatalf("Schedule(%s, %s) has no generation", app, id)
	}
	return s
}

func sameFiring(a, b *dataservice.ScheduleFiring) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.At.Equal(b.At) && a.MsgID == b.MsgID && a.Error == b.Error &&
		((a.UTCOffset == nil && b.UTCOffset == nil) || (a.UTCOffset != nil && b.UTCOffset != nil && *a.UTCOffset == *b.UTCOffset))
}

// wantSchedule checks everything but Created, Updated and Generation,
// which the callers check.
func wantSchedule(t *testing.T, what string, got, want dataservice.Schedule) {
	t.Helper()
	same := got.ID == want.ID && got.AppKey == want.AppKey && got.Name == want.Name && got.Enabled == want.Enabled &&
		string(got.Spec) == string(want.Spec) && sameFiring(got.Next, want.Next) && got.Owner == want.Owner &&
		got.LeaseUntil.Equal(want.LeaseUntil) && got.Missed == want.Missed && len(got.Fired) == len(want.Fired)
	for i := 0; same && i < len(got.Fired); i++ {
		same = sameFiring(&got.Fired[i], &want.Fired[i])
	}
	if !same {
		t.Fatalf("%s = %+v\nwant %+v (Spec verbatim)", what, got, want)
	}
}

func scheduleIDs(ss []dataservice.Schedule) []string {
	ids := make([]string, len(ss))
	for i, s := range ss {
		ids[i] = s.AppKey + "/" + s.ID
	}
	return ids
}

func schedules(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	offset := 19800
	s := newSchedule("app", "5e3c1b80-c2ac-4b69-948b-c65b34b96512", &dataservice.ScheduleFiring{At: msTime(time.Hour), UTCOffset: &offset})
	s.Fired = []dataservice.ScheduleFiring{{At: msTime(-time.Hour), MsgID: id()}, {At: msTime(-time.Minute), Error: "unknown segment <x>"}}
	s.Missed = 3
	before := time.Now().Add(-time.Second)
	created := createSchedule(t, c, s)
	wantSchedule(t, "CreateSchedule()", created, s)
	if created.Created.Before(before) || created.Created.After(time.Now().Add(time.Second)) || !created.Updated.Equal(created.Created) {
		t.Fatalf("created %v, updated %v: want both set to the service's clock", created.Created, created.Updated)
	}
	got := getSchedule(t, c, "app", s.ID)
	wantSchedule(t, "Schedule()", got, s)
	if !got.Created.Equal(created.Created) || !got.Updated.Equal(created.Updated) || got.Generation != created.Generation {
		t.Fatalf("Schedule() = %+v, want what CreateSchedule returned: %+v", got, created)
	}
	_, err := c.CreateSchedule(ctx, s)
	wantErr(t, err, dataservice.ErrExists, "creating a schedule twice")
	_, err = c.Schedule(ctx, "app", "nope")
	wantErr(t, err, dataservice.ErrNotFound, "unknown schedule")
	_, err = c.Schedule(ctx, "other-app", s.ID)
	wantErr(t, err, dataservice.ErrNotFound, "another app's schedule")

	// Compare-and-set: the update keeps Created, takes the caller's
	// Updated, and moves the generation on.
	next := got
	next.Name, next.Enabled, next.Owner, next.LeaseUntil = "renamed", false, "gw-1", msTime(time.Minute)
	next.Next = nil
	next.Created = time.Unix(1, 0)
	next.Updated = msTime(time.Second)
	updated, err := c.UpdateSchedule(ctx, next)
	if err != nil {
		t.Fatal(err)
	}
	want := next
	want.Created = created.Created
	wantSchedule(t, "UpdateSchedule()", updated, want)
	if updated.Generation == got.Generation || !updated.Created.Equal(created.Created) || !updated.Updated.Equal(next.Updated) {
		t.Fatalf("UpdateSchedule() = %+v: want a new generation, created kept, updated the caller's", updated)
	}
	if now := getSchedule(t, c, "app", s.ID); now.Generation != updated.Generation || now.Name != "renamed" {
		t.Fatalf("read after update = %+v", now)
	}
	_, err = c.UpdateSchedule(ctx, next) // next.Generation is the old one
	wantErr(t, err, dataservice.ErrGenerationMismatch, "an update from a stale read")

	// Delete, exactly once.
	existed, err := c.DeleteSchedule(ctx, "app", s.ID)
	if err != nil || !existed {
		t.Fatalf("DeleteSchedule() = %v, %v; want true", existed, err)
	}
	if existed, err = c.DeleteSchedule(ctx, "app", s.ID); err != nil || existed {
		t.Fatalf("second DeleteSchedule() = %v, %v; want false", existed, err)
	}
	_, err = c.Schedule(ctx, "app", s.ID)
	wantErr(t, err, dataservice.ErrNotFound, "a deleted schedule")
	_, err = c.UpdateSchedule(ctx, updated)
	wantErr(t, err, dataservice.ErrNotFound, "updating a deleted schedule")
	if due, _, err := c.DueSchedules(ctx, time.Now().Add(2*time.Hour), "", 10); err != nil || len(due) != 0 {
		t.Fatalf("DueSchedules after the delete = %v, %v", scheduleIDs(due), err)
	}
}

func scheduleAppIsolation(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	a := createSchedule(t, c, newSchedule("app-a", "same", nil))
	b := newSchedule("app-b", "same", nil)
	b.Name = "b's"
	createSchedule(t, c, b)
	if got := getSchedule(t, c, "app-a", "same"); got.Name != a.Name {
		t.Fatalf("app-a's schedule = %+v", got)
	}
	for _, app := range []string{"app-a", "app-b"} {
		list, err := c.Schedules(ctx, app, "", 10)
		if err != nil || !slices.Equal(scheduleIDs(list), []string{app + "/same"}) {
			t.Fatalf("Schedules(%s) = %v, %v", app, scheduleIDs(list), err)
		}
	}
	if existed, err := c.DeleteSchedule(ctx, "app-a", "same"); err != nil || !existed {
		t.Fatalf("DeleteSchedule(app-a) = %v, %v", existed, err)
	}
	if got := getSchedule(t, c, "app-b", "same"); got.Name != "b's" {
		t.Fatalf("deleting app-a's schedule changed app-b's: %+v", got)
	}
	// An app whose key is a prefix of another's sees its own only.
	createSchedule(t, c, newSchedule("app", "x", nil))
	if list, _ := c.Schedules(ctx, "app", "", 10); !slices.Equal(scheduleIDs(list), []string{"app/x"}) {
		t.Fatalf("Schedules(app) = %v", scheduleIDs(list))
	}
}

func schedulePagination(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	var want []string
	for i := range 25 {
		id := fmt.Sprintf("s%02d", 24-i) // created out of order
		createSchedule(t, c, newSchedule("app", id, nil))
		want = append(want, "app/"+id)
	}
	slices.Sort(want)
	var got []string
	after := ""
	for {
		page, err := c.Schedules(ctx, "app", after, 7)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range page {
			if s.Generation == 0 {
				t.Fatalf("Schedules returned %s without generation", s.ID)
			}
		}
		got = append(got, scheduleIDs(page)...)
		if len(page) < 7 {
			break
		}
		after = page[len(page)-1].ID
	}
	if !slices.Equal(got, want) {
		t.Fatalf("paged listing = %v\nwant %v", got, want)
	}
}

// allDue reads every due schedule page by page.
func allDue(t *testing.T, c dataservice.Client, until time.Time, page int) []dataservice.Schedule {
	t.Helper()
	var out []dataservice.Schedule
	after := ""
	for range 1000 {
		due, next, err := c.DueSchedules(context.Background(), until, after, page)
		if err != nil {
			t.Fatalf("DueSchedules(%v, %q, %d): %v", until, after, page, err)
		}
		if len(due) > page {
			t.Fatalf("a page of %d for limit %d", len(due), page)
		}
		for _, s := range due {
			if s.Generation == 0 {
				t.Fatalf("DueSchedules returned %s without generation", s.ID)
			}
		}
		out = append(out, due...)
		if next == "" {
			return out
		}
		after = next
	}
	t.Fatal("DueSchedules never returned an empty cursor")
	return nil
}

func dueSchedules(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	now := time.Now()
	createSchedule(t, c, newSchedule("app", "b", firingAt(-2*time.Minute)))
	createSchedule(t, c, newSchedule("app", "a", firingAt(-time.Minute)))
	tie := newSchedule("app0", "c", &dataservice.ScheduleFiring{At: getSchedule(t, c, "app", "a").Next.At})
	createSchedule(t, c, tie)
	createSchedule(t, c, newSchedule("app", "never", nil))
	later := createSchedule(t, c, newSchedule("app", "later", firingAt(time.Hour)))

	want := []string{"app/b", "app/a", "app0/c"} // by time, then app and id
	for _, page := range []int{1, 2, 3, 10} {
		if got := scheduleIDs(allDue(t, c, now, page)); !slices.Equal(got, want) {
			t.Fatalf("due in pages of %d = %v, want %v", page, got, want)
		}
	}
	if got := scheduleIDs(allDue(t, c, now.Add(-90*time.Second), 10)); !slices.Equal(got, []string{"app/b"}) {
		t.Fatalf("due 90s ago = %v, want [app/b]", got)
	}
	if got := scheduleIDs(allDue(t, c, now.Add(2*time.Hour), 10)); !slices.Equal(got, append(want, "app/later")) {
		t.Fatalf("due in 2h = %v", got)
	}

	// A claim leaves the schedule due (its firing is under way); moving
	// Next moves it; clearing Next or deleting takes it off.
	b := getSchedule(t, c, "app", "b")
	b.Next.MsgID, b.Owner, b.LeaseUntil = id(), "gw-1", msTime(time.Minute)
	claimed, err := c.UpdateSchedule(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	due := allDue(t, c, now, 10)
	if !slices.Equal(scheduleIDs(due), want) || due[0].Generation != claimed.Generation || due[0].Next.MsgID != b.Next.MsgID {
		t.Fatalf("after a claim: due %+v", due)
	}
	claimed.Next = firingAt(30 * time.Minute)
	if _, err := c.UpdateSchedule(ctx, claimed); err != nil {
		t.Fatal(err)
	}
	later.Next = firingAt(-3 * time.Minute)
	if _, err := c.UpdateSchedule(ctx, later); err != nil {
		t.Fatal(err)
	}
	if got := scheduleIDs(allDue(t, c, now, 10)); !slices.Equal(got, []string{"app/later", "app/a", "app0/c"}) {
		t.Fatalf("after moving b on and later back: due %v", got)
	}
	a := getSchedule(t, c, "app", "a")
	a.Next, a.Enabled = nil, false
	if _, err := c.UpdateSchedule(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteSchedule(ctx, "app0", "c"); err != nil {
		t.Fatal(err)
	}
	if got := scheduleIDs(allDue(t, c, now, 10)); !slices.Equal(got, []string{"app/later"}) {
		t.Fatalf("after clearing a's Next and deleting c: due %v", got)
	}
	if got := scheduleIDs(allDue(t, c, now.Add(time.Hour), 10)); !slices.Equal(got, []string{"app/later", "app/b"}) {
		t.Fatalf("due in an hour: %v", got)
	}
}

// scheduleClaimRace checks that of gateways racing to claim one firing,
// exactly one wins.
func scheduleClaimRace(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	createSchedule(t, c, newSchedule("app", "race", firingAt(-time.Second)))
	due := allDue(t, c, time.Now(), 10)
	if len(due) != 1 {
		t.Fatalf("due %v", scheduleIDs(due))
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		owners []string
	)
	for i := range 8 {
		wg.Go(func() {
			s := due[0]
			next := *s.Next
			next.MsgID = id()
			s.Next, s.Owner, s.LeaseUntil = &next, fmt.Sprintf("gw-%d", i), msTime(time.Minute)
			_, err := c.UpdateSchedule(ctx, s)
			switch {
			case err == nil:
				mu.Lock()
				owners = append(owners, s.Owner)
				mu.Unlock()
			case !errors.Is(err, dataservice.ErrGenerationMismatch):
				t.Errorf("claim by %s: %v", s.Owner, err)
			}
		})
	}
	wg.Wait()
	if len(owners) != 1 {
		t.Fatalf("claims won by %v, want exactly one", owners)
	}
	if got := getSchedule(t, c, "app", "race"); got.Owner != owners[0] {
		t.Fatalf("stored owner %q, want the winner %q", got.Owner, owners[0])
	}
}

func scheduleFiredBound(t *testing.T, c dataservice.Client) {
	s := newSchedule("app", "long", nil)
	for i := range dataservice.MaxScheduleFired + 5 {
		s.Fired = append(s.Fired, dataservice.ScheduleFiring{At: msTime(time.Duration(i) * time.Minute), MsgID: uint64(i + 1)})
	}
	created := createSchedule(t, c, s)
	if len(created.Fired) != dataservice.MaxScheduleFired || created.Fired[0].MsgID != 6 {
		t.Fatalf("created with %d firings, the first %+v; want the newest %d", len(created.Fired), created.Fired[0], dataservice.MaxScheduleFired)
	}
	created.Fired = append(created.Fired, dataservice.ScheduleFiring{At: msTime(time.Hour), MsgID: 1000})
	updated, err := c.UpdateSchedule(context.Background(), created)
	if err != nil {
		t.Fatal(err)
	}
	got := getSchedule(t, c, "app", "long")
	for _, s := range []dataservice.Schedule{updated, got} {
		if len(s.Fired) != dataservice.MaxScheduleFired || s.Fired[0].MsgID != 7 || s.Fired[len(s.Fired)-1].MsgID != 1000 {
			t.Fatalf("after an append: %d firings from %d to %d", len(s.Fired), s.Fired[0].MsgID, s.Fired[len(s.Fired)-1].MsgID)
		}
	}
}

func scheduleValidation(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	valid := newSchedule("app", "valid", firingAt(time.Hour))
	long := make([]byte, dataservice.MaxKeyLen)
	for i := range long {
		long[i] = 'k'
	}
	for _, tc := range []struct {
		name   string
		mutate func(*dataservice.Schedule)
	}{
		{"empty id", func(s *dataservice.Schedule) { s.ID = "" }},
		{"id with '/'", func(s *dataservice.Schedule) { s.ID = "a/b" }},
		{"id too long", func(s *dataservice.Schedule) { s.ID = string(long[:dataservice.MaxScheduleIDLen+1]) }},
		{"id with a control character", func(s *dataservice.Schedule) { s.ID = "a\nb" }},
		{"id not UTF-8", func(s *dataservice.Schedule) { s.ID = "a\xff" }},
		{"empty app", func(s *dataservice.Schedule) { s.AppKey = "" }},
		{"app with '/'", func(s *dataservice.Schedule) { s.AppKey = "a/b" }},
		{"app and id too long together", func(s *dataservice.Schedule) { s.AppKey = string(long[:230]) }},
		{"empty name", func(s *dataservice.Schedule) { s.Name = "" }},
		{"name too long", func(s *dataservice.Schedule) { s.Name = string(long[:dataservice.MaxScheduleNameLen+1]) }},
		{"name with a control character", func(s *dataservice.Schedule) { s.Name = "a\tb" }},
		{"name not UTF-8", func(s *dataservice.Schedule) { s.Name = "a\xff" }},
		{"spec not JSON", func(s *dataservice.Schedule) { s.Spec = json.RawMessage(`{"a":`) }},
		{"spec too long", func(s *dataservice.Schedule) {
			s.Spec = json.RawMessage(`"` + strings.Repeat("k", dataservice.MaxScheduleSpecLen) + `"`)
		}},
		{"next firing without a time", func(s *dataservice.Schedule) { s.Next = &dataservice.ScheduleFiring{} }},
		{"negative missed", func(s *dataservice.Schedule) { s.Missed = -1 }},
		{"owner not UTF-8", func(s *dataservice.Schedule) { s.Owner = "\xff" }},
	} {
		bad := valid
		tc.mutate(&bad)
		_, err := c.CreateSchedule(ctx, bad)
		wantErr(t, err, dataservice.ErrInvalid, "CreateSchedule with "+tc.name)
		bad.Generation = 1
		_, err = c.UpdateSchedule(ctx, bad)
		wantErr(t, err, dataservice.ErrInvalid, "UpdateSchedule with "+tc.name)
	}
	createSchedule(t, c, valid)
	_, err := c.UpdateSchedule(ctx, valid) // Generation 0: never read
	wantErr(t, err, dataservice.ErrInvalid, "UpdateSchedule without a generation")
	for _, q := range []struct{ app, id string }{{"", "x"}, {"a/b", "x"}, {"app", ""}, {"app", "a/b"}} {
		_, err := c.Schedule(ctx, q.app, q.id)
		wantErr(t, err, dataservice.ErrInvalid, fmt.Sprintf("Schedule(%q, %q)", q.app, q.id))
		_, err = c.DeleteSchedule(ctx, q.app, q.id)
		wantErr(t, err, dataservice.ErrInvalid, fmt.Sprintf("DeleteSchedule(%q, %q)", q.app, q.id))
	}
	for _, limit := range []int{0, -1, dataservice.MaxPage + 1} {
		_, err := c.Schedules(ctx, "app", "", limit)
		wantErr(t, err, dataservice.ErrInvalid, fmt.Sprintf("Schedules with limit %d", limit))
		_, _, err = c.DueSchedules(ctx, time.Now(), "", limit)
		wantErr(t, err, dataservice.ErrInvalid, fmt.Sprintf("DueSchedules with limit %d", limit))
	}
	_, err = c.Schedules(ctx, "app", "a/b", 10)
	wantErr(t, err, dataservice.ErrInvalid, "Schedules after an id with '/'")
	_, _, err = c.DueSchedules(ctx, time.Now(), "not-a-cursor", 10)
	wantErr(t, err, dataservice.ErrInvalid, "DueSchedules after a made-up cursor")
	if got := getSchedule(t, c, "app", "valid"); got.Generation != 1 {
		t.Fatalf("invalid calls changed the schedule: generation %d", got.Generation)
	}
}
