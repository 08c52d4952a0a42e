package metrics_test

import (
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/metrics"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Observations on hot paths allocate nothing.
func TestObservationsDoNotAllocate(t *testing.T) {
	s := metrics.NewSet()
	c := s.Counter("test", "things_total", "Things.")
	h := s.Histogram("test", "wait_seconds", "Waits.", metrics.LatencyBuckets)
	v := s.CounterVec("test", "frames_total", "Frames.", "type").With("push")
	start := time.Now()
	if n := testing.AllocsPerRun(100, func() {
		c.Inc()
		v.Add(3)
		h.Observe(0.01)
		h.Since(start)
	}); n != 0 {
		t.Fatalf("an observation allocates %v times", n)
	}
}

func TestSetIsExposed(t *testing.T) {
	s := metrics.NewSet()
	s.Counter("test", "things_total", "Things.").Inc()
	s.CounterVec("test", "frames_total", "Frames.", "type").With("push") // exposed at zero
	reg, err := metrics.NewRegistry(s)
	if err != nil {
		t.Fatal(err)
	}
	want := 1.0
	if !metrics.Enabled {
		want = 0
	}
	if n, err := testutil.GatherAndCount(reg, "herald_test_things_total", "herald_test_frames_total"); err != nil || n != 2 {
		t.Fatalf("gathered %d series (%v), want 2", n, err)
	}
	err = testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP herald_test_things_total Things.
# TYPE herald_test_things_total counter
herald_test_things_total `+map[bool]string{true: "1", false: "0"}[want == 1]+`
`), "herald_test_things_total")
	if err != nil {
		t.Fatal(err)
	}
}

func BenchmarkObserve(b *testing.B) {
	s := metrics.NewSet()
	c := s.Counter("test", "things_total", "Things.")
	h := s.Histogram("test", "wait_seconds", "Waits.", metrics.LatencyBuckets)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Inc()
			h.Observe(0.003)
		}
	})
}
