package portal

import (
	"sync"
	"time"
)

// loginLimiter counts failed logins per client address over a window and
// refuses an address that reached its limit until the window it started
// ends. The gateway limits per account and per address too; the portal's
// own limit keeps a browser that hammers the form from reaching the
// gateway at all.
type loginLimiter struct {
	limit  int
	window time.Duration
	now    func() time.Time

	mu      sync.Mutex // guards windows
	windows map[string]*failureWindow
}

// failureWindow is the failures of one address since start.
type failureWindow struct {
	start    time.Time
	failures int
}

// maxLimiterAddresses bounds the addresses the limiter remembers; past it,
// windows that ended are dropped, then the oldest.
const maxLimiterAddresses = 100_000

func newLoginLimiter(limit int, window time.Duration) *loginLimiter {
	return &loginLimiter{limit: limit, window: window, now: time.Now, windows: map[string]*failureWindow{}}
}

// allowed reports whether addr may try to log in, and if not, how long
// until it may.
func (l *loginLimiter) allowed(addr string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.windows[addr]
	if !ok {
		return true, 0
	}
	now := l.now()
	if end := w.start.Add(l.window); !now.Before(end) {
		delete(l.windows, addr)
		return true, 0
	} else if w.failures >= l.limit {
		return false, end.Sub(now)
	}
	return true, 0
}

// failed counts a failed login from addr.
func (l *loginLimiter) failed(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	w, ok := l.windows[addr]
	if !ok || !now.Before(w.start.Add(l.window)) {
		if !ok && len(l.windows) >= maxLimiterAddresses {
			l.evict(now)
		}
		w = &failureWindow{start: now}
		l.windows[addr] = w
	}
	w.failures++
}

// succeeded forgets addr's failures.
func (l *loginLimiter) succeeded(addr string) {
	l.mu.Lock()
	delete(l.windows, addr)
	l.mu.Unlock()
}

// evict makes room: it drops the windows that ended, or if none has, the
// oldest. Lock held.
func (l *loginLimiter) evict(now time.Time) {
	var oldest string
	var oldestStart time.Time
	for a, w := range l.windows {
		if !now.Before(w.start.Add(l.window)) {
			delete(l.windows, a)
			continue
		}
		if oldest == "" || w.start.Before(oldestStart) {
			oldest, oldestStart = a, w.start
		}
	}
	if len(l.windows) >= maxLimiterAddresses {
		delete(l.windows, oldest)
	}
}
