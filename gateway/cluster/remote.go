package cluster

import (
	"context"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/connector"
	"github.com/heraldpush/herald/dataservice"
)

// RemoteConfig configures a Remote.
type RemoteConfig struct {
	// Registry is where connectors announce themselves.
	Registry dataservice.ConnectorRegistry
	// Token authenticates calls to connectors' internal APIs.
	Token string
	// Transport carries those calls (HTTP/2); shared by every connector.
	Transport http.RoundTripper
	// ServerKey is the Noise public key devices pin.
	ServerKey []byte
	// Refresh is how often the registry is read. Zero means 1s.
	Refresh time.Duration
	// Linger is how long a connector that left the registry is still
	// called for broadcasts, withdrawals and the devices whose sessions
	// name it (though dispatch sends no device there): a connector whose
	// announcements a slow dataservice delayed past their TTL still holds
	// its devices. Zero means 30s.
	Linger time.Duration
	// Log receives logs. Nil means slog.Default().
	Log *slog.Logger
}

// Remote is the Cluster of a gateway running apart from the
// connectors: it follows the registry, places devices on a consistent-hash
// ring with bounded loads, and calls connectors over HTTP/2.
type Remote struct {
	cfg  RemoteConfig
	now  func() time.Time
	view atomic.Pointer[clusterView]
	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// clusterView is one reading of the registry; it is never modified.
type clusterView struct {
	infos   []dataservice.ConnectorInfo
	ring    *ring
	clients map[string]*connector.Remote
	// lingering are the connectors that left the registry less than
	// Linger ago, by id.
	lingering map[string]lingeringConnector
}

// lingeringConnector is a connector that left the registry at since.
type lingeringConnector struct {
	client *connector.Remote
	since  time.Time
}

var _ Cluster = (*Remote)(nil)

// NewRemote reads the registry once (a failure there is logged,
// and dispatch answers "no connector" until a reading succeeds) and then
// follows it until Close.
func NewRemote(ctx context.Context, cfg RemoteConfig) *Remote {
	if cfg.Refresh <= 0 {
		cfg.Refresh = time.Second
	}
	if cfg.Linger <= 0 {
		cfg.Linger = 30 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	rc := &Remote{cfg: cfg, now: time.Now, stop: make(chan struct{}), done: make(chan struct{})}
	rc.view.Store(&clusterView{ring: newRing(nil, nil)})
	if err := rc.refresh(ctx); err != nil {
		cfg.Log.Warn("cluster: reading the connector registry", "err", err)
	}
	go rc.follow()
	return rc
}

func (rc *Remote) follow() {
	defer close(rc.done)
	t := time.NewTicker(rc.cfg.Refresh)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-rc.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), rc.cfg.Refresh*5)
		err := rc.refresh(ctx)
		cancel()
		// Log the first failure and the recovery, not every tick.
		switch {
		case err != nil && !failing:
			rc.cfg.Log.Warn("cluster: reading the connector registry; keeping the last view", "err", err)
		case err == nil && failing:
			rc.cfg.Log.Info("cluster: connector registry readable again")
		}
		failing = err != nil
	}
}

// refresh replaces the view with the registry's current content. Clients
// of connectors that stay are kept, with their connections.
func (rc *Remote) refresh(ctx context.Context) error {
	infos, err := rc.cfg.Registry.Connectors(ctx)
	if err != nil {
		return err
	}
	old := rc.view.Load()
	now := rc.now()
	v := &clusterView{infos: infos, clients: make(map[string]*connector.Remote, len(infos)), lingering: make(map[string]lingeringConnector)}
	ids := make([]string, len(infos))
	loads := make([]int, len(infos))
	for i, ci := range infos {
		ids[i], loads[i] = ci.ID, ci.Connections
		if c, ok := old.clients[ci.ID]; ok && c.URL() == ci.Internal {
			v.clients[ci.ID] = c
		} else if l, ok := old.lingering[ci.ID]; ok && l.client.URL() == ci.Internal {
			v.clients[ci.ID] = l.client
		} else {
			v.clients[ci.ID] = connector.NewRemote(ci.Internal, rc.cfg.Token, rc.cfg.Transport)
		}
	}
	for id, c := range old.clients {
		if _, stays := v.clients[id]; !stays {
			v.lingering[id] = lingeringConnector{client: c, since: now}
		}
	}
	for id, l := range old.lingering {
		_, back := v.clients[id]
		if _, left := v.lingering[id]; !back && !left && now.Sub(l.since) < rc.cfg.Linger {
			v.lingering[id] = l
		}
	}
	v.ring = newRing(ids, loads)
	// Devices sent to a connector that has not announced itself since are
	// not in its announced load yet: keep counting them.
	for i, oc := range old.infos {
		if j := slices.IndexFunc(infos, func(ci dataservice.ConnectorInfo) bool { return ci.ID == oc.ID }); j >= 0 && infos[j].Updated.Equal(oc.Updated) {
			v.ring.carry(j, old.ring, i)
		}
	}
	rc.view.Store(v)
	return nil
}

// Members returns the registry entries of the last reading.
func (rc *Remote) Members() []dataservice.ConnectorInfo {
	return slices.Clone(rc.view.Load().infos)
}

// Connector implements Cluster: a connector of the last reading, or one
// that left the registry less than Linger ago.
func (rc *Remote) Connector(id string) (connector.Client, bool) {
	v := rc.view.Load()
	if c, ok := v.clients[id]; ok {
		return c, true
	}
	l, ok := v.lingering[id]
	return l.client, ok
}

// Connectors implements Cluster: every connector of the last reading, then
// those that left the registry less than Linger ago, by id.
func (rc *Remote) Connectors() []connector.Client {
	v := rc.view.Load()
	out := make([]connector.Client, 0, len(v.infos)+len(v.lingering))
	for _, ci := range v.infos {
		out = append(out, v.clients[ci.ID])
	}
	for _, id := range slices.Sorted(maps.Keys(v.lingering)) {
		out = append(out, v.lingering[id].client)
	}
	return out
}

// Dispatch implements Cluster: the owner of rid on the ring first, then
// the others in ring order, without those the device reports as failed —
// unless that leaves none, when it gets them all again to retry after its
// backoff.
func (rc *Remote) Dispatch(rid string, failed []string) Dispatch {
	v := rc.view.Load()
	order := v.ring.order(rid)
	if len(order) == 0 {
		return Dispatch{ServerKey: rc.cfg.ServerKey}
	}
	d := Dispatch{Heartbeat: v.infos[order[0]].Heartbeat, ServerKey: rc.cfg.ServerKey}
	first := -1
	for _, i := range order {
		if a := v.infos[i].Device; !slices.Contains(failed, a) {
			d.Addresses = append(d.Addresses, a)
			if first < 0 {
				first = i
			}
		}
	}
	if len(d.Addresses) == 0 {
		first = order[0]
		for _, i := range order {
			d.Addresses = append(d.Addresses, v.infos[i].Device)
		}
	}
	v.ring.dispatch(first)
	return d
}

// Close stops following the registry.
func (rc *Remote) Close() {
	rc.once.Do(func() { close(rc.stop) })
	<-rc.done
}
