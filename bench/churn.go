package bench

import (
	"context"
	"math"
	"math/rand/v2"
	"sync"
	"time"
)

// churn registers and connects Devices devices, then for Duration pushes
// to them at Rate per second — Rate × Duration pushes, device by device in
// a random order — while every second ChurnShare of the devices, picked at
// random, disconnect and connect again. Pushes to a device that is away
// are stored (their TTL is positive) and must arrive once it is back:
// lost counts every accepted push that never reached its device within
// Timeout after the last push. It reports reconnects and reconnects per
// second of the churn, deliveries, loss, duplicates (redeliveries of
// messages whose ACK a closing connection did not carry) and latency.
func (r *run) churn(ctx context.Context) (Result, error) {
	pushes := int(r.opts.churnPushes())
	n := r.opts.Devices
	r.opts.Messages = max(1, (pushes+n-1)/n)
	start, f, failed, err := r.connected(ctx, r.opts.Messages)
	if err != nil {
		return Result{}, err
	}
	defer f.held.Close()
	closePush, err := r.openPushClient(ctx)
	if err != nil {
		return Result{}, err
	}

	r.setPhase("churn")
	perSecond := max(1, int(math.Round(r.opts.ChurnShare*float64(n))))
	rounds, stopRounds := context.WithCancel(ctx)
	var churning sync.WaitGroup
	churnFrom := time.Now()
	churning.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-rounds.Done():
				return
			case <-t.C:
			}
			// A round in progress finishes with ctx, not rounds: a device
			// it closed must connect again. Its errors are reported as
			// "reconnect".
			f.held.Churn(ctx, perSecond)
		}
	})
	msgIDs := r.pushAll(ctx, f, pushes, rand.Perm(n))
	closePush()
	stopRounds()
	churning.Wait()
	churnTime := time.Since(churnFrom)

	r.setPhase("deliver")
	sent := r.pushed.Load()
	waitFor(ctx, time.Now().Add(r.opts.Timeout), 20*time.Millisecond, func() bool {
		return f.received.Load() >= sent
	})
	f.held.Sync(ctx)
	st := f.stats()
	var res Result
	res.Messages = r.opts.Messages
	res.Rate = r.opts.Rate
	res.Sent = sent
	res.Delivered = st.Received
	for i := range msgIDs {
		if msgIDs[i] != 0 && f.slots[i].Load() == 0 {
			res.Lost++
		}
	}
	res.HandlerDuplicates = st.HandlerDuplicates
	res.Duplicates = st.HandlerDuplicates + st.SDKDuplicates
	res.Acked = st.Acked
	res.Reconnects = st.Reconnects
	res.ReconnectsPerSec = round3(float64(st.Reconnects) / churnTime.Seconds())
	res.P50Ms = millis(f.latency.quantile(0.50))
	res.P99Ms = millis(f.latency.quantile(0.99))
	res.MaxMs = millis(f.latency.maxValue())
	first := r.firstPush.Load()
	res.PerSec = rate(st.Received, first, st.LastDelivery)
	res.PushesPerSec = rate(sent, first, r.lastPushed.Load())
	res.Errors = int64(failed) + r.pushErrors.Load() + st.Invalid + st.ReconnectErrors
	if st.Invalid > 0 {
		if m := f.firstInvalid(); m != "" {
			r.printf("herald-bench: %d messages were not the bench's or reached the wrong device; the first: %s", st.Invalid, m)
		}
	}
	r.finish(ctx, &res, start, st)
	return res, ctx.Err()
}
