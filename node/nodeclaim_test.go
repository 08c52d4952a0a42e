package node_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/node"
	"github.com/heraldpush/herald/node/nodetest"
)

// Two gateways cannot run on one node number: the second does not start
// while the first holds it, and starts at once when the first stopped and
// gave it up.
func TestGatewaysClaimTheirNode(t *testing.T) {
	c := startCluster(t, 0) // its gateway holds node 0
	start := func(number int, ttl time.Duration) (*node.GatewayNode, error) {
		return node.StartGateway(node.GatewayConfig{
			Dataservice: c.dsURLs(), ClusterToken: clusterToken, HTTP: "127.0.0.1:0", AdminToken: nodetest.AdminToken,
			Node: number, NodeClaimTTL: ttl, Log: quiet,
		})
	}

	var rt struct {
		Components struct {
			Node struct {
				Number int    `json:"number"`
				Owner  string `json:"owner"`
			} `json:"node"`
		} `json:"components"`
	}
	c.h.Do(http.MethodGet, "/v1/admin/runtime", "Bearer "+nodetest.AdminToken, nil, http.StatusOK, &rt)
	if rt.Components.Node.Number != 0 || rt.Components.Node.Owner == "" {
		t.Fatalf("the runtime report shows node %+v, want node 0 and its owner", rt.Components.Node)
	}

	if _, err := start(0, 400*time.Millisecond); err == nil || !strings.Contains(err.Error(), "node 0 is in use by another gateway") ||
		!strings.Contains(err.Error(), rt.Components.Node.Owner) {
		t.Fatalf("a second gateway on node 0: %v, want it refused", err)
	}

	other, err := start(1, time.Minute)
	if err != nil {
		t.Fatalf("a gateway on node 1: %v", err)
	}
	select {
	case err := <-other.Failed():
		t.Fatalf("a gateway holding its node failed: %v", err)
	default:
	}
	if err := other.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	again, err := start(1, time.Minute)
	if err != nil {
		t.Fatalf("a gateway on node 1 after the first stopped: %v", err)
	}
	defer again.Close(context.Background())
	if waited := time.Since(began); waited > 30*time.Second {
		t.Fatalf("starting waited %v: the stopped gateway's claim was not given up", waited)
	}
}
