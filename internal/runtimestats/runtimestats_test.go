package runtimestats

import (
	"runtime"
	"testing"
)

func TestRead(t *testing.T) {
	runtime.GC()
	s := Read()
	if s.RSSBytes <= 0 || s.HeapInuseBytes == 0 || s.Goroutines < 1 || s.GCCycles < 1 {
		t.Fatalf("implausible reading %+v", s)
	}
	if s.GCPauseP99Ms < 0 || s.CPUSeconds <= 0 {
		t.Fatalf("implausible GC pause or CPU time: %+v", s)
	}
}

func TestReadHasPauseHistograms(t *testing.T) {
	before := Read()
	runtime.GC()
	runtime.GC()
	after := Read()
	var n, stopping float64
	for _, b := range after.GCPauses {
		n += b[1]
	}
	for _, b := range after.GCStopping {
		stopping += b[1]
	}
	if n < 2 || stopping < 2 {
		t.Fatalf("pauses %v, stopping %v after two GCs", after.GCPauses, after.GCStopping)
	}
	if p := PauseP99(before.GCPauses, after.GCPauses); p <= 0 {
		t.Fatalf("p99 of the pauses of two GCs = %v", p)
	}
}

func TestPauseP99(t *testing.T) {
	ms := func(f float64) float64 { return f / 1000 }
	for _, tc := range []struct {
		name        string
		before, now Histogram
		want        float64
	}{
		{"none", nil, nil, 0},
		{"since start", nil, Histogram{{ms(0.1), 98}, {ms(0.5), 1}, {ms(8), 1}}, 0.5},
		{"one slow in a hundred", nil, Histogram{{ms(0.1), 99}, {ms(8), 1}}, 0.1},
		{"two slow in a hundred", nil, Histogram{{ms(0.1), 98}, {ms(8), 2}}, 8},
		// The slow pauses happened before: between the readings all are fast.
		{"between readings", Histogram{{ms(0.1), 10}, {ms(8), 5}}, Histogram{{ms(0.1), 60}, {ms(8), 5}}, 0.1},
		{"only slow between", Histogram{{ms(0.1), 10}}, Histogram{{ms(0.1), 10}, {ms(4), 3}}, 4},
		{"nothing between", Histogram{{ms(0.1), 10}}, Histogram{{ms(0.1), 10}}, 0},
	} {
		if got := PauseP99(tc.before, tc.now); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}
