package gateway_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway"
)

func TestMessageReport(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a := e.createApp(t)
	rids := e.registerDevices(t, a.Key, 5)
	id := e.pushOK(t, a, pushBody(rids, "report me"))

	// Counters the connectors and actors would add.
	if err := e.data.AddCounters(context.Background(), []dataservice.CounterDelta{
		{MessageID: id, Counter: dataservice.CounterSent, N: 4},
		{MessageID: id, Counter: dataservice.CounterStoredOffline, N: 1},
		{MessageID: id, Counter: dataservice.CounterDelivered, N: 3},
		{MessageID: id, Counter: dataservice.CounterClicked, N: 2},
		{MessageID: id, Counter: dataservice.CounterFailed, N: 1},
	}); err != nil {
		t.Fatal(err)
	}

	var rep struct {
		MsgID         string `json:"msg_id"`
		Targeted      *int64 `json:"targeted"`
		Sent          *int64 `json:"sent"`
		StoredOffline *int64 `json:"stored_offline"`
		Delivered     *int64 `json:"delivered"`
		Clicked       *int64 `json:"clicked"`
		Expired       *int64 `json:"expired"`
		Failed        *int64 `json:"failed"`
	}
	e.do(t, request{method: "GET", path: "/v1/messages/" + strconv.FormatUint(id, 10), auth: a.auth()}).wantOK(t, http.StatusOK, &rep)
	if rep.MsgID != strconv.FormatUint(id, 10) {
		t.Errorf("msg_id = %q, want %d as a string", rep.MsgID, id)
	}
	for _, f := range []struct {
		name string
		got  *int64
		want int64
	}{
		{"targeted", rep.Targeted, 5},
		{"sent", rep.Sent, 4},
		{"stored_offline", rep.StoredOffline, 1},
		{"delivered", rep.Delivered, 3},
		{"clicked", rep.Clicked, 2},
		{"expired", rep.Expired, 0},
		{"failed", rep.Failed, 1},
	} {
		switch {
		case f.got == nil:
			t.Errorf("%s missing from the report", f.name)
		case *f.got != f.want:
			t.Errorf("%s = %d, want %d", f.name, *f.got, f.want)
		}
	}
}

func TestMessageReportErrors(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a, b := e.createApp(t), e.createApp(t)
	rid := e.registerDevice(t, a.Key).RID
	id := strconv.FormatUint(e.pushOK(t, a, pushBody([]string{rid}, "mine")), 10)
	for _, tc := range []struct {
		name   string
		app    app
		msgID  string
		status int
		code   string
	}{
		{"another app's message", b, id, 404, "unknown_msg_id"},
		{"no such message", a, "12345", 404, "unknown_msg_id"},
		{"max uint64", a, "18446744073709551615", 404, "unknown_msg_id"},
		{"zero", a, "0", 400, "invalid_parameter"},
		{"negative", a, "-1", 400, "invalid_parameter"},
		{"plus sign", a, "+" + id, 400, "invalid_parameter"},
		{"letters", a, "abc", 400, "invalid_parameter"},
		{"hex", a, "0x10", 400, "invalid_parameter"},
		{"underscores", a, "1_000", 400, "invalid_parameter"},
		{"float", a, "1.0", 400, "invalid_parameter"},
		{"overflow", a, "18446744073709551616", 400, "invalid_parameter"},
		{"space", a, "%20" + id, 400, "invalid_parameter"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, request{method: "GET", path: "/v1/messages/" + tc.msgID, auth: tc.app.auth()})
			r.wantError(t, tc.status, tc.code)
			if tc.status == 404 && tc.msgID == id {
				// The other app learns nothing it did not send.
				other := e.do(t, request{method: "GET", path: "/v1/messages/99", auth: tc.app.auth()})
				var x, y apiError
				r.decode(t, &x)
				other.decode(t, &y)
				if x.Error.Code != y.Error.Code || r.status != other.status {
					t.Errorf("another app's message answers %d %s; a missing one %d %s", r.status, x.Error.Code, other.status, y.Error.Code)
				}
			}
		})
	}
}
