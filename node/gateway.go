package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/heraldpush/herald/actors"
	"github.com/heraldpush/herald/cache"
	"github.com/heraldpush/herald/dataservice/remote"
	"github.com/heraldpush/herald/gateway"
	"github.com/heraldpush/herald/gateway/cluster"
	"github.com/heraldpush/herald/internal/h2c"
	"github.com/heraldpush/herald/internal/health"
	"github.com/heraldpush/herald/internal/ids"
	"github.com/prometheus/client_golang/prometheus"
)

// GatewayConfig configures `herald gateway`.
type GatewayConfig struct {
	// Dataservice lists the URLs of dataservice instances. Required.
	Dataservice []string
	// ClusterToken authenticates calls between components. Required.
	ClusterToken string
	// HTTP is the REST API address. Empty means 127.0.0.1:8080.
	HTTP string
	// HTTPConns caps the REST port's connections; the proxies of
	// Gateway.Accounts.TrustedProxies count toward the total only. Zero
	// fields take the defaults of the process's file budget (caps.go);
	// negative ones mean no cap.
	HTTPConns ConnCaps
	// BodyTimeout bounds the reading of a request body. Zero means
	// h2c.DefaultBodyTimeout.
	BodyTimeout time.Duration
	// AdminToken guards admin endpoints. Empty means: use the token stored
	// on first start of the cluster, or generate one then.
	AdminToken string
	// Node numbers this process in message ids (0..1023); every gateway of
	// a cluster needs its own. The gateway claims it in the dataservice
	// before it serves (nodeclaim.go) and fails to start while another
	// gateway holds it.
	Node int
	// NodeClaimTTL is how long the node claim lasts unrenewed. Zero means
	// NodeClaimTTL.
	NodeClaimTTL time.Duration
	// Gateway configures the REST API.
	Gateway gateway.Config
	// Metrics, if not empty, is an address where /metrics is served
	// without a token (beside /metrics on the REST port, which needs the
	// admin token). Bind it where only Prometheus reaches it.
	Metrics string
	// Refresh is how often the connector registry is read. Zero means 1s.
	Refresh time.Duration
	// Cache configures the cache of records read. Zero fields take
	// cache.DefaultConfig's.
	Cache cache.Config
	// Log receives logs. Nil means slog.Default().
	Log *slog.Logger
}

// GatewayNode is a running `herald gateway`.
type GatewayNode struct {
	// NewAdminToken is set when this start generated the admin token.
	NewAdminToken string

	data    *remote.Client
	system  *actor.ActorSystem
	writer  *actors.Writer
	cluster *cluster.Remote
	gw      *gateway.Gateway
	http    *h2c.Server
	ln      net.Listener
	claim   *nodeClaim
	health  *health.Checker

	metrics   *h2c.Server // the --metrics listener, if any
	metricsLn net.Listener

	closed   sync.Once
	closeErr error
}

