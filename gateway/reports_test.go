package gateway_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway"
	"github.com/heraldpush/herald/internal/ids"
)

// deviceStatus is the answer of GET /v1/messages/{msg_id}/devices/{rid}.
type deviceStatus struct {
	MsgID          string     `json:"msg_id"`
	RegistrationID string     `json:"registration_id"`
	State          string     `json:"state"`
	Attempts       *int       `json:"attempts"`
	SentAt         *time.Time `json:"sent_at"`
	DeliveredAt    *time.Time `json:"delivered_at"`
	ClickedAt      *time.Time `json:"clicked_at"`
	FailedAt       *time.Time `json:"failed_at"`
}

func statusPath(id uint64, rid string) string {
	return "/v1/messages/" + strconv.FormatUint(id, 10) + "/devices/" + url.PathEscape(rid)
}

func (e *env) deviceStatus(t *testing.T, a app, id uint64, rid string) deviceStatus {
	t.Helper()
	var st deviceStatus
	e.do(t, request{method: "GET", path: statusPath(id, rid), auth: a.auth()}).wantOK(t, http.StatusOK, &st)
	if st.MsgID != strconv.FormatUint(id, 10) || st.RegistrationID != rid || st.Attempts == nil {
		t.Fatalf("status of %d on %s: %+v", id, rid, st)
	}
	return st
}

// record writes per-device receipts as connectors would.
func (e *env) record(t *testing.T, rs ...dataservice.Receipt) {
	t.Helper()
	if _, err := e.data.RecordReceipts(context.Background(), rs); err != nil {
		t.Fatal(err)
	}
}

// ended removes a device's copy as an acknowledgement (or a failure)
// does.
func (e *env) ended(t *testing.T, rid string, id uint64) {
	t.Helper()
	if _, err := e.data.RemoveInbox(context.Background(), []dataservice.InboxCopy{{RegistrationID: rid, MessageID: id}}); err != nil {
		t.Fatal(err)
	}
}

func rcpt(id uint64, rid string, ev dataservice.ReceiptEvent) dataservice.Receipt {
	r := dataservice.Receipt{MessageID: id, RegistrationID: rid, Event: ev}
	if ev == dataservice.ReceiptAttempts {
		r.Attempts = 3
	}
	return r
}

