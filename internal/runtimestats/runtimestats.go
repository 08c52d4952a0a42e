// Package runtimestats reads the figures a Herald process reports about
// itself: resident memory, heap, goroutines, GC pauses and CPU time. The
// benchmark driver reads them to say what a result cost.
package runtimestats

import (
	"math"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Stats are one reading.
type Stats struct {
	// RSSBytes is the resident set size of the process.
	RSSBytes int64 `json:"rss_bytes"`
	// HeapInuseBytes is memory in in-use heap spans.
	HeapInuseBytes uint64 `json:"heap_inuse_bytes"`
	// HeapObjectsBytes is memory in live and not yet swept heap objects.
	HeapObjectsBytes uint64 `json:"heap_objects_bytes"`
	// Goroutines is the number of goroutines.
	Goroutines int `json:"goroutines"`
	// GCCycles is the number of completed GC cycles.
	GCCycles uint32 `json:"gc_cycles"`
	// GCPauseP99Ms is the 99th percentile of stop-the-world GC pauses since
	// the process started, in milliseconds.
	GCPauseP99Ms float64 `json:"gc_pause_p99_ms"`
	// CPUSeconds is user plus system CPU time used by the process.
	CPUSeconds float64 `json:"cpu_seconds"`
}

// Read takes a reading. It costs a runtime.ReadMemStats (a short
// stop-the-world): call it on demand, not in hot paths.
func Read() Stats {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	s := Stats{
		RSSBytes:         RSS(),
		HeapInuseBytes:   ms.HeapInuse,
		HeapObjectsBytes: ms.HeapAlloc,
		Goroutines:       runtime.NumGoroutine(),
		GCCycles:         ms.NumGC,
		GCPauseP99Ms:     gcPauseP99() * 1000,
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		s.CPUSeconds = (time.Duration(ru.Utime.Nano()) + time.Duration(ru.Stime.Nano())).Seconds()
	}
	return s
}

// RSS returns the resident set size of this process in bytes, or -1 if
// /proc is not available.
func RSS() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return -1
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return -1
	}
	return pages * int64(os.Getpagesize())
}

func gcPauseP99() float64 {
	sample := []metrics.Sample{{Name: "/sched/pauses/total/gc:seconds"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindFloat64Histogram {
		return 0
	}
	h := sample[0].Value.Float64Histogram()
	var total uint64
	for _, c := range h.Counts {
		total += c
	}
	if total == 0 {
		return 0
	}
	want := total - total/100 // the count at or below the 99th percentile
	var seen uint64
	for i, c := range h.Counts {
		seen += c
		if seen >= want {
			if up := h.Buckets[i+1]; !math.IsInf(up, 1) {
				return up // upper bound of the bucket
			}
			return h.Buckets[i]
		}
	}
	return h.Buckets[len(h.Buckets)-1]
}
