package fleet

import (
	"context"
	"net/http"
	"net/netip"
	"time"
)

// Fleet is a set of simulated devices and what they received, wherever
// the devices are held: in this process (*Local) or in worker processes
// (*Workers). Indexes are global (see Config.First); ranges are half-open
// and may reach beyond the fleet's devices, which are then left out.
type Fleet interface {
	// Connect connects the devices of [from, to) that are not connected,
	// at most Config.Concurrency dials in flight per process, and returns
	// how many of them it could not connect. After GiveUpAfter dials in a
	// row failed (in one process) it gives up on the devices it has not
	// dialed yet and counts them failed. Each failure is passed to
	// Config.OnError as op "connect".
	Connect(ctx context.Context, from, to int) (failed int)
	// Disconnect closes the connections of the devices of [from, to) and
	// returns how many were open. The server keeps what is pushed to them
	// meanwhile with a time to live; Connect connects them again.
	Disconnect(ctx context.Context, from, to int) (closed int)
	// Churn closes the connections of n devices picked at random and
	// dials each again. A Local fleet returns when all have reconnected
	// or failed to (op "reconnect"); worker processes are told their
	// shares and Churn returns at once.
	Churn(ctx context.Context, n int)
	// Upstream has the devices send upstream messages as p says. A Local
	// fleet returns when every Send of the plan has returned; worker
	// processes are told the plan and Upstream returns at once.
	Upstream(ctx context.Context, p UpstreamPlan)
	// Sync makes Stats and the arrivals current: for a fleet held by
	// worker processes it waits until each has reported everything its
	// devices received and counted before the call. A Local fleet is
	// always current.
	Sync(ctx context.Context)
	// Stats returns the fleet's counters. For a Local fleet it visits
	// every client.
	Stats() Stats
	// Connected returns how many devices are connected now, without
	// visiting the clients.
	Connected() int64
	// Acked returns how many messages the devices have acknowledged.
	Acked() int64
	// FirstInvalid describes the first message a Stamped fleet rejected,
	// or is empty.
	FirstInvalid() string
	// Close disconnects every device and, for a fleet held by worker
	// processes, ends them.
	Close()
}

var (
	_ Fleet = (*Local)(nil)
	_ Fleet = (*Workers)(nil)
)

// GiveUpAfter is the fewest failed dials in a row after which Connect
// gives up on the devices it has not dialed yet (twice Config.Concurrency
// when that is more). Without it a fleet larger than the server can take
// waits out DialTimeout for every device beyond: 10,000 devices too many
// took ten minutes to fail.
const GiveUpAfter = 100

// Config configures a fleet. A fleet held by worker processes gives each
// worker the same configuration, except for the fields that say otherwise.
type Config struct {
	// Gateway is the REST API base URL devices ask dispatch at.
	Gateway string
	// HTTP makes this process's devices' dispatch calls. Nil means the
	// SDK's default client. Worker processes use the client given to
	// WorkerMain.
	HTTP *http.Client
	// Sources are the local addresses device sockets are opened from, in
	// turn, so that tens of thousands of sockets do not exhaust one
	// address's ephemeral ports. Worker processes each get a contiguous
	// share (when there are at least as many addresses as workers). Nil
	// means the system picks.
	Sources []netip.Addr
	// First is the global index of the fleet's first device. Worker
	// processes get the first of their range.
	First int
	// Concurrency bounds the dials (and closes) in flight per process.
	// Zero means 32.
	Concurrency int
	// DialTimeout bounds one device's connection, retries included.
	// Zero means 30s.
	DialTimeout time.Duration
	// Heartbeat is the interval devices ask for. Zero means the server's
	// default.
	Heartbeat time.Duration
	// MinBackoff and MaxBackoff bound the SDK's waits between reconnection
	// rounds. Zero means the SDK's defaults.
	MinBackoff, MaxBackoff time.Duration
	// DedupeWindow is how many message ids each client remembers to drop
	// duplicates. Zero means the SDK's default (4096 per client).
	DedupeWindow int
	// Stamped says the fleet's messages carry a Stamp: a message whose
	// stamp is missing, names another device (unless Shared) or has a
	// sequence number of Messages or more is counted in Stats.Invalid
	// and not reported. Arrivals then carry the stamp's Seq and Sent.
	Stamped bool
	// Messages is how many stamped messages each device expects: sequence
	// numbers 0 to Messages-1.
	Messages int
	// Shared says every stamped message is for every device (a broadcast
	// or a tag push): its stamp names no device.
	Shared bool
	// TimeConnects reports each successful dial of Connect as an arrival:
	// ID and Seq 0, Sent when the dial started, At when it was welcomed.
	TimeConnects bool
	// OnArrival, if set, is told of every message handed to a device's
	// handler (duplicates that reach the handler included: the SDK drops
	// those it recognizes). It must not block.
	OnArrival func(Arrival)
	// OnError, if set, is told of each device's failure to connect
	// ("connect"), reconnect ("reconnect") or send ("upstream"). It must
	// not block.
	OnError func(op string, err error)
}

