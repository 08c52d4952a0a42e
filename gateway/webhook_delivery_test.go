package gateway_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/dataservice/leveldb"
	"github.com/heraldpush/herald/gateway"
	"github.com/heraldpush/herald/gateway/webhook"
	"github.com/heraldpush/herald/internal/ids"
)

// fastUpstream is a webhook delivery configuration that makes tests quick:
// frequent polls and scans, short leases and backoffs.
var fastUpstream = webhook.Config{
	Poll: 20 * time.Millisecond, Scan: 50 * time.Millisecond, Lease: time.Second,
	MinBackoff: 10 * time.Millisecond, MaxBackoff: 80 * time.Millisecond, Timeout: 2 * time.Second,
}

// newUpstreamData returns a dataservice over a fresh LevelDB store.
func newUpstreamData(tb testing.TB) *dataservice.Service {
	tb.Helper()
	ldb, err := leveldb.Open(leveldb.Config{Dir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ldb.Close() })
	return dataservice.New(ldb)
}

// startGateway starts a gateway of node over data that stops when tb
// ends (or when the returned stop is called).
func startGateway(tb testing.TB, data dataservice.Client, node int, cfg webhook.Config) (gw *gateway.Gateway, stop func()) {
	tb.Helper()
	gen, err := ids.NewGenerator(node)
	if err != nil {
		tb.Fatal(err)
	}
	system := actor.NewActorSystem()
	cfg.PrivateDestinations = true // the tests' webhooks listen on loopback
	gw = gateway.New(gateway.Config{Webhooks: cfg, Log: slog.New(slog.NewTextHandler(io.Discard, nil))},
		gateway.Deps{Data: data, Cluster: newFakeCluster(connectorA), Receipts: &fakeReceipts{}, IDs: gen, System: system})
	var once sync.Once
	stop = func() {
		once.Do(func() {
			gw.Close()
			system.Shutdown()
		})
	}
	tb.Cleanup(stop)
	return gw, stop
}

// hookCall is one call a test webhook received.
type hookCall struct {
	app      string
	messages []hookMessage
	sigOK    bool
}

type hookMessage struct {
	RegistrationID string    `json:"registration_id"`
	ID             string    `json:"id"`
	Data           []byte    `json:"data"`
	ReceivedAt     time.Time `json:"received_at"`
}

// testHook is a webhook that checks signatures and records calls. answer,
// if set, chooses the status of each call (by its number, from 1) and may
// block.
type testHook struct {
	srv    *httptest.Server
	secret string
	answer func(n int, r *http.Request) int

	mu    sync.Mutex
	calls []hookCall
	n     int
}

func newTestHook(tb testing.TB, secret string, answer func(n int, r *http.Request) int) *testHook {
	h := &testHook{secret: secret, answer: answer}
	h.srv = httptest.NewServer(http.HandlerFunc(h.serve))
	tb.Cleanup(h.srv.Close)
	return h
}

func (h *testHook) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	h.mu.Lock()
	h.n++
	n := h.n
	h.mu.Unlock()
	status := http.StatusNoContent
	if h.answer != nil {
		status = h.answer(n, r)
	}
	var d struct {
		AppKey   string        `json:"app_key"`
		Messages []hookMessage `json:"messages"`
	}
	if err := json.Unmarshal(body, &d); err != nil || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		status = http.StatusBadRequest
	}
	if status >= 200 && status < 300 {
		h.mu.Lock()
		h.calls = append(h.calls, hookCall{app: d.AppKey, messages: d.Messages, sigOK: verifySignature(h.secret, r.Header, body)})
		h.mu.Unlock()
	}
	w.WriteHeader(status)
}

// verifySignature checks a delivery the way docs/webhooks.md tells apps
// to, written here independently of the gateway's code.
func verifySignature(secret string, header http.Header, body []byte) bool {
	ts := header.Get("X-Herald-Timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		return false
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts + "." + string(body)))
	want := "v1=" + hex.EncodeToString(mac.Sum(nil))
	return hmac.Equal([]byte(want), []byte(header.Get("X-Herald-Signature")))
}

// accepted returns the calls accepted so far.
func (h *testHook) accepted() []hookCall {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookCall(nil), h.calls...)
}

