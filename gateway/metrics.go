package gateway

import (
	"time"

	"github.com/heraldpush/herald/gateway/push"
	"github.com/heraldpush/herald/internal/metrics"
)

// Metrics are the push core's metrics: pushes accepted, by kind, and how
// long accepting took. The REST API's are api.Metrics, the webhook
// delivery's webhook.Metrics, the tasks' and router's
// actors.GatewayMetrics.
func Metrics() *metrics.Set { return set }

var set = metrics.NewSet()

var (
	pushes = set.CounterVec("push", "accepted_total",
		"Pushes accepted (stored, and for a list of devices handed to the connectors), by kind: list (sent inline), audience (a task resolves it page by page), broadcast.",
		"kind")
	pushSeconds = set.HistogramVec("push", "accept_seconds",
		"Time to accept a push once its body is valid: storing it and, for a list of devices, handing it to the connectors; by kind.",
		metrics.LatencyBuckets, "kind")
	pushFailures = set.Counter("push", "failures_total",
		"Pushes refused or failed after their body was valid: devices not of the app, a store or a connector error.")

	pushKinds = [3]pushKind{newPushKind("list"), newPushKind("audience"), newPushKind("broadcast")}
)

type pushKind struct {
	accepted metrics.Counter
	seconds  metrics.Histogram
}

func newPushKind(kind string) pushKind {
	return pushKind{accepted: pushes.With(kind), seconds: pushSeconds.With(kind)}
}

// countPush records the outcome of submitting plan, started at start
// (metrics.Now).
func countPush(plan *push.Plan, start time.Time, err error) {
	if !metrics.Enabled {
		return
	}
	if err != nil {
		pushFailures.Inc()
		return
	}
	k := &pushKinds[0]
	switch {
	case plan.Broadcast():
		k = &pushKinds[2]
	case !plan.Inline():
		k = &pushKinds[1]
	}
	k.accepted.Inc()
	k.seconds.Since(start)
}
