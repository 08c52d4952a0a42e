package webhook

import (
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/internal/metrics"
)

// Metrics are the webhook delivery's metrics: posts by outcome, their
// duration, the messages delivered and their lag, and the apps whose
// webhook is failing (their queues grow: the backlog).
func Metrics() *metrics.Set { return set }

var set = metrics.NewSet()

var (
	posts = set.CounterVec("webhook", "posts_total",
		"Webhook calls, by outcome: delivered (a 2xx), rejected (another status), failed (no answer: connection error or timeout).", "outcome")
	postsDelivered = posts.With("delivered")
	postsRejected  = posts.With("rejected")
	postsFailed    = posts.With("failed")
	postSeconds    = set.Histogram("webhook", "post_seconds",
		"Duration of webhook calls.", metrics.LatencyBuckets)
	delivered = set.Counter("webhook", "messages_delivered_total",
		"Upstream messages a webhook accepted.")
	lagSeconds = set.Histogram("webhook", "lag_seconds",
		"Time from a device's upstream message reaching the connector to its webhook accepting it.", metrics.DeliveryBuckets)
	failing = set.Gauge("webhook", "apps_failing",
		"Apps held here whose webhook's last call failed: their upstream queues grow until it answers again.")
	storeFailures = set.Counter("webhook", "queue_failures_total",
		"Failed reads or removals of upstream queues (the store's failure, not the webhook's).")
)

// countDelivered records msgs accepted by a webhook.
func countDelivered(msgs []dataservice.PendingUpstream) {
	if !metrics.Enabled {
		return
	}
	now := time.Now()
	delivered.Add(len(msgs))
	for i := range msgs {
		lagSeconds.Observe(now.Sub(msgs[i].At).Seconds())
	}
}

// recovered returns the failures of a drain whose webhook answered (or
// that had nothing to deliver): none, and the drain no longer counts as
// failing.
func recovered(failures int) int {
	if failures > 0 {
		failing.Add(-1)
	}
	return 0
}
