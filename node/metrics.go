package node

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"

	"github.com/heraldpush/herald/actors"
	"github.com/heraldpush/herald/cache"
	"github.com/heraldpush/herald/connector"
	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/dataservice/leveldb"
	"github.com/heraldpush/herald/gateway"
	"github.com/heraldpush/herald/gateway/api"
	"github.com/heraldpush/herald/gateway/webhook"
	"github.com/heraldpush/herald/internal/h2c"
	"github.com/heraldpush/herald/internal/metrics"
	"github.com/prometheus/client_golang/prometheus"
)

// metricsPath is where every process serves its Prometheus metrics: on
// the REST port (admin token) for a gateway and `herald all`, on the
// internal port (cluster token) for a connector and a dataservice; or,
// for a gateway and `herald all` with a metrics address, there without a
// token (docs/operations.md).
const metricsPath = "/metrics"

// Which components' metric sets each kind of process registers.
var (
	dataserviceSets = []prometheus.Collector{dataservice.Metrics()}
	connectorSets   = []prometheus.Collector{connector.Metrics(), actors.ConnectorMetrics(), actors.WriterMetrics()}
	gatewaySets     = []prometheus.Collector{gateway.Metrics(), api.Metrics(), webhook.Metrics(), actors.GatewayMetrics(), actors.WriterMetrics()}
)

// newMetrics returns the /metrics handler of a process: the Go runtime's
// and the process's metrics, the sets of the components it runs and the
// collectors of its own (read at scrape time).
func newMetrics(sets [][]prometheus.Collector, own ...prometheus.Collector) (http.Handler, error) {
	var cs []prometheus.Collector
	seen := map[prometheus.Collector]bool{}
	for _, s := range sets {
		for _, c := range s {
			if !seen[c] { // the writer's set is the connector's and the gateway's
				seen[c] = true
				cs = append(cs, c)
			}
		}
	}
	reg, err := metrics.NewRegistry(append(cs, own...)...)
	if err != nil {
		return nil, err
	}
	return metrics.Handler(reg), nil
}

// withMetrics serves metricsHandler at /metrics to callers whose bearer
// token has the SHA-256 tokenHash, and everything else with h.
func withMetrics(h, metricsHandler http.Handler, tokenHash [32]byte, realm string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != metricsPath {
			h.ServeHTTP(w, r)
			return
		}
		if !bearerMatches(r, tokenHash) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="`+realm+`"`)
			operationsError(w, http.StatusUnauthorized, "unauthorized", metricsPath+" needs Authorization: Bearer <"+realm+" token>")
			return
		}
		metricsHandler.ServeHTTP(w, r)
	})
}

// bearerMatches reports whether r carries a bearer token whose SHA-256 is
// want, comparing in constant time.
func bearerMatches(r *http.Request, want [32]byte) bool {
	token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	got := sha256.Sum256([]byte(token))
	return token != "" && subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// metricsListener serves handler at /metrics, without a token, on addr
// (a separate --metrics listener); it returns nil, nil for an empty addr.
func metricsListener(addr string, handler http.Handler, log *slog.Logger) (*h2c.Server, net.Listener, error) {
	if addr == "" {
		return nil, nil, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, fmt.Errorf("metrics: listen on %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle(metricsPath, handler)
	// A scraper or two: a small cap of its own, so that the metrics port
	// takes none of the REST or device ports' files.
	srv := httpServer(mux, "metrics", ConnCaps{Total: 32, PerAddress: 8}, nil, 0, log)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", "err", err)
		}
	}()
	return srv, ln, nil
}

// cacheCollector reads a cache's counters at scrape time: hits per tier
// and misses, entries, bytes, evictions per tier, invalidations.
type cacheCollector struct {
	stats func() cache.Stats
}

var (
	cacheHitsDesc = prometheus.NewDesc("herald_cache_hits_total",
		"Cache reads that found a value, by tier (memory, spill: the local LevelDB).", []string{"tier"}, nil)
	cacheMissesDesc = prometheus.NewDesc("herald_cache_misses_total",
		"Cache reads that found nothing in either tier (the store was read).", nil, nil)
	cacheEntriesDesc = prometheus.NewDesc("herald_cache_entries",
		"Entries held, by tier.", []string{"tier"}, nil)
	cacheBytesDesc = prometheus.NewDesc("herald_cache_bytes",
		"Accounted bytes held, by tier.", []string{"tier"}, nil)
	cacheEvictionsDesc = prometheus.NewDesc("herald_cache_evictions_total",
		"Entries pushed out for room, by tier (from memory they move to the spill tier).", []string{"tier"}, nil)
	cacheInvalidationsDesc = prometheus.NewDesc("herald_cache_invalidations_total",
		"Entries dropped because their record was written.", nil, nil)
)

func (c cacheCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{cacheHitsDesc, cacheMissesDesc, cacheEntriesDesc, cacheBytesDesc, cacheEvictionsDesc, cacheInvalidationsDesc} {
		ch <- d
	}
}

func (c cacheCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v), labels...)
	}
	counter(cacheHitsDesc, s.Hits-s.SpillHits, "memory")
	counter(cacheHitsDesc, s.SpillHits, "spill")
	counter(cacheMissesDesc, s.Misses)
	gauge(cacheEntriesDesc, s.Entries, "memory")
	gauge(cacheEntriesDesc, s.SpillEntries, "spill")
	gauge(cacheBytesDesc, s.Bytes, "memory")
	gauge(cacheBytesDesc, s.SpillBytes, "spill")
	counter(cacheEvictionsDesc, s.Evictions, "memory")
	counter(cacheEvictionsDesc, s.SpillEvictions, "spill")
	counter(cacheInvalidationsDesc, s.Invalidations)
}

// cacheMetrics returns the collector of c's figures.
func cacheMetrics(c cache.Cache) []prometheus.Collector {
	return []prometheus.Collector{cacheCollector{stats: c.Stats}}
}

// addrOf returns ln's address, or nil for a nil ln.
func addrOf(ln net.Listener) net.Addr {
	if ln == nil {
		return nil
	}
	return ln.Addr()
}

// connectorMetrics are a connector's figures read at scrape time.
func connectorMetrics(c *connector.Connector) []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "herald_connector_connections",
			Help: "Device connections open, handshaking ones included."},
			func() float64 { return float64(c.Stats().Connections) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "herald_connector_devices",
			Help: "Devices with an actor here: connected or within their grace period."},
			func() float64 { return float64(c.Stats().Devices) }),
	}
}

// levelDBMetrics are an embedded store's figures read at scrape time, if
// store is LevelDB.
func levelDBMetrics(store dataservice.Store) []prometheus.Collector {
	s, ok := store.(interface{ Stats() leveldb.Stats })
	if !ok {
		return nil
	}
	return []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "herald_leveldb_write_delays_total",
			Help: "Writes LevelDB slowed down because level 0 held too many tables."},
			func() float64 { return float64(s.Stats().WriteDelays) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "herald_leveldb_write_delay_seconds_total",
			Help: "Time writes spent slowed down by LevelDB."},
			func() float64 { return s.Stats().WriteDelay.Seconds() }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "herald_leveldb_write_paused",
			Help: "1 while LevelDB stops writes until compaction catches up."},
			func() float64 {
				if s.Stats().WritePaused {
					return 1
				}
				return 0
			}),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "herald_leveldb_compactions_total",
			Help: "LevelDB compactions."},
			func() float64 { return float64(s.Stats().Compactions) }),
	}
}
