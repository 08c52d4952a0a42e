package bench

import "context"

// storm registers Devices devices and asks dispatch where each connects
// before the clock starts, then connects them all as fast as
// DialConcurrency dials in flight (per process) allow, and reports the
// connect rate from the first dial to the last WELCOME
// (connections_per_sec, also per_sec) and each device's connect time —
// TCP, Noise handshake, authentication and session registration, from
// its dial to its WELCOME — as p50_ms, p99_ms and max_ms. Errors counts
// the devices that never connected.
func (r *run) storm(ctx context.Context) (Result, error) {
	// One message slot per device: its connection, timed by the fleet.
	start, f, failed, err := r.connected(ctx, 1)
	if err != nil {
		return Result{}, err
	}
	defer f.held.Close()
	f.held.Sync(ctx)
	st := f.stats()
	var res Result
	res.P50Ms = millis(f.latency.quantile(0.50))
	res.P99Ms = millis(f.latency.quantile(0.99))
	res.MaxMs = millis(f.latency.maxValue())
	res.Errors = int64(failed)
	r.finish(ctx, &res, start, st)
	res.PerSec = res.ConnectionsPerSec
	r.setPhase("close")
	return res, ctx.Err()
}
