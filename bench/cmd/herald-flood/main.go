// Command herald-flood is the hostile client of issue 16, for measuring
// what a flood costs a running Herald: it holds slow-body connections on
// the REST port and half-open handshakes on the device port (each opened
// again a second after the server closes it), probes GET /healthz on a
// new connection every --probe-interval meanwhile, and at the end writes
// one JSON line: the flood's figures and the probe's latencies. Run
// herald-bench alongside it, and without it, to compare.
//
//	herald-flood --rest 127.0.0.1:8080 --device 127.0.0.1:7100 --slow-bodies 5000 --half-open 5000 --duration 60s
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/heraldpush/herald/internal/fleet"
	"github.com/heraldpush/herald/internal/flood"
)

// result is the JSON line herald-flood writes.
type result struct {
	SlowBodies int `json:"slow_bodies"`
	HalfOpen   int `json:"half_open"`
	// Held at the end, and over the run.
	SlowHeld        int64    `json:"slow_held"`
	HalfOpenHeld    int64    `json:"half_open_held"`
	Opened          int64    `json:"opened"`
	ClosedByServer  int64    `json:"closed_by_server"`
	DialFailures    int64    `json:"dial_failures"`
	SlowHeldMaxMs   float64  `json:"slow_held_max_ms"`
	HealthAnswered  int      `json:"healthz_answered"`
	HealthFailed    int      `json:"healthz_failed"`
	HealthP50Ms     float64  `json:"healthz_p50_ms"`
	HealthP99Ms     float64  `json:"healthz_p99_ms"`
	HealthMaxMs     float64  `json:"healthz_max_ms"`
	HealthErrors    []string `json:"healthz_errors,omitempty"`
	DurationSeconds float64  `json:"duration_s"`
}

func main() {
	fs := flag.NewFlagSet("herald-flood", flag.ExitOnError)
	rest := fs.String("rest", "127.0.0.1:8080", "host:port of the REST API (slow bodies, /healthz)")
	device := fs.String("device", "127.0.0.1:7100", "host:port of the device listener (half-open handshakes)")
	slow := fs.Int("slow-bodies", 5000, "slow-body connections to hold")
	half := fs.Int("half-open", 5000, "half-open device handshakes to hold")
	sources := fs.String("sources", "127.0.1.1-127.0.1.200", "local addresses the flood comes from, in turn: ranges and addresses, comma-separated")
	duration := fs.Duration("duration", time.Minute, "how long to flood (Ctrl-C stops sooner)")
	warmup := fs.Duration("warmup", 5*time.Second, "how long to flood before probing /healthz")
	interval := fs.Duration("probe-interval", 100*time.Millisecond, "how often to probe /healthz")
	fs.Parse(os.Args[1:])
	src, err := fleet.ParseSources(*sources)
	if err != nil {
		fmt.Fprintln(os.Stderr, "herald-flood:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *duration)
	defer cancel()
	start := time.Now()
	f, err := flood.Start(ctx, flood.Config{REST: *rest, SlowBodies: *slow, Device: *device, HalfOpen: *half, Sources: src})
	if err != nil {
		fmt.Fprintln(os.Stderr, "herald-flood:", err)
		os.Exit(2)
	}
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				fmt.Fprintln(os.Stderr, time.Since(start).Round(time.Second), f.Stats())
			}
		}
	}()
	var probe flood.ProbeResult
	select {
	case <-ctx.Done():
	case <-time.After(*warmup):
		probe = flood.Probe(ctx, "http://"+*rest+"/healthz", *interval, 5*time.Second)
	}
	s := f.Stats()
	f.Stop()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	line, _ := json.Marshal(result{
		SlowBodies: *slow, HalfOpen: *half, SlowHeld: s.SlowOpen, HalfOpenHeld: s.HalfOpenOpen,
		Opened: s.Opened, ClosedByServer: s.Closed, DialFailures: s.Failed, SlowHeldMaxMs: ms(s.SlowHeldMax),
		HealthAnswered: probe.Answered, HealthFailed: probe.Failed, HealthP50Ms: ms(probe.P50), HealthP99Ms: ms(probe.P99),
		HealthMaxMs: ms(probe.Max), HealthErrors: probe.Errors, DurationSeconds: time.Since(start).Seconds(),
	})
	fmt.Println(string(line))
}
