package clienttest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

// clusterTests are the cases of ConnectorRegistry, NodeClaims and ConfigStore.
var clusterTests = []test{
	{"Cluster", cluster},
	{"NodeClaims", nodeClaims},
	{"EnsureConfig", ensureConfig},
}

func cluster(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	if cs, err := c.Connectors(ctx); err != nil || len(cs) != 0 {
		t.Fatalf("empty registry: %+v, %v", cs, err)
	}
	a := dataservice.ConnectorInfo{ID: "c-a", Device: "10.0.0.1:7100", Internal: "http://10.0.0.1:7190", Heartbeat: 3 * time.Minute, Connections: 5, Updated: time.Now().UTC().Truncate(time.Millisecond)}
	b := dataservice.ConnectorInfo{ID: "c-b", Device: "10.0.0.2:7100", Internal: "http://10.0.0.2:7190"}
	for _, ci := range []dataservice.ConnectorInfo{b, a} {
		if err := c.PutConnector(ctx, ci, time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := c.Connectors(ctx)
	if err != nil || len(cs) != 2 || cs[0].ID != "c-a" || cs[1].ID != "c-b" || cs[0].Connections != 5 || cs[0].Heartbeat != a.Heartbeat || cs[0].Internal != a.Internal || !cs[0].Updated.Equal(a.Updated) {
		t.Fatalf("Connectors() = %+v, %v", cs, err)
	}
	a.Connections = 7
	if err := c.PutConnector(ctx, a, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveConnector(ctx, "c-b"); err != nil {
		t.Fatal(err)
	}
	if cs, _ := c.Connectors(ctx); len(cs) != 1 || cs[0].Connections != 7 {
		t.Fatalf("after refresh and removal: %+v", cs)
	}
	// An entry that is not refreshed disappears.
	if err := c.PutConnector(ctx, dataservice.ConnectorInfo{ID: "c-short"}, 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		cs, _ := c.Connectors(ctx)
		if len(cs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("an entry past its TTL is still listed: %+v", cs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func nodeClaims(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	if err := c.ClaimNode(ctx, 7, "gw-a", time.Minute); err != nil {
		t.Fatalf("first claim: %v", err)
	}
	if err := c.ClaimNode(ctx, 7, "gw-a", time.Minute); err != nil {
		t.Fatalf("renewal by its owner: %v", err)
	}
	err := c.ClaimNode(ctx, 7, "gw-b", time.Minute)
	wantErr(t, err, dataservice.ErrExists, "a claim on a node another owner holds")
	if !strings.Contains(err.Error(), "gw-a") {
		t.Errorf("the refusal does not name the holder: %v", err)
	}
	if err := c.ClaimNode(ctx, 8, "gw-b", time.Minute); err != nil {
		t.Fatalf("another node: %v", err)
	}
	// Only its owner releases a claim.
	if err := c.ReleaseNode(ctx, 7, "gw-b"); err != nil {
		t.Fatal(err)
	}
	wantErr(t, c.ClaimNode(ctx, 7, "gw-b", time.Minute), dataservice.ErrExists, "a claim released by someone else")
	if err := c.ReleaseNode(ctx, 7, "gw-a"); err != nil {
		t.Fatal(err)
	}
	if err := c.ClaimNode(ctx, 7, "gw-b", time.Minute); err != nil {
		t.Fatalf("claim after release: %v", err)
	}
	if err := c.ReleaseNode(ctx, 9, "gw-a"); err != nil {
		t.Fatalf("releasing an unclaimed node: %v", err)
	}
	for _, bad := range []struct {
		node  int
		owner string
		ttl   time.Duration
	}{{-1, "gw", time.Minute}, {1024, "gw", time.Minute}, {1, "", time.Minute}, {1, "gw", 0}} {
		wantErr(t, c.ClaimNode(ctx, bad.node, bad.owner, bad.ttl), dataservice.ErrInvalid, fmt.Sprintf("claim %+v", bad))
	}
	// A claim that is not renewed runs out.
	if err := c.ClaimNode(ctx, 10, "gw-dead", 1500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for c.ClaimNode(ctx, 10, "gw-next", time.Minute) != nil {
		if time.Now().After(deadline) {
			t.Fatal("a claim past its TTL still holds its node")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Connectors are listed apart from claims.
	if cs, err := c.Connectors(ctx); err != nil {
		t.Fatal(err)
	} else {
		for _, ci := range cs {
			if strings.HasPrefix(ci.ID, "gateway-node") || ci.ID == "" {
				t.Fatalf("a node claim is listed as a connector: %+v", cs)
			}
		}
	}
}

func ensureConfig(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	v, err := c.EnsureConfig(ctx, "k", []byte("first"))
	if err != nil || string(v) != "first" {
		t.Fatalf("first EnsureConfig: %q, %v", v, err)
	}
	v, err = c.EnsureConfig(ctx, "k", []byte("second"))
	if err != nil || string(v) != "first" {
		t.Fatalf("second EnsureConfig: %q, %v; the first value must win", v, err)
	}
}
