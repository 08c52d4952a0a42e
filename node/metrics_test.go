package node_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/node"
	"github.com/heraldpush/herald/node/nodetest"
)

// Each process of the distributed form serves the metrics of the
// components it runs, to its token, in a format promtool accepts.
func TestClusterProcessesServeTheirMetrics(t *testing.T) {
	c := startCluster(t, 1)
	app := c.h.CreateApp()
	d := c.connectDevices(app, 2, nil)
	c.h.Push(app, nodetest.Push{RegistrationIDs: d.rids(), Content: "hello"})
	d.waitAll(t, "hello")

	for _, proc := range []struct {
		role, url, token string
		has, hasNot      []string
	}{
		{"gateway", "http://" + c.gw.HTTPAddr().String() + "/metrics", nodetest.AdminToken,
			[]string{"herald_http_requests_total", "herald_push_accepted_total", "herald_webhook_posts_total", "herald_writer_batch_size", "herald_cache_hits_total", "go_gc_duration_seconds"},
			[]string{"herald_store_operations_total", "herald_connector_frames_total"}},
		{"connector", "http://" + c.connectors[0].InternalAddr().String() + "/metrics", clusterToken,
			[]string{"herald_connector_frames_total", "herald_connector_connections", "herald_connector_delivery_seconds", "herald_writer_flush_seconds", "herald_cache_misses_total"},
			[]string{"herald_http_requests_total", "herald_store_operations_total"}},
		{"dataservice", "http://" + c.ds.Addr().String() + "/metrics", clusterToken,
			[]string{"herald_store_operations_total", "herald_dataservice_invalidation_seconds", "herald_leveldb_write_paused"},
			[]string{"herald_http_requests_total", "herald_connector_frames_total"}},
	} {
		t.Run(proc.role, func(t *testing.T) {
			if status, _ := nodetest.Scrape(t, proc.url, ""); status != http.StatusUnauthorized {
				t.Fatalf("without a token: %d, want 401", status)
			}
			if status, _ := nodetest.Scrape(t, proc.url, "wrong"); status != http.StatusUnauthorized {
				t.Fatalf("with a wrong token: %d, want 401", status)
			}
			var body []byte
			nodetest.Eventually(t, 5*time.Second, func() bool {
				var status int
				status, body = nodetest.Scrape(t, proc.url, proc.token)
				return status == http.StatusOK && nodetest.MetricNames(body)[proc.has[0]]
			}, func() string { return "no metrics: " + string(body[:min(len(body), 300)]) })
			names := nodetest.MetricNames(body)
			for _, n := range proc.has {
				if !names[n] {
					t.Errorf("%s is not exposed", n)
				}
			}
			for _, n := range proc.hasNot {
				if names[n] {
					t.Errorf("%s is exposed, but the %s does not run its component", n, proc.role)
				}
			}
			if strings.Contains(string(body), app.Key) {
				t.Fatal("an app key is a label value")
			}
			nodetest.CheckMetrics(t, body)
		})
	}
}

// `herald all` serves /metrics on its REST port to the admin token only,
// and without a token on a separate metrics address when given one.
func TestAllServesMetricsToTheAdminOrOnItsOwnAddress(t *testing.T) {
	h := nodetest.Start(t, func(cfg *node.AllConfig) { cfg.Metrics = "127.0.0.1:0" })
	if status, body := nodetest.Scrape(t, h.URL+"/metrics", ""); status != http.StatusUnauthorized || !strings.Contains(string(body), `"unauthorized"`) {
		t.Fatalf("REST /metrics without a token: %d %s", status, body)
	}
	if status, body := nodetest.Scrape(t, h.URL+"/metrics", nodetest.AdminToken); status != http.StatusOK || !strings.Contains(string(body), "herald_http_requests_total") {
		t.Fatalf("REST /metrics with the admin token: %d %.300s", status, body)
	}
	separate := "http://" + h.Node.MetricsAddr().String()
	if status, body := nodetest.Scrape(t, separate+"/metrics", ""); status != http.StatusOK || !strings.Contains(string(body), "herald_store_operations_total") {
		t.Fatalf("/metrics on the metrics address: %d %.300s", status, body)
	}
	if status, _ := nodetest.Scrape(t, separate+"/v1/apps", nodetest.AdminToken); status != http.StatusNotFound {
		t.Fatalf("the metrics address serves the REST API: %d, want 404", status)
	}
}
