package bench

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// startProgress prints a progress line every second until the returned
// function is called, and records each line's figures as a Sample of the
// run's series (see run.samples). The line shows the phase, then what has
// happened: devices registered and connected, pushes, deliveries and ACKs
// per second over the last second, errors and the 99th percentile latency
// so far. The counters are read once a second, by this goroutine alone:
// the hot path is not touched. Stopping takes a last sample, so the series
// ends where the run did; if less than minSampleInterval passed since the
// previous one, the last sample replaces it and spans both. Stop may be
// called more than once.
func (r *run) startProgress() (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	// The counters and time of the last sample, and of the one before.
	var prev, before progressCounts
	last := time.Now()
	beforeT := last
	sample := func(now time.Time, final bool) Sample {
		cur := r.progressCounts()
		// The SDK counters are summed over the clients open now: once the
		// fleet closed they would seem to go back. Counts so far do not.
		cur.pushed = max(cur.pushed, prev.pushed)
		cur.Welcomed = max(cur.Welcomed, prev.Welcomed)
		cur.Received = max(cur.Received, prev.Received)
		cur.Acked = max(cur.Acked, prev.Acked)
		r.seriesMu.Lock()
		defer r.seriesMu.Unlock()
		if final && now.Sub(last) < minSampleInterval && len(r.series) > 0 {
			r.series[len(r.series)-1] = r.sample(before, cur, now.Sub(beforeT))
		} else {
			r.series = append(r.series, r.sample(prev, cur, now.Sub(last)))
			before, beforeT = prev, last
		}
		prev, last = cur, now
		return r.series[len(r.series)-1]
	}
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				r.printf("%s", r.progressLine(sample(now, false)))
			}
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
			sample(time.Now(), true)
		})
	}
}

// minSampleInterval is the shortest span the last sample of a run covers
// alone: over a shorter one its rates would be mostly noise.
const minSampleInterval = 100 * time.Millisecond

// Sample is one point of a run's time series: what a progress line shows,
// as numbers. Rates are per second over the span since the previous
// sample (one second, except for the last sample of a run).
type Sample struct {
	// T is the seconds since the run started.
	T     float64 `json:"t_s"`
	Phase string  `json:"phase"`
	// Registered, Connected, Pushed, Delivered and Acked are counts so
	// far: devices registered and connected now, pushes accepted,
	// distinct messages delivered to handlers, ACKs sent.
	Registered int64 `json:"registered"`
	Connected  int64 `json:"connected"`
	Pushed     int64 `json:"pushed"`
	Delivered  int64 `json:"delivered"`
	Acked      int64 `json:"acked"`
	// ConnectionsPerSec counts devices whose first connection succeeded.
	ConnectionsPerSec float64 `json:"connections_per_sec"`
	PushesPerSec      float64 `json:"pushes_per_sec"`
	DeliveriesPerSec  float64 `json:"deliveries_per_sec"`
	AcksPerSec        float64 `json:"acks_per_sec"`
	// Errors counts failed pushes, devices that never connected and
	// messages that were not the bench's, so far.
	Errors      int64 `json:"errors"`
	Disconnects int64 `json:"disconnects"`
	// P99Ms is the 99th percentile delivery latency so far.
	P99Ms float64 `json:"p99_ms"`
}

// samples returns a copy of the series recorded so far.
func (r *run) samples() []Sample {
	r.seriesMu.Lock()
	defer r.seriesMu.Unlock()
	return append([]Sample(nil), r.series...)
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
		if r.opts.Scenario == Steady {
			// Steady's "pushes" are the devices' upstream Sends, and its
			// ACKs the server's acknowledgements of them.
			c.pushed, c.Acked = c.UpSent, c.UpAcked
		}
	}
	return c
}

// sample turns the counters at the start (prev) and end (cur) of a span
// dt into a Sample.
func (r *run) sample(prev, cur progressCounts, dt time.Duration) Sample {
	perSec := func(a, b int64) float64 {
		if dt <= 0 {
			return 0
		}
		return round3(float64(b-a) / dt.Seconds())
	}
	return Sample{
		T:                 round3(time.Since(r.started).Seconds()),
		Phase:             *r.phase.Load(),
		Registered:        cur.registered,
		Connected:         cur.Connected,
		Pushed:            cur.pushed,
		Delivered:         cur.Received,
		Acked:             cur.Acked,
		ConnectionsPerSec: perSec(prev.Welcomed, cur.Welcomed),
		PushesPerSec:      perSec(prev.pushed, cur.pushed),
		DeliveriesPerSec:  perSec(prev.Received, cur.Received),
		AcksPerSec:        perSec(prev.Acked, cur.Acked),
		Errors:            cur.pushErrors + cur.Invalid + cur.Unconnected,
		Disconnects:       cur.Disconnects,
		P99Ms:             millis(cur.p99),
	}
}

// progressLine formats s as a progress line.
func (r *run) progressLine(s Sample) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%s %5.0fs %-8s]", r.opts.Scenario, s.T, s.Phase)
	fmt.Fprintf(&b, " registered=%d/%d connected=%d", s.Registered, r.opts.Devices, s.Connected)
	switch {
	case r.opts.Scenario == Hold:
		fmt.Fprintf(&b, " connections/s=%.0f", s.ConnectionsPerSec)
	case r.opts.Scenario == Unicast:
		fmt.Fprintf(&b, " pushed=%d/%d pushes/s=%.0f deliveries/s=%.0f acks/s=%.0f",
			s.Pushed, int64(r.opts.Devices)*int64(r.opts.Messages), s.PushesPerSec, s.DeliveriesPerSec, s.AcksPerSec)
	case r.opts.Scenario == Churn:
		fmt.Fprintf(&b, " pushed=%d pushes/s=%.0f deliveries/s=%.0f acks/s=%.0f",
			s.Pushed, s.PushesPerSec, s.DeliveriesPerSec, s.AcksPerSec)
	case r.opts.Scenario == Steady:
		// Upstream: sent by devices, acknowledged by the connector
		// (stored), delivered to the webhook.
		fmt.Fprintf(&b, " sent=%d sent/s=%.0f acked/s=%.0f webhook/s=%.0f",
			s.Pushed, s.PushesPerSec, s.AcksPerSec, s.DeliveriesPerSec)
	case r.opts.Scenario.fanout():
		fmt.Fprintf(&b, " pushed=%d/%d pushes/s=%.0f deliveries/s=%.0f acks/s=%.0f",
			s.Pushed, r.opts.Messages, s.PushesPerSec, s.DeliveriesPerSec, s.AcksPerSec)
	}
	fmt.Fprintf(&b, " errors=%d disconnects=%d", s.Errors, s.Disconnects)
	if r.opts.Scenario != Hold {
		fmt.Fprintf(&b, " p99=%.1fms", s.P99Ms)
	}
	return b.String()
}
