package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/heraldpush/herald/actors"
	"github.com/heraldpush/herald/cache"
	"github.com/heraldpush/herald/connector"
	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/dataservice/remote"
	"github.com/heraldpush/herald/internal/h2c"
	"github.com/heraldpush/herald/internal/health"
	"github.com/prometheus/client_golang/prometheus"
)

// ConnectorConfig configures `herald connector`.
type ConnectorConfig struct {
	// ID names this connector in the registry and in sessions. Empty means
	// a new random one each start: sessions of an earlier run then point
	// to a connector that no longer exists, which is the truth.
	ID string
	// Dataservice lists the URLs of dataservice instances. Required.
	Dataservice []string
	// ClusterToken authenticates calls between components. Required.
	ClusterToken string
	// HTTP is the address of the internal API gateways call. Empty means
	// 127.0.0.1:7190.
	HTTP string
	// InternalURL is the URL gateways use to reach the internal API. Empty
	// means http:// and the address actually listened on.
	InternalURL string
	// HTTPConns caps the internal API's connections. Zero fields take the
	// defaults of the process's file budget (caps.go), as do the zero
	// caps of Connector (MaxConnections, MaxConnectionsPerAddress);
	// negative ones mean no cap.
	HTTPConns ConnCaps
	// BodyTimeout bounds the reading of a request body on the internal
	// API. Zero means h2c.DefaultBodyTimeout.
	BodyTimeout time.Duration
	// Connector configures the device listener (Listen defaults to
	// 127.0.0.1:7100; Advertise is what dispatch gives devices).
	Connector connector.Config
	// Announce is how often the connector refreshes its registry entry,
	// which lives 3×Announce. Zero means 3s.
	Announce time.Duration
	// Cache configures the cache of records read. A zero MaxBytes means
	// ConnectorCacheBytes; other zero fields take cache.DefaultConfig's.
	Cache cache.Config
	// Log receives logs. Nil means slog.Default().
	Log *slog.Logger
}

// ConnectorCacheBytes is a connector's default cache budget. A connector
// reads a device's record once per connection (to authenticate it), so
// its cache needs to span quick reconnects and the bodies of messages
// being delivered, not every connected device: at cache.DefaultMaxBytes it
// kept every device's record, about 230 bytes per connection.
const ConnectorCacheBytes = 1 << 20

// ConnectorNode is a running `herald connector`.
type ConnectorNode struct {
	cfg    ConnectorConfig
	log    *slog.Logger
	data   *remote.Client
	system *actor.ActorSystem
	writer *actors.Writer
	conn   *connector.Connector
	http   *h2c.Server
	ln     net.Listener
	info   dataservice.ConnectorInfo
	health *health.Checker
	// announceErr is why the latest announcement failed; nil after one
	// that succeeded.
	announceErr atomic.Pointer[error]
	stop        chan struct{}
	announce    chan struct{} // closed when the announce loop has ended
	closed      sync.Once
	closeErr    error
}

