package bench_test

import (
	"encoding/json"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/bench"
	"github.com/heraldpush/herald/node/nodetest"
)

// A unicast run with Out writes the result, its series and latency CDF,
// and the plots.
func TestUnicastWritesOut(t *testing.T) {
	h := nodetest.Start(t)
	out := filepath.Join(t.TempDir(), "out")
	var progress lockedBuffer
	const devices, messages = 10, 3
	res, err := bench.Run(t.Context(), bench.Options{
		Scenario:    bench.Unicast,
		Target:      h.URL,
		AdminToken:  nodetest.AdminToken,
		Devices:     devices,
		Messages:    messages,
		Concurrency: 8,
		Timeout:     20 * time.Second,
		Progress:    &progress,
		Out:         out,
	})
	t.Logf("progress:\n%s", progress.String())
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if !strings.Contains(progress.String(), filepath.Join(out, bench.ResultsFile)) {
		t.Error("the progress output does not say where the results went")
	}
	data, err := os.ReadFile(filepath.Join(out, bench.ResultsFile))
	if err != nil {
		t.Fatal(err)
	}
	var rep bench.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	line, _ := json.Marshal(res)
	saved, _ := json.Marshal(rep.Result)
	if string(line) != string(saved) {
		t.Fatalf("results.json holds result\n%s\nthe run returned\n%s", saved, line)
	}
	if len(rep.Series) == 0 {
		t.Fatal("results.json has no series")
	}
	last := rep.Series[len(rep.Series)-1]
	if last.Pushed != devices*messages || last.Delivered != devices*messages {
		t.Errorf("the series ends at %d pushed, %d delivered; want %d each", last.Pushed, last.Delivered, devices*messages)
	}
	if len(rep.LatencyCDF) == 0 || rep.LatencyCDF[len(rep.LatencyCDF)-1].Fraction != 1 {
		t.Errorf("latency CDF %v does not reach 1", rep.LatencyCDF)
	}
	if len(rep.LatencyPercentiles) == 0 {
		t.Error("no latency percentiles")
	}
	for _, name := range []string{bench.ThroughputPlot, bench.LatencyPlot} {
		f, err := os.Open(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := png.DecodeConfig(f); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		f.Close()
	}
}
