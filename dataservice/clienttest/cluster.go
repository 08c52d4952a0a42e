package clienttest

import (
	"context"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

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
