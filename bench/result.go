package bench

import (
	"math"
	"time"
)

// Result is what a run achieved and cost, written as one JSON line.
// Latencies are from the push request being sent to the message reaching
// the device's handler. Steady's messages go the other way: Sent counts
// the devices' upstream Sends, Acked those the connector acknowledged,
// Delivered and Lost count them at the app's webhook, and latencies run
// from Send to the webhook.
type Result struct {
	Scenario string `json:"scenario"`
	Devices  int    `json:"devices"`
	// Messages is the number of messages per device (unicast), or of
	// pushes to every device (broadcast, tagpush).
	Messages int `json:"messages,omitempty"`
	// Connected is the number of devices connected at the end of the run.
	Connected int64 `json:"connected"`
	// Sent counts pushes the gateway accepted (HTTP 200).
	Sent int64 `json:"sent"`
	// Delivered counts distinct messages handed to device handlers.
	Delivered int64 `json:"delivered"`
	// Lost counts messages accepted but never handed to their device.
	Lost int64 `json:"lost"`
	// Duplicates counts messages that reached a device again: those the
	// SDK dropped by id plus those handed to a handler twice.
	Duplicates int64 `json:"duplicates"`
	// HandlerDuplicates is the part of Duplicates that got past the SDK's
	// dedupe (should be 0).
	HandlerDuplicates int64 `json:"handler_duplicates"`
	// Acked counts ACKs the devices sent.
	Acked int64 `json:"acked"`
	// AcksSampled is how many delivered messages had their report checked;
	// AcksConfirmed how many of them the server counted delivered.
	AcksSampled   int `json:"acks_sampled"`
	AcksConfirmed int `json:"acks_confirmed"`

	P50Ms float64 `json:"p50_ms"`
	P99Ms float64 `json:"p99_ms"`
	MaxMs float64 `json:"max_ms"`
	// PerSec is deliveries per second from the first push to the last
	// delivery (unicast), connections per second (hold), or, for
	// broadcast and tagpush, devices reached per second within a push:
	// the devices that had it over the time until the last one did,
	// median over the pushes; for steady, messages at the webhook per
	// second from the first second of sends to the later of its last
	// second and the last arrival.
	PerSec float64 `json:"per_sec"`
	// PushesPerSec is accepted pushes per second from the first push to
	// the last answer.
	PushesPerSec float64 `json:"pushes_per_sec"`
	// ConnectionsPerSec is connected devices per second from the first dial
	// to the last WELCOME.
	ConnectionsPerSec float64 `json:"connections_per_sec"`
	// Rate is the pushes per second asked for (unicast, churn), or the
	// upstream messages per second sent (steady: devices / period, the
	// nearest to --rate); zero means as fast as the concurrency allowed.
	Rate int `json:"rate,omitempty"`
	// Reconnects counts devices churn disconnected that connected again,
	// and ReconnectsPerSec them per second of the churn (churn only).
	Reconnects       int64   `json:"reconnects,omitempty"`
	ReconnectsPerSec float64 `json:"reconnects_per_sec,omitempty"`
	// WebhookBatch is the mean number of upstream messages per webhook
	// call (steady only).
	WebhookBatch float64 `json:"webhook_batch,omitempty"`

	// Rounds are the pushes of broadcast and tagpush, in order.
	Rounds []Round `json:"rounds,omitempty"`
	// AllAckedMsP50 and AllAckedMsMax are the median and the largest
	// Round.AllAckedMs (broadcast, tagpush); absent if a push was never
	// acknowledged by every device within the timeout.
	AllAckedMsP50 *float64 `json:"all_acked_ms_p50,omitempty"`
	AllAckedMsMax *float64 `json:"all_acked_ms_max,omitempty"`
	// ReportLagMsMax is the largest ReportLagMs of the rounds, when every
	// round's report reached its devices' count (broadcast, tagpush).
	ReportLagMsMax *float64 `json:"report_lag_ms_max,omitempty"`
	// ResolvePerSec is how fast the tag's members were read from the tag
	// index through GET /v1/tags/{tag}, one page of 1000 after another as
	// a push task reads them: devices per second, median over
	// Options.ResolvePasses passes (tagpush).
	ResolvePerSec float64 `json:"resolve_per_sec,omitempty"`
	// TargetedPerSec is how fast the push tasks resolved the audience and
	// committed it page by page (inbox copies and checkpoints included):
	// the audience over Round.TargetedMs, median over the pushes
	// (tagpush).
	TargetedPerSec float64 `json:"targeted_per_sec,omitempty"`

	// RSSPerConnBytes is the server's resident memory growth per idle
	// connected device at the end of the hold (hold only); in a cluster
	// whose connectors could be read, the growth of the connectors' sum.
	RSSPerConnBytes *int64 `json:"rss_per_conn_bytes,omitempty"`
	// RSSPerConnPeakBytes is the same growth right after the last device
	// connected, before the runtime returned memory freed by the connection
	// storm (hold only).
	RSSPerConnPeakBytes *int64 `json:"rss_per_conn_peak_bytes,omitempty"`
	// ServerRSSBeforeBytes and ServerRSSSettledBytes are the readings
	// RSSPerConnBytes comes from (hold only).
	ServerRSSBeforeBytes  int64 `json:"server_rss_before_bytes,omitempty"`
	ServerRSSSettledBytes int64 `json:"server_rss_settled_bytes,omitempty"`
	// ServerConnections is the connections the server's connector held at
	// the end of the run; for a cluster, its connectors together (as each
	// reported itself when the bench has the cluster token, else as the
	// gateway last read the registry).
	ServerConnections int `json:"server_connections"`
	// ServerRSSBytes is the server's resident memory at the end of the
	// run; for a cluster, the sum over Servers (gateway, connectors and,
	// when read, the dataservice).
	ServerRSSBytes int64 `json:"server_rss_bytes"`
	// GCPauseP99Ms is the server's 99th percentile stop-the-world GC
	// pause during the run (broadcast, tagpush: during the pushes); for a
	// cluster, the largest of the gateway's and the connectors'.
	// GCStoppingP99Ms is the same of the part of each pause spent
	// stopping the world: waiting for every thread to reach a safe
	// point, which on an overloaded machine is mostly waiting for a CPU.
	GCPauseP99Ms    float64 `json:"gc_pause_p99_ms"`
	GCStoppingP99Ms float64 `json:"gc_stopping_p99_ms"`
	// ServerCPUSeconds is the CPU time the server used during the run; for
	// a cluster, the sum over Servers.
	ServerCPUSeconds float64 `json:"server_cpu_s"`
	// Servers are the figures of each process of a cluster at the end of
	// the run: the gateway, the connectors, then the dataservice (read
	// with --cluster, or when --dataservice names it). Without the cluster token
	// (HERALD_CLUSTER_TOKEN, or a --cluster run) the bench cannot read the
	// connectors, Servers is absent and the server figures above are the
	// gateway's alone.
	Servers []ServerFigures `json:"servers,omitempty"`
	// BenchCPUSeconds is the CPU time this process and its worker
	// processes used during the run: on a shared machine, what the load
	// generator took from the server.
	BenchCPUSeconds float64 `json:"bench_cpu_s"`
	// DurationSeconds is the wall time of the whole run, setup included.
	DurationSeconds float64 `json:"duration_s"`

	// Errors counts failed pushes, devices that never connected, and
	// messages that were not the bench's or reached the wrong device.
	Errors int64 `json:"errors"`
	// Disconnects counts connections that dropped during the run.
	Disconnects int64 `json:"disconnects"`
	// DialRetries counts TCP dials that failed and were retried by the SDK.
	DialRetries int64 `json:"dial_retries"`
}