// delivered returns the messages accepted so far, in order of arrival, as
// "rid/id".
func (h *testHook) delivered() []string {
	var out []string
	for _, c := range h.accepted() {
		for _, m := range c.messages {
			out = append(out, m.RegistrationID+"/"+m.ID)
		}
	}
	return out
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(tb testing.TB, within time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

const hookSecret = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"

func setHook(tb testing.TB, data dataservice.Client, app, url string) {
	tb.Helper()
	if _, err := data.CreateWebhook(context.Background(), dataservice.Webhook{AppKey: app, URL: url, Secret: hookSecret}); err != nil {
		tb.Fatal(err)
	}
}

// enqueueN enqueues messages 1..n (from first) of device rid, one call
// each, and returns them as "rid/id".
func enqueueN(tb testing.TB, data dataservice.Client, app, rid string, first, n int) []string {
	tb.Helper()
	var out []string
	for i := first; i < first+n; i++ {
		m := dataservice.UpstreamMessage{AppKey: app, RegistrationID: rid, ID: uint64(i), Data: []byte(fmt.Sprintf("payload %d \x00\xff", i)), At: time.Now()}
		if err := data.EnqueueUpstream(context.Background(), []dataservice.UpstreamMessage{m}); err != nil {
			tb.Fatal(err)
		}
		out = append(out, fmt.Sprintf("%s/%d", rid, i))
	}
	return out
}

func queueLen(tb testing.TB, data dataservice.Client, app string) int {
	tb.Helper()
	msgs, err := data.PendingUpstreams(context.Background(), app, "", dataservice.MaxUpstreamPage)
	if err != nil {
		tb.Fatal(err)
	}
	return len(msgs)
}

func TestWebhookDeliveryDeliversSignedBatches(t *testing.T) {
	data := newUpstreamData(t)
	hook := newTestHook(t, hookSecret, nil)
	setHook(t, data, "app1", hook.srv.URL+"/herald?x=1")
	startGateway(t, data, 1, fastUpstream)

	// 250 messages in one enqueue: three calls at least, of at most 100.
	var msgs []dataservice.UpstreamMessage
	var want []string
	at := time.UnixMilli(time.Now().UnixMilli()).UTC()
	for i := 1; i <= 250; i++ {
		msgs = append(msgs, dataservice.UpstreamMessage{AppKey: "app1", RegistrationID: "rid-a", ID: uint64(i) << 40, Data: []byte{byte(i), 0, 0xff}, At: at})
		want = append(want, fmt.Sprintf("rid-a/%d", uint64(i)<<40))
	}
	if err := data.EnqueueUpstream(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "all 250 messages delivered", func() bool { return len(hook.delivered()) >= 250 })
	got := hook.delivered()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("delivered %v\nwant, in order, %v", got, want)
	}
	calls := hook.accepted()
	if len(calls) < 3 {
		t.Fatalf("%d calls carried 250 messages; batches are at most 100", len(calls))
	}
	for i, c := range calls {
		if !c.sigOK {
			t.Fatalf("call %d: the signature does not verify", i)
		}
		if c.app != "app1" || len(c.messages) > 100 {
			t.Fatalf("call %d: app %q, %d messages", i, c.app, len(c.messages))
		}
		for j, m := range c.messages {
			if len(m.Data) != 3 || m.Data[1] != 0 || m.Data[2] != 0xff || !m.ReceivedAt.Equal(at) {
				t.Fatalf("call %d message %d = %+v; want data verbatim and received_at %v", i, j, m, at)
			}
		}
	}
	waitFor(t, 5*time.Second, "the queue emptied", func() bool { return queueLen(t, data, "app1") == 0 })
}

// The wire form: ids as decimal strings (like msg_id), data in standard
// base64, received_at in RFC 3339.
func TestWebhookDeliveryPayloadShape(t *testing.T) {
	data := newUpstreamData(t)
	bodies := make(chan []byte, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		select {
		case bodies <- b:
		default:
		}
	}))
	t.Cleanup(srv.Close)
	setHook(t, data, "app1", srv.URL)
	startGateway(t, data, 1, fastUpstream)
	at := time.Date(2026, 11, 21, 9, 30, 0, 123e6, time.UTC)
	if err := data.EnqueueUpstream(context.Background(), []dataservice.UpstreamMessage{
		{AppKey: "app1", RegistrationID: "r1", ID: 1<<63 + 1, Data: []byte("hi\xff"), At: at},
	}); err != nil {
		t.Fatal(err)
	}
	var body []byte
	select {
	case body = <-bodies:
	case <-time.After(10 * time.Second):
		t.Fatal("no delivery")
	}
	want := `{"app_key":"app1","messages":[{"registration_id":"r1","id":"9223372036854775809","data":"` +
		base64.StdEncoding.EncodeToString([]byte("hi\xff")) + `","received_at":"2026-11-21T09:30:00.123Z"}]}`
	if string(body) != want {
		t.Fatalf("body %s\nwant %s", body, want)
	}
}

