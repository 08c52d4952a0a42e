package bench_test

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/heraldpush/herald/bench"
	"github.com/heraldpush/herald/node"
	"github.com/heraldpush/herald/node/nodetest"
)

// startCluster runs a dataservice, three connectors and a gateway in
// process, each talking to the others over loopback HTTP/2 as separate
// processes would, and returns the gateway's base URL.
func startCluster(t *testing.T) string {
	t.Helper()
	const token = "bench-cluster-token"
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ds, err := node.StartDataservice(node.DataserviceConfig{Store: "leveldb:" + t.TempDir(), HTTP: "127.0.0.1:0", Token: token, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ds.Close(context.Background()) })
	urls := []string{"http://" + ds.Addr().String()}
	for range 3 {
		cfg := node.ConnectorConfig{Dataservice: urls, ClusterToken: token, HTTP: "127.0.0.1:0", Announce: 100 * time.Millisecond, Log: quiet}
		cfg.Connector.Listen = "127.0.0.1:0"
		n, err := node.StartConnector(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close(context.Background()) })
	}
	gw, err := node.StartGateway(node.GatewayConfig{
		Dataservice: urls, ClusterToken: token, HTTP: "127.0.0.1:0",
		AdminToken: nodetest.AdminToken, Refresh: 50 * time.Millisecond, Log: quiet,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gw.Close(context.Background()) })
	return "http://" + gw.HTTPAddr().String()
}

// Broadcast and TagPush against `herald all` and against a cluster of
// three connectors: every push reaches every device once, and each round
// reports its times.
func TestFanoutScenarios(t *testing.T) {
	targets := []struct {
		name  string
		start func(t *testing.T) string
	}{
		{"all", func(t *testing.T) string { return nodetest.Start(t).URL }},
		{"cluster", startCluster},
	}
	for _, target := range targets {
		for _, scenario := range []bench.Scenario{bench.Broadcast, bench.TagPush} {
			t.Run(target.name+"/"+string(scenario), func(t *testing.T) {
				const devices, pushes = 30, 3
				m := resultJSON(t, bench.Options{
					Scenario:      scenario,
					Target:        target.start(t),
					AdminToken:    nodetest.AdminToken,
					Devices:       devices,
					Messages:      pushes,
					Timeout:       20 * time.Second,
					ResolvePasses: 2,
				})
				want := map[string]float64{
					"sent": pushes, "delivered": devices * pushes, "acked": devices * pushes, "messages": pushes,
					"lost": 0, "duplicates": 0, "handler_duplicates": 0, "errors": 0, "connected": devices, "server_connections": devices,
				}
				for k, v := range want {
					if m[k] != v {
						t.Errorf("%s = %v, want %v", k, m[k], v)
					}
				}
				positive := []string{"p50_ms", "p99_ms", "max_ms", "per_sec", "all_acked_ms_p50", "all_acked_ms_max"}
				if scenario == bench.TagPush {
					positive = append(positive, "resolve_per_sec", "targeted_per_sec")
				} else if _, ok := m["resolve_per_sec"]; ok {
					t.Error("broadcast reports resolve_per_sec")
				}
				for _, k := range positive {
					if v, _ := m[k].(float64); v <= 0 {
						t.Errorf("%s = %v, want > 0", k, m[k])
					}
				}
				if m["all_acked_ms_p50"].(float64) > m["all_acked_ms_max"].(float64) {
					t.Errorf("all_acked_ms_p50 %v > all_acked_ms_max %v", m["all_acked_ms_p50"], m["all_acked_ms_max"])
				}
				rounds, _ := m["rounds"].([]any)
				if len(rounds) != pushes {
					t.Fatalf("rounds = %v, want %d", m["rounds"], pushes)
				}
				for i, x := range rounds {
					rd := x.(map[string]any)
					if rd["msg_id"] == "" || rd["expected"] != float64(devices) || rd["delivered"] != float64(devices) {
						t.Errorf("round %d: %v", i, rd)
					}
					timed := []string{"push_ms", "all_delivered_ms", "all_acked_ms", "report_ms"}
					if scenario == bench.TagPush {
						timed = append(timed, "targeted_ms")
					}
					for _, k := range timed {
						if v, _ := rd[k].(float64); v <= 0 {
							t.Errorf("round %d: %s = %v, want > 0", i, k, rd[k])
						}
					}
					// A device acknowledges after its handler returned.
					if rd["all_delivered_ms"].(float64) > rd["all_acked_ms"].(float64) {
						t.Errorf("round %d: all acknowledged at %vms, before all delivered at %vms", i, rd["all_acked_ms"], rd["all_delivered_ms"])
					}
				}
			})
		}
	}
}
