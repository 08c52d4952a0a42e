package bench

import (
	"encoding/json"
	"errors"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// testReport builds a report of scenario whose deliveries took latencies.
func testReport(scenario Scenario, latencies []time.Duration) Report {
	h := new(histogram)
	for _, d := range latencies {
		h.record(d)
	}
	res := Result{Scenario: string(scenario), Devices: 3, Connected: 3, Delivered: int64(len(latencies)),
		P99Ms: millis(h.quantile(0.99)), MaxMs: millis(h.maxValue())}
	rep := Report{Result: res}
	for i := range 5 {
		rep.Series = append(rep.Series, Sample{
			T: float64(i + 1), Phase: "push", Connected: 3, Pushed: int64(10 * i), Delivered: int64(9 * i),
			ConnectionsPerSec: float64(3 * (i % 2)), PushesPerSec: 10, DeliveriesPerSec: 9, AcksPerSec: 8.5, P99Ms: 1.5,
		})
	}
	rep.LatencyPercentiles, rep.LatencyCDF = latencyDistribution(h)
	return rep
}

func TestWriteOut(t *testing.T) {
	var wide, narrow []time.Duration
	for i := range 1000 {
		wide = append(wide, time.Duration(i*i)*time.Microsecond) // 0 to 1s
		narrow = append(narrow, 5*time.Millisecond+time.Duration(i)*time.Microsecond)
	}
	tests := []struct {
		name  string
		rep   Report
		files []string
	}{
		{"unicast, latencies over decades (log axis)", testReport(Unicast, wide), []string{ResultsFile, ThroughputPlot, LatencyPlot}},
		{"broadcast, narrow latencies (linear axis)", testReport(Broadcast, narrow), []string{ResultsFile, ThroughputPlot, LatencyPlot}},
		{"one latency", testReport(TagPush, []time.Duration{3 * time.Millisecond}), []string{ResultsFile, ThroughputPlot, LatencyPlot}},
		{"hold, nothing delivered", testReport(Hold, nil), []string{ResultsFile, ThroughputPlot}},
		{"no samples", Report{Result: Result{Scenario: string(Unicast)}, LatencyCDF: []CDFPoint{}, LatencyPercentiles: []Percentile{}}, []string{ResultsFile, ThroughputPlot}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			written, err := writeOut(dir, tt.rep)
			if err != nil {
				t.Fatalf("writeOut: %v", err)
			}
			var want []string
			for _, f := range tt.files {
				want = append(want, filepath.Join(dir, f))
			}
			if !reflect.DeepEqual(written, want) {
				t.Fatalf("wrote %v, want %v", written, want)
			}
			entries, _ := os.ReadDir(dir)
			if len(entries) != len(tt.files) {
				t.Fatalf("the directory has %d files, want %d", len(entries), len(tt.files))
			}

			data, err := os.ReadFile(filepath.Join(dir, ResultsFile))
			if err != nil {
				t.Fatal(err)
			}
			var got Report
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatalf("results.json: %v", err)
			}
			if !reflect.DeepEqual(got, tt.rep) {
				t.Fatalf("results.json reads back as\n%+v\nwant\n%+v", got, tt.rep)
			}
			// The result's fields are at the top level, as in the JSON line.
			var m map[string]any
			if err := json.Unmarshal(data, &m); err != nil {
				t.Fatal(err)
			}
			for _, k := range []string{"scenario", "p99_ms", "delivered", "series", "latency_cdf", "latency_percentiles"} {
				if _, ok := m[k]; !ok {
					t.Errorf("results.json has no %q", k)
				}
			}
			if !strings.Contains(string(data), "\n  \"scenario\"") {
				t.Error("results.json is not indented")
			}

			for _, f := range tt.files[1:] {
				checkPNG(t, filepath.Join(dir, f))
			}
		})
	}
}

// checkPNG fails unless path is a PNG of the plots' size.
func checkPNG(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if b := img.Bounds(); b.Dx() != plotWidthPx || b.Dy() != plotHeightPx {
		t.Fatalf("%s is %dx%d, want %dx%d", path, b.Dx(), b.Dy(), plotWidthPx, plotHeightPx)
	}
}

func TestLatencyDistribution(t *testing.T) {
	h := new(histogram)
	ps, cdf := latencyDistribution(h)
	if ps == nil || cdf == nil || len(ps) != 0 || len(cdf) != 0 {
		t.Fatalf("empty histogram: %v, %v; want empty, non-nil", ps, cdf)
	}
	for i := 1; i <= 100; i++ {
		h.record(time.Duration(i) * time.Millisecond)
	}
	ps, cdf = latencyDistribution(h)
	if len(ps) != len(reportedPercentiles) {
		t.Fatalf("%d percentiles, want %d", len(ps), len(reportedPercentiles))
	}
	for i, p := range ps {
		if p.P != reportedPercentiles[i] || i > 0 && p.Ms < ps[i-1].Ms {
			t.Fatalf("percentiles %v out of order", ps)
		}
	}
	if ps[0].Ms < 49 || ps[0].Ms > 51 || ps[len(ps)-1].Ms != 100 {
		t.Fatalf("p50 %v ms, p100 %v ms; want about 50 and exactly 100", ps[0].Ms, ps[len(ps)-1].Ms)
	}
	if len(cdf) != 100 {
		t.Fatalf("%d CDF points for 100 distinct latencies a bucket apart, want 100", len(cdf))
	}
	for i, c := range cdf {
		if i > 0 && (c.Ms <= cdf[i-1].Ms || c.Fraction <= cdf[i-1].Fraction) {
			t.Fatalf("CDF not increasing at %d: %v after %v", i, c, cdf[i-1])
		}
	}
	if last := cdf[len(cdf)-1]; last.Fraction != 1 || last.Ms != 100 {
		t.Fatalf("the CDF ends at %v, want 100ms and 1", last)
	}
}

