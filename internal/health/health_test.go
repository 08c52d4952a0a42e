package health

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func get(t *testing.T, h http.Handler, method, path string) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	var body map[string]any
	if method != http.MethodHead {
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatalf("%s %s: body %q is not JSON: %v", method, path, rec.Body, err)
		}
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	return rec.Code, body
}

func TestProbes(t *testing.T) {
	var storeErr atomic.Value
	storeErr.Store("")
	c := New(Config{Interval: time.Nanosecond})
	c.Add("store", func(context.Context) error {
		if s := storeErr.Load().(string); s != "" {
			return errors.New(s)
		}
		return nil
	})
	c.Add("peers", func(context.Context) error { return nil })
	h := c.Wrap(http.NotFoundHandler())

	for _, tc := range []struct {
		name, method, path string
		storeErr           string
		drain              bool
		status             int
		body               string
	}{
		{"alive", "GET", "/healthz", "", false, 200, `"status":"ok"`},
		{"ready", "GET", "/readyz", "", false, 200, `"status":"ready"`},
		{"ready names its checks", "GET", "/readyz", "", false, 200, `"peers":{"status":"ok"}`},
		{"not ready says why", "GET", "/readyz", "disk full", false, 503, `"store":{"error":"disk full","status":"failing"}`},
		{"alive while not ready", "GET", "/healthz", "disk full", false, 200, `"status":"ok"`},
		{"head", "HEAD", "/readyz", "", false, 200, ``},
		{"post refused", "POST", "/readyz", "", false, 405, `"method_not_allowed"`},
		{"draining", "GET", "/readyz", "", true, 503, `"status":"draining"`},
		{"alive while draining", "GET", "/healthz", "", true, 200, `"status":"ok"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			storeErr.Store(tc.storeErr)
			if tc.drain {
				c.Drain()
			}
			code, body := get(t, h, tc.method, tc.path)
			raw, _ := json.Marshal(body)
			if code != tc.status || !strings.Contains(string(raw), tc.body) {
				t.Fatalf("%s %s = %d %s; want %d with %s", tc.method, tc.path, code, raw, tc.status, tc.body)
			}
		})
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/other", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("another path = %d; want it passed on (404)", rec.Code)
	}
}

// However often probed, checks run at most once per interval, and probes
// that come during a round share it.
func TestChecksRunOncePerInterval(t *testing.T) {
	var runs atomic.Int32
	release := make(chan struct{})
	c := New(Config{Interval: time.Hour})
	c.Add("slow", func(context.Context) error {
		runs.Add(1)
		<-release
		return nil
	})
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if r := c.Ready(t.Context()); !r.Ready() {
				t.Errorf("report %+v; want ready", r)
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	wg.Wait()
	c.Ready(t.Context())
	if n := runs.Load(); n != 1 {
		t.Fatalf("the check ran %d times for 21 probes in one interval; want 1", n)
	}
}

// A check that does not answer in time, or panics, fails; it holds up
// neither the probe nor the others.
func TestStuckAndPanickingChecksFail(t *testing.T) {
	c := New(Config{Timeout: 50 * time.Millisecond})
	block := make(chan struct{})
	defer close(block)
	c.Add("stuck", func(context.Context) error { <-block; return nil })
	c.Add("panics", func(context.Context) error { panic("boom") })
	c.Add("fine", func(context.Context) error { return nil })
	start := time.Now()
	r := c.Ready(t.Context())
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Ready took %v", d)
	}
	if r.Ready() || r.Checks["stuck"].Error != "no answer in time" || !strings.Contains(r.Checks["panics"].Error, "boom") || r.Checks["fine"].Status != StatusOK {
		t.Fatalf("report %+v", r)
	}
}
