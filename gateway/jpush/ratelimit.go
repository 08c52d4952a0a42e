package jpush

import (
	"sync"
	"time"
)

// rateLimiter counts calls per key in fixed windows: every window starts
// at a multiple of its length since the Unix epoch, and a key may make
// quota calls in each. JPush limits its API this way (a one-minute window
// per app key) and reports the figures in X-Rate-Limit-* headers.
//
// The counts live in this process: gateways behind a load balancer each
// allow the quota, so an app may make up to n times the quota across n
// gateways. A call refused does not count.
//
// Safe for concurrent use.
type rateLimiter struct {
	window time.Duration
	now    func() time.Time

	mu sync.Mutex // guards start and counts
	// start is the beginning of the current window; counts are the calls
	// of each key in it. The map is dropped whole when the window rolls,
	// so it never holds more keys than called in one window.
	start  time.Time
	counts map[string]int
}

// newRateLimiter returns a limiter with windows of length window.
func newRateLimiter(window time.Duration, now func() time.Time) *rateLimiter {
	if now == nil {
		now = time.Now
	}
	return &rateLimiter{window: window, now: now, counts: map[string]int{}}
}

// rateDecision is the outcome of one call to take.
type rateDecision struct {
	// Allowed is false when the key has used its quota in this window.
	Allowed bool
	// Quota is the calls allowed per window.
	Quota int
	// Remaining is how many more calls the window allows after this one.
	Remaining int
	// Reset is how long until the window ends and the count starts again.
	Reset time.Duration
}

// take counts one call of key against quota (calls per window) and says
// whether it is allowed.
func (l *rateLimiter) take(key string, quota int) rateDecision {
	now := l.now()
	start := now.Truncate(l.window)
	l.mu.Lock()
	defer l.mu.Unlock()
	if !start.Equal(l.start) {
		l.start = start
		l.counts = map[string]int{}
	}
	d := rateDecision{Quota: quota, Reset: start.Add(l.window).Sub(now)}
	n := l.counts[key]
	if n >= quota {
		return d
	}
	n++
	l.counts[key] = n
	d.Allowed, d.Remaining = true, quota-n
	return d
}
