package bench_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/bench"
)

// buildHerald builds cmd/herald into a temporary directory.
func buildHerald(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs herald processes")
	}
	bin := filepath.Join(t.TempDir(), "herald")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-o", bin, "github.com/heraldpush/herald/cmd/herald")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/herald: %v\n%s", err, out)
	}
	return bin
}

// --cluster 2 with --workers 2: the run starts a dataservice, two
// connectors and a gateway as herald processes, waits for the gateway to
// see both connectors, broadcasts, and stops them all.
func TestLocalCluster(t *testing.T) {
	herald := buildHerald(t)
	var progress lockedBuffer
	res, err := bench.Run(t.Context(), bench.Options{Scenario: bench.Broadcast, Cluster: 2, Herald: herald,
		Devices: 200, Messages: 2, Workers: 2, Timeout: 20 * time.Second, Progress: &progress})
	t.Logf("progress:\n%s", progress.String())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Delivered != 400 || res.Lost != 0 || res.Errors != 0 || res.ServerConnections != 200 || res.Acked != 400 {
		t.Fatalf("result %+v", res)
	}
	// The bench read each connector and the dataservice with the cluster
	// token it made up.
	var connectors, data, rss int64
	for _, sv := range res.Servers {
		switch {
		case sv.RSSBytes <= 0 || sv.Goroutines < 1 || sv.CPUSeconds < 0:
			t.Errorf("implausible figures %+v", sv)
		case sv.Role == "connector" && sv.ID != "":
			connectors++
		case sv.Role == "dataservice":
			data++
		case sv.Role != "gateway":
			t.Errorf("unexpected server %+v", sv)
		}
		rss += sv.RSSBytes
	}
	if len(res.Servers) != 4 || connectors != 2 || data != 1 || res.Servers[0].Role != "gateway" || res.Servers[3].Role != "dataservice" {
		t.Errorf("servers %+v, want the gateway, 2 connectors and the dataservice", res.Servers)
	}
	if rss != res.ServerRSSBytes || res.Servers[1].Connections+res.Servers[2].Connections != res.ServerConnections {
		t.Errorf("server_rss_bytes %d and server_connections %d are not the sums over %+v", res.ServerRSSBytes, res.ServerConnections, res.Servers)
	}
	if !strings.Contains(progress.String(), "2 connectors") {
		t.Errorf("progress does not say it started the cluster")
	}
	// The cluster's data directory is gone.
	if m, _ := filepath.Glob(filepath.Join(os.TempDir(), "herald-bench-cluster-*")); len(m) > 0 {
		for _, d := range m {
			if fi, err := os.Stat(d); err == nil && time.Since(fi.ModTime()) < time.Minute {
				t.Errorf("%s was left behind", d)
			}
		}
	}
}

func TestLocalClusterWithoutHerald(t *testing.T) {
	_, err := bench.Run(t.Context(), bench.Options{Scenario: bench.Hold, Cluster: 1, Herald: filepath.Join(t.TempDir(), "herald"),
		Devices: 1, Duration: time.Second})
	if err == nil || !strings.Contains(err.Error(), "no herald binary") {
		t.Fatalf("err = %v, want no herald binary", err)
	}
}
