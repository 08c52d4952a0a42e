package gateway_test

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway"
)

// audienceEnv is an app whose devices have known tags and aliases; the
// first half is connected to connector A, the rest is offline.
type audienceEnv struct {
	*env
	app  app
	rids map[string]string // name → registration id
}

func newAudienceEnv(t *testing.T, cfg gateway.Config) *audienceEnv {
	t.Helper()
	e := &audienceEnv{env: newEnv(t, cfg), rids: map[string]string{}}
	e.app = e.createApp(t)
	ctx := context.Background()
	devices := []struct {
		name   string
		tags   []string
		alias  string
		online bool
	}{
		{"ann", []string{"vip"}, "ann", true},
		{"bob", []string{"vip", "beta"}, "bob", true},
		{"cat", []string{"beta"}, "", true},
		{"dan", []string{"vip"}, "dan", false},
		{"eve", nil, "eve", false},
		{"fay", []string{"beta", "staff"}, "", false},
	}
	for _, d := range devices {
		rid := e.registerDevice(t, e.app.Key).RID
		e.rids[d.name] = rid
		if len(d.tags) > 0 {
			if _, err := e.data.UpdateTags(ctx, e.app.Key, rid, d.tags, nil); err != nil {
				t.Fatal(err)
			}
		}
		if d.alias != "" {
			if err := e.data.SetAlias(ctx, e.app.Key, rid, d.alias); err != nil {
				t.Fatal(err)
			}
		}
		if d.online {
			e.connect(t, rid, connectorA)
		}
	}
	return e
}

