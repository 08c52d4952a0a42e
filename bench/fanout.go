package bench

import (
	"bytes"
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/heraldpush/herald/internal/fleet"
)

// benchTag is the tag TagPush gives every device of its run. Each run has
// its own app, so the tag holds exactly the run's devices.
const benchTag = "herald-bench"

// resolvePage is the page size of the resolution passes: a push task's.
const resolvePage = 1000

// fanout runs Broadcast and TagPush. It registers and connects Devices
// devices (TagPush tags each), measures for TagPush how fast the tag's
// members are read from the tag index, then sends Messages pushes one
// after another, each to every device — audience "all", or the tag — and
// times each until every connected device has it, has sent its ACK, and
// the server's report counts it delivered.
func (r *run) fanout(ctx context.Context) (Result, error) {
	start, f, failed, err := r.connected(ctx, r.opts.Messages)
	if err != nil {
		return Result{}, err
	}
	defer f.held.Close()

	var res Result
	if r.opts.Scenario == TagPush {
		r.setPhase("resolve")
		res.ResolvePerSec = r.resolve(ctx, f.size())
	}
	r.setPhase("push")
	// GC pauses count from here: a broadcast's, not the connect storm's.
	if pre, err := r.api.runtime(ctx); err == nil {
		start = start.withPausesOf(pre)
	}
	for seq := range r.opts.Messages {
		if ctx.Err() != nil {
			break
		}
		res.Rounds = append(res.Rounds, r.round(ctx, f, seq))
	}

	f.held.Sync(ctx)
	st := f.stats()
	res.Messages = r.opts.Messages
	res.Sent = r.pushed.Load()
	res.Delivered = st.Received
	res.HandlerDuplicates = st.HandlerDuplicates
	res.Duplicates = st.HandlerDuplicates + st.SDKDuplicates
	res.Acked = st.Acked
	res.P50Ms = millis(f.latency.quantile(0.50))
	res.P99Ms = millis(f.latency.quantile(0.99))
	res.MaxMs = millis(f.latency.maxValue())
	var perSec, targetedPerSec, acked, lags []float64
	for _, rd := range res.Rounds {
		if rd.MsgID != "" {
			res.Lost += max(rd.Expected-rd.Delivered, 0)
		}
		if rd.AllDeliveredMs != nil && *rd.AllDeliveredMs > 0 {
			perSec = append(perSec, float64(rd.Delivered)/(*rd.AllDeliveredMs/1000))
		}
		if rd.TargetedMs != nil && *rd.TargetedMs > 0 {
			targetedPerSec = append(targetedPerSec, float64(f.size())/(*rd.TargetedMs/1000))
		}
		if rd.AllAckedMs != nil {
			acked = append(acked, *rd.AllAckedMs)
		}
		if rd.ReportLagMs != nil {
			lags = append(lags, *rd.ReportLagMs)
		}
	}
	if len(lags) == len(res.Rounds) && len(lags) > 0 {
		most := slices.Max(lags)
		res.ReportLagMsMax = &most
	}
	res.PerSec = round3(median(perSec))
	res.TargetedPerSec = round3(median(targetedPerSec))
	if !r.opts.OnlineOnly && len(acked) == len(res.Rounds) && len(acked) > 0 {
		p50, most := median(acked), slices.Max(acked)
		res.AllAckedMsP50, res.AllAckedMsMax = &p50, &most
	}
	res.Errors = int64(failed) + r.pushErrors.Load() + st.Invalid
	if st.Invalid > 0 {
		if m := f.firstInvalid(); m != "" {
			r.printf("herald-bench: %d messages were not the bench's; the first: %s", st.Invalid, m)
		}
	}
	r.finish(ctx, &res, start, st)
	return res, ctx.Err()
}

// resolve reads the run's tag from the tag index ResolvePasses times, one
// page of resolvePage members after another, and returns the median rate
// in devices per second.
func (r *run) resolve(ctx context.Context, want int) float64 {
	var rates []float64
	for range r.opts.ResolvePasses {
		start := time.Now()
		n, after := 0, ""
		for {
			members, next, err := r.api.tagPage(ctx, benchTag, after, resolvePage)
			if err != nil {
				if ctx.Err() == nil {
					r.reportError("reading the tag index", err)
				}
				return round3(median(rates))
			}
			n += len(members)
			if next == "" {
				break
			}
			after = next
		}
		elapsed := time.Since(start)
		if n != want {
			r.printf("herald-bench: the tag %q has %d members, not the %d devices registered", benchTag, n, want)
		}
		rates = append(rates, float64(n)/elapsed.Seconds())
	}
	return round3(median(rates))
}

