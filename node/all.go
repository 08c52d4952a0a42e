package node

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/heraldpush/herald/actors"
	"github.com/heraldpush/herald/cache"
	"github.com/heraldpush/herald/connector"
	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/dataservice/leveldb"
	"github.com/heraldpush/herald/dataservice/storespec"
	"github.com/heraldpush/herald/gateway"
	"github.com/heraldpush/herald/gateway/cluster"
	"github.com/heraldpush/herald/internal/h2c"
	"github.com/heraldpush/herald/internal/health"
	"github.com/heraldpush/herald/internal/ids"
	"github.com/heraldpush/herald/portal"
	"github.com/heraldpush/herald/protocol"
	"github.com/prometheus/client_golang/prometheus"
)

// AllConfig configures `herald all`.
type AllConfig struct {
	// DataDir holds the embedded store. Empty means ./herald-data.
	DataDir string
	// Store selects another store than the embedded LevelDB in DataDir:
	// leveldb:DIR or aerospike://host:port[,host:port]/namespace.
	Store string
	// HTTP is the REST API address. Empty means 127.0.0.1:8080.
	HTTP string
	// HTTPConns caps the connections of the REST port (API and portal);
	// the proxies of Gateway.Accounts.TrustedProxies count toward the
	// total only. Zero fields take the defaults of the process's file
	// budget (caps.go), as do the zero caps of Connector
	// (MaxConnections, MaxConnectionsPerAddress); negative ones mean no
	// cap.
	HTTPConns ConnCaps
	// BodyTimeout bounds the reading of a request body on the REST port.
	// Zero means h2c.DefaultBodyTimeout.
	BodyTimeout time.Duration
	// AdminToken guards admin endpoints. Empty means: use the token stored
	// on first start, or generate one then (see AllNode.NewAdminToken).
	AdminToken string
	// Metrics, if not empty, is an address where /metrics is served
	// without a token (beside /metrics on the REST port, which needs the
	// admin token). Bind it where only Prometheus reaches it.
	Metrics string
	// Node numbers this process in message ids (0..1023).
	Node int
	// Connector configures the device listener (its Listen defaults to
	// 127.0.0.1:7100).
	Connector connector.Config
	// Gateway configures the REST API.
	Gateway gateway.Config
	// Portal configures the portal served at /portal/ on the REST port;
	// its Gateway and Transport are set by StartAll (it calls this
	// process's gateway in process).
	Portal portal.Config
	// Cache configures the cache of records read. Zero fields take
	// cache.DefaultConfig's.
	Cache cache.Config
	// Log receives logs. Nil means slog.Default().
	Log *slog.Logger
}

// AllNode is a running `herald all`.
type AllNode struct {
	// NewAdminToken is set when this start generated the admin token: it is
	// shown once and only its hash is stored.
	NewAdminToken string
	// ServerKey is the Noise static public key devices pin.
	ServerKey []byte

	log     *slog.Logger
	store   dataservice.Store
	data    *dataservice.Service
	cache   *cache.Tiered
	system  *actor.ActorSystem
	writer  *actors.Writer
	conn    *connector.Connector
	gw      *gateway.Gateway
	http    *h2c.Server
	httpLn  net.Listener
	health  *health.Checker
	dataDir string

	metrics   *h2c.Server // the --metrics listener, if any
	metricsLn net.Listener
}

// Config names of cluster-wide settings in the store.
const (
	configNoiseKey   = "noise_static_key"
	configAdminToken = "admin_token_sha256"
)

