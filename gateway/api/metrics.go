package api

import (
	"net/http"
	"sync"

	"github.com/heraldpush/herald/internal/metrics"
)

// Metrics are the REST API's metrics: requests by route and status class,
// and their durations by route. The route label is the route table's
// method and pattern ("POST /v1/push"), or "unmatched": a bounded set.
func Metrics() *metrics.Set { return set }

var set = metrics.NewSet()

var (
	requests = set.CounterVec("http", "requests_total",
		"REST API requests answered, by route (method and pattern) and status class (2xx, 4xx, 5xx, …).", "route", "code")
	requestSeconds = set.HistogramVec("http", "request_seconds",
		"REST API request durations, until the handler returned, by route.", metrics.HTTPBuckets, "route")
	// unmatched counts requests no route served (unknown paths, wrong
	// methods).
	unmatched = newRouteMetrics("unmatched")
)

// routeMetrics are one route's children, resolved when the mux is built.
type routeMetrics struct {
	byClass [6]metrics.Counter // by status / 100; "other" for 1xx and statuses out of range
	seconds metrics.Histogram
}

var statusClasses = [6]string{"other", "other", "2xx", "3xx", "4xx", "5xx"}

func newRouteMetrics(route string) *routeMetrics {
	m := &routeMetrics{seconds: requestSeconds.With(route)}
	for i, class := range statusClasses {
		m.byClass[i] = requests.With(route, class)
	}
	return m
}

// statusRecorder notes the status a handler answers with.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

var recorders = sync.Pool{New: func() any { return new(statusRecorder) }}

// serve runs h, counting the request and its duration.
func (m *routeMetrics) serve(w http.ResponseWriter, r *http.Request, h func(http.ResponseWriter, *http.Request)) {
	if !metrics.Enabled {
		h(w, r)
		return
	}
	start := metrics.Now()
	rec := recorders.Get().(*statusRecorder)
	rec.ResponseWriter, rec.status = w, 0
	defer func() {
		status := rec.status
		if status == 0 {
			status = http.StatusOK // answered nothing
		}
		class := status / 100
		if class < 1 || class >= len(m.byClass) {
			class = 0
		}
		m.byClass[class].Inc()
		m.seconds.Since(start)
		rec.ResponseWriter = nil
		recorders.Put(rec)
	}()
	h(rec, r)
}
