package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"testing"
	"time"

	"github.com/heraldpush/herald/node/nodetest"
)

// cluster is dataservice, connectors and a gateway, each a herald process.
type cluster struct {
	gateway    string // REST base URL
	h          *nodetest.Herald
	connectors []*exec.Cmd
	devices    []string // device address of each connector
}

// startCluster runs a dataservice, n connectors and a gateway. Connectors
// announce themselves every 300ms (entries live 900ms) and the gateway
// reads the registry every 200ms, so a killed connector leaves dispatch
// within about a second.
func startCluster(t *testing.T, n int) *cluster {
	t.Helper()
	return startClusterOn(t, n, startDataservice(t))
}

// startClusterOn runs n connectors and a gateway, as startCluster does,
// on the dataservice at URL ds.
func startClusterOn(t *testing.T, n int, ds string) *cluster {
	t.Helper()
	c := &cluster{}
	for range n {
		cmd := exec.Command(heraldBin, "connector", "--dataservice", ds, "--device", "127.0.0.1:0", "--http", "127.0.0.1:0",
			"--announce", "300ms", "--grace", "5s")
		cmd.Env = append(os.Environ(), "HERALD_CLUSTER_TOKEN="+clusterToken)
		c.devices = append(c.devices, waitForLine(t, cmd, regexp.MustCompile(`devices\s+tcp://(\S+)`)))
		c.connectors = append(c.connectors, cmd)
	}
	// Webhooks of the tests listen on loopback too.
	cmd := exec.Command(heraldBin, "gateway", "--dataservice", ds, "--http", "127.0.0.1:0", "--refresh", "200ms", "--webhook-private-networks", "--register-limit-per-address", "off", "--register-limit-per-app", "off")
	cmd.Env = append(os.Environ(), "HERALD_CLUSTER_TOKEN="+clusterToken, "HERALD_ADMIN_TOKEN="+nodetest.AdminToken)
	c.gateway = "http://" + waitForLine(t, cmd, regexp.MustCompile(`REST API\s+http://(\S+)`))
	c.h = nodetest.Attach(t, c.gateway)
	return c
}

// loads returns how many connections each connector holds, by device
// address, as the gateway sees the registry.
func (c *cluster) loads(t *testing.T) map[string]int {
	t.Helper()
	var rt struct {
		Components struct {
			Connectors []struct {
				Device      string `json:"device"`
				Connections int    `json:"connections"`
			} `json:"connectors"`
		} `json:"components"`
	}
	c.h.Do(http.MethodGet, "/v1/admin/runtime", "Bearer "+nodetest.AdminToken, nil, http.StatusOK, &rt)
	out := map[string]int{}
	for _, ci := range rt.Components.Connectors {
		out[ci.Device] = ci.Connections
	}
	return out
}

// Three connector processes behind one gateway: dispatch spreads devices
// over all of them, and when one is killed with SIGKILL in the middle of a
// run of pushes, its devices reconnect to the others and every device
// still gets every message exactly once.
func TestClusterSurvivesTheDeathOfAConnector(t *testing.T) {
	c := startCluster(t, 3)
	app := c.h.CreateApp()
	const devices, pushes = 300, 10
	f := startLocalFleet(t, c.gateway, app, devices)
	f.connect(0, devices)

	nodetest.Eventually(t, 10*time.Second, func() bool {
		l := c.loads(t)
		total := 0
		for _, d := range c.devices {
			if l[d] == 0 {
				return false
			}
			total += l[d]
		}
		return total == devices
	}, func() string { return fmt.Sprintf("devices are not spread over the three connectors: %v", c.loads(t)) })
	victim := c.connectors[0]

	for i := range pushes {
		if i == 3 {
			if err := victim.Process.Kill(); err != nil {
				t.Fatal(err)
			}
		}
		c.h.Push(app, nodetest.Push{RegistrationIDs: f.rids, Content: fmt.Sprint("push ", i)})
	}
	nodetest.Eventually(t, 60*time.Second, func() bool { return f.total() == devices*pushes }, func() string {
		return fmt.Sprintf("%d of %d messages received", f.total(), devices*pushes)
	})
	f.exactlyOnce(pushes)
	// Its registry entry runs out by itself.
	nodetest.Eventually(t, 10*time.Second, func() bool {
		_, ok := c.loads(t)[c.devices[0]]
		return !ok
	}, func() string { return fmt.Sprintf("the killed connector is still in the registry: %v", c.loads(t)) })
}
