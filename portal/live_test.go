package portal

import (
	"bufio"
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// event is one server-sent event.
type event struct {
	name string
	data string
	at   time.Time
}

// readEvents reads the event stream of res into a channel, closed at its
// end.
func readEvents(res *http.Response) <-chan event {
	out := make(chan event, 100)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(res.Body)
		var ev event
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				ev.name = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			case line == "" && ev.name != "":
				ev.at = time.Now()
				out <- ev
				ev = event{}
			}
		}
	}()
	return out
}

// next waits for the next event named one of names, failing after wait.
func next(t testing.TB, events <-chan event, wait time.Duration, names ...string) event {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("the stream ended waiting for %v", names)
			}
			for _, n := range names {
				if ev.name == n {
					return ev
				}
			}
		case <-deadline:
			t.Fatalf("no %v event within %v", names, wait)
		}
	}
}

// The funnel's events follow the report while the message is being sent,
// at least once a second, and end with "done".
func TestLiveFunnelEvents(t *testing.T) {
	e := newEnv(t)
	m := e.gw.addMessage(appA, messageItem{Title: "Live", TimeToLive: 86400, State: stateRunning, report: report{Targeted: 1000, Sent: 10}})
	b := e.login(t, "viewer@example.com")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+appURL(appA, "messages/"+m.MsgID+"/events"), nil)
	req.Header.Set("Accept", "text/event-stream")
	res, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" || res.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("events: %d %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	events := readEvents(res)
	var hist []sample
	if err := json.Unmarshal([]byte(next(t, events, 5*time.Second, "history").data), &hist); err != nil || len(hist) == 0 || hist[0].Sent != 10 {
		t.Fatalf("history %v %v", hist, err)
	}
	var ev liveEvent
	json.Unmarshal([]byte(next(t, events, 5*time.Second, "report").data), &ev)
	if ev.Sent != 10 || ev.State != stateRunning || ev.Finished {
		t.Fatalf("first report %+v", ev)
	}
	// The report changes: the next event says so within a poll or two.
	changed := time.Now()
	e.gw.update(func() { m.Sent, m.Delivered = 500, 300 })
	for {
		json.Unmarshal([]byte(next(t, events, 5*time.Second, "report").data), &ev)
		if ev.Delivered == 300 {
			break
		}
	}
	// How soon is BenchmarkFunnelLag's; here only that it comes.
	if lag := time.Since(changed); lag > 5*time.Second {
		t.Errorf("the change took %v to reach the page", lag)
	}
	// Nothing changes: still an event at least once a second.
	a := next(t, events, 3*time.Second, "report")
	b2 := next(t, events, 3*time.Second, "report")
	if gap := b2.at.Sub(a.at); gap > 5*time.Second {
		t.Errorf("%v between events of an unchanged report", gap)
	}
	// Finished: a last report, then done, and the stream ends.
	e.gw.update(func() { m.State, m.Sent, m.Delivered, m.Expired = stateDone, 1000, 990, 10 })
	for {
		json.Unmarshal([]byte(next(t, events, 5*time.Second, "report").data), &ev)
		if ev.Finished {
			break
		}
	}
	if ev.Delivered != 990 || ev.State != stateDone {
		t.Errorf("last report %+v", ev)
	}
	next(t, events, 5*time.Second, "done")
	if _, open := <-events; open {
		t.Error("the stream goes on after done")
	}
	// Opened again, the page gets the curve so far.
	req2, _ := http.NewRequest(http.MethodGet, e.srv.URL+appURL(appA, "messages/"+m.MsgID+"/events"), nil)
	res2, err := b.c.Do(req2)
	if err != nil {
		t.Fatal(err)
	}
	defer res2.Body.Close()
	ev2 := readEvents(res2)
	json.Unmarshal([]byte(next(t, ev2, 5*time.Second, "history").data), &hist)
	if len(hist) < 3 || hist[0].Sent != 10 || hist[len(hist)-1].Delivered != 990 {
		t.Errorf("history of %d samples, from %+v", len(hist), hist[0])
	}
	next(t, ev2, 5*time.Second, "done")
}

