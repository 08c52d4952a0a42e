package bench

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/heraldpush/herald/internal/fleet"
)

// Errors of Run, telling the CLI which exit status to use.
var (
	// ErrInvalidOptions means the options cannot describe a run; nothing
	// was sent to the target.
	ErrInvalidOptions = errors.New("bench: invalid options")
	// ErrSetup means the run could not start: the target is unreachable,
	// the admin token is wrong, or devices could not be registered or
	// connected.
	ErrSetup = errors.New("bench: setup failed")
)

// DefaultSources is the default of Options.Sources (and --sources): every
// loopback address but 127.0.0.1 and the broadcast address. Linux routes
// all of 127.0.0.0/8 to lo, so they need no setup.
const DefaultSources = "127.0.0.2-127.0.0.254"

// Scenario names what a run does.
type Scenario string

// Scenarios.
const (
	// Hold connects idle devices and measures memory per connection.
	Hold Scenario = "hold"
	// Unicast pushes messages to devices one at a time and measures
	// delivery.
	Unicast Scenario = "unicast"
	// Broadcast pushes to every device of the app at once (audience
	// "all") and times each push until every device has it and has
	// acknowledged it.
	Broadcast Scenario = "broadcast"
	// TagPush tags every device, measures how fast the tag's members are
	// read from the tag index, and pushes to the tag, timed as Broadcast.
	TagPush Scenario = "tagpush"
	// Storm connects registered devices as fast as it may and measures
	// the connect rate and each device's time from dial to WELCOME.
	Storm Scenario = "storm"
	// Churn keeps devices connected while a share of them disconnects and
	// reconnects every second, and pushes to them at Rate for Duration.
	Churn Scenario = "churn"
	// Steady has the devices send upstream messages to the app's webhook
	// at Rate per second for Duration, each device in its own seconds
	// (see fleet.UpstreamPlan), and measures them from Send to the webhook.
	Steady Scenario = "steady"
)

// rated reports a scenario whose pushes Rate paces.
func (s Scenario) rated() bool { return s == Unicast || s == Churn || s == Steady }

// fanout reports a scenario whose every push goes to all the devices.
func (s Scenario) fanout() bool { return s == Broadcast || s == TagPush }

// maxFanoutPushes bounds Messages of Broadcast and TagPush.
const maxFanoutPushes = 1000

// maxRate bounds Options.Rate.
const maxRate = 1_000_000

// churnPushes returns Rate × Duration: the pushes Churn sends, and those
// Unicast sends when it has a duration.
func (o *Options) churnPushes() int64 {
	return int64(o.Rate) * int64(min(o.Duration, 1000*time.Hour)/time.Millisecond) / 1000
}

// MaxDevices is the most devices one bench process simulates: the
// process holds a socket per device and may open at most 20,000 files,
// which leaves room for the REST connection, logs and the runtime.
const MaxDevices = 18000

