package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/node"
	"github.com/heraldpush/herald/node/nodetest"
	"github.com/heraldpush/herald/sdk"
)

const clusterToken = "cluster-test-token"

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// testCluster is a dataservice, connectors and a gateway, each its own
// node, talking over loopback HTTP/2 as separate processes would.
type testCluster struct {
	t          *testing.T
	ds         *node.DataserviceNode
	connectors []*node.ConnectorNode
	gw         *node.GatewayNode
	h          *nodetest.Herald
}

func startCluster(t *testing.T, connectors int) *testCluster {
	t.Helper()
	c := &testCluster{t: t}
	var err error
	c.ds, err = node.StartDataservice(node.DataserviceConfig{Store: "leveldb:" + t.TempDir(), HTTP: "127.0.0.1:0", Token: clusterToken, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.ds.Close(context.Background()) })
	for range connectors {
		c.addConnector()
	}
	c.gw, err = node.StartGateway(node.GatewayConfig{
		Dataservice: c.dsURLs(), ClusterToken: clusterToken, HTTP: "127.0.0.1:0",
		AdminToken: nodetest.AdminToken, Refresh: 50 * time.Millisecond, Log: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.gw.Close(context.Background()) })
	c.h = nodetest.Attach(t, "http://"+c.gw.HTTPAddr().String())
	return c
}

// registry returns the connectors as the gateway sees them.
func (c *testCluster) registry() string {
	var rt struct {
		Components struct {
			Connectors json.RawMessage `json:"connectors"`
		} `json:"components"`
	}
	c.h.Do(http.MethodGet, "/v1/admin/runtime", "Bearer "+nodetest.AdminToken, nil, http.StatusOK, &rt)
	return string(rt.Components.Connectors)
}

func (c *testCluster) dsURLs() []string { return []string{"http://" + c.ds.Addr().String()} }

func (c *testCluster) addConnector() *node.ConnectorNode {
	c.t.Helper()
	cfg := node.ConnectorConfig{Dataservice: c.dsURLs(), ClusterToken: clusterToken, HTTP: "127.0.0.1:0", Announce: 100 * time.Millisecond, Log: quiet}
	cfg.Connector.Listen = "127.0.0.1:0"
	n, err := node.StartConnector(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { n.Close(context.Background()) })
	c.connectors = append(c.connectors, n)
	return n
}

// devices is a set of connected SDK devices counting what they receive.
type devices struct {
	mu    sync.Mutex
	got   map[string][]string // rid → contents
	creds []sdk.Credentials
}

func (c *testCluster) connectDevices(app nodetest.App, n int, endpoints *sdk.Endpoints) *devices {
	c.t.Helper()
	d := &devices{got: map[string][]string{}}
	for range n {
		cr, err := sdk.Register(context.Background(), c.h.URL, app.Key, nil)
		if err != nil {
			c.t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cl, err := sdk.Dial(ctx, sdk.Config{
			Gateway: c.h.URL, Credentials: cr, Endpoints: endpoints, Logger: quiet,
			MinBackoff: 50 * time.Millisecond, MaxBackoff: time.Second,
			Handler: func(m *sdk.Message) error {
				d.mu.Lock()
				defer d.mu.Unlock()
				d.got[cr.RegistrationID] = append(d.got[cr.RegistrationID], m.Content)
				return nil
			},
		})
		cancel()
		if err != nil {
			c.t.Fatal(err)
		}
		c.t.Cleanup(func() { cl.Close() })
		d.creds = append(d.creds, cr)
	}
	return d
}

func (d *devices) rids() []string {
	var out []string
	for _, cr := range d.creds {
		out = append(out, cr.RegistrationID)
	}
	return out
}

// waitAll waits until every device has received content exactly once.
func (d *devices) waitAll(t *testing.T, content string) {
	t.Helper()
	nodetest.Eventually(t, 15*time.Second, func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, cr := range d.creds {
			if !slices.Contains(d.got[cr.RegistrationID], content) {
				return false
			}
		}
		return true
	}, func() string {
		d.mu.Lock()
		defer d.mu.Unlock()
		return fmt.Sprintf("%q has not reached every device: %v", content, d.got)
	})
	d.mu.Lock()
	defer d.mu.Unlock()
	for rid, got := range d.got {
		if n := countOf(got, content); n > 1 {
			t.Errorf("device %s got %q %d times", rid, content, n)
		}
	}
}