// withDefaults fills in the zero values that have defaults.
func (c Config) withDefaults() Config {
	if c.Concurrency <= 0 {
		c.Concurrency = 32
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = 30 * time.Second
	}
	return c
}

func (c *Config) onError(op string, err error) {
	if c.OnError != nil {
		c.OnError(op, err)
	}
}

// Arrival is a message handed to a device's handler.
type Arrival struct {
	// Device is the global index of the device whose handler got it.
	Device int
	// ID is the message id; zero for a timed connection (TimeConnects).
	ID uint64
	// Seq and Sent (Unix nanoseconds) are the message's stamp's, in a
	// Stamped fleet; zero otherwise.
	Seq  int
	Sent int64
	// At is when the handler got it, Unix nanoseconds.
	At int64
}

// Stats are a fleet's counters. Those of several fleets add up with Add.
type Stats struct {
	Devices int
	// Connected counts the devices connected now.
	Connected int64
	// Welcomed counts successful dials of Connect; Unconnected the
	// devices Connect could not connect (given up on included).
	Welcomed, Unconnected int64
	// Disconnects counts connections that ended other than by Disconnect,
	// Churn or Close.
	Disconnects int64
	// Reconnects counts churned devices that connected again;
	// ReconnectErrors those that could not.
	Reconnects, ReconnectErrors int64
	// DialFailures counts socket dials that failed (the SDK retries them).
	DialFailures int64
	// SDKReceived, SDKDuplicates and Acked sum the clients' counters:
	// messages handed to handlers, duplicates the SDK dropped before the
	// handler, and ACKs sent.
	SDKReceived, SDKDuplicates, Acked int64
	// Invalid counts the messages a Stamped fleet rejected.
	Invalid int64
	// FirstDial is when the first dial of Connect started and LastWelcome
	// when the last one was welcomed, Unix nanoseconds; zero if none.
	FirstDial, LastWelcome int64
	// UpSent counts upstream Sends started, UpAcked those the server
	// acknowledged and UpErrors those that failed.
	UpSent, UpAcked, UpErrors int64
}

// Add adds o's counters to s.
func (s *Stats) Add(o Stats) {
	s.Devices += o.Devices
	s.Connected += o.Connected
	s.Welcomed += o.Welcomed
	s.Unconnected += o.Unconnected
	s.Disconnects += o.Disconnects
	s.Reconnects += o.Reconnects
	s.ReconnectErrors += o.ReconnectErrors
	s.DialFailures += o.DialFailures
	s.SDKReceived += o.SDKReceived
	s.SDKDuplicates += o.SDKDuplicates
	s.Acked += o.Acked
	s.Invalid += o.Invalid
	s.UpSent += o.UpSent
	s.UpAcked += o.UpAcked
	s.UpErrors += o.UpErrors
	if o.FirstDial != 0 && (s.FirstDial == 0 || o.FirstDial < s.FirstDial) {
		s.FirstDial = o.FirstDial
	}
	s.LastWelcome = max(s.LastWelcome, o.LastWelcome)
}