// Options configure a run. Scenario, Target, AdminToken and Devices are
// required, and Duration for Hold, Messages for Unicast; zero values of the
// others mean their defaults.
type Options struct {
	Scenario Scenario
	// Target is the base URL of Herald's REST API, such as
	// http://127.0.0.1:8080. With Cluster it is ignored.
	Target string
	// Cluster, if positive, makes the run start its own cluster instead of
	// using Target: a herald dataservice (LevelDB in a temporary
	// directory), Cluster herald connectors and a herald gateway, each a
	// process on loopback; the run waits until the gateway sees every
	// connector, drives the gateway, and stops the cluster at its end.
	// AdminToken may then be empty: the cluster gets a random one.
	Cluster int
	// ClusterToken is the cluster token, with which the bench reads each
	// connector's runtime figures (GET /internal/v1/runtime on the
	// internal URL the gateway's registry gives). Empty means the server
	// figures are the gateway's alone; a Cluster run makes one up.
	ClusterToken string
	// Dataservice is the base URL of the cluster's dataservice, whose
	// runtime figures (GET /internal/v1/runtime) join the connectors' with
	// ClusterToken. A Cluster run sets it; empty means they are not read.
	Dataservice string
	// Herald is the herald binary Cluster runs. Empty means herald next to
	// this executable.
	Herald string
	// AdminToken authorizes creating the run's app and reading the
	// server's runtime figures.
	AdminToken string
	// Devices is how many devices to register and connect: at most
	// MaxDevices per process that holds devices.
	Devices int
	// Workers is how many worker processes hold the devices: the run's
	// process re-executes itself (see WorkerEnv) that many times, gives
	// each an even share of the devices and of Sources, drives the
	// scenario itself and adds up what the workers report. Zero means
	// none if Devices fits one process (MaxDevices) and otherwise enough
	// that none holds more than MaxDevices.
	Workers int

	// Duration is how long Hold holds the connections once all are up,
	// or how long Churn (and Unicast with Rate and no Messages) pushes.
	Duration time.Duration
	// Rate, if positive, is the pushes per second Unicast and Churn send,
	// each push sent no earlier than its turn; zero means as fast as
	// Concurrency allows (Unicast only: Churn needs a rate). Unicast with
	// Rate and Duration and no Messages sends Rate × Duration pushes,
	// rounded up to whole messages per device.
	Rate int
	// ChurnShare is the share of the devices Churn disconnects and
	// reconnects every second. Zero means 0.05.
	ChurnShare float64
	// Heartbeat is the heartbeat devices ask for. Zero means 180s, so that
	// pings do not distort idle memory.
	Heartbeat time.Duration
	// Sources are the local addresses device sockets are opened from, in
	// turn. Nil means DefaultSources.
	Sources []netip.Addr
	// DialConcurrency bounds device connections in progress. Zero means
	// 256.
	DialConcurrency int
	// RegisterConcurrency bounds device registrations in flight. Zero
	// means 64.
	RegisterConcurrency int
	// SettleInterval and SettleTimeout shape the wait for the server's
	// memory to settle: it is read every SettleInterval until two readings
	// are within 1% of each other or SettleTimeout passes. Zero means 1s
	// and 10s.
	SettleInterval, SettleTimeout time.Duration

	// Messages is how many messages Unicast pushes to each device, or
	// how many pushes Broadcast and TagPush send, one after another, each
	// to every device.
	Messages int
	// Concurrency bounds push requests in flight. Zero means 64.
	Concurrency int
	// TTL is the messages' time_to_live. Zero means one day; it is
	// rounded down to seconds.
	TTL time.Duration
	// OnlineOnly sends messages with time_to_live 0: not stored, not
	// acknowledged. TTL is then ignored.
	OnlineOnly bool
	// Timeout bounds the wait for deliveries after the last push, and then
	// the wait for ACKs; for Broadcast and TagPush, the wait for each push
	// to be delivered, acknowledged and counted. Zero means 30s.
	Timeout time.Duration
	// AckSample is how many delivered messages' reports are checked for
	// the server having seen their ACK. Zero means 100.
	AckSample int
	// ResolvePasses is how many times TagPush reads the whole tag from
	// the tag index, page by page, to measure resolution. Zero means 5.
	ResolvePasses int

	// Progress receives a progress line every second and the first few
	// errors. Nil means no progress output.
	Progress io.Writer
	// CPUProfile, if set, names a file for a CPU profile of the bench
	// itself, to tell the load generator's cost from the server's.
	CPUProfile string
	// Connections is how many HTTP/2 connections REST calls are spread
	// over. Zero means 4.
	Connections int
	// PushClient is what sends the pushes of unicast and churn: PushGo
	// (Go's HTTP client, the default) or PushLean (herald-bench's own
	// HTTP/2 connections, which cost the load generator a fraction of the
	// CPU; cleartext targets only).
	PushClient string
	// WebhookListen is where Steady's webhook listens (host:port, port 0
	// for any): the gateway must reach it. Empty means 127.0.0.1:0.
	WebhookListen string
	// Out, if set, names a directory the run writes results.json (the
	// result with its per-second series and latency CDF, see Report) and
	// PNG plots into. It is created if missing; Run checks that it can
	// write there before the run starts.
	Out string
}