func countOf(s []string, v string) int {
	n := 0
	for _, x := range s {
		if x == v {
			n++
		}
	}
	return n
}

func TestClusterSpreadsDevicesAndDeliversAcrossConnectors(t *testing.T) {
	c := startCluster(t, 2)
	app := c.h.CreateApp()
	d := c.connectDevices(app, 24, nil)

	// Dispatch spread the devices over both connectors.
	for i, n := range c.connectors {
		if got := n.Stats().Connections; got == 0 {
			t.Errorf("connector %d holds no device: dispatch does not spread them", i)
		}
	}
	msg := c.h.Push(app, nodetest.Push{RegistrationIDs: d.rids(), Content: "to-all"})
	d.waitAll(t, "to-all")
	c.h.WaitReport(app, msg, func(r nodetest.Report) bool { return r.Delivered == 24 && r.Sent == 24 })
}

// TestClusterCountsAnAppsOnlineDevicesOverEveryConnector checks GET
// /v1/app's online count: each connector counts the app's devices it
// holds (over its internal API), the gateway adds them up.
func TestClusterCountsAnAppsOnlineDevicesOverEveryConnector(t *testing.T) {
	c := startCluster(t, 2)
	app, other := c.h.CreateApp(), c.h.CreateApp()
	c.connectDevices(app, 12, nil)
	c.connectDevices(other, 3, nil)
	for i, n := range c.connectors {
		if n.Stats().Connections == 0 {
			t.Fatalf("connector %d holds no device: the count would not be summed", i)
		}
	}
	var summary struct {
		Devices int `json:"devices"`
		Online  int `json:"online"`
	}
	c.h.Do(http.MethodGet, "/v1/app", nodetest.Basic(app), nil, http.StatusOK, &summary)
	if summary.Devices != 12 || summary.Online != 12 {
		t.Fatalf("GET /v1/app: %d devices, %d online; want 12 and 12", summary.Devices, summary.Online)
	}
}

