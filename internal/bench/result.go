package bench

import (
	"math"
	"time"
)

// Result is what a run achieved and cost, written as one JSON line.
// Latencies are from the push request being sent to the message reaching
// the device's handler.
type Result struct {
	Scenario string `json:"scenario"`
	Devices  int    `json:"devices"`
	// Messages is the number of messages per device (unicast).
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
	// delivery (unicast), or connections per second (hold).
	PerSec float64 `json:"per_sec"`
	// PushesPerSec is accepted pushes per second from the first push to
	// the last answer.
	PushesPerSec float64 `json:"pushes_per_sec"`
	// ConnectionsPerSec is connected devices per second from the first dial
	// to the last WELCOME.
	ConnectionsPerSec float64 `json:"connections_per_sec"`

	// RSSPerConnBytes is the server's resident memory growth per idle
	// connected device at the end of the hold (hold only).
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
	// the end of the run.
	ServerConnections int `json:"server_connections"`
	// ServerRSSBytes is the server's resident memory at the end of the run.
	ServerRSSBytes int64 `json:"server_rss_bytes"`
	// GCPauseP99Ms is the server's 99th percentile GC pause since it
	// started.
	GCPauseP99Ms float64 `json:"gc_pause_p99_ms"`
	// ServerCPUSeconds is the CPU time the server used during the run.
	ServerCPUSeconds float64 `json:"server_cpu_s"`
	// BenchCPUSeconds is the CPU time this process used during the run:
	// on a shared machine, what the load generator took from the server.
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
