package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrOutput means the run's files could not be written to Options.Out
// after the run; the result is still returned.
var ErrOutput = errors.New("bench: writing the output directory")

// Files written to Options.Out.
const (
	// ResultsFile is the Report as indented JSON.
	ResultsFile = "results.json"
	// ThroughputPlot shows connections, pushes, deliveries and ACKs per
	// second over the run.
	ThroughputPlot = "throughput.png"
	// LatencyPlot is the CDF of the delivery latency; it is written only
	// when something was delivered.
	LatencyPlot = "latency_cdf.png"
)

// Report is what Options.Out's results.json holds: the fields of the
// result line, then the run's series and latency distribution.
type Report struct {
	Result
	// Series has a Sample per progress line, one a second, and a last one
	// at the end of the run.
	Series []Sample `json:"series"`
	// LatencyPercentiles are delivery latencies at chosen percentiles,
	// empty if nothing was delivered.
	LatencyPercentiles []Percentile `json:"latency_percentiles"`
	// LatencyCDF is the distribution of the delivery latency: a point per
	// non-empty histogram bucket, in increasing order, each the bucket's
	// upper bound and the fraction of deliveries at or below it.
	LatencyCDF []CDFPoint `json:"latency_cdf"`
}

// Percentile is the delivery latency at or below which P percent of the
// deliveries fall.
type Percentile struct {
	P  float64 `json:"p"`
	Ms float64 `json:"ms"`
}

// CDFPoint is one point of a latency CDF: Fraction (0..1) of the
// deliveries took at most Ms milliseconds.
type CDFPoint struct {
	Ms       float64 `json:"ms"`
	Fraction float64 `json:"fraction"`
}

// reportedPercentiles are the percentiles Report.LatencyPercentiles has.
var reportedPercentiles = []float64{50, 75, 90, 95, 99, 99.9, 99.99, 100}

// report assembles res with the run's series and latency distribution.
// Call it once the progress reporter has stopped.
func (r *run) report(res Result) Report {
	rep := Report{Result: res, Series: r.samples()}
	if f := r.fleet.Load(); f != nil {
		rep.LatencyPercentiles, rep.LatencyCDF = latencyDistribution(f.latency)
	}
	return rep
}

// latencyDistribution reads h's percentiles and CDF; both are empty
// (non-nil) if h recorded nothing.
func latencyDistribution(h *histogram) ([]Percentile, []CDFPoint) {
	ps, cdf := []Percentile{}, []CDFPoint{}
	n := h.count()
	if n == 0 {
		return ps, cdf
	}
	for _, p := range reportedPercentiles {
		ps = append(ps, Percentile{P: p, Ms: millis(h.quantile(p / 100))})
	}
	maxUs := h.max.Load()
	var seen uint64
	for i := range h.counts {
		c := h.counts[i].Load()
		if c == 0 {
			continue
		}
		seen += c
		_, hi := bucketBounds(i)
		cdf = append(cdf, CDFPoint{
			Ms:       round3(float64(min(hi, maxUs)) / 1000),
			Fraction: min(float64(seen)/float64(n), 1),
		})
	}
	return ps, cdf
}

// prepareOut makes sure the run can write its files into dir, creating
// it if missing, before the run starts. Its errors wrap ErrInvalidOptions.
// An empty dir means no output directory.
func prepareOut(dir string) error {
	if dir == "" {
		return nil
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: --out %s: %s", ErrInvalidOptions, dir, fmt.Sprintf(format, args...))
	}
	switch fi, err := os.Stat(dir); {
	case err == nil && !fi.IsDir():
		return bad("not a directory")
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return bad("cannot create it: %v", err)
		}
	case err != nil:
		return bad("%v", err)
	}
	probe, err := os.CreateTemp(dir, ".herald-bench-probe-*")
	if err != nil {
		return bad("not writable: %v", err)
	}
	name := probe.Name()
	probe.Close()
	if err := os.Remove(name); err != nil {
		return bad("cannot remove a file written there: %v", err)
	}
	return nil
}

// writeOut writes rep into dir as ResultsFile, ThroughputPlot and, if
// something was delivered, LatencyPlot, and returns the paths written.
// Its errors wrap ErrOutput.
func writeOut(dir string, rep Report) ([]string, error) {
	fail := func(err error) error { return fmt.Errorf("%w %s: %w", ErrOutput, dir, err) }
	var files []string
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return files, fail(err)
	}
	path := filepath.Join(dir, ResultsFile)
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return files, fail(err)
	}
	files = append(files, path)

	path = filepath.Join(dir, ThroughputPlot)
	if err := savePNG(throughputPlot(rep), path); err != nil {
		return files, fail(err)
	}
	files = append(files, path)

	if len(rep.LatencyCDF) > 0 {
		path = filepath.Join(dir, LatencyPlot)
		if err := savePNG(latencyPlot(rep), path); err != nil {
			return files, fail(err)
		}
		files = append(files, path)
	}
	return files, nil
}