// round sends push seq to every device and times it. It returns when the
// push was delivered, acknowledged and counted, or Timeout after sending
// it.
func (r *run) round(ctx context.Context, f *countedFleet, seq int) Round {
	expected := f.held.Connected()
	ackBase := f.held.Acked()
	ttl := int64(r.opts.TTL / time.Second)
	if r.opts.OnlineOnly {
		ttl = 0
	}
	audience := `"all"`
	if r.opts.Scenario == TagPush {
		audience = `{"tag":["` + benchTag + `"]}`
	}
	sent := time.Now()
	body := appendFanoutPush(nil, string(r.opts.Scenario), audience, fleet.Stamp{Seq: seq, Sent: sent.UnixNano()}, ttl)
	storeMin(&r.firstPush, sent.UnixNano())
	var answer bytes.Buffer
	id, err := r.api.push(ctx, body, &answer)
	rd := Round{Expected: expected, PushMs: millis(time.Since(sent))}
	if err != nil {
		if ctx.Err() == nil {
			r.pushErrors.Add(1)
			r.reportError("push", err)
		}
		return rd
	}
	r.pushed.Add(1)
	storeMax(&r.lastPushed, time.Now().UnixNano())
	rd.MsgID = strconv.FormatUint(id, 10)
	at := func(t time.Time) *float64 {
		ms := millis(t.Sub(sent))
		return &ms
	}
	deadline := sent.Add(r.opts.Timeout)

	// The report, read every 10ms meanwhile: when the task had targeted
	// the whole audience, and when the server counted every device
	// delivered (never, for online-only messages).
	var (
		reports            sync.WaitGroup
		targetedAt, reckon time.Time
	)
	audienceSize := int64(f.size())
	reports.Go(func() {
		waitFor(ctx, deadline, 10*time.Millisecond, func() bool {
			rep, err := r.api.report(ctx, id)
			if err != nil {
				if ctx.Err() == nil {
					r.reportError("report", err)
				}
				return false
			}
			now := time.Now()
			if targetedAt.IsZero() && rep.Targeted >= audienceSize {
				targetedAt = now
			}
			if reckon.IsZero() && rep.Delivered >= expected && !r.opts.OnlineOnly {
				reckon = now
			}
			return !targetedAt.IsZero() && (!reckon.IsZero() || r.opts.OnlineOnly)
		})
	})

	var ackedAt time.Time
	waitFor(ctx, deadline, 2*time.Millisecond, func() bool {
		if ackedAt.IsZero() && !r.opts.OnlineOnly && f.held.Acked()-ackBase >= expected {
			ackedAt = time.Now()
		}
		return f.arrived[seq].Load() >= expected && (!ackedAt.IsZero() || r.opts.OnlineOnly)
	})
	rd.Delivered = f.arrived[seq].Load()
	if rd.Delivered >= expected && expected > 0 {
		rd.AllDeliveredMs = at(time.Unix(0, f.lastArrival[seq].Load()))
	}
	if !ackedAt.IsZero() {
		rd.AllAckedMs = at(ackedAt)
	}
	reports.Wait()
	if !targetedAt.IsZero() && r.opts.Scenario == TagPush {
		rd.TargetedMs = at(targetedAt)
	}
	if !reckon.IsZero() {
		rd.ReportMs = at(reckon)
		if rd.AllAckedMs != nil {
			lag := round3(*rd.ReportMs - *rd.AllAckedMs)
			rd.ReportLagMs = &lag
		}
	}
	return rd
}

// appendFanoutPush appends the body of a push of one message to audience
// (JSON), stamped with st.
func appendFanoutPush(b []byte, scenario, audience string, st fleet.Stamp, ttl int64) []byte {
	b = append(b, `{"audience":`...)
	b = append(b, audience...)
	b = append(b, `,"message":{"title":"herald-bench","content":"`...)
	b = append(b, scenario...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(st.Seq), 10)
	b = append(b, `","extras":`...)
	b = fleet.AppendStamp(b, st)
	b = append(b, `},"options":{"time_to_live":`...)
	b = strconv.AppendInt(b, ttl, 10)
	return append(b, `}}`...)
}

// median returns the median of vs, zero for none.
func median(vs []float64) float64 {
	if len(vs) == 0 {
		return 0
	}
	s := slices.Clone(vs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
