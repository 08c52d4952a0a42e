package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/dataservice/remote"
	"github.com/heraldpush/herald/dataservice/storespec"
	"github.com/heraldpush/herald/internal/h2c"
	"github.com/heraldpush/herald/internal/health"
	"github.com/prometheus/client_golang/prometheus"
)

// DataserviceConfig configures `herald dataservice`.
type DataserviceConfig struct {
	// Store selects the backend: leveldb:DIR or
	// aerospike://host:port[,host:port]/namespace. Required.
	Store string
	// HTTP is the address served to other components. Empty means
	// 127.0.0.1:8090.
	HTTP string
	// Token is the cluster token. Required.
	Token string
	// HTTPConns caps the connections of the address served. Zero fields
	// take the defaults of the process's file budget (caps.go); negative
	// ones mean no cap.
	HTTPConns ConnCaps
	// BodyTimeout bounds the reading of a request body (the invalidation
	// streams lift it). Zero means h2c.DefaultBodyTimeout.
	BodyTimeout time.Duration
	// Invalidation configures the invalidation stream that keeps the
	// caches of other processes exact. Zero fields take the defaults of
	// dataservice.InvalidationConfig.
	Invalidation dataservice.InvalidationConfig
	// Log receives logs. Nil means slog.Default().
	Log *slog.Logger
}

// DataserviceNode is a running `herald dataservice`.
type DataserviceNode struct {
	store  dataservice.Store
	data   *dataservice.Service
	source *dataservice.Source
	http   *h2c.Server
	ln     net.Listener
	health *health.Checker
}

// StartDataservice opens the store and serves it.
func StartDataservice(cfg DataserviceConfig) (_ *DataserviceNode, err error) {
	if cfg.HTTP == "" {
		cfg.HTTP = "127.0.0.1:8090"
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Token == "" {
		return nil, errors.New("dataservice: a cluster token is required (HERALD_CLUSTER_TOKEN)")
	}
	n := &DataserviceNode{health: newChecker()}
	defer func() {
		if err != nil {
			n.Close(context.Background())
		}
	}()
	if n.store, err = storespec.Open(cfg.Store, storespec.Defaults{
		LevelDBBlockCacheBytes:  storespec.DataserviceBlockCacheBytes,
		LevelDBWriteBufferBytes: storespec.WriteBufferBytes,
		Log:                     cfg.Log,
	}); err != nil {
		return nil, err
	}
	n.health.Add("store", storeReady(n.store))
	n.source = dataservice.NewSource(dataservice.InstrumentStore(n.store), cfg.Invalidation)
	n.data = dataservice.New(n.source)
	srv, err := remote.NewServer(remote.ServerConfig{Token: cfg.Token, Log: cfg.Log}, n.source, n.data, n.source)
	if err != nil {
		return nil, err
	}
	if n.ln, err = net.Listen("tcp", cfg.HTTP); err != nil {
		return nil, fmt.Errorf("dataservice: listen on %s: %w", cfg.HTTP, err)
	}
	mh, err := newMetrics([][]prometheus.Collector{dataserviceSets}, levelDBMetrics(n.store)...)
	if err != nil {
		return nil, err
	}
	limit := openFileLimit()
	httpCaps := cfg.HTTPConns.resolve(defaultBudgets(limit, storeReserve, false).http)
	warnOverLimit(cfg.Log, limit, storeReserve, httpCaps)
	n.http = httpServer(withOperations(srv.Handler(), n.health, cfg.Token, "dataservice", "",
		func() any { return map[string]any{"http": n.http.Conns().Stats()} }, mh),
		"internal", httpCaps, nil, cfg.BodyTimeout, cfg.Log)
	go func() {
		if err := n.http.Serve(n.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			cfg.Log.Error("dataservice http server stopped", "err", err)
		}
	}()
	return n, nil
}

// Addr returns the address served.
func (n *DataserviceNode) Addr() net.Addr { return n.ln.Addr() }

// Close stops serving (calls in progress finish; caching processes are told
// to go elsewhere) and closes the store.
func (n *DataserviceNode) Close(ctx context.Context) error {
	n.health.Drain()
	var errs []error
	if n.source != nil {
		n.source.EndSubscriptions() // invalidation streams never end by themselves
	}
	if n.http != nil {
		errs = append(errs, n.http.Shutdown(ctx))
	}
	if n.data != nil {
		errs = append(errs, flushUntil(ctx, n.data.Flush)) // the day totals summed in memory
	}
	if n.store != nil {
		errs = append(errs, n.store.Close())
	}
	return errors.Join(errs...)
}
