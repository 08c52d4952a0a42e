package bench

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestBucketBoundsHoldTheirValues(t *testing.T) {
	values := []uint64{0, 1, 127, 255, 256, 257, 511, 512, 1000, 12345, 1 << 20, 1<<20 + 1, 123456789, maxMicros}
	for range 1000 {
		values = append(values, rand.Uint64N(maxMicros))
	}
	for _, v := range values {
		i := bucketOf(v)
		if i < 0 || i >= histogramBuckets {
			t.Fatalf("bucketOf(%d) = %d, out of [0, %d)", v, i, histogramBuckets)
		}
		lo, hi := bucketBounds(i)
		if v < lo || v > hi {
			t.Fatalf("%d in bucket %d of bounds [%d, %d]", v, i, lo, hi)
		}
		if width := hi - lo; float64(width) > float64(lo)/subBuckets {
			t.Fatalf("bucket %d [%d, %d] is wider than 1/%d of its values", i, lo, hi, subBuckets)
		}
	}
	if got := bucketOf(maxMicros + 12345); got != histogramBuckets-1 {
		t.Fatalf("values past the range go to bucket %d, want the last, %d", got, histogramBuckets-1)
	}
}

func TestBucketsAreContiguous(t *testing.T) {
	_, prevHi := bucketBounds(0)
	for i := 1; i < histogramBuckets; i++ {
		lo, hi := bucketBounds(i)
		if lo != prevHi+1 || hi < lo {
			t.Fatalf("bucket %d is [%d, %d], after one ending at %d", i, lo, hi, prevHi)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d: bucketOf(%d)=%d, bucketOf(%d)=%d", i, lo, bucketOf(lo), hi, bucketOf(hi))
		}
		prevHi = hi
	}
}

func TestQuantiles(t *testing.T) {
	tests := []struct {
		name   string
		values []time.Duration
		q      float64
		want   time.Duration
	}{
		{"empty", nil, 0.99, 0},
		{"one", []time.Duration{5 * time.Millisecond}, 0.5, 5 * time.Millisecond},
		{"one p99", []time.Duration{5 * time.Millisecond}, 0.99, 5 * time.Millisecond},
		{"exact small", []time.Duration{10 * time.Microsecond, 20 * time.Microsecond, 30 * time.Microsecond, 40 * time.Microsecond}, 0.5, 20 * time.Microsecond},
		{"max", []time.Duration{time.Millisecond, 3 * time.Second}, 1, 3 * time.Second},
		{"negative is zero", []time.Duration{-time.Second}, 0.5, 0},
		{"sub-microsecond is zero", []time.Duration{999 * time.Nanosecond}, 0.5, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h histogram
			for _, v := range tt.values {
				h.record(v)
			}
			if got := h.quantile(tt.q); got != tt.want {
				t.Fatalf("quantile(%v) = %v, want %v", tt.q, got, tt.want)
			}
		})
	}
}

func TestQuantilesOfUniformDistributionAreWithinBucketError(t *testing.T) {
	var h histogram
	const n = 100_000
	for i := 1; i <= n; i++ { // 1µs … 100ms, shuffled order does not matter
		h.record(time.Duration(i) * time.Microsecond)
	}
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		want := time.Duration(q*n) * time.Microsecond
		got := h.quantile(q)
		if got < want || float64(got-want) > float64(want)/subBuckets {
			t.Errorf("quantile(%v) = %v, want %v within +%.1f%%", q, got, want, 100.0/subBuckets)
		}
	}
	if h.count() != n || h.maxValue() != n*time.Microsecond {
		t.Fatalf("count %d max %v", h.count(), h.maxValue())
	}
}

func TestMergeAddsHistograms(t *testing.T) {
	var a, b, all histogram
	for i := range 1000 {
		d := time.Duration(rand.IntN(1_000_000)) * time.Microsecond
		all.record(d)
		if i%3 == 0 {
			a.record(d)
		} else {
			b.record(d)
		}
	}
	a.merge(&b)
	for _, q := range []float64{0.01, 0.5, 0.99, 1} {
		if a.quantile(q) != all.quantile(q) {
			t.Fatalf("quantile(%v): merged %v, direct %v", q, a.quantile(q), all.quantile(q))
		}
	}
	if a.count() != all.count() || a.maxValue() != all.maxValue() {
		t.Fatalf("merged count %d max %v, want %d %v", a.count(), a.maxValue(), all.count(), all.maxValue())
	}
}

func TestRecordDoesNotAllocate(t *testing.T) {
	h := new(histogram)
	if n := testing.AllocsPerRun(1000, func() { h.record(1234 * time.Microsecond) }); n != 0 {
		t.Fatalf("record allocates %v times", n)
	}
}

func BenchmarkHistogramRecord(b *testing.B) {
	h := new(histogram)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		d := time.Duration(0)
		for pb.Next() {
			d += 7 * time.Microsecond
			h.record(d)
		}
	})
}
