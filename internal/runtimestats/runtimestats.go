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
	// GCPauses is the distribution of the stop-the-world GC pauses since
	// the process started, and GCStopping that of the part of each pause
	// spent stopping the world (waiting for every thread to stop, which on
	// an overloaded machine is mostly waiting for the CPU): the nonempty
	// buckets, each [upper bound in seconds, count]. Two readings'
	// difference (PauseP99) gives the pauses between them.
	GCPauses   Histogram `json:"gc_pauses,omitempty"`
	GCStopping Histogram `json:"gc_stopping,omitempty"`
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
	}
	s.GCPauses = histogram("/sched/pauses/total/gc:seconds")
	s.GCStopping = histogram("/sched/pauses/stopping/gc:seconds")
	s.GCPauseP99Ms = PauseP99(nil, s.GCPauses)
	s.CPUSeconds = CPUTime().Seconds()
	return s
}

// CPUTime returns the user and system time this process has used, or 0
// if the system does not say.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano()) + time.Duration(ru.Stime.Nano())
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

// Histogram is a distribution of durations: the nonempty buckets, in
// order, each [upper bound in seconds, count]. The last bucket's bound is
// its lower bound when the runtime's was infinite.
type Histogram [][2]float64

// histogram reads a runtime/metrics duration histogram.
func histogram(name string) Histogram {
	sample := []metrics.Sample{{Name: name}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindFloat64Histogram {
		return nil
	}
	h := sample[0].Value.Float64Histogram()
	var out Histogram
	for i, c := range h.Counts {
		if c == 0 {
			continue
		}
		up := h.Buckets[i+1]
		if math.IsInf(up, 1) {
			up = h.Buckets[i]
		}
		out = append(out, [2]float64{up, float64(c)})
	}
	return out
}

// PauseP99 returns, in milliseconds, the 99th percentile (the upper
// bound of its bucket) of the pauses in now that are not in before: the
// pauses between two readings of one process. before may be nil (since
// the process started); zero if there were none.
func PauseP99(before, now Histogram) float64 {
	had := make(map[float64]float64, len(before))
	for _, b := range before {
		had[b[0]] = b[1]
	}
	var total float64
	diff := make(Histogram, 0, len(now))
	for _, b := range now {
		if n := b[1] - had[b[0]]; n > 0 {
			diff = append(diff, [2]float64{b[0], n})
			total += n
		}
	}
	if total == 0 {
		return 0
	}
	want := total - math.Floor(total/100) // the count at or below the 99th percentile
	var seen float64
	for _, b := range diff {
		if seen += b[1]; seen >= want {
			return b[0] * 1000
		}
	}
	return diff[len(diff)-1][0] * 1000
}
