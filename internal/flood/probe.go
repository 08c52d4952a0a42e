package flood

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"
)

// ProbeResult is what Probe measured.
type ProbeResult struct {
	// Answered counts probes answered 200; Failed the others (an error,
	// another status, no answer within the timeout).
	Answered, Failed int
	// Errors are the first few failures, said.
	Errors []string
	// P50, P99 and Max are the latencies of the answered probes.
	P50, P99, Max time.Duration
}

// Probe calls GET url every interval, on a new connection each time, each
// call given at most timeout, until ctx ends.
func Probe(ctx context.Context, url string, interval, timeout time.Duration) ProbeResult {
	client := &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	var lat []time.Duration
	var res ProbeResult
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			slices.Sort(lat)
			if n := len(lat); n > 0 {
				res.P50, res.P99, res.Max = lat[n/2], lat[min(n-1, n*99/100)], lat[n-1]
			}
			return res
		case <-tick.C:
		}
		start := time.Now()
		resp, err := client.Get(url)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		if err != nil || resp.StatusCode != http.StatusOK {
			if ctx.Err() == nil {
				res.Failed++
				if len(res.Errors) < 5 {
					if err == nil {
						err = fmt.Errorf("status %d", resp.StatusCode)
					}
					res.Errors = append(res.Errors, fmt.Sprintf("after %v: %v", time.Since(start).Round(time.Millisecond), err))
				}
			}
			continue
		}
		lat = append(lat, time.Since(start))
		res.Answered = len(lat)
	}
}