func TestMessageDeviceStatus(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a := e.createApp(t)
	rids := e.registerDevices(t, a.Key, 8)
	id := e.pushOK(t, a, pushBody(rids[:6], "status"))
	const (
		sent      = dataservice.ReceiptSent
		attempts  = dataservice.ReceiptAttempts
		delivered = dataservice.ReceiptDelivered
		failed    = dataservice.ReceiptFailed
		clicked   = dataservice.ReceiptClicked
	)
	// rids[0] waits; rids[1] was sent; rids[2] acknowledged; rids[3]
	// acknowledged and opened; rids[4] was sent three times and dropped;
	// rids[5] was sent and its copy withdrawn by a cancel... below.
	e.record(t, rcpt(id, rids[1], sent), rcpt(id, rids[2], sent), rcpt(id, rids[3], sent), rcpt(id, rids[4], sent), rcpt(id, rids[4], attempts))
	for _, rid := range rids[2:5] {
		e.ended(t, rid, id)
	}
	e.record(t, rcpt(id, rids[2], delivered), rcpt(id, rids[3], delivered), rcpt(id, rids[3], clicked), rcpt(id, rids[4], failed))

	for _, tc := range []struct {
		rid                                  string
		state                                string
		attempts                             int
		sentAt, deliveredAt, clickedAt, fail bool
	}{
		{rids[0], "pending", 0, false, false, false, false},
		{rids[1], "sent", 1, true, false, false, false},
		{rids[2], "delivered", 1, true, true, false, false},
		{rids[3], "clicked", 1, true, true, true, false},
		{rids[4], "failed", 3, true, false, false, true},
		{rids[6], "not_targeted", 0, false, false, false, false},
	} {
		t.Run(tc.state, func(t *testing.T) {
			st := e.deviceStatus(t, a, id, tc.rid)
			if st.State != tc.state || *st.Attempts != tc.attempts || (st.SentAt != nil) != tc.sentAt ||
				(st.DeliveredAt != nil) != tc.deliveredAt || (st.ClickedAt != nil) != tc.clickedAt || (st.FailedAt != nil) != tc.fail {
				t.Fatalf("status %+v; want state %s, %d attempts, sent_at %v, delivered_at %v, clicked_at %v, failed_at %v",
					st, tc.state, tc.attempts, tc.sentAt, tc.deliveredAt, tc.clickedAt, tc.fail)
			}
		})
	}

	t.Run("withdrawn", func(t *testing.T) {
		other := e.pushOK(t, a, pushBody(rids[5:7], "to cancel"))
		e.record(t, rcpt(other, rids[6], sent))
		e.do(t, request{method: "DELETE", path: "/v1/messages/" + strconv.FormatUint(other, 10), auth: a.auth()}).wantOK(t, http.StatusAccepted, nil)
		if st := e.deviceStatus(t, a, other, rids[5]); st.State != "withdrawn" {
			t.Fatalf("a copy canceled before it was sent: %+v", st)
		}
	})
	t.Run("replaced", func(t *testing.T) {
		body := pushBody(rids[7:8], "old")
		body["options"] = map[string]any{"collapse_id": "score"}
		old := e.pushOK(t, a, body)
		body["message"] = map[string]any{"content": "new"}
		newer := e.pushOK(t, a, body)
		if st := e.deviceStatus(t, a, old, rids[7]); st.State != "replaced" {
			t.Fatalf("a copy replaced by a newer collapse: %+v", st)
		}
		if st := e.deviceStatus(t, a, newer, rids[7]); st.State != "pending" {
			t.Fatalf("the newer copy: %+v", st)
		}
	})
	t.Run("online only", func(t *testing.T) {
		body := pushBody(rids[:2], "live")
		body["options"] = map[string]any{"time_to_live": 0}
		live := e.pushOK(t, a, body)
		e.record(t, rcpt(live, rids[1], sent))
		if st := e.deviceStatus(t, a, live, rids[1]); st.State != "sent" {
			t.Fatalf("an online-only message written to its device: %+v", st)
		}
		if st := e.deviceStatus(t, a, live, rids[0]); st.State != "expired" {
			t.Fatalf("an online-only message whose device was offline: %+v", st)
		}
	})
	t.Run("expired", func(t *testing.T) {
		m := &dataservice.Message{ID: ids.FirstAt(time.Now().Add(-2 * time.Hour)), AppKey: a.Key, Content: "old", TTL: time.Hour,
			Created: time.Now().Add(-2 * time.Hour), Audience: []byte(fmt.Sprintf(`{"registration_id":[%q,%q]}`, rids[0], rids[1]))}
		if err := e.data.SaveMessage(context.Background(), m, rids[:2]); err != nil {
			t.Fatal(err)
		}
		e.record(t, rcpt(m.ID, rids[1], sent))
		for _, rid := range rids[:2] {
			if st := e.deviceStatus(t, a, m.ID, rid); st.State != "expired" {
				t.Fatalf("%s on a message past its time to live: %+v", rid, st)
			}
		}
	})
}

func TestBroadcastDeviceStatus(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a := e.createApp(t)
	rids := e.registerDevices(t, a.Key, 3)
	id := e.pushOK(t, a, map[string]any{"audience": "all", "message": map[string]any{"content": "to all"}})
	if m := e.message(t, id); !m.Broadcast {
		t.Fatalf("an all push was not stored as a broadcast: %+v", m)
	}
	// A device registered after the broadcast was created is not in it.
	deadline := time.Now().Add(5 * time.Second)
	for !time.Now().After(ids.Time(id).Add(time.Millisecond)) {
		if time.Now().After(deadline) {
			t.Fatal("the clock does not advance")
		}
	}
	late := e.registerDevice(t, a.Key).RID

	e.record(t, rcpt(id, rids[1], dataservice.ReceiptSent), rcpt(id, rids[2], dataservice.ReceiptSent))
	e.record(t, rcpt(id, rids[2], dataservice.ReceiptDelivered))
	for rid, want := range map[string]string{rids[0]: "pending", rids[1]: "sent", rids[2]: "delivered", late: "not_targeted"} {
		if st := e.deviceStatus(t, a, id, rid); st.State != want {
			t.Errorf("%s: %+v, want %s", rid, st, want)
		}
	}
}

