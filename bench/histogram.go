package bench

import (
	"math/bits"
	"sync/atomic"
	"time"
)

// Histogram bucket layout, HDR-like: values are microseconds; values below
// 2×subBuckets are exact, above that every power of two is split into
// subBuckets buckets, so a value read back is within 1/subBuckets (0.8%) of
// the recorded one.
const (
	subBits    = 7
	subBuckets = 1 << subBits
	// maxMicros is the largest value told apart (about 12.7 days); larger
	// values count as it.
	maxMicros = 1<<40 - 1
	// histogramBuckets is the bucket index of maxMicros, plus one.
	histogramBuckets = (40-subBits-1)<<subBits + 2*subBuckets
)

// histogram records durations with microsecond resolution in fixed,
// preallocated buckets: recording never allocates, and it is safe for
// concurrent use (atomic adds; on two cores the contention is negligible).
type histogram struct {
	counts [histogramBuckets]atomic.Uint64
	total  atomic.Uint64
	max    atomic.Uint64 // exact, in microseconds
}

// bucketOf returns the bucket index of v microseconds.
func bucketOf(v uint64) int {
	if v > maxMicros {
		v = maxMicros
	}
	if v < 2*subBuckets {
		return int(v)
	}
	shift := bits.Len64(v) - subBits - 1
	return shift<<subBits + int(v>>shift)
}

// bucketBounds returns the smallest and largest value of bucket i.
func bucketBounds(i int) (lo, hi uint64) {
	if i < 2*subBuckets {
		return uint64(i), uint64(i)
	}
	shift := i>>subBits - 1
	top := uint64(i - shift<<subBits)
	return top << shift, (top+1)<<shift - 1
}

// record adds one duration. Negative durations count as zero.
func (h *histogram) record(d time.Duration) {
	us := uint64(max(d.Microseconds(), 0))
	h.counts[bucketOf(us)].Add(1)
	h.total.Add(1)
	for {
		m := h.max.Load()
		if us <= m || h.max.CompareAndSwap(m, us) {
			return
		}
	}
}

// count returns the number of recorded durations.
func (h *histogram) count() uint64 { return h.total.Load() }

// maxValue returns the largest recorded duration, exactly.
func (h *histogram) maxValue() time.Duration {
	return time.Duration(h.max.Load()) * time.Microsecond
}

// quantile returns the duration below or at which a fraction q (0..1) of
// the recorded durations fall: the upper bound of the bucket holding that
// rank, capped at the exact maximum. It is zero when nothing was recorded.
func (h *histogram) quantile(q float64) time.Duration {
	n := h.total.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n) + 0.5)
	rank = min(max(rank, 1), n)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			_, hi := bucketBounds(i)
			return time.Duration(min(hi, h.max.Load())) * time.Microsecond
		}
	}
	return h.maxValue()
}

// merge adds the durations recorded in o to h, as a parent aggregating its
// workers would.
func (h *histogram) merge(o *histogram) {
	for i := range o.counts {
		if c := o.counts[i].Load(); c > 0 {
			h.counts[i].Add(c)
		}
	}
	h.total.Add(o.total.Load())
	for m := o.max.Load(); ; {
		cur := h.max.Load()
		if m <= cur || h.max.CompareAndSwap(cur, m) {
			return
		}
	}
}