func (e *audienceEnv) names(rids []string) []string {
	var out []string
	for name, rid := range e.rids {
		if slices.Contains(rids, rid) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// waitTask waits for the task of message id to end and returns it.
func (e *env) waitTask(t *testing.T, id uint64) dataservice.Task {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		task, err := e.data.Task(context.Background(), id)
		if err == nil && dataservice.TaskFinished(task.State) {
			return task
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %d did not end: %+v %v", id, task, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// delivered returns the registration ids message id was handed to.
func (e *env) delivered(id uint64) []string {
	var out []string
	for _, d := range e.cluster.Deliveries() {
		if d.msg.ID == id {
			out = append(out, d.rids...)
		}
	}
	slices.Sort(out)
	return out
}

func TestAudiencesResolveTheRightDevices(t *testing.T) {
	e := newAudienceEnv(t, gateway.Config{})
	tests := []struct {
		name     string
		audience map[string]any
		want     []string // every device targeted
	}{
		{"tag", map[string]any{"tag": []string{"vip"}}, []string{"ann", "bob", "dan"}},
		{"tags are OR", map[string]any{"tag": []string{"vip", "staff"}}, []string{"ann", "bob", "dan", "fay"}},
		{"tag_and", map[string]any{"tag_and": []string{"vip", "beta"}}, []string{"bob"}},
		{"tag_not alone is everyone but", map[string]any{"tag_not": []string{"beta"}}, []string{"ann", "dan", "eve"}},
		{"tag and tag_not", map[string]any{"tag": []string{"vip"}, "tag_not": []string{"beta"}}, []string{"ann", "dan"}},
		{"alias", map[string]any{"alias": []string{"ann", "eve", "nobody"}}, []string{"ann", "eve"}},
		{"alias and tag", map[string]any{"alias": []string{"ann", "bob", "eve"}, "tag": []string{"vip"}}, []string{"ann", "bob"}},
		{"registration ids and tag", map[string]any{"registration_id": []string{e.rids["ann"], e.rids["cat"], e.rids["dan"]}, "tag": []string{"vip"}}, []string{"ann", "dan"}},
		{"no match", map[string]any{"tag": []string{"nobody-has-it"}}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id := e.pushOK(t, e.app, map[string]any{"audience": tc.audience, "message": map[string]any{"content": tc.name}})
			task := e.waitTask(t, id)
			if task.State != dataservice.TaskDone {
				t.Fatalf("task ended %s: %s", task.State, task.Error)
			}
			rep, err := e.data.Report(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Targeted != int64(len(tc.want)) {
				t.Fatalf("targeted %d, want %d (%v)", rep.Targeted, len(tc.want), tc.want)
			}
			// Online devices were handed to their connector; every
			// targeted device has its copy in the inbox.
			var online []string
			for _, name := range tc.want {
				if name == "ann" || name == "bob" || name == "cat" {
					online = append(online, name)
				}
			}
			if got := e.names(e.delivered(id)); !slices.Equal(got, online) {
				t.Fatalf("delivered to %v, want %v", got, online)
			}
			for _, name := range tc.want {
				inbox, err := e.data.Inbox(context.Background(), e.rids[name], 0, 10)
				if err != nil || !slices.ContainsFunc(inbox, func(c dataservice.InboxEntry) bool { return c.MessageID == id }) {
					t.Fatalf("%s has no copy in its inbox: %v %v", name, inbox, err)
				}
			}
		})
	}
}

func TestEstimateAndValidate(t *testing.T) {
	e := newAudienceEnv(t, gateway.Config{})
	for _, tc := range []struct {
		audience any
		want     int64
	}{
		{"all", 6},
		{map[string]any{"tag": []string{"vip"}}, 3},
		{map[string]any{"tag_and": []string{"vip", "beta"}}, 1},
		{map[string]any{"alias": []string{"ann", "eve"}}, 2},
	} {
		var est struct {
			Estimate int64 `json:"estimate"`
			Exact    bool  `json:"exact"`
		}
		e.do(t, request{method: "POST", path: "/v1/audiences/estimate", auth: e.app.auth(), body: jsonBody(t, map[string]any{"audience": tc.audience})}).
			wantOK(t, http.StatusOK, &est)
		if est.Estimate != tc.want || !est.Exact {
			t.Errorf("estimate of %v = %+v, want exactly %d", tc.audience, est, tc.want)
		}
	}
	// Validate sends nothing.
	before := e.sideEffects()
	var v struct {
		Valid    bool  `json:"valid"`
		Estimate int64 `json:"estimate"`
	}
	e.do(t, request{method: "POST", path: "/v1/push/validate", auth: e.app.auth(), body: jsonBody(t, map[string]any{
		"audience": map[string]any{"tag": []string{"beta"}}, "message": map[string]any{"content": "x"},
	})}).wantOK(t, http.StatusOK, &v)
	if !v.Valid || v.Estimate != 3 {
		t.Fatalf("validate = %+v", v)
	}
	e.wantNoChange(t, before)
	e.do(t, request{method: "POST", path: "/v1/push/validate", auth: e.app.auth(), body: jsonBody(t, map[string]any{
		"audience": map[string]any{"tag": []string{"a/b"}}, "message": map[string]any{"content": "x"},
	})}).wantError(t, http.StatusBadRequest, "invalid_field", "audience.tag[0]")
	e.do(t, request{method: "POST", path: "/v1/push/validate", auth: e.app.auth(), body: jsonBody(t, map[string]any{
		"audience": map[string]any{"segment": []string{"0123456789abcdef"}}, "message": map[string]any{"content": "x"},
	})}).wantError(t, http.StatusBadRequest, "unknown_segment", "0123456789abcdef")
}

func TestBroadcastIsStoredOnceAndFannedOut(t *testing.T) {
	e := newAudienceEnv(t, gateway.Config{})
	e.cluster.connectors[connectorA].online = 3
	id := e.pushOK(t, e.app, map[string]any{"audience": "all", "message": map[string]any{"content": "to everyone"}})
	if task := e.waitTask(t, id); task.State != dataservice.TaskDone {
		t.Fatalf("broadcast task ended %s", task.State)
	}
	m := e.message(t, id)
	if !m.Broadcast {
		t.Fatalf("stored message %+v is not a broadcast", m)
	}
	listed, err := e.data.AppBroadcasts(context.Background(), e.app.Key, 0, 10)
	if err != nil || !slices.Equal(listed, []uint64{id}) {
		t.Fatalf("app broadcasts = %v, %v", listed, err)
	}
	var fanned []string
	for _, d := range e.cluster.Deliveries() {
		if d.msg.ID == id {
			fanned = append(fanned, d.connector)
		}
	}
	slices.Sort(fanned)
	if !slices.Equal(fanned, []string{connectorA, connectorB}) {
		t.Fatalf("fanned out through %v, want every connector", fanned)
	}
	rep, err := e.data.Report(context.Background(), id)
	if err != nil || rep.Targeted != 6 {
		t.Fatalf("report %+v, %v: want 6 targeted", rep, err)
	}
	// No inbox copy: a broadcast is stored once.
	if inbox, _ := e.data.Inbox(context.Background(), e.rids["eve"], 0, 10); len(inbox) != 0 {
		t.Fatalf("a broadcast left inbox copies: %v", inbox)
	}
	if sums := e.receipts.sums(id); sums[dataservice.CounterStoredOffline] != 3 {
		t.Fatalf("receipts %v: want the 3 devices not online counted stored_offline", sums)
	}
}

func TestSameCIDSendsOnce(t *testing.T) {
	e := newAudienceEnv(t, gateway.Config{})
	body := map[string]any{
		"audience": map[string]any{"registration_id": []string{e.rids["ann"]}},
		"message":  map[string]any{"content": "once"},
		"options":  map[string]any{"cid": "order-42"},
	}
	first := e.pushOK(t, e.app, body)
	second := e.pushOK(t, e.app, body)
	if first != second {
		t.Fatalf("the same cid gave msg_ids %d and %d", first, second)
	}
	if got := e.delivered(first); len(got) != 1 {
		t.Fatalf("delivered %d times, want once", len(got))
	}
	body["options"] = map[string]any{"cid": "order-43"}
	if third := e.pushOK(t, e.app, body); third == first {
		t.Fatal("another cid gave the same msg_id")
	}
	e.push(t, e.app, map[string]any{"audience": "all", "message": map[string]any{"content": "x"}, "options": map[string]any{"cid": "a/b"}}).
		wantError(t, http.StatusBadRequest, "invalid_field", "cid")
}

func TestRatePacesATask(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a := e.createApp(t)
	rids := e.registerDevices(t, a.Key, 30)
	for _, rid := range rids {
		e.connect(t, rid, connectorA)
	}
	id := e.pushOK(t, a, map[string]any{
		"audience": map[string]any{"registration_id": rids},
		"message":  map[string]any{"content": "paced"},
		"options":  map[string]any{"rate": 20},
	})
	e.waitTask(t, id)
	// 20 per second comes in pages of 2 per tenth of a second.
	var batches int
	for _, d := range e.cluster.Deliveries() {
		if d.msg.ID == id {
			batches++
			if len(d.rids) > 20 {
				t.Fatalf("a batch of %d devices at a rate of 20/s", len(d.rids))
			}
		}
	}
	if batches < 10 {
		t.Fatalf("30 devices at 20/s went out in %d batches: not paced", batches)
	}
	if got := e.delivered(id); len(got) != 30 {
		t.Fatalf("delivered to %d of 30", len(got))
	}
}

func TestCancelStopsATaskAndWithdrawsItsCopies(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a := e.createApp(t)
	rids := e.registerDevices(t, a.Key, 40)
	id := e.pushOK(t, a, map[string]any{
		"audience": map[string]any{"registration_id": rids},
		"message":  map[string]any{"content": "oops"},
		"options":  map[string]any{"rate": 10},
	})
	// Let a few pages out, then cancel.
	deadline := time.Now().Add(10 * time.Second)
	for {
		task, _ := e.data.Task(context.Background(), id)
		if task.Targeted >= 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the task sent nothing")
		}
		time.Sleep(5 * time.Millisecond)
	}
	var out struct {
		State string `json:"state"`
	}
	e.do(t, request{method: "DELETE", path: "/v1/messages/" + strconv.FormatUint(id, 10), auth: a.auth()}).wantOK(t, http.StatusAccepted, &out)
	if out.State != string(dataservice.TaskCanceling) && out.State != string(dataservice.TaskCanceled) {
		t.Fatalf("cancel answered state %q", out.State)
	}
	task := e.waitTask(t, id)
	if task.State != dataservice.TaskCanceled {
		t.Fatalf("task ended %s, want canceled", task.State)
	}
	if task.Targeted >= 40 {
		t.Fatalf("the cancel did not stop the task: %d of 40 targeted", task.Targeted)
	}
	if !slices.Contains(e.cluster.Withdrawals(), id) {
		t.Fatal("connectors were not told to drop the message")
	}
	// Every copy sent went back: none is left in an inbox.
	for _, rid := range rids {
		inbox, err := e.data.Inbox(context.Background(), rid, 0, 10)
		if err != nil || len(inbox) != 0 {
			t.Fatalf("%s still has %v after the cancel (%v)", rid, inbox, err)
		}
	}
	if sums := e.receipts.sums(id); sums[dataservice.CounterWithdrawn] != task.Targeted {
		t.Fatalf("withdrawn %d, want the %d copies sent", sums[dataservice.CounterWithdrawn], task.Targeted)
	}
	// A second cancel is harmless.
	e.do(t, request{method: "DELETE", path: "/v1/messages/" + strconv.FormatUint(id, 10), auth: a.auth()}).wantOK(t, http.StatusAccepted, &out)
	if out.State != string(dataservice.TaskCanceled) {
		t.Fatalf("second cancel answered %q", out.State)
	}
}

// A push whose sending ended can still be canceled: what no device took
// yet is withdrawn.
func TestCancelAfterTheTaskEnded(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a := e.createApp(t)
	rids := e.registerDevices(t, a.Key, 6)
	for _, rid := range rids {
		if _, err := e.data.UpdateTags(context.Background(), a.Key, rid, []string{"late"}, nil); err != nil {
			t.Fatal(err)
		}
	}
	id := e.pushOK(t, a, map[string]any{
		"audience": map[string]any{"tag": []string{"late"}},
		"message":  map[string]any{"content": "recall me"},
	})
	if task := e.waitTask(t, id); task.State != dataservice.TaskDone || task.Targeted != 6 {
		t.Fatalf("task ended %+v", task)
	}
	var out struct {
		State string `json:"state"`
	}
	e.do(t, request{method: "DELETE", path: "/v1/messages/" + strconv.FormatUint(id, 10), auth: a.auth()}).wantOK(t, http.StatusAccepted, &out)
	if out.State != string(dataservice.TaskCanceling) {
		t.Fatalf("cancel answered state %q, want canceling", out.State)
	}
	if task := e.waitTask(t, id); task.State != dataservice.TaskCanceled {
		t.Fatalf("task ended %s, want canceled", task.State)
	}
	for _, rid := range rids {
		if inbox, _ := e.data.Inbox(context.Background(), rid, 0, 10); len(inbox) != 0 {
			t.Fatalf("%s still has %v", rid, inbox)
		}
	}
	if sums := e.receipts.sums(id); sums[dataservice.CounterWithdrawn] != 6 {
		t.Fatalf("withdrawn %d, want 6", sums[dataservice.CounterWithdrawn])
	}
}

func TestCancelOfAListedPush(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a := e.createApp(t)
	rids := e.registerDevices(t, a.Key, 3)
	e.connect(t, rids[0], connectorA)
	id := e.pushOK(t, a, pushBody(rids, "listed"))
	e.do(t, request{method: "DELETE", path: "/v1/messages/" + strconv.FormatUint(id, 10), auth: a.auth()}).wantOK(t, http.StatusAccepted, nil)
	for _, rid := range rids {
		if inbox, _ := e.data.Inbox(context.Background(), rid, 0, 10); len(inbox) != 0 {
			t.Fatalf("%s still has %v", rid, inbox)
		}
	}
	if sums := e.receipts.sums(id); sums[dataservice.CounterWithdrawn] != 3 {
		t.Fatalf("withdrawn %d, want 3", sums[dataservice.CounterWithdrawn])
	}
	other := e.createApp(t)
	e.do(t, request{method: "DELETE", path: "/v1/messages/" + strconv.FormatUint(id, 10), auth: other.auth()}).wantError(t, http.StatusNotFound, "unknown_msg_id")
}

// A task whose gateway died (its lease ran out) is taken over and ends.
func TestAbandonedTaskIsResumed(t *testing.T) {
	e := newEnv(t, gateway.Config{TaskScan: 50 * time.Millisecond, TaskLease: time.Second})
	a := e.createApp(t)
	rids := e.registerDevices(t, a.Key, 5)
	ctx := context.Background()
	// What a dead gateway left: the message, and a task that committed
	// the first two devices.
	slices.Sort(rids)
	m := &dataservice.Message{ID: 7_000_000_000, AppKey: a.Key, Content: "resumed", TTL: time.Hour, Created: time.Now(),
		Audience: []byte(`{"registration_id":["` + strings.Join(rids, `","`) + `"],"tag_not":["nobody"]}`)}
	if err := e.data.SaveMessage(ctx, m, nil); err != nil {
		t.Fatal(err)
	}
	if err := e.data.SaveCopies(ctx, m, rids[:2]); err != nil {
		t.Fatal(err)
	}
	if err := e.data.CreateTask(ctx, dataservice.Task{ID: m.ID, AppKey: a.Key, State: dataservice.TaskRunning, Cursor: rids[1], Targeted: 2,
		Owner: "g99:dead", LeaseUntil: time.Now().Add(-time.Second), Created: time.Now(), Updated: time.Now()}); err != nil {
		t.Fatal(err)
	}
	task := e.waitTask(t, m.ID)
	if task.State != dataservice.TaskDone || task.Targeted != 5 || task.Owner == "g99:dead" {
		t.Fatalf("resumed task ended %+v", task)
	}
	for _, rid := range rids {
		if inbox, _ := e.data.Inbox(ctx, rid, 0, 10); len(inbox) != 1 {
			t.Fatalf("%s has %d copies, want exactly one", rid, len(inbox))
		}
	}
}