// The clients that may send the pushes (Options.PushClient).
const (
	PushGo   = "go"
	PushLean = "lean"
)

// withDefaults returns o with its zero values replaced by defaults.
func (o Options) withDefaults() Options {
	def := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	defInt := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.Heartbeat, 180*time.Second)
	def(&o.SettleInterval, time.Second)
	if o.Connections <= 0 {
		o.Connections = 4
	}
	def(&o.SettleTimeout, 10*time.Second)
	def(&o.TTL, 24*time.Hour)
	def(&o.Timeout, 30*time.Second)
	defInt(&o.DialConcurrency, 256)
	defInt(&o.RegisterConcurrency, 64)
	defInt(&o.Concurrency, 64)
	if o.PushClient == "" {
		o.PushClient = PushGo
	}
	defInt(&o.AckSample, 100)
	defInt(&o.ResolvePasses, 5)
	if o.ChurnShare == 0 {
		o.ChurnShare = 0.05
	}
	if o.Scenario == Unicast && o.Messages == 0 && o.Rate > 0 && o.Duration > 0 && o.Devices > 0 {
		// Rate × Duration pushes, rounded up to whole messages per device.
		o.Messages = int(min((o.churnPushes()+int64(o.Devices)-1)/int64(o.Devices), 1<<30))
	}
	if o.WebhookListen == "" {
		o.WebhookListen = "127.0.0.1:0"
	}
	if o.Sources == nil {
		o.Sources, _ = fleet.ParseSources(DefaultSources)
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return o
}