func TestWebhookDeliveryRetriesWithoutLossOrReorder(t *testing.T) {
	data := newUpstreamData(t)
	cfg := fastUpstream
	cfg.Timeout = 300 * time.Millisecond
	release := make(chan struct{})
	hook := newTestHook(t, hookSecret, func(n int, r *http.Request) int {
		switch {
		case n <= 3:
			return http.StatusInternalServerError
		case n == 4:
			return http.StatusFound // a redirect is not a delivery
		case n == 5:
			select { // longer than the timeout
			case <-release:
			case <-r.Context().Done():
			}
			return http.StatusOK
		}
		return http.StatusOK
	})
	defer close(release)
	setHook(t, data, "app1", hook.srv.URL)
	startGateway(t, data, 1, cfg)

	want := enqueueN(t, data, "app1", "r1", 1, 5)
	waitFor(t, 10*time.Second, "the failing calls", func() bool {
		hook.mu.Lock()
		defer hook.mu.Unlock()
		return hook.n >= 5
	})
	want = append(want, enqueueN(t, data, "app1", "r2", 1, 3)...)
	want = append(want, enqueueN(t, data, "app1", "r1", 6, 3)...)
	waitFor(t, 10*time.Second, "every message delivered", func() bool { return len(hook.delivered()) >= len(want) })
	waitFor(t, 5*time.Second, "the queue emptied", func() bool { return queueLen(t, data, "app1") == 0 })

	// At least once, in order: first deliveries in enqueue order.
	seen := map[string]bool{}
	var first []string
	for _, m := range hook.delivered() {
		if !seen[m] {
			seen[m] = true
			first = append(first, m)
		}
	}
	if fmt.Sprint(first) != fmt.Sprint(want) {
		t.Fatalf("delivered %v\nwant %v", first, want)
	}
}

func TestWebhookDeliverySlowAppDoesNotBlockOthers(t *testing.T) {
	data := newUpstreamData(t)
	stuck := make(chan struct{})
	slow := newTestHook(t, hookSecret, func(n int, r *http.Request) int {
		select {
		case <-stuck:
		case <-r.Context().Done():
		}
		return http.StatusOK
	})
	fast := newTestHook(t, hookSecret, nil)
	setHook(t, data, "slow", slow.srv.URL)
	setHook(t, data, "fast", fast.srv.URL)
	startGateway(t, data, 1, webhook.Config{Poll: 20 * time.Millisecond, Scan: 50 * time.Millisecond, Lease: time.Second, Timeout: time.Minute})
	enqueueN(t, data, "slow", "r1", 1, 3)
	waitFor(t, 10*time.Second, "the slow webhook called", func() bool {
		slow.mu.Lock()
		defer slow.mu.Unlock()
		return slow.n > 0
	})
	want := enqueueN(t, data, "fast", "r1", 1, 5)
	waitFor(t, 10*time.Second, "the other app's messages delivered while the slow webhook hangs", func() bool { return len(fast.delivered()) >= len(want) })
	if got := slow.delivered(); len(got) != 0 {
		t.Fatalf("the slow webhook answered: %v", got)
	}
	close(stuck)
	waitFor(t, 10*time.Second, "the slow app delivered once its webhook answers", func() bool { return len(slow.delivered()) >= 3 })
}

