package bench

import (
	"context"
	"time"
)

// hold registers and connects Devices idle devices, holds them for
// Duration, and measures the server's resident memory per connection: the
// reading at the end of the hold (idle, after the runtime returned freed
// memory to the system) minus the settled reading before connecting,
// divided by the devices connected. The reading right after connecting is
// reported as the peak.
func (r *run) hold(ctx context.Context) (Result, error) {
	start, err := r.start(ctx)
	if err != nil {
		return Result{}, err
	}
	f, err := r.setup(ctx, 0)
	if err != nil {
		return Result{}, err
	}
	defer f.held.Close()

	r.setPhase("settle")
	before, err := r.settle(ctx)
	if err != nil {
		return Result{}, setupError("reading the server's memory before connecting", err)
	}
	failed, err := r.connect(ctx, f)
	if err != nil {
		return Result{}, err
	}
	held := time.Now()
	r.setPhase("settle")
	after, err := r.settle(ctx)
	if err != nil {
		r.reportError("reading the server's memory after connecting", err)
	}
	connected := f.held.Connected()
	r.setPhase("hold")
	_ = sleep(ctx, time.Until(held.Add(r.opts.Duration)))
	end, err := r.api.runtime(ctx)
	if err != nil {
		r.reportError("reading the server's memory at the end of the hold", err)
	}

	f.held.Sync(ctx)
	st := f.stats()
	var res Result
	// Per connection: the memory of what holds the connections (in a
	// cluster, the connectors'), if the same processes were read before
	// and after.
	if end.heldRSS() > 0 && connected > 0 && len(end.Peers) == len(before.Peers) {
		per := (end.heldRSS() - before.heldRSS()) / connected
		res.RSSPerConnBytes = &per
		res.ServerRSSBeforeBytes = before.heldRSS()
		res.ServerRSSSettledBytes = end.heldRSS()
	}
	if after.heldRSS() > 0 && connected > 0 && len(after.Peers) == len(before.Peers) {
		peak := (after.heldRSS() - before.heldRSS()) / connected
		res.RSSPerConnPeakBytes = &peak
	}
	res.Errors = int64(failed)
	r.finish(ctx, &res, start, st)
	res.PerSec = res.ConnectionsPerSec
	r.setPhase("close")
	return res, ctx.Err()
}
