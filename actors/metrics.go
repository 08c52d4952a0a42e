package actors

import (
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/internal/ids"
	"github.com/heraldpush/herald/internal/metrics"
	"github.com/heraldpush/herald/protocol"
)

// The actors' metrics (docs/operations.md lists them), in three sets that
// a process registers by what it runs (package node).
var (
	connectorSet = metrics.NewSet()
	writerSet    = metrics.NewSet()
	gatewaySet   = metrics.NewSet()
)

// ConnectorMetrics are the metrics of a connector's actors: frames,
// handshakes, deliveries and the ACK window.
func ConnectorMetrics() *metrics.Set { return connectorSet }

// WriterMetrics are the writer's: its flushes by kind.
func WriterMetrics() *metrics.Set { return writerSet }

// GatewayMetrics are those of a gateway's actors: push tasks and the
// router.
func GatewayMetrics() *metrics.Set { return gatewaySet }

// Frames by direction and type, resolved once: a frame costs an index
// into an array. Types outside version 1 count as "other".
var framesIn, framesOut = frameCounters("in"), frameCounters("out")

func frameCounters(direction string) *[256]metrics.Counter {
	var out [256]metrics.Counter
	other := frames.With(direction, "other")
	for t := range out {
		name := protocol.FrameType(t).String()
		switch protocol.FrameType(t) {
		case protocol.TypeHello, protocol.TypeWelcome, protocol.TypePing, protocol.TypePong, protocol.TypePush,
			protocol.TypeAck, protocol.TypeError, protocol.TypeUpstream, protocol.TypeClick:
			out[t] = frames.With(direction, name)
		default:
			out[t] = other
		}
	}
	return &out
}

var (
	frames = connectorSet.CounterVec("connector", "frames_total",
		"Device protocol frames read (direction in) and written (out), by frame type.", "direction", "type")

	handshakeSeconds = connectorSet.Histogram("connector", "handshake_seconds",
		"Time from a device's HELLO to WELCOME: the device lookup, the proof's check and the attachment to its device actor.",
		metrics.LatencyBuckets)
	handshakeFailures = connectorSet.Counter("connector", "handshakes_failed_total",
		"Handshakes refused: Noise failure, unknown device, wrong proof, lookup failure or busy connector.")

	deliverySeconds = connectorSet.Histogram("connector", "delivery_seconds",
		"Time from a message's acceptance (its id's time) to the device's ACK of it, for messages sent on connection.",
		metrics.DeliveryBuckets)
	tooSlow = connectorSet.Counter("connector", "connections_too_slow_total",
		"Device connections cut off with ERROR too_slow: the device did not read what it was sent.")
	windowFull = connectorSet.Counter("connector", "ack_window_waits_total",
		"Times a device's queue waited because its window of unacknowledged messages was full.")
	messagesSent = connectorSet.Counter("connector", "messages_sent_total",
		"Messages written to devices, resends included.")
	messagesAcked = connectorSet.Counter("connector", "messages_acked_total",
		"Messages devices acknowledged.")
)

// writerFlush are the metrics of one kind of writer flush.
type writerFlush struct {
	size    metrics.Histogram
	seconds metrics.Histogram
	failed  metrics.Counter
}

// done records a flush of n items started at start (metrics.Now).
func (f *writerFlush) done(n int, start time.Time, err error) {
	f.size.Observe(float64(n))
	f.seconds.Since(start)
	if err != nil {
		f.failed.Inc()
	}
}

var (
	writerBatch = writerSet.HistogramVec("writer", "batch_size",
		"Items per writer flush, by kind (sessions, inbox removals, settlements of deliveries, counts and receipts, upstream data).",
		metrics.SizeBuckets, "kind")
	writerSeconds = writerSet.HistogramVec("writer", "flush_seconds",
		"Duration of writer flushes (the store call), by kind.", metrics.LatencyBuckets, "kind")
	writerFailed = writerSet.CounterVec("writer", "flush_failures_total",
		"Writer flushes that failed and will be retried, by kind.", "kind")

	flushSessions    = newWriterFlush("sessions")
	flushRemovals    = newWriterFlush("removals")
	flushSettlements = newWriterFlush("settlements")
	flushUpstreams   = newWriterFlush("upstreams")

	receiptsDropped = writerSet.Counter("writer", "receipts_dropped_total",
		"Per-device receipts dropped because too many waited to be written (the counters stay exact).")
)

func newWriterFlush(kind string) *writerFlush {
	return &writerFlush{size: writerBatch.With(kind), seconds: writerSeconds.With(kind), failed: writerFailed.With(kind)}
}

var (
	tasksStarted = gatewaySet.Counter("gateway", "tasks_started_total",
		"Push tasks a task actor started or took over.")
	tasksFinished = gatewaySet.CounterVec("gateway", "tasks_finished_total",
		"Push tasks that ended here, by outcome (done, canceled).", "outcome")
	tasksDone     = tasksFinished.With("done")
	tasksCanceled = tasksFinished.With("canceled")
	taskPages     = gatewaySet.Counter("gateway", "task_pages_total",
		"Pages of an audience committed (inbox copies stored, cursor checkpointed) by push tasks.")
	taskDevices = gatewaySet.Counter("gateway", "task_devices_total",
		"Devices resolved into committed pages by push tasks.")
	tasksRunning = gatewaySet.Gauge("gateway", "tasks_running",
		"Task actors running in this process.")

	routerJobs = gatewaySet.CounterVec("gateway", "router_jobs_total",
		"Jobs the router ran, by kind (route a page, fan a broadcast out, withdraw).", "kind")
	routerRoute    = routerJobs.With("route")
	routerFanout   = routerJobs.With("fanout")
	routerWithdraw = routerJobs.With("withdraw")
)

// acknowledged counts the device's ACK of message id and its delivery
// latency.
func acknowledged(id uint64) {
	if metrics.Enabled {
		messagesAcked.Inc()
		deliverySeconds.Observe(time.Since(ids.Time(id)).Seconds())
	}
}

var routerBusy = gatewaySet.Counter("gateway", "router_busy_total",
	"Requests the router turned away because its queue was full (their devices wait in the inbox).")

// countTaskEnd counts a task that ended in state.
func countTaskEnd(state dataservice.TaskState) {
	switch state {
	case dataservice.TaskDone:
		tasksDone.Inc()
	case dataservice.TaskCanceled:
		tasksCanceled.Inc()
	}
}