// validate reports the first problem with o, which has its defaults.
func (o *Options) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidOptions, fmt.Sprintf(format, args...))
	}
	switch o.Scenario {
	case Hold, Storm, Unicast, Broadcast, TagPush, Churn, Steady:
	default:
		return bad("unknown scenario %q; use %s, %s, %s, %s, %s, %s or %s", o.Scenario, Hold, Storm, Unicast, Broadcast, TagPush, Churn, Steady)
	}
	if o.Rate < 0 || o.Rate > maxRate {
		return bad("rate must be 0 to %d pushes per second; got %d", maxRate, o.Rate)
	}
	if o.Rate > 0 && !o.Scenario.rated() {
		return bad("%s sends nothing at a rate; rate applies to %s, %s and %s", o.Scenario, Unicast, Churn, Steady)
	}
	if o.Duration < 0 {
		return bad("duration must not be negative; got %v", o.Duration)
	}
	if o.Duration > 0 && o.Scenario != Hold && !o.Scenario.rated() {
		return bad("%s has no duration; duration applies to %s, %s, %s and %s", o.Scenario, Hold, Unicast, Churn, Steady)
	}
	if o.Cluster < 0 || o.Cluster > MaxCluster {
		return bad("cluster must be 1 to %d connectors; got %d", MaxCluster, o.Cluster)
	}
	u, err := url.Parse(o.Target)
	if o.Cluster == 0 && (err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "") {
		return bad("target %q must be the REST API's base URL, such as http://127.0.0.1:8080", o.Target)
	}
	if o.AdminToken == "" && o.Cluster == 0 {
		return bad("the admin token is missing: set HERALD_ADMIN_TOKEN to the token herald printed on first start (or was started with)")
	}
	if o.Workers < 0 || o.Workers > MaxWorkers {
		return bad("workers must be 0 (as many as the devices need) to %d; got %d", MaxWorkers, o.Workers)
	}
	if o.Devices < 1 || o.Devices > MaxWorkers*MaxDevices {
		return bad("devices must be 1 to %d; got %d", MaxWorkers*MaxDevices, o.Devices)
	}
	if w := max(o.workerCount(), 1); (o.Devices+w-1)/w > MaxDevices {
		return bad("%d devices over %d processes is more than %d per process (a process may open at most 20,000 files and holds one socket per device); use more workers", o.Devices, w, MaxDevices)
	}
	if w := o.workerCount(); w > o.Devices {
		return bad("%d workers for %d devices: each worker needs a device", w, o.Devices)
	}
	if o.Heartbeat < 0 || o.Timeout < 0 || o.SettleInterval < 0 || o.SettleTimeout < 0 || o.TTL < 0 {
		return bad("durations must not be negative")
	}
	if o.DialConcurrency < 1 || o.RegisterConcurrency < 1 || o.Concurrency < 1 || o.AckSample < 1 || o.ResolvePasses < 1 {
		return bad("concurrency, sample sizes and passes must be positive")
	}
	if len(o.Sources) == 0 {
		return bad("no source address")
	}
	switch o.PushClient {
	case PushGo:
	case PushLean:
		if o.Target != "" && !strings.HasPrefix(o.Target, "http://") { // a cluster's target is set later, http://
			return bad("push client %s speaks cleartext HTTP/2 only; the target is %s", PushLean, o.Target)
		}
	default:
		return bad("push client must be %s or %s; got %q", PushGo, PushLean, o.PushClient)
	}
	switch o.Scenario {
	case Hold:
		if o.Duration <= 0 {
			return bad("hold needs a positive duration, such as 30s; got %v", o.Duration)
		}
	case Churn:
		if o.Rate < 1 || o.Duration <= 0 {
			return bad("churn needs a positive rate and duration, such as --rate 1000 --duration 30s; got %d and %v", o.Rate, o.Duration)
		}
		if o.ChurnShare <= 0 || o.ChurnShare > 1 {
			return bad("churn share must be above 0 and at most 1; got %v", o.ChurnShare)
		}
		if o.Messages != 0 {
			return bad("churn sends rate × duration pushes; do not give messages")
		}
		if p := o.churnPushes(); p > 100_000_000 {
			return bad("rate × duration = %d pushes is over 100,000,000", p)
		}
		if o.TTL < time.Second || o.OnlineOnly {
			return bad("churn needs ttl of at least one second: pushes to a device that is away must wait for it")
		}
	case Steady:
		if o.Rate < 1 || o.Duration <= 0 {
			return bad("steady needs a positive rate and duration, such as --rate 1000 --duration 30s; got %d and %v", o.Rate, o.Duration)
		}
		if o.Rate > o.Devices {
			return bad("steady sends at most one upstream message per device per second: rate %d is more than the %d devices", o.Rate, o.Devices)
		}
		if o.Messages != 0 {
			return bad("steady sends rate × duration messages; do not give messages")
		}
		if _, rounds := o.steadyShape(); int64(rounds)*int64(o.Devices) > 100_000_000 {
			return bad("rate × duration = %d upstream messages is over 100,000,000", int64(rounds)*int64(o.Devices))
		}
		if _, _, err := net.SplitHostPort(o.WebhookListen); err != nil {
			return bad("webhook listen address %q must be host:port: %v", o.WebhookListen, err)
		}
	case Unicast:
		if o.Duration > 0 {
			if o.Rate < 1 {
				return bad("unicast with a duration needs a rate: it sends rate × duration pushes")
			}
			if p := o.churnPushes(); p > 100_000_000 {
				return bad("rate × duration = %d pushes is over 100,000,000", p)
			}
		}
		if o.Messages < 1 {
			return bad("unicast needs messages ≥ 1 per device; got %d", o.Messages)
		}
		if o.Devices*o.Messages > 100_000_000 {
			return bad("devices × messages = %d is over 100,000,000", o.Devices*o.Messages)
		}
		if o.TTL > 0 && o.TTL < time.Second && !o.OnlineOnly {
			return bad("ttl must be at least one second; use online-only messages for time_to_live 0")
		}
	case Broadcast, TagPush:
		if o.Messages < 1 || o.Messages > maxFanoutPushes {
			return bad("%s needs messages 1 to %d (pushes to every device, one after another); got %d", o.Scenario, maxFanoutPushes, o.Messages)
		}
		if o.TTL > 0 && o.TTL < time.Second && !o.OnlineOnly {
			return bad("ttl must be at least one second; use online-only messages for time_to_live 0")
		}
	}
	return nil
}
