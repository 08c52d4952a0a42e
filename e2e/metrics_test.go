package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/node/nodetest"
)

var metricsLine = regexp.MustCompile(`metrics\s+http://(\S+)/metrics`)

// A herald all binary that served pushes to connected devices exposes
// every hop's metrics at /metrics on the REST port (admin token) and on
// its --metrics listener (no token), in a format promtool accepts, and
// every metric the operator's kit in deploy/ uses exists.
func TestHeraldAllServesMetricsOfEveryHop(t *testing.T) {
	p := startHerald(t, t.TempDir(), "127.0.0.1:0", "127.0.0.1:0", "--metrics", "127.0.0.1:0")
	var metricsAddr string
	nodetest.Eventually(t, 5*time.Second, func() bool {
		m := metricsLine.FindStringSubmatch(p.stdout.String())
		if m != nil {
			metricsAddr = m[1]
		}
		return m != nil
	}, func() string { return "no metrics address printed:\n" + p.stdout.String() })

	app := p.h.CreateApp()
	const devices = 20
	f := startLocalFleet(t, "http://"+p.http, app, devices)
	f.connect(0, devices)
	nodetest.Eventually(t, 20*time.Second, func() bool { return f.online() == devices },
		func() string { return fmt.Sprintf("%d of %d devices online", f.online(), devices) })
	for i := range devices {
		p.h.Push(app, nodetest.Push{RegistrationIDs: f.rids[i : i+1], Content: fmt.Sprint("unicast ", i)})
	}
	last := p.h.Push(app, nodetest.Push{RegistrationIDs: f.rids, Content: "to all"})
	p.h.WaitReport(app, last, func(r nodetest.Report) bool { return r.Delivered == devices })

	rest := "http://" + p.http + "/metrics"
	if status, body := nodetest.Scrape(t, rest, ""); status != http.StatusUnauthorized || !strings.Contains(string(body), `"unauthorized"`) {
		t.Fatalf("GET /metrics without the admin token: %d %.200s, want a JSON 401", status, body)
	}
	if status, _ := nodetest.Scrape(t, rest, "wrong"); status != http.StatusUnauthorized {
		t.Fatalf("GET /metrics with a wrong token: %d, want 401", status)
	}
	status, body := nodetest.Scrape(t, rest, nodetest.AdminToken)
	if status != http.StatusOK {
		t.Fatalf("GET /metrics with the admin token: %d %.300s", status, body)
	}
	if status, separate := nodetest.Scrape(t, "http://"+metricsAddr+"/metrics", ""); status != http.StatusOK || !strings.Contains(string(separate), "herald_push_accepted_total") {
		t.Fatalf("GET /metrics on the --metrics listener: %d %.300s", status, separate)
	}

	// Every hop counted what the run did.
	for _, tc := range []struct {
		series string
		min    float64
	}{
		{`herald_http_requests_total{code="2xx",route="POST /v1/push"}`, devices + 1},
		{`herald_push_accepted_total{kind="list"}`, devices + 1},
		{`herald_push_accept_seconds_count{kind="list"}`, devices + 1},
		{`herald_connector_connections_opened_total`, devices},
		{`herald_connector_connections`, devices},
		{`herald_connector_handshake_seconds_count`, devices},
		{`herald_connector_frames_total{direction="in",type="HELLO"}`, devices},
		{`herald_connector_frames_total{direction="out",type="WELCOME"}`, devices},
		{`herald_connector_frames_total{direction="out",type="PUSH"}`, 2 * devices},
		{`herald_connector_frames_total{direction="in",type="ACK"}`, 1},
		{`herald_connector_messages_acked_total`, 2 * devices},
		{`herald_connector_delivery_seconds_count`, 2 * devices},
		{`herald_writer_batch_size_count{kind="settlements"}`, 1},
		{`herald_writer_flush_seconds_count{kind="settlements"}`, 1},
		{`herald_store_operations_total{op="put_many",outcome="ok"}`, 1},
		{`herald_store_operation_seconds_count{op="get"}`, 1},
		{`herald_cache_hits_total{tier="memory"}`, 1},
		{`go_gc_duration_seconds_count`, 0},
	} {
		v, ok := nodetest.Sample(body, tc.series)
		if !ok || v < tc.min {
			t.Errorf("%s = %v (exposed: %v), want ≥ %v", tc.series, v, ok, tc.min)
		}
	}
	for _, forbidden := range append(f.rids, app.Key, last) {
		if strings.Contains(string(body), forbidden) {
			t.Fatalf("/metrics names a device, an app or a message (%s): labels must stay bounded", forbidden)
		}
	}

	// What deploy/ uses exists.
	names := nodetest.MetricNames(body)
	for _, file := range []string{"prometheus/alerts.yml", "grafana/herald.json"} {
		text, err := os.ReadFile(filepath.Join("..", "deploy", file))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range regexp.MustCompile(`\b(?:herald|go|process)_[a-z0-9_]+`).FindAllString(string(text), -1) {
			base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, "_bucket"), "_count"), "_sum")
			if !names[name] && !names[base] {
				t.Errorf("deploy/%s uses %s, which herald all does not expose", file, name)
			}
		}
	}

	nodetest.CheckMetrics(t, body)
}

// The operator's kit in deploy/ is valid: promtool accepts the alert
// rules and passes their unit tests, and every query of the Grafana
// dashboard parses as PromQL.
func TestDeployedRulesAndDashboardAreValid(t *testing.T) {
	promtool := nodetest.Promtool(t)
	dir := filepath.Join("..", "deploy", "prometheus")
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	// The dashboard's queries, with Grafana's variables filled in, as
	// recording rules promtool checks.
	raw, err := os.ReadFile(filepath.Join("..", "deploy", "grafana", "herald.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("deploy/grafana/herald.json: %v", err)
	}
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	n := 0
	for _, p := range dash.Panels {
		for _, target := range p.Targets {
			expr := strings.NewReplacer("$__rate_interval", "5m", "$job", "herald.*").Replace(target.Expr)
			quoted, _ := json.Marshal(expr)
			n++
			fmt.Fprintf(&rules, "      - record: dashboard_query_%d\n        expr: %s\n", n, quoted)
		}
	}
	if n < 20 {
		t.Fatalf("the dashboard has %d queries; want its panels", n)
	}
	file := filepath.Join(t.TempDir(), "dashboard.yml")
	if err := os.WriteFile(file, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput(); err != nil {
		t.Fatalf("the dashboard's queries: %v\n%s", err, out)
	}
}
