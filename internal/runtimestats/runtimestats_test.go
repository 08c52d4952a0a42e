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