// Two gateways sharing a store: one delivers each app at a time, so in
// normal operation no batch is posted twice; when the one that holds an
// app stops, the other takes it over.
func TestWebhookDeliveryShareApps(t *testing.T) {
	data := newUpstreamData(t)
	hook := newTestHook(t, hookSecret, nil)
	apps := []string{"app1", "app2", "app3", "app4"}
	for _, app := range apps {
		setHook(t, data, app, hook.srv.URL)
	}
	_, stop1 := startGateway(t, data, 1, fastUpstream)
	startGateway(t, data, 2, fastUpstream)

	var want []string
	for round := range 5 {
		for _, app := range apps {
			for _, m := range enqueueN(t, data, app, "r1", round*4+1, 4) {
				want = append(want, app+":"+m)
			}
		}
	}
	delivered := func() map[string]int {
		count := map[string]int{}
		for _, c := range hook.accepted() {
			for _, m := range c.messages {
				count[c.app+":"+m.RegistrationID+"/"+m.ID]++
			}
		}
		return count
	}
	waitFor(t, 10*time.Second, "every message delivered", func() bool { return len(delivered()) == len(want) })
	for m, n := range delivered() {
		if n != 1 {
			t.Errorf("%s delivered %d times; with leases, once", m, n)
		}
	}
	owners := map[string]string{}
	for _, app := range apps {
		w, err := data.Webhook(context.Background(), app)
		if err != nil || w.Owner == "" {
			t.Fatalf("webhook of %s: %+v, %v; want an owner", app, w, err)
		}
		owners[app] = w.Owner
	}

	// Gateway 1 stops (giving up its leases): gateway 2 delivers all.
	stop1()
	var more []string
	for _, app := range apps {
		for _, m := range enqueueN(t, data, app, "r2", 1, 3) {
			more = append(more, app+":"+m)
		}
	}
	waitFor(t, 10*time.Second, "messages enqueued after a gateway stopped delivered", func() bool {
		d := delivered()
		for _, m := range more {
			if d[m] == 0 {
				return false
			}
		}
		return true
	})
	for _, app := range apps {
		if w, _ := data.Webhook(context.Background(), app); w.Owner == "" || w.Owner[:3] != "g2:" {
			t.Errorf("after gateway 1 stopped, %s is owned by %q (was %q); want gateway 2", app, w.Owner, owners[app])
		}
	}
}

// A gateway that died keeps its apps until its lease runs out; then
// another takes them over.
func TestWebhookDeliveryTakesOverExpiredLease(t *testing.T) {
	data := newUpstreamData(t)
	hook := newTestHook(t, hookSecret, nil)
	until := time.Now().Add(700 * time.Millisecond)
	w, err := data.CreateWebhook(context.Background(), dataservice.Webhook{AppKey: "app1", URL: hook.srv.URL, Secret: hookSecret})
	if err != nil {
		t.Fatal(err)
	}
	w.Owner, w.LeaseUntil = "g9:dead", until
	if _, err := data.UpdateWebhook(context.Background(), w); err != nil {
		t.Fatal(err)
	}
	startGateway(t, data, 1, fastUpstream)
	enqueueN(t, data, "app1", "r1", 1, 2)
	waitFor(t, 10*time.Second, "delivery after the dead gateway's lease", func() bool { return len(hook.delivered()) == 2 })
	calls := hook.accepted()
	if len(calls) == 0 || time.Now().Before(until) {
		t.Fatalf("delivered before the lease of the dead gateway ran out (%v)", until)
	}
	if got, _ := data.Webhook(context.Background(), "app1"); got.Owner == "g9:dead" {
		t.Fatalf("the lease is still the dead gateway's: %+v", got)
	}
}

// readCounter is a dataservice that counts the reads of upstream queues.
type readCounter struct {
	dataservice.Client
	mu    sync.Mutex
	reads int
}

func (r *readCounter) PendingUpstreams(ctx context.Context, app, after string, limit int) ([]dataservice.PendingUpstream, error) {
	r.mu.Lock()
	r.reads++
	r.mu.Unlock()
	return r.Client.PendingUpstreams(ctx, app, after, limit)
}

func (r *readCounter) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reads
}

