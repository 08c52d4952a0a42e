package cache

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeClock is an injectable Config.Now that moves only when told.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Unix(1_700_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// evictLog records OnEvict calls.
type evictLog struct {
	mu     sync.Mutex
	events []evictEvent
}

type evictEvent struct {
	key    string
	value  string
	nilVal bool
	reason Reason
}

func (l *evictLog) record(key string, value []byte, reason Reason) {
	l.mu.Lock()
	l.events = append(l.events, evictEvent{key, string(value), value == nil, reason})
	l.mu.Unlock()
}

func (l *evictLog) take() []evictEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	ev := l.events
	l.events = nil
	return ev
}

func newMemory(tb testing.TB, cfg Config) *Memory {
	tb.Helper()
	m, err := NewMemory(cfg)
	if err != nil {
		tb.Fatalf("NewMemory: %v", err)
	}
	return m
}

func newTiered(tb testing.TB, cfg Config) *Tiered {
	tb.Helper()
	if cfg.SpillDir == "" {
		cfg.SpillDir = tb.TempDir()
	}
	c, err := New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(func() {
		if err := c.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return c
}

func openSpill(tb testing.TB, cfg Config) *Spill {
	tb.Helper()
	if cfg.SpillDir == "" {
		cfg.SpillDir = tb.TempDir()
	}
	s, err := OpenSpill(cfg)
	if err != nil {
		tb.Fatalf("OpenSpill: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return s
}

// mustGet fails unless c holds key at version with value.
func mustGet(tb testing.TB, c Cache, key string, value string, version uint32) {
	tb.Helper()
	v, ver, ok := c.Get(key)
	if !ok {
		tb.Fatalf("Get(%q): miss, want version %d", key, version)
	}
	if string(v) != value || ver != version {
		tb.Fatalf("Get(%q) = %q v%d, want %q v%d", key, v, ver, value, version)
	}
}

func mustMiss(tb testing.TB, c Cache, key string) {
	tb.Helper()
	if v, ver, ok := c.Get(key); ok {
		tb.Fatalf("Get(%q) = %q v%d, want a miss", key, v, ver)
	}
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(tb testing.TB, timeout time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(time.Millisecond)
	}
}

func keyN(i int) string { return fmt.Sprintf("key-%06d", i) }

// sized returns a key of exactly n bytes for index i.
func sizedKey(i, n int) string {
	k := fmt.Sprintf("k%d-", i)
	if len(k) < n {
		k += strings.Repeat("x", n-len(k))
	}
	return k[:n]
}