func TestClusterReachesADeviceOnAConnectorThatDoesNotOwnIt(t *testing.T) {
	c := startCluster(t, 2)
	app := c.h.CreateApp()
	// Every device connects to the second connector, whatever dispatch
	// says: the session registry, not the ring, routes pushes.
	probe := c.connectDevices(app, 1, nil)
	e, err := sdk.Dispatch(context.Background(), c.h.URL, probe.creds[0].RegistrationID, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.Addresses = []string{c.connectors[1].DeviceAddr().String()}
	before := c.connectors[1].Stats().Connections
	d := c.connectDevices(app, 8, &e)
	if got := c.connectors[1].Stats().Connections - before; got != 8 {
		t.Fatalf("second connector took %d devices, want 8", got)
	}
	c.h.Push(app, nodetest.Push{RegistrationIDs: d.rids(), Content: "routed"})
	d.waitAll(t, "routed")
}

func TestClusterDevicesMoveWhenTheirConnectorLeaves(t *testing.T) {
	c := startCluster(t, 2)
	app := c.h.CreateApp()
	d := c.connectDevices(app, 16, nil)
	leaving := c.connectors[0]
	if leaving.Stats().Connections == 0 {
		t.Fatal("first connector holds no device")
	}
	if err := leaving.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	nodetest.Eventually(t, 15*time.Second, func() bool { return c.connectors[1].Stats().Connections == 16 },
		func() string {
			return fmt.Sprintf("remaining connector holds %d of 16 devices", c.connectors[1].Stats().Connections)
		})
	c.h.Push(app, nodetest.Push{RegistrationIDs: d.rids(), Content: "after-move"})
	d.waitAll(t, "after-move")

	// A connector that joins takes devices that ask dispatch once the
	// gateway has seen it.
	joined := c.addConnector()
	nodetest.Eventually(t, 5*time.Second, func() bool { return strings.Contains(c.registry(), joined.DeviceAddr().String()) },
		func() string { return "the gateway does not see the connector that joined: " + c.registry() })
	late := c.connectDevices(app, 16, nil)
	nodetest.Eventually(t, 5*time.Second, func() bool { return c.connectors[2].Stats().Connections > 0 },
		func() string {
			return fmt.Sprintf("no new device went to the connector that joined; the gateway sees %s", c.registry())
		})
	c.h.Push(app, nodetest.Push{RegistrationIDs: late.rids(), Content: "late"})
	late.waitAll(t, "late")
}

// Connectors and dataservice serve pprof and their runtime figures on
// their internal address to holders of the cluster token, and to no one
// else.
func TestClusterProcessesServeOperationsToTheClusterToken(t *testing.T) {
	c := startCluster(t, 1)
	c.connectDevices(c.h.CreateApp(), 1, nil)
	nodetest.Eventually(t, 5*time.Second, func() bool { return c.connectors[0].Stats().Connections == 1 },
		func() string { return "the device did not connect" })
	type figures struct {
		Role    string `json:"role"`
		ID      string `json:"id"`
		Process struct {
			RSSBytes       int64   `json:"rss_bytes"`
			HeapInuseBytes uint64  `json:"heap_inuse_bytes"`
			Goroutines     int     `json:"goroutines"`
			GCPauseP99Ms   float64 `json:"gc_pause_p99_ms"`
			CPUSeconds     float64 `json:"cpu_seconds"`
		} `json:"process"`
		Components struct {
			Connector *struct {
				Connections int `json:"connections"`
			} `json:"connector"`
		} `json:"components"`
	}
	for _, proc := range []struct {
		role, addr, id string
		connections    int // -1: none reported
	}{
		{"connector", c.connectors[0].InternalAddr().String(), c.connectors[0].ID(), 1},
		{"dataservice", c.ds.Addr().String(), "", -1},
	} {
		for _, tc := range []struct {
			path, token string
			want        int
		}{
			{"/debug/pprof/goroutine?debug=1", "", http.StatusUnauthorized},
			{"/debug/pprof/goroutine?debug=1", "wrong", http.StatusUnauthorized},
			{"/debug/pprof/goroutine?debug=1", clusterToken, http.StatusOK},
			{"/internal/v1/runtime", "", http.StatusUnauthorized},
			{"/internal/v1/runtime", "wrong", http.StatusUnauthorized},
			{"/internal/v1/runtime", clusterToken, http.StatusOK},
		} {
			name := fmt.Sprintf("%s %s with token %q", proc.role, tc.path, tc.token)
			req, _ := http.NewRequest("GET", "http://"+proc.addr+tc.path, nil)
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("%s: %d, want %d: %.200s", name, resp.StatusCode, tc.want, body)
			}
			switch {
			case tc.want == http.StatusUnauthorized:
				var e struct {
					Error struct{ Code string } `json:"error"`
				}
				if json.Unmarshal(body, &e) != nil || e.Error.Code != "unauthorized" {
					t.Fatalf("%s: not a JSON unauthorized error: %.200s", name, body)
				}
			case strings.HasPrefix(tc.path, "/debug/pprof/"):
				if !strings.Contains(string(body), "goroutine profile") {
					t.Fatalf("%s: not a goroutine profile: %.200s", name, body)
				}
			default:
				var f figures
				if err := json.Unmarshal(body, &f); err != nil {
					t.Fatalf("%s: %v: %.200s", name, err, body)
				}
				p := f.Process
				if f.Role != proc.role || f.ID != proc.id || p.RSSBytes <= 0 || p.HeapInuseBytes == 0 || p.Goroutines < 1 || p.CPUSeconds <= 0 || p.GCPauseP99Ms < 0 {
					t.Fatalf("%s: implausible figures %s", name, body)
				}
				switch got := f.Components.Connector; {
				case proc.connections < 0 && got != nil:
					t.Fatalf("%s: reports connector figures: %s", name, body)
				case proc.connections >= 0 && (got == nil || got.Connections != proc.connections):
					t.Fatalf("%s: want %d connections: %s", name, proc.connections, body)
				}
			}
		}
	}
	req, _ := http.NewRequest("POST", "http://"+c.ds.Addr().String()+"/internal/v1/runtime", nil)
	req.Header.Set("Authorization", "Bearer "+clusterToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST /internal/v1/runtime: %d, want 405", resp.StatusCode)
	}
}
