package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/heraldpush/herald/internal/runtimestats"
)

// MaxCluster bounds Options.Cluster.
const MaxCluster = 16

// ErrCluster means the local cluster of Options.Cluster could not start.
var ErrCluster = errors.New("bench: local cluster failed")

// clusterReadyTimeout bounds the wait for the gateway to see every
// connector of a local cluster.
const clusterReadyTimeout = 60 * time.Second

// clusterAnnounce is how often the connectors of a local cluster refresh
// their registry entry, where the gateway reads their connection counts.
const clusterAnnounce = 250 * time.Millisecond

// clusterStopTimeout bounds the wait for a process of a local cluster to
// exit after SIGTERM before it is killed.
const clusterStopTimeout = 10 * time.Second

// localCluster is a cluster herald-bench started for a run: a dataservice
// on LevelDB in a temporary directory, connectors and a gateway, each a
// herald process on loopback.
type localCluster struct {
	dir   string
	procs []*exec.Cmd // in start order
	out   io.Writer
}

// heraldPath returns the herald binary a local cluster runs: opts.Herald,
// or herald next to this executable.
func heraldPath(herald string) (string, error) {
	if herald == "" {
		exe, err := os.Executable()
		if err != nil {
			return "", fmt.Errorf("%w: finding herald next to herald-bench: %v", ErrCluster, err)
		}
		herald = filepath.Join(filepath.Dir(exe), "herald")
	}
	if fi, err := os.Stat(herald); err != nil || fi.IsDir() {
		return "", fmt.Errorf("%w: no herald binary at %s (build it with go build ./cmd/herald, or name it with --herald)", ErrCluster, herald)
	}
	return herald, nil
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// startLocalCluster starts a dataservice, opts.Cluster connectors and a
// gateway, waits until the gateway sees every connector, and points opts at
// the gateway (Target, and AdminToken and ClusterToken if they were
// empty). The caller stops
// the cluster.
func startLocalCluster(ctx context.Context, opts *Options) (*localCluster, error) {
	herald, err := heraldPath(opts.Herald)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "herald-bench-cluster-")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCluster, err)
	}
	c := &localCluster{dir: dir, out: opts.Progress}
	if opts.AdminToken == "" {
		opts.AdminToken = randomToken()
	}
	if opts.ClusterToken == "" {
		opts.ClusterToken = randomToken()
	}
	env := append(os.Environ(), "HERALD_CLUSTER_TOKEN="+opts.ClusterToken, "HERALD_ADMIN_TOKEN="+opts.AdminToken)
	ports := make([]int, 2+2*opts.Cluster)
	for i := range ports {
		if ports[i], err = freePort(); err != nil {
			c.stop()
			return nil, fmt.Errorf("%w: finding free ports: %v", ErrCluster, err)
		}
	}
	addr := func(p int) string { return "127.0.0.1:" + strconv.Itoa(p) }
	dsURL := "http://" + addr(ports[0])
	start := func(args ...string) error {
		cmd := exec.Command(herald, args...)
		cmd.Env = env
		cmd.Stderr = opts.Progress
		// The cluster must not outlive herald-bench.
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("%w: herald %s: %v", ErrCluster, args[0], err)
		}
		c.procs = append(c.procs, cmd)
		return nil
	}
	fmt.Fprintf(opts.Progress, "herald-bench: starting a local cluster (%s): dataservice %s, %d connectors, gateway %s\n", herald, addr(ports[0]), opts.Cluster, addr(ports[1]))
	if err := start("dataservice", "--store", "leveldb:"+filepath.Join(dir, "store"), "--http", addr(ports[0]), "--log-level", "warn"); err != nil {
		c.stop()
		return nil, err
	}
	if err := waitListening(ctx, addr(ports[0])); err != nil {
		c.stop()
		return nil, fmt.Errorf("%w: the dataservice: %v", ErrCluster, err)
	}
	for k := range opts.Cluster {
		device, internal := ports[2+2*k], ports[3+2*k]
		if err := start("connector", "--dataservice", dsURL, "--device", addr(device), "--http", addr(internal),
			"--announce", clusterAnnounce.String(), "--log-level", "warn"); err != nil {
			c.stop()
			return nil, err
		}
	}
	// The bench is the webhook of its apps (steady, churn), on loopback.
	if err := start("gateway", "--dataservice", dsURL, "--http", addr(ports[1]), "--refresh", "200ms", "--webhook-private-networks", "--log-level", "warn",
		"--register-limit-per-address", "off", "--register-limit-per-app", "off"); err != nil {
		c.stop()
		return nil, err
	}
	opts.Target = "http://" + addr(ports[1])
	opts.Dataservice = dsURL
	if err := c.waitConnectors(ctx, opts); err != nil {
		c.stop()
		return nil, err
	}
	return c, nil
}

