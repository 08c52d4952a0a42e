package jpush

import (
	"sync"
	"testing"
	"time"
)

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func TestRateLimiterFixedWindow(t *testing.T) {
	start := time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC)
	clock := &fakeClock{t: start.Add(15 * time.Second)}
	l := newRateLimiter(time.Minute, clock.now)

	type step struct {
		at        time.Duration // since start
		key       string
		quota     int
		allowed   bool
		remaining int
		reset     time.Duration
	}
	for i, s := range []step{
		{15 * time.Second, "a", 3, true, 2, 45 * time.Second},
		{16 * time.Second, "a", 3, true, 1, 44 * time.Second},
		{17 * time.Second, "b", 3, true, 2, 43 * time.Second}, // keys count apart
		{18 * time.Second, "a", 3, true, 0, 42 * time.Second},
		{19 * time.Second, "a", 3, false, 0, 41 * time.Second},
		{59*time.Second + 999*time.Millisecond, "a", 3, false, 0, time.Millisecond}, // a refused call does not count
		{60 * time.Second, "a", 3, true, 2, 60 * time.Second},                       // a new window
		{61 * time.Second, "b", 3, true, 2, 59 * time.Second},                       // b's count started again too
		{61 * time.Second, "c", 1, true, 0, 59 * time.Second},
		{62 * time.Second, "c", 1, false, 0, 58 * time.Second},
		{5 * time.Minute, "c", 1, true, 0, time.Minute}, // windows skipped over
	} {
		clock.set(start.Add(s.at))
		d := l.take(s.key, s.quota)
		if d.Allowed != s.allowed || d.Remaining != s.remaining || d.Reset != s.reset || d.Quota != s.quota {
			t.Errorf("step %d (%s at +%v): got %+v, want allowed=%v remaining=%d reset=%v quota=%d",
				i, s.key, s.at, d, s.allowed, s.remaining, s.reset, s.quota)
		}
	}
	if n := len(l.counts); n != 1 {
		t.Errorf("the limiter keeps %d keys after the window rolled; only the current window's (1) should remain", n)
	}
}

func TestRateLimiterConcurrentCallsGetExactlyTheQuota(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 11, 21, 10, 0, 30, 0, time.UTC)}
	l := newRateLimiter(time.Minute, clock.now)
	const quota, callers, calls = 100, 8, 50
	var mu sync.Mutex
	allowed := 0
	var wg sync.WaitGroup
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range calls {
				if l.take("app", quota).Allowed {
					mu.Lock()
					allowed++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if allowed != quota {
		t.Errorf("%d of %d concurrent calls were allowed; want exactly the quota, %d", allowed, callers*calls, quota)
	}
}

func TestJPushRateLimitsDefaults(t *testing.T) {
	got := RateLimits{Device: 5, Report: -1}.withDefaults()
	want := RateLimits{Push: 600, Schedule: 100, Device: 5, Report: -1}
	if got != want {
		t.Errorf("withDefaults = %+v, want %+v (zero fields take JPush's figures, others are kept)", got, want)
	}
	if d := DefaultConfig().RateLimits; d != (RateLimits{Push: 600, Schedule: 100, Device: 600, Report: 2400}) {
		t.Errorf("DefaultConfig().RateLimits = %+v", d)
	}
}
