package bench

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// startProgress prints a progress line every second until the returned
// function is called. The line shows the phase, then what has happened:
// devices registered and connected, pushes, deliveries and ACKs per
// second over the last second, errors and the 99th percentile latency so
// far.
func (r *run) startProgress() (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		var prev progressCounts
		last := time.Now()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				cur := r.progressCounts()
				r.printf("%s", r.progressLine(prev, cur, now.Sub(last)))
				prev, last = cur, now
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
	}
}

// progressCounts are the counters a progress line shows.
type progressCounts struct {
	fleetStats
	registered, pushed, pushErrors int64
	p99                            time.Duration
}

func (r *run) progressCounts() progressCounts {
	c := progressCounts{registered: r.registered.Load(), pushed: r.pushed.Load(), pushErrors: r.pushErrors.Load()}
	if f := r.fleet.Load(); f != nil {
		c.fleetStats = f.stats()
		c.p99 = f.latency.quantile(0.99)
	}
	return c
}

func (r *run) progressLine(prev, cur progressCounts, dt time.Duration) string {
	perSec := func(a, b int64) int64 {
		if dt <= 0 {
			return 0
		}
		return int64(float64(b-a) / dt.Seconds())
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[%s %5.0fs %-8s]", r.opts.Scenario, time.Since(r.started).Seconds(), *r.phase.Load())
	fmt.Fprintf(&b, " registered=%d/%d connected=%d", cur.registered, r.opts.Devices, cur.Connected)
	switch {
	case r.opts.Scenario == Unicast:
		fmt.Fprintf(&b, " pushed=%d/%d pushes/s=%d deliveries/s=%d acks/s=%d",
			cur.pushed, int64(r.opts.Devices)*int64(r.opts.Messages),
			perSec(prev.pushed, cur.pushed), perSec(prev.Received, cur.Received), perSec(prev.Acked, cur.Acked))
	case r.opts.Scenario.fanout():
		fmt.Fprintf(&b, " pushed=%d/%d deliveries/s=%d acks/s=%d",
			cur.pushed, r.opts.Messages, perSec(prev.Received, cur.Received), perSec(prev.Acked, cur.Acked))
	}
	errs := cur.pushErrors + cur.Invalid + cur.Unconnected
	fmt.Fprintf(&b, " errors=%d disconnects=%d", errs, cur.Disconnects)
	if r.opts.Scenario != Hold {
		fmt.Fprintf(&b, " p99=%.1fms", float64(cur.p99)/float64(time.Millisecond))
	}
	return b.String()
}