// waitListening waits until addr accepts connections.
func waitListening(ctx context.Context, addr string) error {
	deadline := time.Now().Add(clusterReadyTimeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("%s not listening after %v: %v", addr, clusterReadyTimeout, err)
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

// waitConnectors waits until the gateway at opts.Target reports every
// connector of the cluster.
func (c *localCluster) waitConnectors(ctx context.Context, opts *Options) error {
	a := newAPI(opts.Target, opts.AdminToken, newHTTPClient([]*http.Transport{newTransport()}, fallbackStreamLimit))
	var seen int
	var lastErr error
	ok := waitFor(ctx, time.Now().Add(clusterReadyTimeout), 100*time.Millisecond, func() bool {
		f, err := a.runtime(ctx)
		if err != nil {
			lastErr = err
			return false
		}
		seen = len(f.Components.Connectors)
		return seen >= opts.Cluster
	})
	if err := ctx.Err(); err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: the gateway sees %d of %d connectors after %v (last error: %v)", ErrCluster, seen, opts.Cluster, clusterReadyTimeout, lastErr)
	}
	return nil
}

// stop stops the cluster's processes, the last started first (gateway,
// connectors, dataservice), and removes its data.
func (c *localCluster) stop() {
	for i := len(c.procs) - 1; i >= 0; i-- {
		cmd := c.procs[i]
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() {
			_ = cmd.Wait()
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(clusterStopTimeout):
			fmt.Fprintf(c.out, "herald-bench: herald %s did not stop; killing it\n", cmd.Args[1])
			_ = cmd.Process.Kill()
			<-done
		}
	}
	_ = os.RemoveAll(c.dir)
}

// setServerFigures fills in res's server figures from the readings at the
// start and end of the run: the gateway's alone, or, when end has the
// connectors' own readings (Peers), one entry per process in Servers and
// the sums (memory, CPU, connections) and the largest GC pause over them.
func setServerFigures(res *Result, start, end serverFigures) {
	res.ServerConnections = end.connections()
	if len(end.Peers) == 0 {
		res.ServerRSSBytes = end.Process.RSSBytes
		res.GCPauseP99Ms, res.GCStoppingP99Ms = pausesBetween(start, end)
		res.ServerCPUSeconds = round3(end.Process.CPUSeconds - start.Process.CPUSeconds)
		return
	}
	// Each process's start reading, by role and id: a connector that
	// joined during the run has none, and used its CPU time in it.
	base := map[string]serverFigures{"gateway": start}
	for _, p := range start.Peers {
		base[p.Role+"/"+p.ID] = p
	}
	if start.Data != nil {
		base["dataservice"] = *start.Data
	}
	gw := end
	gw.Role, gw.Peers, gw.Data = "gateway", nil, nil
	procs := append([]serverFigures{gw}, end.Peers...)
	if end.Data != nil {
		procs = append(procs, *end.Data)
	}
	res.ServerRSSBytes, res.GCPauseP99Ms, res.GCStoppingP99Ms, res.ServerCPUSeconds, res.Servers = 0, 0, 0, 0, nil
	var cpu float64
	for i, p := range procs {
		key := p.Role + "/" + p.ID
		switch {
		case i == 0:
			key = "gateway"
		case p.Role == "dataservice":
			key = "dataservice"
		}
		b := base[key]
		s := ServerFigures{Role: p.Role, ID: p.ID, RSSBytes: p.Process.RSSBytes, CPUSeconds: round3(p.Process.CPUSeconds - b.Process.CPUSeconds),
			Goroutines: p.Process.Goroutines}
		s.GCPauseP99Ms, s.GCStoppingP99Ms = pausesBetween(b, p)
		if p.Role == "connector" {
			s.Connections = p.connections()
		}
		res.Servers = append(res.Servers, s)
		res.ServerRSSBytes += s.RSSBytes
		cpu += p.Process.CPUSeconds - b.Process.CPUSeconds
		if p.Role != "dataservice" {
			// The store's pauses stall no device directly: the run's
			// figure is the gateway's and the connectors'.
			res.GCPauseP99Ms = max(res.GCPauseP99Ms, s.GCPauseP99Ms)
			res.GCStoppingP99Ms = max(res.GCStoppingP99Ms, s.GCStoppingP99Ms)
		}
	}
	res.ServerCPUSeconds = round3(cpu)
}

// pausesBetween returns the 99th percentile GC pause of a process
// between two readings, and of the time its pauses spent stopping the
// world. A server without histograms gives its pause percentile since
// it started.
func pausesBetween(start, end serverFigures) (pause, stopping float64) {
	if end.Process.GCPauses == nil {
		return round3(end.Process.GCPauseP99Ms), 0
	}
	return round3(runtimestats.PauseP99(start.Process.GCPauses, end.Process.GCPauses)),
		round3(runtimestats.PauseP99(start.Process.GCStopping, end.Process.GCStopping))
}
