package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func TestLimiter(t *testing.T) {
	c := &clock{t: time.Unix(1_000_000, 0)}
	l := New(Config{Rate: Rate{Limit: 3, Window: 3 * time.Second}, Now: c.now})
	for i := range 3 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatalf("event %d of a burst of 3 refused", i)
		}
	}
	ok, wait := l.Allow("a")
	if ok || wait != time.Second {
		t.Fatalf("fourth event: %v, retry after %v; want refused, 1s", ok, wait)
	}
	if ok, _ := l.Allow("b"); !ok {
		t.Fatal("another key was refused")
	}
	c.t = c.t.Add(500 * time.Millisecond)
	if ok, wait := l.Allow("a"); ok || wait != 500*time.Millisecond {
		t.Fatalf("half a token later: %v, %v", ok, wait)
	}
	c.t = c.t.Add(500 * time.Millisecond)
	if ok, _ := l.Allow("a"); !ok {
		t.Fatal("a token later: refused")
	}
	if ok, _ := l.Allow("a"); ok {
		t.Fatal("the refilled token was taken twice")
	}
}

func TestNoLimit(t *testing.T) {
	l := New(Config{})
	for range 1000 {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatal("refused without a limit")
		}
	}
	if l.Keys() != 0 {
		t.Fatal("tracked keys without a limit")
	}
}

// The table is bounded: refilled keys are forgotten, and beyond that new
// keys share one bucket.
func TestTableBound(t *testing.T) {
	c := &clock{t: time.Unix(1_000_000, 0)}
	l := New(Config{Rate: Rate{Limit: 2, Window: time.Minute}, MaxKeys: 10, Now: c.now})
	for i := range 10 {
		l.Allow(fmt.Sprint("k", i))
	}
	// The table is full of half-empty buckets: new keys share one.
	if ok, _ := l.Allow("new1"); !ok {
		t.Fatal("first key in the overflow bucket refused")
	}
	if ok, _ := l.Allow("new2"); !ok {
		t.Fatal("second key in the overflow bucket refused")
	}
	if ok, _ := l.Allow("new3"); ok {
		t.Fatal("the overflow bucket is not limited")
	}
	if l.Keys() != 10 {
		t.Fatalf("%d keys, want 10", l.Keys())
	}
	// Once they refilled, the old keys make room.
	c.t = c.t.Add(time.Minute)
	if ok, _ := l.Allow("new4"); !ok {
		t.Fatal("a new key refused after the table was swept")
	}
	if l.Keys() != 1 {
		t.Fatalf("%d keys after the sweep, want 1", l.Keys())
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]Rate{
		"20/1m": {20, time.Minute}, "5/1s": {5, time.Second}, "6/1h": {6, time.Hour}, "3/1500ms": {3, 1500 * time.Millisecond}, "off": {}, "0": {},
	} {
		got, err := ParseRate(in)
		if err != nil || got != want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", in, got, err, want)
		}
		if again, err := ParseRate(got.String()); err != nil || again != got {
			t.Errorf("ParseRate(%q) = %v, %v", got.String(), again, err)
		}
	}
	for _, in := range []string{"", "20", "20/", "x/1m", "20/0s", "-1/1m"} {
		if _, err := ParseRate(in); err == nil {
			t.Errorf("ParseRate(%q) accepted", in)
		}
	}
}
