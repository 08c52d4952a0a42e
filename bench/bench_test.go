package bench_test

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/bench"
	"github.com/heraldpush/herald/node/nodetest"
)

// lockedBuffer collects progress output from the run's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// resultJSON runs opts and returns the result as the CLI prints it.
func resultJSON(t *testing.T, opts bench.Options) map[string]any {
	t.Helper()
	var progress lockedBuffer
	opts.Progress = &progress
	res, err := bench.Run(t.Context(), opts)
	t.Logf("progress:\n%s", progress.String())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	line, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("result: %s", line)
	var m map[string]any
	if err := json.Unmarshal(line, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"scenario", "devices", "sent", "delivered", "lost", "duplicates", "p50_ms", "p99_ms", "max_ms",
		"per_sec", "connections_per_sec", "server_rss_bytes", "gc_pause_p99_ms", "server_cpu_s", "duration_s", "errors"} {
		if _, ok := m[k]; !ok {
			t.Errorf("result has no %q", k)
		}
	}
	return m
}

func TestHold(t *testing.T) {
	h := nodetest.Start(t)
	m := resultJSON(t, bench.Options{
		Scenario:       bench.Hold,
		Target:         h.URL,
		AdminToken:     nodetest.AdminToken,
		Devices:        50,
		Duration:       time.Second,
		SettleInterval: 200 * time.Millisecond,
		SettleTimeout:  2 * time.Second,
	})
	if m["scenario"] != "hold" || m["devices"] != 50.0 || m["connected"] != 50.0 || m["errors"] != 0.0 || m["disconnects"] != 0.0 {
		t.Fatalf("result %v", m)
	}
	if _, ok := m["rss_per_conn_bytes"]; !ok {
		t.Fatal("hold reports no rss_per_conn_bytes")
	}
	if m["server_connections"] != 50.0 {
		t.Fatalf("the server holds %v connections at the end, want 50", m["server_connections"])
	}
	if m["connections_per_sec"].(float64) <= 0 || m["per_sec"] != m["connections_per_sec"] || m["server_rss_bytes"].(float64) <= 0 {
		t.Fatalf("result %v", m)
	}
}

// pushClients are the clients a run can send its pushes with.
var pushClients = []string{bench.PushGo, bench.PushLean}

func TestUnicast(t *testing.T) {
	for _, client := range pushClients {
		t.Run(client, func(t *testing.T) { testUnicast(t, client) })
	}
}

func testUnicast(t *testing.T, client string) {
	h := nodetest.Start(t)
	const devices, messages = 20, 5
	m := resultJSON(t, bench.Options{
		Scenario:    bench.Unicast,
		Target:      h.URL,
		AdminToken:  nodetest.AdminToken,
		Devices:     devices,
		Messages:    messages,
		Concurrency: 8,
		Timeout:     20 * time.Second,
		PushClient:  client,
	})
	want := map[string]float64{
		"sent": devices * messages, "delivered": devices * messages, "acked": devices * messages,
		"lost": 0, "duplicates": 0, "handler_duplicates": 0, "errors": 0, "connected": devices,
		"acks_sampled": 100, "acks_confirmed": 100,
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %v, want %v", k, m[k], v)
		}
	}
	for _, k := range []string{"p50_ms", "p99_ms", "max_ms", "per_sec", "pushes_per_sec"} {
		if m[k].(float64) <= 0 {
			t.Errorf("%s = %v, want > 0", k, m[k])
		}
	}
	if m["p50_ms"].(float64) > m["p99_ms"].(float64) || m["p99_ms"].(float64) > m["max_ms"].(float64) {
		t.Errorf("p50 %v, p99 %v, max %v out of order", m["p50_ms"], m["p99_ms"], m["max_ms"])
	}
	if _, ok := m["rss_per_conn_bytes"]; ok {
		t.Error("unicast reports rss_per_conn_bytes")
	}
}

// More pushes in flight than the gateway's 250 streams per connection
// must not stall the shared connection.
func TestUnicastAboveTheStreamLimit(t *testing.T) {
	for _, client := range pushClients {
		t.Run(client, func(t *testing.T) {
			h := nodetest.Start(t)
			const devices, messages = 30, 20
			m := resultJSON(t, bench.Options{
				Scenario:    bench.Unicast,
				Target:      h.URL,
				AdminToken:  nodetest.AdminToken,
				Devices:     devices,
				Messages:    messages,
				Concurrency: 300,
				Connections: 1,
				Timeout:     20 * time.Second,
				PushClient:  client,
			})
			if m["delivered"] != float64(devices*messages) || m["errors"] != 0.0 || m["lost"] != 0.0 {
				t.Fatalf("result %v", m)
			}
		})
	}
}

func TestSetupFailures(t *testing.T) {
	h := nodetest.Start(t)
	tests := []struct {
		name, target, token, want string
	}{
		{"wrong token", h.URL, "not-the-token", "admin token was rejected"},
		{"unreachable", "http://127.0.0.1:1", nodetest.AdminToken, "127.0.0.1:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := bench.Run(t.Context(), bench.Options{Scenario: bench.Hold, Target: tt.target, AdminToken: tt.token, Devices: 1, Duration: time.Second})
			if !errors.Is(err, bench.ErrSetup) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrSetup mentioning %q", err, tt.want)
			}
		})
	}
}
