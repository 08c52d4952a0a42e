package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Namespace prefixes every Herald metric name.
const Namespace = "herald"

// Counter is a pre-resolved counter. The zero value discards observations.
type Counter struct{ c prometheus.Counter }

// Inc adds one.
func (c Counter) Inc() {
	if Enabled && c.c != nil {
		c.c.Inc()
	}
}

// Add adds n (n ≥ 0).
func (c Counter) Add(n int) {
	if Enabled && c.c != nil && n > 0 {
		c.c.Add(float64(n))
	}
}

// Gauge is a pre-resolved gauge. The zero value discards observations.
type Gauge struct{ g prometheus.Gauge }

// Add adds n, which may be negative.
func (g Gauge) Add(n int) {
	if Enabled && g.g != nil {
		g.g.Add(float64(n))
	}
}

// Histogram is a pre-resolved histogram. The zero value discards
// observations.
type Histogram struct{ h prometheus.Histogram }

// Observe records v.
func (h Histogram) Observe(v float64) {
	if Enabled && h.h != nil {
		h.h.Observe(v)
	}
}

// Since records the seconds elapsed since start (taken with Now); a zero
// start records nothing.
func (h Histogram) Since(start time.Time) {
	if Enabled && h.h != nil && !start.IsZero() {
		h.h.Observe(time.Since(start).Seconds())
	}
}

// Now returns the time for a later Since: the zero time when metrics are
// disabled, so that a build without them does not read the clock.
func Now() time.Time {
	if Enabled {
		return time.Now()
	}
	return time.Time{}
}

// Buckets of histograms, in seconds for durations.
var (
	// LatencyBuckets suit calls within a process or a data centre: 100 µs
	// to 10 s.
	LatencyBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
	// HTTPBuckets suit REST requests, of which there are many routes: 1 ms
	// to 10 s in 11 buckets.
	HTTPBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 10}
	// DeliveryBuckets suit a message's way from acceptance to a device's
	// ACK, which includes the network to the device: 1 ms to 60 s.
	DeliveryBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}
	// SizeBuckets suit batch sizes: 1 to 16384.
	SizeBuckets = prometheus.ExponentialBuckets(1, 4, 8)
)

// Set is the metrics of one component: a prometheus.Collector that the
// process registers when it runs the component. Metrics are added while
// the package initialises (package-level variables); a Set is not to be
// changed once registered.
type Set struct {
	collectors []prometheus.Collector
}

// NewSet returns an empty Set.
func NewSet() *Set { return &Set{} }

var _ prometheus.Collector = (*Set)(nil)

// Describe implements prometheus.Collector.
func (s *Set) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range s.collectors {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (s *Set) Collect(ch chan<- prometheus.Metric) {
	for _, c := range s.collectors {
		c.Collect(ch)
	}
}

// Add adds a collector of the caller's own (a GaugeFunc, say).
func (s *Set) Add(c prometheus.Collector) { s.collectors = append(s.collectors, c) }

// opts returns the options of the metric subsystem_name with help.
func opts(subsystem, name, help string) prometheus.Opts {
	return prometheus.Opts{Namespace: Namespace, Subsystem: subsystem, Name: name, Help: help}
}

// Counter adds an unlabelled counter.
func (s *Set) Counter(subsystem, name, help string) Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts(opts(subsystem, name, help)))
	s.Add(c)
	return Counter{c}
}

// Gauge adds an unlabelled gauge.
func (s *Set) Gauge(subsystem, name, help string) Gauge {
	g := prometheus.NewGauge(prometheus.GaugeOpts(opts(subsystem, name, help)))
	s.Add(g)
	return Gauge{g}
}

// Histogram adds an unlabelled histogram with buckets.
func (s *Set) Histogram(subsystem, name, help string, buckets []float64) Histogram {
	o := opts(subsystem, name, help)
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: o.Namespace, Subsystem: o.Subsystem, Name: o.Name, Help: o.Help, Buckets: buckets})
	s.Add(h)
	return Histogram{h}
}

// CounterVec adds a counter with labels; Counters resolves its children.
func (s *Set) CounterVec(subsystem, name, help string, labels ...string) *CounterVec {
	v := prometheus.NewCounterVec(prometheus.CounterOpts(opts(subsystem, name, help)), labels)
	s.Add(v)
	return &CounterVec{v}
}

// HistogramVec adds a histogram with labels; With resolves its children.
func (s *Set) HistogramVec(subsystem, name, help string, buckets []float64, labels ...string) *HistogramVec {
	o := opts(subsystem, name, help)
	v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: o.Namespace, Subsystem: o.Subsystem, Name: o.Name, Help: o.Help, Buckets: buckets}, labels)
	s.Add(v)
	return &HistogramVec{v}
}

// CounterVec is a counter with labels. Resolve children once (With) and
// keep them: With looks the label values up.
type CounterVec struct{ v *prometheus.CounterVec }

// With returns the child of the label values, created at zero so that it
// is exposed before its first observation.
func (v *CounterVec) With(values ...string) Counter { return Counter{v.v.WithLabelValues(values...)} }

// HistogramVec is a histogram with labels. Resolve children once (With)
// and keep them.
type HistogramVec struct{ v *prometheus.HistogramVec }

// With returns the child of the label values.
func (v *HistogramVec) With(values ...string) Histogram {
	return Histogram{v.v.WithLabelValues(values...).(prometheus.Histogram)}
}

// GaugeFunc adds a gauge whose value fn returns at each scrape: the cost
// is paid by the scrape, not by the code that changes the value.
func (s *Set) GaugeFunc(subsystem, name, help string, fn func() float64) {
	s.Add(prometheus.NewGaugeFunc(prometheus.GaugeOpts(opts(subsystem, name, help)), fn))
}