func TestMessageDeviceStatusErrors(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a, b := e.createApp(t), e.createApp(t)
	rid := e.registerDevice(t, a.Key).RID
	theirs := e.registerDevice(t, b.Key).RID
	id := e.pushOK(t, a, pushBody([]string{rid}, "mine"))
	bID := e.pushOK(t, b, pushBody([]string{theirs}, "theirs"))
	long := string(make([]byte, 65))
	for _, tc := range []struct {
		name   string
		app    app
		path   string
		status int
		code   string
	}{
		{"another app's message", b, statusPath(id, rid), 404, "unknown_msg_id"},
		{"another app's message and device", a, statusPath(bID, theirs), 404, "unknown_msg_id"},
		{"another app's device", a, statusPath(id, theirs), 404, "unknown_registration_id"},
		{"unknown device", a, statusPath(id, "nope"), 404, "unknown_registration_id"},
		{"registration id too long", a, statusPath(id, long), 404, "unknown_registration_id"},
		{"unknown message", a, statusPath(12345, rid), 404, "unknown_msg_id"},
		{"zero message id", a, statusPath(0, rid), 400, "invalid_parameter"},
		{"message id not a number", a, "/v1/messages/abc/devices/" + rid, 400, "invalid_parameter"},
		{"message id overflows", a, "/v1/messages/18446744073709551616/devices/" + rid, 400, "invalid_parameter"},
		{"no credentials", app{}, statusPath(id, rid), 401, "unauthorized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			auth := tc.app.auth()
			if tc.app.Key == "" {
				auth = ""
			}
			before := e.sideEffects()
			e.do(t, request{method: "GET", path: tc.path, auth: auth}).wantError(t, tc.status, tc.code)
			e.wantNoChange(t, before)
		})
	}
	e.do(t, request{method: "POST", path: statusPath(id, rid), auth: a.auth()}).wantError(t, 405, "method_not_allowed")
}

// listItem is one message of GET /v1/messages.
type listItem struct {
	MsgID      string `json:"msg_id"`
	Created    time.Time
	TimeToLive *int64 `json:"time_to_live"`
	Broadcast  bool   `json:"broadcast"`
	State      string `json:"state"`
	Audience   struct {
		All             bool     `json:"all"`
		RegistrationIDs int      `json:"registration_ids"`
		Tag             []string `json:"tag"`
	} `json:"audience"`
	Targeted *int64 `json:"targeted"`
	Sent     *int64 `json:"sent"`
	Clicked  *int64 `json:"clicked"`
}

type messageList struct {
	Messages []listItem `json:"messages"`
	Next     *string    `json:"next"`
}

func (e *env) list(t *testing.T, a app, query string) messageList {
	t.Helper()
	var l messageList
	e.do(t, request{method: "GET", path: "/v1/messages?" + query, auth: a.auth()}).wantOK(t, http.StatusOK, &l)
	if l.Messages == nil {
		t.Fatal("messages is not a list")
	}
	return l
}

// listIDs follows next to the end and returns every msg_id.
func (e *env) listIDs(t *testing.T, a app, query string) []string {
	t.Helper()
	var out []string
	after := ""
	for range 50 {
		q := query
		if after != "" {
			q += "&after=" + after
		}
		l := e.list(t, a, q)
		for _, m := range l.Messages {
			out = append(out, m.MsgID)
		}
		if l.Next == nil {
			return out
		}
		after = *l.Next
	}
	t.Fatal("the listing does not end")
	return nil
}

