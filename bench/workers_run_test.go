package bench_test

import (
	"os"
	"testing"
	"time"

	"github.com/heraldpush/herald/bench"
	"github.com/heraldpush/herald/node/nodetest"
)

// TestMain lets runs with Workers re-execute this test binary as their
// workers, as herald-bench re-executes itself.
func TestMain(m *testing.M) {
	if os.Getenv(bench.WorkerEnv) == "1" {
		os.Exit(bench.RunWorker(os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// Every scenario with its devices held by two worker processes: the
// parent's result counts what the workers' devices received, as one
// process's would.
func TestScenariosWithWorkers(t *testing.T) {
	h := nodetest.Start(t)
	tests := []struct {
		name string
		opts bench.Options
		want map[string]float64
	}{
		{name: "hold", opts: bench.Options{Scenario: bench.Hold, Devices: 100, Duration: time.Second,
			SettleInterval: 200 * time.Millisecond, SettleTimeout: 2 * time.Second},
			want: map[string]float64{"connected": 100, "errors": 0, "disconnects": 0, "server_connections": 100}},
		{name: "unicast", opts: bench.Options{Scenario: bench.Unicast, Devices: 200, Messages: 2, Concurrency: 16, Timeout: 20 * time.Second},
			want: map[string]float64{"connected": 200, "sent": 400, "delivered": 400, "acked": 400, "lost": 0, "duplicates": 0,
				"errors": 0, "acks_sampled": 100, "acks_confirmed": 100}},
		{name: "broadcast", opts: bench.Options{Scenario: bench.Broadcast, Devices: 200, Messages: 2, Timeout: 20 * time.Second},
			want: map[string]float64{"connected": 200, "sent": 2, "delivered": 400, "acked": 400, "lost": 0, "duplicates": 0, "errors": 0}},
		{name: "tagpush", opts: bench.Options{Scenario: bench.TagPush, Devices: 100, Messages: 1, Timeout: 20 * time.Second, ResolvePasses: 1},
			want: map[string]float64{"connected": 100, "sent": 1, "delivered": 100, "acked": 100, "lost": 0, "errors": 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.Target, opts.AdminToken, opts.Workers = h.URL, nodetest.AdminToken, 2
			m := resultJSON(t, opts)
			for k, v := range tt.want {
				if m[k] != v {
					t.Errorf("%s = %v, want %v", k, m[k], v)
				}
			}
			if m["bench_cpu_s"].(float64) <= 0 || m["connections_per_sec"].(float64) <= 0 {
				t.Errorf("bench_cpu_s %v, connections_per_sec %v; want both > 0", m["bench_cpu_s"], m["connections_per_sec"])
			}
			if tt.opts.Scenario != bench.Hold && (m["p99_ms"].(float64) <= 0 || m["max_ms"].(float64) < m["p99_ms"].(float64)) {
				t.Errorf("p99 %v, max %v", m["p99_ms"], m["max_ms"])
			}
			if rounds, ok := m["rounds"].([]any); ok {
				for i, r := range rounds {
					rd := r.(map[string]any)
					if rd["delivered"] != rd["expected"] || rd["all_delivered_ms"] == nil || rd["all_acked_ms"] == nil {
						t.Errorf("round %d: %v", i, rd)
					}
				}
			}
		})
	}
}

// A broadcast over a cluster of three connectors with two workers.
func TestBroadcastOverAClusterWithWorkers(t *testing.T) {
	m := resultJSON(t, bench.Options{Scenario: bench.Broadcast, Target: startCluster(t), AdminToken: nodetest.AdminToken,
		Devices: 150, Messages: 1, Workers: 2, Timeout: 20 * time.Second})
	if m["delivered"] != 150.0 || m["lost"] != 0.0 || m["errors"] != 0.0 || m["server_connections"] != 150.0 {
		t.Fatalf("result %v", m)
	}
}