// A message of another app, or a session that ends, stops the stream with
// the gateway's words.
func TestLiveFunnelRefusals(t *testing.T) {
	e := newEnv(t)
	m := e.gw.addMessage(appB, messageItem{State: stateRunning, report: report{Targeted: 1}})
	b := e.login(t, "viewer@example.com")
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+appURL(appA, "messages/"+m.MsgID+"/events"), nil)
	req.Header.Set("Accept", "text/event-stream")
	status, body := b.do(req)
	if status != http.StatusNotFound || !strings.Contains(body, "this app has no message") {
		t.Errorf("another app's message: %d %s", status, body)
	}
	own := e.gw.addMessage(appA, messageItem{State: stateRunning, TimeToLive: 60, report: report{Targeted: 5}})
	req, _ = http.NewRequest(http.MethodGet, e.srv.URL+appURL(appA, "messages/"+own.MsgID+"/events"), nil)
	res, err := b.c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	events := readEvents(res)
	next(t, events, 5*time.Second, "report")
	e.gw.update(func() { clear(e.gw.sessions) }) // the session ends (logout elsewhere, expiry)
	f := next(t, events, 5*time.Second, "failure")
	if !strings.Contains(f.data, "unauthorized") {
		t.Errorf("failure %s", f.data)
	}
}

func TestHistoryBounds(t *testing.T) {
	h := newHistory(2, 4)
	for i := range 10 {
		h.add("a", sample{T: int64(i) * 2000, report: report{Sent: int64(i)}})
	}
	got := h.get("a")
	if len(got) != 4 || got[0].Sent != 0 || got[3].Sent != 9 {
		t.Errorf("samples %+v: want 4, the first and the latest", got)
	}
	h.add("a", sample{T: 18500, report: report{Sent: 9}}) // unchanged within a second
	h.add("a", sample{T: 100, report: report{Sent: 1}})   // older
	if n := len(h.get("a")); n != 4 {
		t.Errorf("%d samples after adding nothing new", n)
	}
	h.add("b", sample{T: 1})
	h.add("c", sample{T: 1})
	if h.get("a") != nil || h.get("b") == nil || h.get("c") == nil {
		t.Error("the least recently watched message is kept")
	}
}

// Close ends the event streams, so that a server's graceful shutdown does
// not wait for pages that listen.
func TestCloseEndsEventStreams(t *testing.T) {
	e := newEnv(t)
	m := e.gw.addMessage(appA, messageItem{State: stateRunning, TimeToLive: 60, report: report{Targeted: 5}})
	b := e.login(t, "viewer@example.com")
	res, err := b.c.Get(e.srv.URL + appURL(appA, "messages/"+m.MsgID+"/events"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	events := readEvents(res)
	next(t, events, 5*time.Second, "report")
	e.portal.Close()
	e.portal.Close()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case _, open := <-events:
			if !open {
				return
			}
		case <-deadline:
			t.Fatal("the stream goes on after Close")
		}
	}
}

// BenchmarkFunnelLag measures how long a change of a message's report
// takes to reach the page's event stream: the portal polls the gateway's
// report every Config.Poll (500 ms) and sends what changed. Each
// iteration changes the report once, at a random moment of the poll, and
// waits for the event that shows it; lag-p50-ms and lag-p99-ms are its
// distribution.
//
//	go test -run '^$' -bench FunnelLag -benchtime 40x ./portal/
func BenchmarkFunnelLag(b *testing.B) {
	e := newEnv(b, func(c *Config) { c.Poll = DefaultConfig("").Poll })
	m := e.gw.addMessage(appA, messageItem{Title: "Live", TimeToLive: 86400, State: stateRunning, report: report{Targeted: 1 << 30}})
	br := e.login(b, "viewer@example.com")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+appURL(appA, "messages/"+m.MsgID+"/events"), nil)
	res, err := br.c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	events := readEvents(res)
	next(b, events, 5*time.Second, "report")
	lags := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		time.Sleep(time.Duration(rand.Int64N(int64(500 * time.Millisecond))))
		changed := time.Now()
		e.gw.update(func() { m.Sent = int64(i + 1) })
		for {
			var ev liveEvent
			json.Unmarshal([]byte(next(b, events, 5*time.Second, "report").data), &ev)
			if ev.Sent == int64(i+1) {
				lags = append(lags, time.Since(changed))
				break
			}
		}
	}
	slices.Sort(lags)
	at := func(q float64) float64 { return float64(lags[min(len(lags)-1, int(q*float64(len(lags))))]) / 1e6 }
	b.ReportMetric(at(0.5), "lag-p50-ms")
	b.ReportMetric(at(0.99), "lag-p99-ms")
}
