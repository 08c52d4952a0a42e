package connector

import (
	"testing"
	"time"
)

func TestTrimmerTrimsOnceAfterAQuietBurst(t *testing.T) {
	type step struct {
		churn int   // connections opened or closed before this tick
		open  int   // connections open at this tick
		want  bool  // a trim starts
		now   int64 // the sweeper's clock
	}
	tests := []struct {
		name  string
		after int64
		steps []step
	}{
		{"a burst, then quiet for the whole delay", 3, []step{
			{churn: 5000, open: 5000, now: 1},
			{now: 2, open: 5000},
			{now: 3, open: 5000},
			{now: 4, open: 5000, want: true},
			{now: 5, open: 5000},
			{now: 60, open: 5000}, // no churn since: nothing to give back
		}},
		{"churn during the delay restarts it", 3, []step{
			{churn: 3000, open: 3000, now: 1},
			{now: 3, open: 3000},
			{churn: 10, open: 3010, now: 4},
			{now: 6, open: 3010},
			{now: 7, open: 3010, want: true},
		}},
		{"a trickle is not worth a collection", 2, []step{
			{churn: 999, open: 999, now: 1},
			{now: 10, open: 999},
		}},
		{"a large connector needs a tenth of its connections to churn", 2, []step{
			{churn: 5000, open: 100000, now: 1},
			{now: 10, open: 100000},
			{churn: 5000, open: 100000, now: 11},
			{now: 13, open: 100000, want: true},
		}},
		{"disabled", 0, []step{
			{churn: 5000, open: 5000, now: 1},
			{now: 100, open: 5000},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			freed := make(chan struct{}, 10)
			tr := &trimmer{after: tt.after, free: func() { freed <- struct{}{} }}
			for i, s := range tt.steps {
				for range s.churn {
					tr.changed()
				}
				if got := tr.tick(s.now, s.open); got != s.want {
					t.Fatalf("step %d (clock %d): trim started %v, want %v", i, s.now, got, s.want)
				}
				if s.want {
					select {
					case <-freed:
					case <-time.After(10 * time.Second):
						t.Fatalf("step %d: the trim never ran", i)
					}
					deadline := time.Now().Add(10 * time.Second)
					for tr.running.Load() { // let it finish before the next tick
						if time.Now().After(deadline) {
							t.Fatalf("step %d: the trim never finished", i)
						}
						time.Sleep(time.Millisecond)
					}
				}
			}
			if len(freed) != 0 {
				t.Fatalf("%d unexpected trims", len(freed))
			}
		})
	}
}

func TestTrimmerNeverRunsTwoTrimsAtOnce(t *testing.T) {
	release := make(chan struct{})
	tr := &trimmer{after: 1, free: func() { <-release }}
	for range 2000 {
		tr.changed()
	}
	tr.tick(1, 2000)
	if !tr.tick(2, 2000) {
		t.Fatal("no trim after a quiet second")
	}
	for range 2000 {
		tr.changed()
	}
	tr.tick(3, 2000)
	if tr.tick(4, 2000) {
		t.Error("a second trim started while the first was running")
	}
	close(release)
}