func TestPrepareOut(t *testing.T) {
	base := t.TempDir()
	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	readOnly := filepath.Join(base, "read-only")
	if err := os.Mkdir(readOnly, 0o555); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, dir, wantErr string
		skip               bool
	}{
		{name: "none", dir: ""},
		{name: "existing directory", dir: base},
		{name: "created", dir: filepath.Join(base, "a", "b")},
		{name: "a file", dir: file, wantErr: "not a directory"},
		{name: "under a file", dir: filepath.Join(file, "sub"), wantErr: "not a directory"},
		// root writes to any directory.
		{name: "unwritable", dir: readOnly, wantErr: "not writable", skip: os.Geteuid() == 0},
		{name: "uncreatable", dir: filepath.Join(readOnly, "sub"), wantErr: "cannot create it", skip: os.Geteuid() == 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.skip {
				t.Skip("running as root, which may write anywhere")
			}
			err := prepareOut(tt.dir)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("prepareOut(%q): %v", tt.dir, err)
				}
				if tt.dir != "" {
					if fi, err := os.Stat(tt.dir); err != nil || !fi.IsDir() {
						t.Fatalf("%s is not a directory after prepareOut: %v", tt.dir, err)
					}
					if entries, _ := os.ReadDir(tt.dir); tt.dir != base && len(entries) != 0 {
						t.Fatalf("prepareOut left %d files in %s", len(entries), tt.dir)
					}
				}
				return
			}
			if !errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "--out") {
				t.Fatalf("prepareOut(%q) = %v, want ErrInvalidOptions saying --out … %s", tt.dir, err, tt.wantErr)
			}
		})
	}
}

func TestRunRejectsABadOutBeforeCallingTheTarget(t *testing.T) {
	file := filepath.Join(t.TempDir(), "results")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// Port 1 refuses connections: a run that got past the check would
	// fail with ErrSetup instead.
	_, err := Run(t.Context(), Options{Scenario: Hold, Target: "http://127.0.0.1:1", AdminToken: "t", Devices: 1, Duration: time.Second, Out: file})
	if !errors.Is(err, ErrInvalidOptions) || errors.Is(err, ErrSetup) {
		t.Fatalf("err = %v, want ErrInvalidOptions", err)
	}
}

func TestParseArgsOut(t *testing.T) {
	o, err := ParseArgs([]string{"unicast", "--devices", "1", "--messages", "1", "--out", "bench-out"}, env("t"), io.Discard)
	if err != nil || o.Out != "bench-out" {
		t.Fatalf("Out = %q, err %v", o.Out, err)
	}
}

func TestProgressLineAndSample(t *testing.T) {
	tests := []struct {
		scenario Scenario
		want     []string
	}{
		{Hold, []string{"registered=5/10", "connected=4", "connections/s=2", "errors=3", "disconnects=1"}},
		{Unicast, []string{"connected=4", "pushed=30/20", "pushes/s=20", "deliveries/s=10", "acks/s=8", "errors=3", "p99=12.5ms"}},
		{Broadcast, []string{"connected=4", "pushed=30/2", "pushes/s=20", "deliveries/s=10", "acks/s=8", "errors=3", "p99=12.5ms"}},
	}
	for _, tt := range tests {
		t.Run(string(tt.scenario), func(t *testing.T) {
			r := &run{opts: Options{Scenario: tt.scenario, Devices: 10, Messages: 2}, started: time.Now()}
			r.setPhase("push")
			prev := progressCounts{registered: 3, pushed: 20}
			prev.Welcomed, prev.Received, prev.Acked = 2, 5, 4
			cur := progressCounts{registered: 5, pushed: 30, pushErrors: 1, p99: 12500 * time.Microsecond}
			cur.Connected, cur.Welcomed, cur.Received, cur.Acked = 4, 3, 10, 8
			cur.Invalid, cur.Unconnected, cur.Disconnects = 1, 1, 1
			s := r.sample(prev, cur, 500*time.Millisecond)
			want := Sample{T: s.T, Phase: "push", Registered: 5, Connected: 4, Pushed: 30, Delivered: 10, Acked: 8,
				ConnectionsPerSec: 2, PushesPerSec: 20, DeliveriesPerSec: 10, AcksPerSec: 8, Errors: 3, Disconnects: 1, P99Ms: 12.5}
			if s != want {
				t.Fatalf("sample %+v, want %+v", s, want)
			}
			line := r.progressLine(s)
			for _, w := range tt.want {
				if !strings.Contains(line, w) {
					t.Errorf("progress line %q lacks %q", line, w)
				}
			}
		})
	}
}

func TestProgressRecordsASeries(t *testing.T) {
	r := &run{opts: Options{Scenario: Unicast, Devices: 1, Messages: 1, Progress: io.Discard}, started: time.Now(), shown: map[string]int{}}
	r.setPhase("push")
	stop := r.startProgress()
	deadline := time.Now().Add(10 * time.Second)
	for len(r.samples()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	r.pushed.Add(7)
	stop()
	stop() // a second stop is harmless
	s := r.samples()
	if len(s) == 0 {
		t.Fatal("no sample within 10s")
	}
	if last := s[len(s)-1]; last.Pushed != 7 {
		t.Fatalf("the last sample has %d pushes, want the 7 pushed before stop (series %+v)", last.Pushed, s)
	}
	for i := 1; i < len(s); i++ {
		if s[i].T < s[i-1].T {
			t.Fatalf("samples out of order: %+v", s)
		}
	}
}