// ServerFigures are one server process's figures at the end of a run.
type ServerFigures struct {
	// Role is "gateway", "connector" or "dataservice".
	Role string `json:"role"`
	// ID is the connector's id in the registry.
	ID       string `json:"id,omitempty"`
	RSSBytes int64  `json:"rss_bytes"`
	// CPUSeconds is the CPU time the process used during the run.
	CPUSeconds float64 `json:"cpu_s"`
	// GCPauseP99Ms and GCStoppingP99Ms are as Result's, of this process.
	GCPauseP99Ms    float64 `json:"gc_pause_p99_ms"`
	GCStoppingP99Ms float64 `json:"gc_stopping_p99_ms"`
	Goroutines      int     `json:"goroutines"`
	// Connections is the device connections a connector held.
	Connections int `json:"connections"`
}

// millis returns d in milliseconds, rounded to microseconds.
func millis(d time.Duration) float64 { return round3(float64(d) / float64(time.Millisecond)) }

// round3 rounds to three decimals, for readable JSON.
func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// rate returns n per second over the span from a to b (Unix nanoseconds),
// or zero for an empty span.
func rate(n int64, from, to int64) float64 {
	if from == 0 || to <= from {
		return 0
	}
	return round3(float64(n) / time.Duration(to-from).Seconds())
}

// Round is one push to every device (broadcast, tagpush). Times are from
// the push request being sent; a time is absent when what it measures did
// not happen within Options.Timeout.
type Round struct {
	MsgID string `json:"msg_id"`
	// Expected is the devices connected when the push was sent.
	Expected int64 `json:"expected"`
	// Delivered counts the devices whose handler got the push.
	Delivered int64 `json:"delivered"`
	// PushMs is how long POST /v1/push took to answer.
	PushMs float64 `json:"push_ms"`
	// TargetedMs is when the message's report first counted the whole
	// audience targeted: the task had resolved and committed it (tagpush).
	TargetedMs *float64 `json:"targeted_ms,omitempty"`
	// AllDeliveredMs is when the last of Expected devices had it.
	AllDeliveredMs *float64 `json:"all_delivered_ms,omitempty"`
	// AllAckedMs is when the devices had sent an ACK for it, every one of
	// them (read every 2ms).
	AllAckedMs *float64 `json:"all_acked_ms,omitempty"`
	// ReportMs is when the message's report first counted Expected
	// devices delivered: the server had the ACKs and counted them (read
	// every 10ms).
	ReportMs *float64 `json:"report_ms,omitempty"`
	// ReportLagMs is ReportMs less AllAckedMs: how long the report
	// trailed the devices' last ACK (negative up to the 10ms of the
	// report's polling).
	ReportLagMs *float64 `json:"report_lag_ms,omitempty"`
}
