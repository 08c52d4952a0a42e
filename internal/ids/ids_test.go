package ids

import (
	"regexp"
	"sync"
	"testing"
	"time"
)

func TestGeneratorMonotonicAcrossGoroutines(t *testing.T) {
	g, err := NewGenerator(7)
	if err != nil {
		t.Fatal(err)
	}
	const workers, per = 8, 5000
	var mu sync.Mutex
	seen := make(map[uint64]bool, workers*per)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var prev uint64
			local := make([]uint64, 0, per)
			for range per {
				id := g.Next()
				if id <= prev {
					t.Errorf("id %d not above previous %d", id, prev)
				}
				prev = id
				local = append(local, id)
			}
			mu.Lock()
			for _, id := range local {
				if seen[id] {
					t.Errorf("duplicate id %d", id)
				}
				seen[id] = true
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
}

func TestGeneratorClockStepsBack(t *testing.T) {
	g, _ := NewGenerator(1)
	now := Epoch.Add(time.Hour)
	g.now = func() time.Time { return now }
	a := g.Next()
	now = now.Add(-time.Minute)
	b := g.Next()
	if b <= a {
		t.Fatalf("after clock step back: %d <= %d", b, a)
	}
}

func TestGeneratorSequenceOverflowBorrowsNextMillisecond(t *testing.T) {
	g, _ := NewGenerator(1)
	now := Epoch.Add(time.Hour)
	g.now = func() time.Time { return now }
	var prev uint64
	for i := range maxSeq + 10 {
		id := g.Next()
		if id <= prev {
			t.Fatalf("id %d at %d not increasing", id, i)
		}
		prev = id
	}
	if got := Time(prev); !got.After(now) {
		t.Fatalf("overflowing ids should borrow the next millisecond, got %v", got)
	}
}

func TestNodesDoNotCollide(t *testing.T) {
	a, _ := NewGenerator(1)
	b, _ := NewGenerator(2)
	now := Epoch.Add(time.Hour)
	a.now = func() time.Time { return now }
	b.now = a.now
	if a.Next() == b.Next() {
		t.Fatal("two nodes produced the same id in the same millisecond")
	}
}

func TestNewGeneratorRejectsBadNode(t *testing.T) {
	for _, n := range []int{-1, MaxNode + 1} {
		if _, err := NewGenerator(n); err == nil {
			t.Errorf("node %d accepted", n)
		}
	}
}

func TestTimeRoundTrip(t *testing.T) {
	g, _ := NewGenerator(3)
	before := time.Now().Add(-time.Millisecond)
	got := Time(g.Next())
	if got.Before(before) || got.After(time.Now().Add(time.Millisecond)) {
		t.Fatalf("Time() = %v, want about now", got)
	}
}

func TestParseMessageID(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{{"1", true}, {"18446744073709551615", true}, {"0", false}, {"-1", false}, {"x", false}, {"", false}, {"18446744073709551616", false}} {
		id, err := ParseMessageID(tc.in)
		if (err == nil) != tc.ok {
			t.Errorf("ParseMessageID(%q) = %d, %v", tc.in, id, err)
		}
		if err == nil && FormatMessageID(id) != tc.in {
			t.Errorf("round trip of %q gave %q", tc.in, FormatMessageID(id))
		}
	}
}

func TestCredentialShapes(t *testing.T) {
	jpush := regexp.MustCompile(`^[0-9a-f]{24}$`)
	if k := AppKey(); !jpush.MatchString(k) {
		t.Errorf("app key %q not 24 letters and digits", k)
	}
	if s := MasterSecret(); !jpush.MatchString(s) {
		t.Errorf("master secret %q not 24 letters and digits", s)
	}
	if r := RegistrationID(); !regexp.MustCompile(`^[0-9a-f]{20}$`).MatchString(r) {
		t.Errorf("registration id %q", r)
	}
	raw, text := Secret(32)
	if len(raw) != 32 || len(text) != 43 {
		t.Errorf("secret: %d raw bytes, %d text chars", len(raw), len(text))
	}
	if AppKey() == AppKey() {
		t.Error("two app keys are equal")
	}
}

func BenchmarkNext(b *testing.B) {
	g, _ := NewGenerator(1)
	b.ReportAllocs()
	for b.Loop() {
		g.Next()
	}
}

func TestFirstAt(t *testing.T) {
	g, _ := NewGenerator(5)
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	g.now = func() time.Time { return at.Add(-time.Millisecond) }
	before := g.Next()
	g.now = func() time.Time { return at }
	atT := g.Next()
	if f := FirstAt(at); !(before < f && f <= atT) {
		t.Fatalf("FirstAt(%v) = %d; an id from 1ms before is %d, one from then %d", at, f, before, atT)
	}
	if FirstAt(Epoch.Add(-time.Hour)) != 0 {
		t.Fatal("a time before Epoch does not give 0")
	}
	// Mid-millisecond: ids of that millisecond may be older than t.
	mid := at.Add(500 * time.Microsecond)
	if f := FirstAt(mid); f <= atT {
		t.Fatalf("FirstAt(%v) = %d includes ids generated before it (%d)", mid, f, atT)
	}
}