func TestListMessages(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a, b := e.createApp(t), e.createApp(t)
	rids := e.registerDevices(t, a.Key, 3)
	if _, err := e.data.UpdateTags(context.Background(), a.Key, rids[0], []string{"vip"}, nil); err != nil {
		t.Fatal(err)
	}
	var want []string // newest first
	push := func(body map[string]any) uint64 {
		id := e.pushOK(t, a, body)
		want = append([]string{strconv.FormatUint(id, 10)}, want...)
		return id
	}
	first := push(pushBody(rids, "one"))
	push(pushBody(rids[:1], "two"))
	bc := push(map[string]any{"audience": "all", "message": map[string]any{"content": "everyone"}})
	tag := push(map[string]any{"audience": map[string]any{"tag": []string{"vip"}}, "message": map[string]any{"content": "vip"}, "options": map[string]any{"time_to_live": 60}})
	e.pushOK(t, b, pushBody([]string{e.registerDevice(t, b.Key).RID}, "another app"))
	if err := e.data.AddCounters(context.Background(), []dataservice.CounterDelta{{MessageID: first, Counter: dataservice.CounterClicked, N: 1}}); err != nil {
		t.Fatal(err)
	}

	l := e.list(t, a, "")
	if got := msgIDs(l.Messages); fmt.Sprint(got) != fmt.Sprint(want) || l.Next != nil {
		t.Fatalf("listing %v (next %v), want %v", got, l.Next, want)
	}
	byID := map[string]listItem{}
	for _, m := range l.Messages {
		byID[m.MsgID] = m
	}
	one := byID[strconv.FormatUint(first, 10)]
	if one.Targeted == nil || *one.Targeted != 3 || one.Clicked == nil || *one.Clicked != 1 || one.Sent == nil ||
		one.Audience.RegistrationIDs != 3 || one.State != "done" || one.Broadcast || one.Created.IsZero() || *one.TimeToLive != 86400 {
		t.Fatalf("item of the first push: %+v", one)
	}
	if m := byID[strconv.FormatUint(bc, 10)]; !m.Broadcast || !m.Audience.All {
		t.Fatalf("item of the broadcast: %+v", m)
	}
	if m := byID[strconv.FormatUint(tag, 10)]; fmt.Sprint(m.Audience.Tag) != "[vip]" || *m.TimeToLive != 60 {
		t.Fatalf("item of the tag push: %+v", m)
	}

	if got := e.listIDs(t, a, "limit=1"); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("pages of one: %v, want %v", got, want)
	}
	if got := e.listIDs(t, a, "broadcast=true"); fmt.Sprint(got) != fmt.Sprint([]string{strconv.FormatUint(bc, 10)}) {
		t.Fatalf("broadcasts: %v", got)
	}
	if got := e.listIDs(t, a, "broadcast=false"); len(got) != 3 {
		t.Fatalf("not broadcasts: %v", got)
	}
	created := ids.Time(first)
	if got := e.listIDs(t, a, "to="+url.QueryEscape(created.Format(time.RFC3339Nano))); len(got) != 0 {
		t.Fatalf("messages before the first: %v", got)
	}
	if got := e.listIDs(t, a, "from="+url.QueryEscape(created.Format(time.RFC3339Nano))); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("messages from the first: %v", got)
	}
	if got := e.listIDs(t, a, "state=canceled"); len(got) != 0 {
		t.Fatalf("canceled messages: %v", got)
	}
	if got := e.listIDs(t, b, ""); len(got) != 1 {
		t.Fatalf("the other app sees %v", got)
	}
}

func msgIDs(items []listItem) []string {
	out := make([]string, len(items))
	for i, m := range items {
		out[i] = m.MsgID
	}
	return out
}

func TestListMessagesRejectsBadParameters(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a := e.createApp(t)
	for _, q := range []string{
		"limit=0", "limit=1001", "limit=ten", "after=0", "after=abc", "after=-5",
		"from=yesterday", "to=2026-13-01T00:00:00Z", "from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z",
		"from=2026-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "broadcast=yes", "state=sleeping",
	} {
		t.Run(q, func(t *testing.T) {
			e.do(t, request{method: "GET", path: "/v1/messages?" + q, auth: a.auth()}).wantError(t, 400, "invalid_parameter")
		})
	}
	e.do(t, request{method: "GET", path: "/v1/messages"}).wantError(t, 401, "unauthorized")
}