// StartAll starts every component in this process.
func StartAll(cfg AllConfig) (_ *AllNode, err error) {
	if cfg.DataDir == "" {
		cfg.DataDir = "herald-data"
	}
	if cfg.HTTP == "" {
		cfg.HTTP = "127.0.0.1:8080"
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	n := &AllNode{log: cfg.Log, dataDir: cfg.DataDir, health: newChecker()}
	defer func() {
		if err != nil {
			n.Close(context.Background())
		}
	}()

	data, err := n.openData(cfg)
	if err != nil {
		return nil, err
	}
	n.health.Add("store", storeReady(n.store))
	ctx := context.Background()

	key, err := loadNoiseKey(ctx, data)
	if err != nil {
		return nil, err
	}
	n.ServerKey = key.Public
	adminHash, newToken, err := adminTokenHash(ctx, data, cfg.AdminToken)
	if err != nil {
		return nil, err
	}
	n.NewAdminToken = newToken
	gen, err := ids.NewGenerator(cfg.Node)
	if err != nil {
		return nil, err
	}

	n.system = newActorSystem(cfg.Log)
	// Dense writes (sessions, ACKs, receipts) are batched by one writer.
	n.writer = actors.NewWriter(n.system, actors.WriterConfig{Name: "all"}, data, cfg.Log)

	limit := openFileLimit()
	def := defaultBudgets(limit, storeReserve, true)
	httpCaps := cfg.HTTPConns.resolve(def.http)
	ccfg := cfg.Connector
	ccfg.Log = cfg.Log
	device := ConnCaps{Total: ccfg.MaxConnections, PerAddress: ccfg.MaxConnectionsPerAddress}.resolve(def.device)
	ccfg.MaxConnections, ccfg.MaxConnectionsPerAddress = device.Total, device.PerAddress
	warnOverLimit(cfg.Log, limit, storeReserve, httpCaps, device)
	n.conn = connector.New(ccfg, n.system, n.writer, n.writer, key)
	if err := n.conn.Start(); err != nil {
		return nil, err
	}

	gcfg := cfg.Gateway
	gcfg.AdminTokenHash = adminHash
	gcfg.Log = cfg.Log
	n.gw = gateway.New(gcfg, gateway.Deps{
		Data: data, Cluster: &cluster.Local{Conn: n.conn, ServerKey: key.Public}, Receipts: n.writer,
		IDs: gen, System: n.system, Stats: n.stats, Health: n.health,
	})
	if n.httpLn, err = net.Listen("tcp", cfg.HTTP); err != nil {
		return nil, fmt.Errorf("http: listen on %s: %w", cfg.HTTP, err)
	}
	api := n.gw.Handler()
	pcfg := cfg.Portal
	pcfg.Gateway = "http://" + n.httpLn.Addr().String()
	pcfg.Transport = portal.HandlerTransport(api)
	pcfg.Log = cfg.Log
	pt, err := portal.New(pcfg)
	if err != nil {
		return nil, err
	}
	own := append(append(cacheMetrics(n.cache), connectorMetrics(n.conn)...), levelDBMetrics(n.store)...)
	mh, err := newMetrics([][]prometheus.Collector{dataserviceSets, connectorSets, gatewaySets}, own...)
	if err != nil {
		return nil, err
	}
	n.http = httpServer(withMetrics(withPortal(api, pt), mh, adminHash, "admin"), "rest", httpCaps, cfg.Gateway.Accounts.TrustedProxies, cfg.BodyTimeout, cfg.Log)
	if n.metrics, n.metricsLn, err = metricsListener(cfg.Metrics, mh, cfg.Log); err != nil {
		return nil, err
	}
	n.http.RegisterOnShutdown(pt.Close) // live funnels do not hold the shutdown
	go func() {
		if err := n.http.Serve(n.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
			cfg.Log.Error("http server stopped", "err", err)
		}
	}()
	return n, nil
}

// openData returns the dataservice of this process, on a store of its own.
func (n *AllNode) openData(cfg AllConfig) (dataservice.Client, error) {
	spec := cfg.Store
	if spec == "" {
		spec = "leveldb:" + filepath.Join(cfg.DataDir, "store")
	}
	var err error
	if n.store, err = storespec.Open(spec, storespec.Defaults{
		LevelDBBlockCacheBytes:  storespec.AllBlockCacheBytes,
		LevelDBWriteBufferBytes: storespec.WriteBufferBytes,
		Log:                     cfg.Log,
	}); err != nil {
		return nil, err
	}
	// Reads of apps, devices, sessions and message bodies go through a
	// cache; every write in this process goes through it too, so it
	// invalidates what it writes and needs no invalidation stream.
	if n.cache, err = cache.New(cfg.Cache); err != nil {
		return nil, err
	}
	n.data = dataservice.New(dataservice.NewCachedStore(dataservice.InstrumentStore(n.store), n.cache, 0, nil))
	return n.data, nil
}

// stats are the figures of the components, for the admin runtime report.
func (n *AllNode) stats() any {
	out := map[string]any{"connector": n.conn.Stats(), "http": n.http.Conns().Stats()}
	if s, ok := n.store.(interface{ Stats() leveldb.Stats }); ok {
		out["store"] = s.Stats()
	}
	if n.cache != nil {
		out["cache"] = n.cache.Stats()
	}
	return out
}

// HTTPAddr returns the REST API address.
func (n *AllNode) HTTPAddr() net.Addr { return n.httpLn.Addr() }

// MetricsAddr returns the address of the separate metrics listener, or
// nil without one.
func (n *AllNode) MetricsAddr() net.Addr { return addrOf(n.metricsLn) }

// DeviceAddr returns the device listener address.
func (n *AllNode) DeviceAddr() net.Addr { return n.conn.Addr() }

// DataDir returns the data directory.
func (n *AllNode) DataDir() string { return n.dataDir }

// Close shuts down in the order that loses nothing: stop taking API
// requests, drain devices (their state is saved), write pending delivery
// counters, then close the store.
func (n *AllNode) Close(ctx context.Context) error {
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
	if n.conn != nil {
		errs = append(errs, n.conn.Shutdown(ctx))
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
	if n.data != nil {
		errs = append(errs, flushUntil(ctx, n.data.Flush)) // the day totals summed in memory
	}
	if n.cache != nil {
		errs = append(errs, n.cache.Close())
	}
	if n.store != nil {
		errs = append(errs, n.store.Close())
	}
	return errors.Join(errs...)
}

// loadNoiseKey returns the cluster's Noise static keypair, creating it on
// first start.
func loadNoiseKey(ctx context.Context, data dataservice.ConfigStore) (protocol.Keypair, error) {
	fresh, err := protocol.GenerateKeypair(rand.Reader)
	if err != nil {
		return protocol.Keypair{}, err
	}
	v, err := data.EnsureConfig(ctx, configNoiseKey, append(append([]byte{}, fresh.Private...), fresh.Public...))
	if err != nil {
		return protocol.Keypair{}, err
	}
	if len(v) != 64 {
		return protocol.Keypair{}, fmt.Errorf("stored noise key has %d bytes, want 64", len(v))
	}
	return protocol.Keypair{Private: v[:32], Public: v[32:]}, nil
}

// adminTokenHash returns the hash of the admin token: of the configured
// one, else of the one stored on first start, else of a new one, which it
// returns too, to be shown once.
func adminTokenHash(ctx context.Context, data dataservice.ConfigStore, configured string) (hash [32]byte, newToken string, err error) {
	if configured != "" {
		return sha256.Sum256([]byte(configured)), "", nil
	}
	token := rand.Text()
	want := sha256.Sum256([]byte(token))
	v, err := data.EnsureConfig(ctx, configAdminToken, want[:])
	if err != nil {
		return hash, "", err
	}
	if len(v) != len(hash) {
		return hash, "", fmt.Errorf("stored admin token hash has %d bytes, want %d", len(v), len(hash))
	}
	copy(hash[:], v)
	if hash == want {
		newToken = token
	}
	return hash, newToken, nil
}

// newActorSystem returns the actor system of a process, logging through
// log.
func newActorSystem(log *slog.Logger) *actor.ActorSystem {
	system := actor.NewActorSystemWithConfig(actor.Configure(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger {
		return quietActorLogs(log)
	})))
	actors.CompactRegistry(system)
	return system
}
