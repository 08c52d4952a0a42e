package bench_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/heraldpush/herald/bench"
	"github.com/heraldpush/herald/node/nodetest"
)

// Storm and churn against herald all, with the devices in this process
// and in two worker processes.
func TestStormAndChurn(t *testing.T) {
	h := nodetest.Start(t)
	for _, workers := range []int{0, 2} {
		t.Run(fmt.Sprintf("storm/workers=%d", workers), func(t *testing.T) {
			m := resultJSON(t, bench.Options{Scenario: bench.Storm, Target: h.URL, AdminToken: nodetest.AdminToken,
				Devices: 200, Workers: workers, DialConcurrency: 32})
			for k, v := range map[string]float64{"connected": 200, "errors": 0, "disconnects": 0, "server_connections": 200} {
				if m[k] != v {
					t.Errorf("%s = %v, want %v", k, m[k], v)
				}
			}
			cps, p50, p99, mx := m["connections_per_sec"].(float64), m["p50_ms"].(float64), m["p99_ms"].(float64), m["max_ms"].(float64)
			if cps <= 0 || m["per_sec"] != cps || p50 <= 0 || p99 < p50 || mx < p99 {
				t.Errorf("connections_per_sec %v, per_sec %v, connect p50 %v p99 %v max %v", cps, m["per_sec"], p50, p99, mx)
			}
		})
		t.Run(fmt.Sprintf("unicast rate and duration/workers=%d", workers), func(t *testing.T) {
			m := resultJSON(t, bench.Options{Scenario: bench.Unicast, Target: h.URL, AdminToken: nodetest.AdminToken,
				Devices: 100, Workers: workers, Rate: 200, Duration: time.Second, Timeout: 20 * time.Second})
			for k, v := range map[string]float64{"sent": 200, "delivered": 200, "lost": 0, "errors": 0, "rate": 200, "messages": 2} {
				if m[k] != v {
					t.Errorf("%s = %v, want %v", k, m[k], v)
				}
			}
			// Push k is sent no earlier than k/200 s after the first: 200
			// pushes span at least 199/200 s.
			if pps := m["pushes_per_sec"].(float64); pps <= 0 || pps > 200*200/199.0+0.01 {
				t.Errorf("pushes_per_sec %v, want at most the rate", pps)
			}
		})
		t.Run(fmt.Sprintf("churn/workers=%d", workers), func(t *testing.T) {
			m := resultJSON(t, bench.Options{Scenario: bench.Churn, Target: h.URL, AdminToken: nodetest.AdminToken,
				Devices: 200, Workers: workers, Rate: 200, Duration: 2 * time.Second, ChurnShare: 0.1, Timeout: 20 * time.Second})
			for k, v := range map[string]float64{"sent": 400, "delivered": 400, "lost": 0, "errors": 0, "rate": 200, "messages": 2} {
				if m[k] != v {
					t.Errorf("%s = %v, want %v", k, m[k], v)
				}
			}
			if r, _ := m["reconnects"].(float64); r <= 0 || m["reconnects_per_sec"].(float64) <= 0 {
				t.Errorf("reconnects %v, reconnects_per_sec %v; want both > 0", m["reconnects"], m["reconnects_per_sec"])
			}
			if p50, p99, mx := m["p50_ms"].(float64), m["p99_ms"].(float64), m["max_ms"].(float64); p50 <= 0 || p99 < p50 || mx < p99 {
				t.Errorf("latency p50 %v p99 %v max %v", p50, p99, mx)
			}
		})
	}
}

// Steady against herald all: every device's upstream messages reach the
// bench's webhook once, signed, with the devices in this process and in
// two worker processes.
func TestSteady(t *testing.T) {
	h := nodetest.Start(t)
	for _, workers := range []int{0, 2} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			m := resultJSON(t, bench.Options{Scenario: bench.Steady, Target: h.URL, AdminToken: nodetest.AdminToken,
				Devices: 200, Workers: workers, Rate: 100, Duration: 4 * time.Second, Timeout: 20 * time.Second})
			// Period 2 s, two rounds: 400 messages.
			for k, v := range map[string]float64{"sent": 400, "acked": 400, "delivered": 400, "lost": 0, "duplicates": 0, "errors": 0, "rate": 100, "messages": 2} {
				if m[k] != v {
					t.Errorf("%s = %v, want %v", k, m[k], v)
				}
			}
			if p50, p99, mx := m["p50_ms"].(float64), m["p99_ms"].(float64), m["max_ms"].(float64); p50 <= 0 || p99 < p50 || mx < p99 {
				t.Errorf("latency p50 %v p99 %v max %v", p50, p99, mx)
			}
			if b, _ := m["webhook_batch"].(float64); b < 1 {
				t.Errorf("webhook_batch %v, want at least 1", m["webhook_batch"])
			}
		})
	}
}