// StartConnector starts a connector that serves devices, takes deliveries
// from gateways and announces itself in the registry.
func StartConnector(cfg ConnectorConfig) (_ *ConnectorNode, err error) {
	if cfg.HTTP == "" {
		cfg.HTTP = "127.0.0.1:7190"
	}
	if cfg.Announce <= 0 {
		cfg.Announce = 3 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Cache.MaxBytes == 0 {
		cfg.Cache.MaxBytes = ConnectorCacheBytes
	}
	if cfg.ID == "" {
		cfg.ID = "c-" + strings.ToLower(rand.Text()[:10])
	}
	if len(cfg.Dataservice) == 0 || cfg.ClusterToken == "" {
		return nil, errors.New("connector: dataservice URLs and a cluster token (HERALD_CLUSTER_TOKEN) are required")
	}
	cfg.Log = cfg.Log.With("connector", cfg.ID)
	n := &ConnectorNode{cfg: cfg, log: cfg.Log, stop: make(chan struct{}), health: newChecker()}
	defer func() {
		if err != nil {
			n.Close(context.Background())
		}
	}()
	if n.data, err = remote.Dial(remote.ClientConfig{URLs: cfg.Dataservice, Token: cfg.ClusterToken, Cache: cfg.Cache, Log: cfg.Log}); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	key, err := loadNoiseKey(ctx, n.data)
	if err != nil {
		return nil, fmt.Errorf("connector: reading the cluster key from dataservice: %w", err)
	}

	n.system = newActorSystem(cfg.Log)
	n.writer = actors.NewWriter(n.system, actors.WriterConfig{Name: writerName("connector-" + cfg.ID)}, n.data, cfg.Log)
	limit := openFileLimit()
	def := defaultBudgets(limit, plainReserve, true)
	httpCaps := cfg.HTTPConns.resolve(def.http)
	ccfg := cfg.Connector
	ccfg.Settings.ConnectorID = cfg.ID
	ccfg.Log = cfg.Log
	device := ConnCaps{Total: ccfg.MaxConnections, PerAddress: ccfg.MaxConnectionsPerAddress}.resolve(def.device)
	ccfg.MaxConnections, ccfg.MaxConnectionsPerAddress = device.Total, device.PerAddress
	warnOverLimit(cfg.Log, limit, plainReserve, httpCaps, device)
	n.conn = connector.New(ccfg, n.system, n.writer, n.writer, key)
	if err := n.conn.Start(); err != nil {
		return nil, err
	}

	if n.ln, err = net.Listen("tcp", cfg.HTTP); err != nil {
		return nil, fmt.Errorf("connector: listen on %s: %w", cfg.HTTP, err)
	}
	n.health.Add("dataservice", n.data.Ready)
	n.health.Add("registry", func(context.Context) error {
		if err := n.announceErr.Load(); err != nil {
			return fmt.Errorf("the connector cannot announce itself; gateways drop it once its entry expires: %w", *err)
		}
		return nil
	})
	mh, err := newMetrics([][]prometheus.Collector{connectorSets}, append(connectorMetrics(n.conn), cacheMetrics(n.data.Cache())...)...)
	if err != nil {
		return nil, err
	}
	n.http = httpServer(withOperations(n.conn.InternalHandler(cfg.ClusterToken), n.health, cfg.ClusterToken, "connector", cfg.ID,
		func() any { return map[string]any{"connector": n.conn.Stats(), "http": n.http.Conns().Stats()} }, mh),
		"internal", httpCaps, nil, cfg.BodyTimeout, cfg.Log)
	go func() {
		if err := n.http.Serve(n.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			cfg.Log.Error("internal http server stopped", "err", err)
		}
	}()

	internal := cfg.InternalURL
	if internal == "" {
		internal = "http://" + n.ln.Addr().String()
	}
	n.info = dataservice.ConnectorInfo{ID: cfg.ID, Device: n.conn.Advertised(), Internal: internal, Heartbeat: n.conn.Heartbeat()}
	// Announce before returning: once started, gateways can find it.
	if err := n.put(ctx); err != nil {
		return nil, fmt.Errorf("connector: announcing itself: %w", err)
	}
	n.announce = make(chan struct{})
	go n.announceLoop()
	return n, nil
}

// put writes the registry entry with the current load.
func (n *ConnectorNode) put(ctx context.Context) error {
	info := n.info
	info.Connections = n.conn.Stats().Connections
	info.Updated = time.Now().UTC()
	return n.data.PutConnector(ctx, info, 3*n.cfg.Announce)
}

func (n *ConnectorNode) announceLoop() {
	defer close(n.announce)
	t := time.NewTicker(n.cfg.Announce)
	defer t.Stop()
	failing := false
	alive := time.Now().Add(3 * n.cfg.Announce) // when the entry written last expires
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
		}
		// A slow store gets until the entry expires, and at least an
		// interval: giving up sooner would drop a live connector.
		deadline := time.Now().Add(n.cfg.Announce)
		if alive.After(deadline) {
			deadline = alive
		}
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		start := time.Now()
		err := n.put(ctx)
		cancel()
		if err == nil {
			alive = start.Add(3 * n.cfg.Announce)
			n.announceErr.Store(nil)
		} else {
			n.announceErr.Store(&err)
		}
		switch {
		case err != nil && !failing:
			n.log.Warn("announcing the connector; gateways drop it if this lasts", "err", err)
		case err == nil && failing:
			n.log.Info("connector announced again")
		}
		failing = err != nil
	}
}

// ID returns the connector's id.
func (n *ConnectorNode) ID() string { return n.cfg.ID }

// DeviceAddr returns the device listener address.
func (n *ConnectorNode) DeviceAddr() net.Addr { return n.conn.Addr() }

// Stats returns the connector's current figures.
func (n *ConnectorNode) Stats() connector.Stats { return n.conn.Stats() }

// InternalAddr returns the internal API address.
func (n *ConnectorNode) InternalAddr() net.Addr { return n.ln.Addr() }

// Close withdraws the connector from the registry (gateways stop sending
// devices and deliveries here), drains its devices (they reconnect to
// another connector; their state is saved), then stops.
// Calling it again returns the first call's result.
func (n *ConnectorNode) Close(ctx context.Context) error {
	n.closed.Do(func() { n.closeErr = n.close(ctx) })
	return n.closeErr
}

func (n *ConnectorNode) close(ctx context.Context) error {
	n.health.Drain()
	var errs []error
	if n.announce != nil {
		close(n.stop)
		<-n.announce
		errs = append(errs, n.data.RemoveConnector(ctx, n.cfg.ID))
	}
	if n.conn != nil {
		errs = append(errs, n.conn.Shutdown(ctx))
	}
	if n.http != nil {
		errs = append(errs, n.http.Shutdown(ctx))
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
		errs = append(errs, n.data.Close())
	}
	return errors.Join(errs...)
}

// writerName makes a writer's name (actors.WriterConfig.Name) of a
// component's name: without '/', at most 48 bytes.
func writerName(s string) string {
	s = strings.ReplaceAll(s, "/", "_")
	if len(s) > 48 {
		s = strings.ToValidUTF8(s[:48], "")
	}
	return s
}
