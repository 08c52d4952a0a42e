package fleet

import (
	"errors"
	"net/netip"
	"time"

	"github.com/heraldpush/herald/sdk"
)

// A parent and its workers speak JSON lines: commands on the worker's
// stdin, reports on its stdout. The worker's stderr is the parent's to
// choose (WorkersConfig.Command).
//
// Commands: one "init" with the worker's devices first; then any of
// "connect" and "disconnect" (a range of devices, answered by "connected"
// and "disconnected" once done), "churn" (how many devices to reconnect),
// "upstream" (a plan), "sync" (answered by "synced" once everything
// before it was reported) and "close". End of stdin is "close" too: a
// worker whose parent died stops by itself. Answered commands carry a
// number their answer echoes.
//
// Reports: "arrivals" (device, message id, seq, sent, at), "status" (the
// worker's counters, sent every reportInterval when they changed),
// "error" (one device's failure, with its op) and the answers above. A
// worker told to close closes its devices and exits, which ends its
// stdout.

// reportInterval is how often a worker sends what its devices received:
// the arrivals, each with its own timestamp, and its counters. Figures
// that depend on counters, such as a round's all_acked_ms in herald-bench,
// are as precise as this interval.
const reportInterval = 10 * time.Millisecond

// ErrWorker means a worker process failed or broke the protocol.
var ErrWorker = errors.New("fleet: worker failed")

// Operations of command.
const (
	opInit       = "init"
	opConnect    = "connect"
	opDisconnect = "disconnect"
	opChurn      = "churn"
	opUpstream   = "upstream"
	opSync       = "sync"
	opClose      = "close"
)

// initCommand is what a worker needs to hold its share of the fleet: the
// fields of Config that cross the process boundary, with the worker's own
// First and Sources.
type initCommand struct {
	Worker       int               `json:"worker"`
	Gateway      string            `json:"gateway"`
	First        int               `json:"first"`
	Concurrency  int               `json:"concurrency"`
	DialTimeout  time.Duration     `json:"dial_timeout"`
	Heartbeat    time.Duration     `json:"heartbeat,omitempty"`
	MinBackoff   time.Duration     `json:"min_backoff,omitempty"`
	MaxBackoff   time.Duration     `json:"max_backoff,omitempty"`
	DedupeWindow int               `json:"dedupe_window,omitempty"`
	Stamped      bool              `json:"stamped,omitempty"`
	Messages     int               `json:"messages,omitempty"`
	Shared       bool              `json:"shared,omitempty"`
	TimeConnects bool              `json:"time_connects,omitempty"`
	Sources      []netip.Addr      `json:"sources,omitempty"`
	Credentials  []sdk.Credentials `json:"credentials"`
	Endpoints    []sdk.Endpoints   `json:"endpoints,omitempty"`
}

// newInit returns the init command of a worker holding creds from global
// index first.
func newInit(worker int, c Config, first int, sources []netip.Addr, creds []sdk.Credentials, ends []sdk.Endpoints) *initCommand {
	return &initCommand{
		Worker: worker, Gateway: c.Gateway, First: first, Concurrency: c.Concurrency, DialTimeout: c.DialTimeout,
		Heartbeat: c.Heartbeat, MinBackoff: c.MinBackoff, MaxBackoff: c.MaxBackoff, DedupeWindow: c.DedupeWindow,
		Stamped: c.Stamped, Messages: c.Messages, Shared: c.Shared, TimeConnects: c.TimeConnects,
		Sources: sources, Credentials: creds, Endpoints: ends,
	}
}

// config returns the worker's Config, without its callbacks.
func (in *initCommand) config() Config {
	return Config{
		Gateway: in.Gateway, First: in.First, Concurrency: in.Concurrency, DialTimeout: in.DialTimeout,
		Heartbeat: in.Heartbeat, MinBackoff: in.MinBackoff, MaxBackoff: in.MaxBackoff, DedupeWindow: in.DedupeWindow,
		Stamped: in.Stamped, Messages: in.Messages, Shared: in.Shared, TimeConnects: in.TimeConnects,
		Sources: in.Sources,
	}
}

// command is one line from the parent.
type command struct {
	Op       string        `json:"op"`
	Init     *initCommand  `json:"init,omitempty"`
	N        int64         `json:"n,omitempty"`    // echoed in the answer
	From     int           `json:"from,omitempty"` // connect, disconnect: global range
	To       int           `json:"to,omitempty"`
	Count    int           `json:"count,omitempty"` // churn
	Upstream *UpstreamPlan `json:"upstream,omitempty"`
}

// Kinds of report.
const (
	reportArrivals     = "arrivals"
	reportStatus       = "status"
	reportError        = "error"
	reportConnected    = "connected"
	reportDisconnected = "disconnected"
	reportSynced       = "synced"
)

// report is one line from a worker.
type report struct {
	T            string     `json:"t"`
	Arrivals     [][5]int64 `json:"arrivals,omitempty"` // device, id, seq, sent, at
	Stats        *Stats     `json:"stats,omitempty"`
	FirstInvalid string     `json:"first_invalid,omitempty"`
	CPUSeconds   float64    `json:"cpu_s,omitempty"`
	Op           string     `json:"op,omitempty"` // error
	Message      string     `json:"message,omitempty"`
	Count        int        `json:"count,omitempty"` // connected: failed; disconnected: closed
	N            int64      `json:"n,omitempty"`
}

// wire returns a as an element of report.Arrivals.
func (a Arrival) wire() [5]int64 {
	return [5]int64{int64(a.Device), int64(a.ID), int64(a.Seq), a.Sent, a.At}
}

// arrivalOf is the inverse of Arrival.wire.
func arrivalOf(w [5]int64) Arrival {
	return Arrival{Device: int(w[0]), ID: uint64(w[1]), Seq: int(w[2]), Sent: w[3], At: w[4]}
}
