package bench

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/internal/fleet"
)

// unicast registers and connects Devices devices, pushes Messages messages
// to each through POST /v1/push, one registration id per push, and waits
// for every message to reach its device and for the ACKs to reach the
// server.
func (r *run) unicast(ctx context.Context) (Result, error) {
	start, f, failed, err := r.connected(ctx, r.opts.Messages)
	if err != nil {
		return Result{}, err
	}
	defer f.held.Close()

	r.setPhase("push")
	total := f.size() * r.opts.Messages
	if r.opts.Rate > 0 && r.opts.Duration > 0 {
		total = int(min(int64(total), r.opts.churnPushes()))
	}
	closePush, err := r.openPushClient(ctx)
	if err != nil {
		return Result{}, err
	}
	msgIDs := r.pushAll(ctx, f, total, nil)
	closePush()
	r.setPhase("deliver")
	sent := r.pushed.Load()
	waitFor(ctx, time.Now().Add(r.opts.Timeout), 20*time.Millisecond, func() bool {
		return f.received.Load() >= sent
	})
	var res Result
	if !r.opts.OnlineOnly {
		r.setPhase("ack")
		deadline := time.Now().Add(r.opts.Timeout)
		// The SDK sends an ACK for every message it handles, duplicates
		// included.
		waitFor(ctx, deadline, 20*time.Millisecond, func() bool {
			f.held.Sync(ctx)
			st := f.stats()
			return st.Acked >= st.SDKReceived+st.SDKDuplicates
		})
		res.AcksSampled, res.AcksConfirmed = r.confirmAcks(ctx, f, msgIDs, deadline)
	}

	f.held.Sync(ctx)
	st := f.stats()
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
	res.P50Ms = millis(f.latency.quantile(0.50))
	res.P99Ms = millis(f.latency.quantile(0.99))
	res.MaxMs = millis(f.latency.maxValue())
	first := r.firstPush.Load()
	res.PerSec = rate(st.Received, first, st.LastDelivery)
	res.PushesPerSec = rate(sent, first, r.lastPushed.Load())
	res.Errors = int64(failed) + r.pushErrors.Load() + st.Invalid
	if st.Invalid > 0 {
		if m := f.firstInvalid(); m != "" {
			r.printf("herald-bench: %d messages were not the bench's or reached the wrong device; the first: %s", st.Invalid, m)
		}
	}
	r.finish(ctx, &res, start, st)
	return res, ctx.Err()
}

// openPushClient opens the connections of the lean push client if the
// options ask for it; the returned func closes them.
func (r *run) openPushClient(ctx context.Context) (func(), error) {
	if r.opts.PushClient != PushLean {
		return func() {}, nil
	}
	if err := r.api.openPushConns(ctx, r.opts.Connections); err != nil {
		return nil, setupError("connecting the push client to "+r.opts.Target, err)
	}
	return r.api.closePushConns, nil
}

// pushAll sends total (at most Devices × Messages) pushes, Concurrency at
// a time and, with Rate, push k no earlier than k/Rate seconds after the
// first; device by device within each round of sequence numbers, in the
// order of order (device indexes; nil means in turn). It returns
// the message id of each (device, seq) slot, zero where the push failed
// or was not sent.
func (r *run) pushAll(ctx context.Context, f *countedFleet, total int, order []int) []uint64 {
	n, m := f.size(), r.opts.Messages
	msgIDs := make([]uint64, n*m)
	total = min(total, len(msgIDs))
	paceFrom := time.Now()
	ttl := int64(r.opts.TTL / time.Second)
	if r.opts.OnlineOnly {
		ttl = 0
	}
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for range min(r.opts.Concurrency, total) {
		wg.Go(func() {
			body := make([]byte, 0, 256)
			var answer bytes.Buffer
			for ctx.Err() == nil {
				k := int(next.Add(1) - 1)
				if k >= total {
					return
				}
				var turn int64 // when a paced push is due, unix nanoseconds
				if r.opts.Rate > 0 {
					at := paceFrom.Add(time.Duration(int64(k) * int64(time.Second) / int64(r.opts.Rate)))
					if sleep(ctx, time.Until(at)) != nil {
						return
					}
					turn = at.UnixNano()
				}
				i := k % n
				if order != nil {
					i = order[i]
				}
				seq := k / n
				now := time.Now().UnixNano()
				body = appendPush(body[:0], f.creds[i].RegistrationID, fleet.Stamp{Device: i, Seq: seq, Sent: now}, ttl)
				// Paced pushes are counted from when the first was due: a
				// first push sent late would make the rate look higher
				// than the pace allows.
				first := now
				if turn != 0 {
					first = min(now, turn)
				}
				storeMin(&r.firstPush, first)
				// A fresh copy per request: the transport may read the body
				// after Do returns.
				id, err := r.api.push(ctx, bytes.Clone(body), &answer)
				if err != nil {
					if ctx.Err() == nil {
						r.pushErrors.Add(1)
						r.reportError("push", fmt.Errorf("device %d message %d: %w", i, seq, err))
					}
					continue
				}
				msgIDs[i*m+seq] = id
				r.pushed.Add(1)
				storeMax(&r.lastPushed, time.Now().UnixNano())
			}
		})
	}
	wg.Wait()
	return msgIDs
}

// appendPush appends the body of a push of one message to rid.
func appendPush(b []byte, rid string, st fleet.Stamp, ttl int64) []byte {
	b = append(b, `{"audience":{"registration_id":["`...)
	b = append(b, rid...)
	b = append(b, `"]},"message":{"title":"herald-bench","content":"unicast `...)
	b = strconv.AppendInt(b, int64(st.Seq), 10)
	b = append(b, `","extras":`...)
	b = fleet.AppendStamp(b, st)
	b = append(b, `},"options":{"time_to_live":`...)
	b = strconv.AppendInt(b, ttl, 10)
	return append(b, `}}`...)
}

// confirmAcks checks, for a random sample of delivered messages, that the
// server counted them delivered (it saw the ACK), polling until deadline.
// It returns the sample size and how many were confirmed.
func (r *run) confirmAcks(ctx context.Context, f *countedFleet, msgIDs []uint64, deadline time.Time) (sampled, confirmed int) {
	var delivered []int
	for i, id := range msgIDs {
		if id != 0 && f.slots[i].Load() > 0 {
			delivered = append(delivered, i)
		}
	}
	rand.Shuffle(len(delivered), func(i, j int) { delivered[i], delivered[j] = delivered[j], delivered[i] })
	pending := delivered[:min(r.opts.AckSample, len(delivered))]
	sampled = len(pending)
	last := map[int]report{}
	waitFor(ctx, deadline, 100*time.Millisecond, func() bool {
		kept := pending[:0]
		for _, i := range pending {
			rep, err := r.api.report(ctx, msgIDs[i])
			if err != nil {
				if ctx.Err() == nil {
					r.reportError("report", err)
				}
				kept = append(kept, i)
				continue
			}
			if rep.Delivered < 1 {
				last[i] = rep
				kept = append(kept, i)
			}
		}
		pending = kept
		return len(pending) == 0
	})
	for _, i := range pending[:min(len(pending), shownErrors)] {
		r.printf("herald-bench: message %d (device %d, seq %d) was handled and acknowledged, but its report still says %+v",
			msgIDs[i], i/r.opts.Messages, i%r.opts.Messages, last[i])
	}
	return sampled, sampled - len(pending)
}