// A deleted webhook stops deliveries; its queue waits for the next one.
func TestWebhookDeliveryStopsOnDeletedWebhook(t *testing.T) {
	data := &readCounter{Client: newUpstreamData(t)}
	old := newTestHook(t, hookSecret, nil)
	setHook(t, data, "app1", old.srv.URL)
	startGateway(t, data, 1, fastUpstream)
	enqueueN(t, data, "app1", "r1", 1, 1)
	waitFor(t, 10*time.Second, "first delivery", func() bool { return len(old.delivered()) == 1 })
	if _, err := data.DeleteWebhook(context.Background(), "app1"); err != nil {
		t.Fatal(err)
	}
	// The drain stops at the next scan: the queue is no longer read
	// (polls run every 20ms; a scan every 50ms).
	last, still := data.count(), 0
	waitFor(t, 10*time.Second, "the queue no longer read", func() bool {
		time.Sleep(30 * time.Millisecond)
		n := data.count()
		if n == last {
			still++
		} else {
			last, still = n, 0
		}
		return still >= 4
	})
	enqueueN(t, data, "app1", "r1", 2, 1)
	moved := newTestHook(t, hookSecret, nil)
	setHook(t, data, "app1", moved.srv.URL)
	waitFor(t, 10*time.Second, "the queue delivered to the new webhook", func() bool { return len(moved.delivered()) == 1 })
	if got := old.delivered(); len(got) != 1 {
		t.Fatalf("the deleted webhook received %v after it was deleted", got[1:])
	}
}

// BenchmarkUpstreamToWebhook measures the time from EnqueueUpstream to
// the webhook's receipt of the message, one message at a time, for an
// idle app (each enqueue comes a random 0 to 200ms after the previous
// delivery): woken in process (herald all), and found by the poll (a
// dataservice of another process), with the default Poll of 100ms.
func BenchmarkUpstreamToWebhook(b *testing.B) {
	for _, mode := range []string{"wake", "poll"} {
		b.Run("mode="+mode, func(b *testing.B) {
			svc := newUpstreamData(b)
			var data dataservice.Client = svc
			if mode == "poll" {
				data = &readCounter{Client: svc} // hides WatchUpstreams
			}
			got := make(chan struct{}, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				got <- struct{}{}
			}))
			b.Cleanup(srv.Close)
			setHook(b, data, "app1", srv.URL)
			startGateway(b, data, 1, webhook.Config{})
			waitFor(b, 10*time.Second, "the lease taken", func() bool {
				w, err := data.Webhook(context.Background(), "app1")
				return err == nil && w.Owner != ""
			})
			var total time.Duration
			b.ResetTimer()
			for i := range b.N {
				b.StopTimer()
				time.Sleep(time.Duration(rand.N(200)) * time.Millisecond) // idle
				b.StartTimer()
				start := time.Now()
				enqueueN(b, data, "app1", "r1", i+1, 1)
				<-got
				total += time.Since(start)
			}
			b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms/delivery")
		})
	}
}

// A delivery backing off tries again at once when the app moves its
// webhook: the messages go to the new URL without waiting out the backoff.
func TestWebhookDeliveryFollowsANewURL(t *testing.T) {
	data := newUpstreamData(t)
	down := newTestHook(t, hookSecret, func(int, *http.Request) int { return http.StatusServiceUnavailable })
	up := newTestHook(t, hookSecret, nil)
	setHook(t, data, "app1", down.srv.URL)
	cfg := fastUpstream
	cfg.MinBackoff, cfg.MaxBackoff = time.Hour, time.Hour
	startGateway(t, data, 1, cfg)
	want := enqueueN(t, data, "app1", "r1", 1, 2)
	waitFor(t, 10*time.Second, "the failing webhook called", func() bool {
		down.mu.Lock()
		defer down.mu.Unlock()
		return down.n > 0
	})
	for {
		w, err := data.Webhook(context.Background(), "app1")
		if err != nil {
			t.Fatal(err)
		}
		w.URL, w.Updated = up.srv.URL, time.Now()
		_, err = data.UpdateWebhook(context.Background(), w)
		if err == nil {
			break
		}
		if !errors.Is(err, dataservice.ErrGenerationMismatch) {
			t.Fatal(err)
		}
		// A lease renewal came first: read again.
	}
	waitFor(t, 10*time.Second, "delivery to the new URL, before the hour of backoff", func() bool { return len(up.delivered()) == 2 })
	if got := up.delivered(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("delivered %v, want %v", got, want)
	}
}
