package clienttest

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

// messageTests are the cases of MessageStore and InboxStore: bodies, inbox
// copies, collapse ids and idempotency keys.
var messageTests = []test{
	{"Messages", messages},
	{"Inbox", inbox},
	{"RemoveInboxExactlyOnce", removeInboxExactlyOnce},
	{"UpdateInbox", updateInbox},
	{"SaveCopies", saveCopies},
	{"Collapse", collapse},
	{"CollapseConcurrent", collapseConcurrent},
	{"ReserveCID", reserveCID},
	{"ReserveCIDRace", reserveCIDRace},
	{"ReserveCIDExpiry", reserveCIDExpiry},
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

func inboxIDs(t *testing.T, c dataservice.Client, rid string) []uint64 {
	t.Helper()
	es, err := c.Inbox(context.Background(), rid, 0, 100)
	if err != nil {
		t.Fatalf("Inbox(%s): %v", rid, err)
	}
	ids := make([]uint64, len(es))
	for i, e := range es {
		ids[i] = e.MessageID
	}
	return ids
}

func saveCopies(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	m := message(time.Hour)
	if err := c.SaveMessage(ctx, m, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.SaveCopies(ctx, m, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	es, _ := c.Inbox(ctx, "a", 0, 10)
	if len(es) != 1 || es[0].MessageID != m.ID {
		t.Fatalf("inbox of a: %+v", es)
	}
	// Copies expire with the message, not a TTL after the page.
	if d := es[0].Expires.Sub(m.Expires().Add(dataservice.AckGrace)); d < -time.Second || d > time.Second {
		t.Fatalf("copy expires at %v, want %v", es[0].Expires, m.Expires().Add(dataservice.AckGrace))
	}
	// The page again, and an overlapping one: existing copies stay as
	// they are (attempts kept).
	es[0].Attempts = 2
	if err := c.UpdateInbox(ctx, "a", es); err != nil {
		t.Fatal(err)
	}
	for _, page := range [][]string{{"a", "b"}, {"b", "c", "a"}} {
		if err := c.SaveCopies(ctx, m, page); err != nil {
			t.Fatalf("SaveCopies(%q) again: %v", page, err)
		}
	}
	for _, rid := range []string{"a", "b", "c"} {
		wantIDs(t, "inbox of "+rid, inboxIDs(t, c, rid), []uint64{m.ID})
	}
	if es, _ := c.Inbox(ctx, "a", 0, 10); es[0].Attempts != 2 {
		t.Fatalf("a page committed twice reset the copy: %+v", es[0])
	}
	if r, _ := c.Report(ctx, m.ID); r.Targeted != 0 {
		t.Fatalf("SaveCopies counted targeted %d", r.Targeted)
	}
	if err := c.SaveCopies(ctx, m, nil); err != nil {
		t.Fatalf("SaveCopies of no device: %v", err)
	}

	// Online only, or expired: no copies.
	live := message(0)
	old := message(time.Hour)
	old.Created = time.UnixMilli(time.Now().Add(-2 * time.Hour).UnixMilli())
	for _, m := range []*dataservice.Message{live, old} {
		if err := c.SaveMessage(ctx, m, nil); err != nil {
			t.Fatal(err)
		}
		if err := c.SaveCopies(ctx, m, []string{"d"}); err != nil {
			t.Fatal(err)
		}
	}
	wantIDs(t, "inbox after copies of online-only and expired messages", inboxIDs(t, c, "d"), nil)

	for _, tc := range []struct {
		name string
		m    *dataservice.Message
	}{
		{"zero id", &dataservice.Message{AppKey: "app", TTL: time.Hour, Created: time.Now()}},
		{"no creation time", &dataservice.Message{ID: id(), AppKey: "app", TTL: time.Hour}},
		{"negative TTL", &dataservice.Message{ID: id(), AppKey: "app", TTL: -time.Second, Created: time.Now()}},
		{"collapse id with '/'", &dataservice.Message{ID: id(), AppKey: "app", TTL: time.Hour, Created: time.Now(), CollapseID: "a/b"}},
	} {
		wantErr(t, c.SaveCopies(ctx, tc.m, []string{"e"}), dataservice.ErrInvalid, "SaveCopies of a message with "+tc.name)
	}
	wantErr(t, c.SaveCopies(ctx, m, []string{"bad\xff"}), dataservice.ErrInvalid, "SaveCopies for an id that is not UTF-8")
}

func collapsing(collapse string, ttl time.Duration) *dataservice.Message {
	m := message(ttl)
	m.CollapseID = collapse
	return m
}

func replaced(t *testing.T, c dataservice.Client, id uint64) int64 {
	t.Helper()
	r, err := c.Report(context.Background(), id)
	if err != nil {
		t.Fatalf("Report(%d): %v", id, err)
	}
	return r.Replaced
}

func collapse(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	// An id allocated first is older than every later one.
	older := collapsing("score", time.Hour)
	m1 := collapsing("score", time.Hour)
	if err := c.SaveMessage(ctx, m1, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	other := collapsing("weather", time.Hour)
	plain := message(time.Hour)
	for _, m := range []*dataservice.Message{other, plain} {
		if err := c.SaveMessage(ctx, m, []string{"a"}); err != nil {
			t.Fatal(err)
		}
	}
	// A newer message with the collapse id replaces a's copy of m1 only.
	m2 := collapsing("score", time.Hour)
	if err := c.SaveMessage(ctx, m2, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	wantIDs(t, "inbox of a", inboxIDs(t, c, "a"), []uint64{other.ID, plain.ID, m2.ID})
	wantIDs(t, "inbox of b", inboxIDs(t, c, "b"), []uint64{m1.ID})
	if n := replaced(t, c, m1.ID); n != 1 {
		t.Fatalf("m1 replaced %d, want 1", n)
	}

	// A delivered copy is not counted as replaced.
	if _, err := c.RemoveInbox(ctx, []dataservice.InboxCopy{{RegistrationID: "a", MessageID: m2.ID}}); err != nil {
		t.Fatal(err)
	}
	m3 := collapsing("score", time.Hour)
	if err := c.SaveMessage(ctx, m3, []string{"a", "b"}); err != nil {
		t.Fatal(err)
	}
	if n := replaced(t, c, m2.ID); n != 0 {
		t.Fatalf("m2, delivered before m3 came, replaced %d, want 0", n)
	}
	if n := replaced(t, c, m1.ID); n != 2 {
		t.Fatalf("m1 replaced %d, want 2 (a, then b)", n)
	}
	wantIDs(t, "inbox of b", inboxIDs(t, c, "b"), []uint64{m3.ID})

	// An older message arriving later (a slow task page) gets no copy
	// where a newer one holds the collapse id, and counts that as
	// replaced.
	if err := c.SaveMessage(ctx, older, nil); err != nil {
		t.Fatal(err)
	}
	if err := c.SaveCopies(ctx, older, []string{"a", "c"}); err != nil {
		t.Fatal(err)
	}
	wantIDs(t, "inbox of a after an older message", inboxIDs(t, c, "a"), []uint64{other.ID, plain.ID, m3.ID})
	wantIDs(t, "inbox of c", inboxIDs(t, c, "c"), []uint64{older.ID})
	if n := replaced(t, c, older.ID); n != 1 {
		t.Fatalf("older replaced %d, want 1 (a)", n)
	}
	if n := replaced(t, c, m3.ID); n != 0 {
		t.Fatalf("m3 replaced %d, want 0", n)
	}

	// Task pages replace like SaveMessage, and a page saved twice is
	// idempotent.
	m4 := collapsing("score", time.Hour)
	if err := c.SaveMessage(ctx, m4, nil); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := c.SaveCopies(ctx, m4, []string{"a", "c", "a"}); err != nil {
			t.Fatal(err)
		}
	}
	wantIDs(t, "inbox of a after a task page", inboxIDs(t, c, "a"), []uint64{other.ID, plain.ID, m4.ID})
	wantIDs(t, "inbox of c after a task page", inboxIDs(t, c, "c"), []uint64{m4.ID})
	if a, b := replaced(t, c, m3.ID), replaced(t, c, older.ID); a != 1 || b != 2 {
		t.Fatalf("replaced m3 %d, older %d; want 1 and 2", a, b)
	}
	if n := replaced(t, c, m4.ID); n != 0 {
		t.Fatalf("m4 replaced %d, want 0", n)
	}

	// Online-only messages neither replace nor get replaced.
	live := collapsing("score", 0)
	if err := c.SaveMessage(ctx, live, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	wantIDs(t, "inbox of a after an online-only message", inboxIDs(t, c, "a"), []uint64{other.ID, plain.ID, m4.ID})

	for _, bad := range []string{"a/b", "ctl\x01", "bad\xff", strings.Repeat("x", dataservice.MaxCollapseIDLen+1)} {
		m := collapsing(bad, time.Hour)
		wantErr(t, c.SaveCopies(ctx, m, []string{"a"}), dataservice.ErrInvalid, fmt.Sprintf("SaveCopies with collapse id %q", bad))
	}
	for _, bad := range []string{"a/b", "ctl\x01", strings.Repeat("x", dataservice.MaxCollapseIDLen+1)} {
		m := collapsing(bad, time.Hour)
		wantErr(t, c.SaveMessage(ctx, m, []string{"a"}), dataservice.ErrInvalid, fmt.Sprintf("SaveMessage with collapse id %q", bad))
	}
	if err := c.SaveMessage(ctx, collapsing(strings.Repeat("é", dataservice.MaxCollapseIDLen/2), time.Hour), []string{"z"}); err != nil {
		t.Fatalf("collapse id of %d bytes: %v", dataservice.MaxCollapseIDLen, err)
	}
}

// collapseConcurrent saves messages with one collapse id to the same
// devices at once: every device ends with the newest copy only, and every
// other copy is counted replaced exactly once. Rounds repeat the race.
func collapseConcurrent(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	const rounds, messages = 4, 6
	for round := range rounds {
		collapse := fmt.Sprint("live-score-", round)
		rids := []string{"d1", "d2", "d3", "d4"}
		ms := make([]*dataservice.Message, messages)
		for i := range ms {
			ms[i] = collapsing(collapse, time.Hour)
		}
		var wg sync.WaitGroup
		for i, m := range ms {
			wg.Go(func() {
				var err error
				if i%2 == 0 {
					err = c.SaveMessage(ctx, m, rids)
				} else if err = c.SaveMessage(ctx, m, nil); err == nil {
					err = c.SaveCopies(ctx, m, rids)
				}
				if err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		newest := ms[messages-1].ID
		for _, rid := range rids {
			var copies []uint64
			for _, id := range inboxIDs(t, c, rid) {
				if slices.ContainsFunc(ms, func(m *dataservice.Message) bool { return m.ID == id }) {
					copies = append(copies, id)
				}
			}
			wantIDs(t, fmt.Sprintf("round %d: copies in the inbox of %s", round, rid), copies, []uint64{newest})
		}
		var total int64
		for _, m := range ms[:messages-1] {
			total += replaced(t, c, m.ID)
		}
		if want := int64((messages - 1) * len(rids)); total != want {
			t.Fatalf("round %d: %d copies counted replaced, want %d", round, total, want)
		}
		if n := replaced(t, c, newest); n != 0 {
			t.Fatalf("round %d: the newest message counted %d replaced", round, n)
		}
	}
}

func reserveCID(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	first, second := id(), id()
	reserve := func(app, cid string, id uint64, ttl time.Duration) (uint64, bool) {
		t.Helper()
		got, bound, err := c.ReserveCID(ctx, app, cid, id, ttl)
		if err != nil {
			t.Fatalf("ReserveCID(%s, %q, %d): %v", app, cid, id, err)
		}
		return got, bound
	}
	const cid = "8103a4c628a0b98974ec1949-711261d4-5f17-4d2f-a855-5e5a8909b26e"
	if got, bound := reserve("app", cid, first, time.Hour); got != first || !bound {
		t.Fatalf("first ReserveCID = %d, %v; want %d, true", got, bound, first)
	}
	if got, bound := reserve("app", cid, second, time.Hour); got != first || bound {
		t.Fatalf("second ReserveCID = %d, %v; want %d, false", got, bound, first)
	}
	if got, bound := reserve("app", cid, first, time.Hour); got != first || bound {
		t.Fatalf("retried ReserveCID = %d, %v; want %d, false", got, bound, first)
	}
	if got, bound := reserve("other", cid, second, time.Hour); got != second || !bound {
		t.Fatalf("ReserveCID of another app = %d, %v; want %d, true", got, bound, second)
	}
	if got, bound := reserve("app", "订单 #42", second, time.Hour); got != second || !bound {
		t.Fatalf("ReserveCID of another key = %d, %v; want %d, true", got, bound, second)
	}

	for _, tc := range []struct {
		name, app, cid string
		id             uint64
		ttl            time.Duration
	}{
		{"empty cid", "app", "", 1, time.Hour},
		{"cid with '/'", "app", "a/b", 1, time.Hour},
		{"cid with a control character", "app", "a\nb", 1, time.Hour},
		{"cid with a tab", "app", "a\tb", 1, time.Hour},
		{"cid not UTF-8", "app", "a\xffb", 1, time.Hour},
		{"cid too long", "app", strings.Repeat("c", dataservice.MaxCIDLen+1), 1, time.Hour},
		{"empty app", "", "k", 1, time.Hour},
		{"app with '/'", "a/b", "k", 1, time.Hour},
		{"zero id", "app", "k", 0, time.Hour},
		{"zero TTL", "app", "k", 1, 0},
		{"negative TTL", "app", "k", 1, -time.Second},
	} {
		_, _, err := c.ReserveCID(ctx, tc.app, tc.cid, tc.id, tc.ttl)
		wantErr(t, err, dataservice.ErrInvalid, "ReserveCID with "+tc.name)
	}
	if got, bound := reserve("app", strings.Repeat("c", dataservice.MaxCIDLen), first, time.Hour); got != first || !bound {
		t.Fatalf("ReserveCID of a %d-byte key = %d, %v", dataservice.MaxCIDLen, got, bound)
	}
}

// reserveCIDRace: of concurrent reservations of one key exactly one binds
// it, and every caller learns the id it bound.
func reserveCIDRace(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	for round := range 3 {
		cid := fmt.Sprint("race-", round)
		const callers = 12
		ids := make([]uint64, callers)
		got := make([]uint64, callers)
		bound := make([]bool, callers)
		for i := range ids {
			ids[i] = id()
		}
		var wg sync.WaitGroup
		for i := range callers {
			wg.Go(func() {
				var err error
				if got[i], bound[i], err = c.ReserveCID(ctx, "app", cid, ids[i], time.Hour); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		winner := -1
		for i, b := range bound {
			if b {
				if winner >= 0 {
					t.Fatalf("callers %d and %d both bound %q", winner, i, cid)
				}
				winner = i
			}
		}
		if winner < 0 {
			t.Fatalf("no caller bound %q", cid)
		}
		for i, g := range got {
			if g != ids[winner] {
				t.Fatalf("caller %d got %d, want the winner's %d", i, g, ids[winner])
			}
		}
	}
}

// reserveCIDExpiry: a key is free again once its TTL has passed.
func reserveCIDExpiry(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	first := id()
	if got, bound, err := c.ReserveCID(ctx, "app", "short", first, time.Second); err != nil || got != first || !bound {
		t.Fatalf("ReserveCID = %d, %v, %v", got, bound, err)
	}
	next := id()
	eventually(t, "the key is free after its TTL", func() bool {
		got, bound, err := c.ReserveCID(ctx, "app", "short", next, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if !bound && got != first {
			t.Fatalf("ReserveCID = %d, false; want the first id %d until it expires", got, first)
		}
		return bound && got == next
	})
}