// StartGateway starts a REST API over dataservice instances, reaching
// devices through the connectors in the registry.
func StartGateway(cfg GatewayConfig) (_ *GatewayNode, err error) {
	if cfg.HTTP == "" {
		cfg.HTTP = "127.0.0.1:8080"
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if len(cfg.Dataservice) == 0 || cfg.ClusterToken == "" {
		return nil, errors.New("gateway: dataservice URLs and a cluster token (HERALD_CLUSTER_TOKEN) are required")
	}
	n := &GatewayNode{health: newChecker()}
	defer func() {
		if err != nil {
			n.Close(context.Background())
		}
	}()
	gen, err := ids.NewGenerator(cfg.Node)
	if err != nil {
		return nil, err
	}
	if n.data, err = remote.Dial(remote.ClientConfig{URLs: cfg.Dataservice, Token: cfg.ClusterToken, Cache: cfg.Cache, Log: cfg.Log}); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	key, err := loadNoiseKey(ctx, n.data)
	if err != nil {
		return nil, fmt.Errorf("gateway: reading the cluster key from dataservice: %w", err)
	}
	adminHash, newToken, err := adminTokenHash(ctx, n.data, cfg.AdminToken)
	if err != nil {
		return nil, err
	}
	n.NewAdminToken = newToken
	if cfg.NodeClaimTTL <= 0 {
		cfg.NodeClaimTTL = NodeClaimTTL
	}
	if n.claim, err = claimNode(ctx, n.data, cfg.Node, cfg.NodeClaimTTL, cfg.Log); err != nil {
		return nil, err
	}

	n.system = newActorSystem(cfg.Log)
	n.writer = actors.NewWriter(n.system, actors.WriterConfig{Name: writerName(fmt.Sprint("gateway-", cfg.Node))}, n.data, cfg.Log)
	n.cluster = cluster.NewRemote(ctx, cluster.RemoteConfig{
		Registry:  n.data,
		Token:     cfg.ClusterToken,
		Transport: h2c.NewTransport(),
		ServerKey: key.Public,
		Refresh:   cfg.Refresh,
		Log:       cfg.Log,
	})
	gcfg := cfg.Gateway
	gcfg.AdminTokenHash = adminHash
	gcfg.Log = cfg.Log
	n.health.Add("dataservice", n.data.Ready)
	n.health.Add("connectors", func(context.Context) error {
		if len(n.cluster.Members()) == 0 {
			return errNoConnector
		}
		return nil
	})
	n.gw = gateway.New(gcfg, gateway.Deps{Data: n.data, Cluster: n.cluster, Receipts: n.writer, IDs: gen, System: n.system, Stats: n.stats,
		Health: n.health})
	if n.ln, err = net.Listen("tcp", cfg.HTTP); err != nil {
		return nil, fmt.Errorf("gateway: listen on %s: %w", cfg.HTTP, err)
	}
	mh, err := newMetrics([][]prometheus.Collector{gatewaySets}, cacheMetrics(n.data.Cache())...)
	if err != nil {
		return nil, err
	}
	limit := openFileLimit()
	httpCaps := cfg.HTTPConns.resolve(defaultBudgets(limit, plainReserve, false).http)
	warnOverLimit(cfg.Log, limit, plainReserve, httpCaps)
	n.http = httpServer(withMetrics(n.gw.Handler(), mh, adminHash, "admin"), "rest", httpCaps, cfg.Gateway.Accounts.TrustedProxies, cfg.BodyTimeout, cfg.Log)
	if n.metrics, n.metricsLn, err = metricsListener(cfg.Metrics, mh, cfg.Log); err != nil {
		return nil, err
	}
	go func() {
		if err := n.http.Serve(n.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			cfg.Log.Error("http server stopped", "err", err)
		}
	}()
	return n, nil
}

// stats are the figures of the components, for the admin runtime report.
func (n *GatewayNode) stats() any {
	return map[string]any{"connectors": n.cluster.Members(), "cache": n.data.Cache().Stats(), "http": n.http.Conns().Stats(),
		"node": map[string]any{"number": n.claim.node, "owner": n.claim.owner}}
}

// HTTPAddr returns the REST API address.
func (n *GatewayNode) HTTPAddr() net.Addr { return n.ln.Addr() }

// MetricsAddr returns the address of the separate metrics listener, or
// nil without one.
func (n *GatewayNode) MetricsAddr() net.Addr { return addrOf(n.metricsLn) }

// Failed gets an error if the gateway must stop: another gateway took its
// node number while it could not renew its claim.
func (n *GatewayNode) Failed() <-chan error { return n.claim.Failed() }

// Close stops taking requests, writes pending delivery counters and stops.
// Calling it again returns the first call's result.
func (n *GatewayNode) Close(ctx context.Context) error {
	n.closed.Do(func() { n.closeErr = n.close(ctx) })
	return n.closeErr
}

func (n *GatewayNode) close(ctx context.Context) error {
	n.health.Drain()
	var errs []error
	if n.http != nil {
		errs = append(errs, n.http.Shutdown(ctx))
	}
	if n.metrics != nil {
		errs = append(errs, n.metrics.Shutdown(ctx))
	}
	if n.gw != nil {
		n.gw.Close()
	}
	if n.cluster != nil {
		n.cluster.Close()
	}
	if n.writer != nil {
		errs = append(errs, n.writer.Flush(ctx))
	}
	if n.system != nil {
		n.system.Shutdown()
	}
	if n.writer != nil {
		n.writer.Close()
	}
	if n.claim != nil {
		errs = append(errs, n.claim.release(ctx))
	}
	if n.data != nil {
		errs = append(errs, n.data.Close())
	}
	return errors.Join(errs...)
}
