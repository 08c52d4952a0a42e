package ratelimit

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Rate is Limit events per Window.
type Rate struct {
	// Limit is how many events a key may have at once, and per Window.
	// Zero or less means no limit.
	Limit int
	// Window is the time over which Limit tokens refill. Zero means one
	// minute.
	Window time.Duration
}

// ParseRate reads a rate written "N/DURATION", such as "20/1m" (20 per
// minute); "0" or "off" is no limit.
func ParseRate(s string) (Rate, error) {
	if s == "0" || s == "off" {
		return Rate{}, nil
	}
	n, d, ok := strings.Cut(s, "/")
	limit, err := strconv.Atoi(n)
	if !ok || err != nil || limit < 0 {
		return Rate{}, fmt.Errorf("ratelimit: %q is not a rate: write N/DURATION, such as 20/1m, or off", s)
	}
	window, err := time.ParseDuration(d)
	if err != nil || window <= 0 {
		return Rate{}, fmt.Errorf("ratelimit: %q is not a rate: the window must be a positive duration, such as 1m", s)
	}
	return Rate{Limit: limit, Window: window}, nil
}

// String writes r as ParseRate reads it.
func (r Rate) String() string {
	if r.Limit <= 0 {
		return "off"
	}
	return fmt.Sprintf("%d/%s", r.Limit, r.Per())
}

// Per is r's window as String writes it: "1m" rather than "1m0s".
func (r Rate) Per() string {
	for _, unit := range []struct {
		d    time.Duration
		name string
	}{{time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if r.Window > 0 && r.Window%unit.d == 0 {
			return strconv.FormatInt(int64(r.Window/unit.d), 10) + unit.name
		}
	}
	return r.Window.String()
}

// Config configures a Limiter.
type Config struct {
	Rate
	// MaxKeys bounds the keys tracked at once. Zero means 100,000.
	MaxKeys int
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// Limiter is a token bucket per key.
type Limiter struct {
	cfg     Config
	perNano float64 // tokens refilled per nanosecond

	mu        sync.Mutex
	buckets   map[string]*bucket // guarded by mu
	overflow  bucket             // guarded by mu; shared by keys that found the table full
	lastSweep time.Time          // guarded by mu
}

type bucket struct {
	tokens float64
	at     time.Time // when tokens was computed
}

// New returns a Limiter.
func New(cfg Config) *Limiter {
	if cfg.Window <= 0 {
		cfg.Window = time.Minute
	}
	if cfg.MaxKeys <= 0 {
		cfg.MaxKeys = 100_000
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Limiter{
		cfg:      cfg,
		perNano:  float64(cfg.Limit) / float64(cfg.Window),
		buckets:  make(map[string]*bucket),
		overflow: bucket{tokens: float64(cfg.Limit)},
	}
}

// Allow takes a token of key's bucket. If there is none it returns false
// and how long until there is one.
func (l *Limiter) Allow(key string) (bool, time.Duration) {
	if l.cfg.Limit <= 0 {
		return true, 0
	}
	now := l.cfg.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		b = l.newBucketLocked(key, now)
	}
	b.tokens = min(float64(l.cfg.Limit), b.tokens+float64(now.Sub(b.at))*l.perNano)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration(math.Ceil((1 - b.tokens) / l.perNano))
}

// newBucketLocked adds a full bucket for key, or returns the overflow
// bucket if the table is full. l.mu must be held.
func (l *Limiter) newBucketLocked(key string, now time.Time) *bucket {
	if len(l.buckets) >= l.cfg.MaxKeys && now.Sub(l.lastSweep) >= time.Second {
		l.lastSweep = now
		for k, b := range l.buckets {
			if b.tokens+float64(now.Sub(b.at))*l.perNano >= float64(l.cfg.Limit) {
				delete(l.buckets, k)
			}
		}
	}
	if len(l.buckets) >= l.cfg.MaxKeys {
		if l.overflow.at.IsZero() {
			l.overflow.at = now
		}
		return &l.overflow
	}
	b := &bucket{tokens: float64(l.cfg.Limit), at: now}
	l.buckets[key] = b
	return b
}

// Keys returns how many keys l tracks.
func (l *Limiter) Keys() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
