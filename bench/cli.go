package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/heraldpush/herald/internal/fleet"
)

// Exit statuses of Main.
const (
	// ExitOK: the run completed, whether or not it met any target.
	ExitOK = 0
	// ExitSetup: the run could not start or was interrupted.
	ExitSetup = 1
	// ExitUsage: bad command line or environment.
	ExitUsage = 2
)

const usageText = `herald-bench drives a running Herald with simulated devices and reports
one JSON line on stdout; progress goes to stderr every second.

Usage:
  herald-bench hold      --target URL --devices N --duration D [flags]
  herald-bench storm     --target URL --devices N [flags]
  herald-bench unicast   --target URL --devices N --messages M [--rate R] [flags]
  herald-bench unicast   --target URL --devices N --rate R --duration D [flags]
  herald-bench broadcast --target URL --devices N --messages M [flags]
  herald-bench tagpush   --target URL --devices N --messages M [flags]
  herald-bench churn     --target URL --devices N --rate R --duration D [--churn S] [flags]
  herald-bench steady    --target URL --devices N --rate R --duration D [flags]
  herald-bench SCENARIO  --cluster K ...   (instead of --target: a local cluster)
  herald-bench help

  hold      connect N idle devices, hold them for D, and report the server's
            memory per connection (rss_per_conn_bytes) and connections/s
  storm     register N devices first, then connect them all at once, at most
            --dial-concurrency dials in flight per process; report
            connections_per_sec (first dial to last WELCOME) and each
            device's connect time (TCP, handshake, auth, session) as
            p50_ms, p99_ms and max_ms
  unicast   connect N devices and push M messages to each, one device per
            POST /v1/push, and report delivery latency, loss and duplicates
  broadcast connect N devices and send M pushes to all of them (audience
            "all"), one after another; report per push the time from the
            API call until every device had it (all_delivered_ms), had sent
            its ACK (all_acked_ms) and the report counted it (report_ms)
  tagpush   tag N devices and connect them; report how fast the tag's
            members are read from the tag index (resolve_per_sec), then
            send M pushes to the tag, timed as broadcast, with how fast the
            push task resolved the audience (targeted_per_sec)
  churn     connect N devices; for D push to random devices at R per second
            while every second a share S (--churn, default 0.05) of them
            disconnects and reconnects; report reconnects_per_sec, delivered,
            lost (also pushes sent while a device was away: they must arrive
            after it is back), duplicates and latency
  steady    connect N devices; for D every device sends an upstream
            message in the seconds t with t mod S = device mod S
            (S = N / R), so that R are sent every second without the
            worker processes coordinating; the bench is the app's webhook
            and reports delivered, lost, duplicates and the latency from
            the device's Send to the webhook (webhook_batch: messages per
            webhook call)

--rate and --duration shape the load of the scenarios with a rate: unicast
(--rate paces its pushes; with --duration instead of --messages it sends
R × D pushes), churn and steady (both required). hold takes --duration as how long
it holds; storm, broadcast and tagpush take neither.

Every scenario drives the REST API only: the target is "herald all" or a
cluster's gateway. --cluster K starts a cluster for the run instead (herald
dataservice, K herald connectors and herald gateway on 127.0.0.1, the
herald binary found next to herald-bench or named by --herald), waits until
the gateway sees the K connectors, and stops it at the end, Ctrl-C
included; without HERALD_ADMIN_TOKEN it uses a random admin token. Against a cluster, with the cluster token
(HERALD_CLUSTER_TOKEN, or --cluster), the bench reads each connector's figures too
and reports them in "servers"; server_rss_bytes, server_cpu_s and
server_connections are then sums over gateway and connectors, and
gc_pause_p99_ms the largest. Without it they are the gateway's, and
server_connections the connectors' together from the registry.

The admin token is read from HERALD_ADMIN_TOKEN. Each run creates its own
app. A process holds at most 18000 devices: with --workers W (by default as
many as --devices needs) herald-bench runs W copies of itself that hold the
devices, each dialing from its own share of --sources, and adds up what
they report; it drives the scenario itself.
--out DIR also writes DIR/results.json (the result, its per-second series
and the latency CDF) and DIR/throughput.png, DIR/latency_cdf.png.
Run "herald-bench <scenario> -h" for the flags of a scenario.

Exit status: 0 the run completed, 1 setup failed (target unreachable, token
rejected, no device connected) or the run was interrupted, 2 bad flags.
`

// Main runs herald-bench with args (without the program name) and returns
// its exit status. The result goes to stdout as one JSON line; progress and
// errors go to stderr. SIGINT and SIGTERM stop the run.
func Main(args []string, stdout, stderr io.Writer) int {
	if os.Getenv(WorkerEnv) == "1" {
		return RunWorker(os.Stdin, stdout, stderr)
	}
	opts, err := ParseArgs(args, os.Getenv, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return ExitOK
	case err != nil:
		fmt.Fprintln(stderr, "herald-bench:", err)
		return ExitUsage
	}
	opts.Progress = stderr
	if opts.CPUProfile != "" {
		f, err := os.Create(opts.CPUProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(stderr, "herald-bench: cpu profile:", err)
			return ExitUsage
		}
		defer f.Close()
		defer pprof.StopCPUProfile()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res, err := Run(ctx, opts)
	if res.Scenario != "" {
		line, _ := json.Marshal(res)
		fmt.Fprintf(stdout, "%s\n", line)
	}
	switch {
	case errors.Is(err, ErrInvalidOptions):
		fmt.Fprintln(stderr, "herald-bench:", err)
		return ExitUsage
	case err != nil:
		fmt.Fprintln(stderr, "herald-bench:", err)
		return ExitSetup
	}
	return ExitOK
}

// ParseArgs parses a herald-bench command line into Options, reading the
// admin token with getenv. It returns flag.ErrHelp after printing help,
// and an error wrapping ErrInvalidOptions for a bad command line.
func ParseArgs(args []string, getenv func(string) string, stderr io.Writer) (Options, error) {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return Options{}, fmt.Errorf("%w: name a scenario: hold, storm, unicast, broadcast, tagpush, churn or steady", ErrInvalidOptions)
	}
	var o Options
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stderr, usageText)
		return o, flag.ErrHelp
	case string(Hold), string(Storm), string(Unicast), string(Broadcast), string(TagPush), string(Churn), string(Steady):
		o.Scenario = Scenario(args[0])
	default:
		return o, fmt.Errorf("%w: unknown scenario %q; use hold, storm, unicast, broadcast, tagpush, churn or steady (herald-bench help)", ErrInvalidOptions, args[0])
	}

	fs := flag.NewFlagSet("herald-bench "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.Target, "target", "http://127.0.0.1:8080", "base URL of Herald's REST API")
	fs.IntVar(&o.Cluster, "cluster", 0, fmt.Sprintf("instead of --target, start a local cluster of this many connectors (1 to %d) with a dataservice and a gateway, run against it, and stop it", MaxCluster))
	fs.StringVar(&o.Dataservice, "dataservice", "", "with the cluster token, also read the figures of the cluster's dataservice at this URL (--cluster sets it)")
	fs.StringVar(&o.Herald, "herald", "", "the herald binary --cluster runs (default: herald next to herald-bench)")
	fs.IntVar(&o.Devices, "devices", 0, fmt.Sprintf("devices to register and connect (1 to %d per process; required)", MaxDevices))
	fs.IntVar(&o.Workers, "workers", 0, fmt.Sprintf("worker processes holding the devices, each with its share of --sources (0: none up to %d devices, else enough for at most %d each)", MaxDevices, MaxDevices))
	fs.DurationVar(&o.Heartbeat, "heartbeat", 180*time.Second, "heartbeat the devices ask for")
	sources := fs.String("sources", DefaultSources, "local addresses device sockets are opened from, in turn: ranges and addresses, comma-separated")
	fs.IntVar(&o.DialConcurrency, "dial-concurrency", 256, "device connections in progress at once")
	fs.IntVar(&o.RegisterConcurrency, "register-concurrency", 64, "device registrations in flight at once")
	fs.StringVar(&o.CPUProfile, "cpuprofile", "", "write a CPU profile of herald-bench itself to this file")
	fs.IntVar(&o.Connections, "connections", 4, "HTTP/2 connections REST calls are spread over")
	fs.StringVar(&o.Out, "out", "", "also write results.json and PNG plots (throughput over time, latency CDF) to this directory")
	var ttl int64
	if o.Scenario != Hold {
		// Defined for every scenario, so that one without a rate says so.
		fs.IntVar(&o.Rate, "rate", 0, "pushes per second (unicast: 0 is as fast as --concurrency allows; churn: required), or upstream messages per second (steady: required)")
		fs.DurationVar(&o.Duration, "duration", 0, "how long to push at --rate (unicast instead of --messages; churn: required), or to send (steady: required)")
	}
	switch o.Scenario {
	case Hold:
		fs.DurationVar(&o.Duration, "duration", 0, "how long to hold the connections once all are up (required)")
		fs.DurationVar(&o.SettleTimeout, "settle-timeout", 10*time.Second, "longest wait for the server's memory to settle")
	case Unicast:
		fs.IntVar(&o.Messages, "messages", 0, "messages to push to each device (required)")
		fs.IntVar(&o.Concurrency, "concurrency", 64, "push requests in flight at once, over one HTTP/2 connection")
		fs.StringVar(&o.PushClient, "push-client", PushGo, "what sends the pushes: go (Go's HTTP client) or lean (herald-bench's own HTTP/2 connections, a fraction of the load generator's CPU; http:// targets)")
		fs.Int64Var(&ttl, "ttl", 86400, "time_to_live of the messages in seconds; 0 sends online-only messages (no ACK)")
		fs.DurationVar(&o.Timeout, "timeout", 30*time.Second, "longest wait for deliveries after the last push, and then for ACKs")
		fs.IntVar(&o.AckSample, "ack-sample", 100, "delivered messages whose report is checked for the server having seen the ACK")
	case Churn:
		fs.Float64Var(&o.ChurnShare, "churn", 0.05, "share of the devices that disconnect and reconnect every second (above 0, at most 1)")
		fs.IntVar(&o.Concurrency, "concurrency", 64, "push requests in flight at once")
		fs.StringVar(&o.PushClient, "push-client", PushGo, "what sends the pushes: go (Go's HTTP client) or lean (herald-bench's own HTTP/2 connections, a fraction of the load generator's CPU; http:// targets)")
		fs.Int64Var(&ttl, "ttl", 86400, "time_to_live of the messages in seconds (at least 1: pushes must wait for devices that are away)")
		fs.DurationVar(&o.Timeout, "timeout", 30*time.Second, "longest wait for deliveries after the last push")
	case Steady:
		fs.StringVar(&o.WebhookListen, "webhook-listen", "127.0.0.1:0", "where the bench's webhook listens (host:port; the gateway must reach it, and post to it: start a gateway given with --target with --webhook-private-networks for a private or loopback address)")
		fs.DurationVar(&o.Timeout, "timeout", 30*time.Second, "longest wait for the webhook after the last send")
	case Broadcast, TagPush:
		fs.IntVar(&o.Messages, "messages", 0, fmt.Sprintf("pushes to every device, one after another (1 to %d; required)", maxFanoutPushes))
		fs.Int64Var(&ttl, "ttl", 86400, "time_to_live of the messages in seconds; 0 sends online-only messages (no ACK)")
		fs.DurationVar(&o.Timeout, "timeout", 30*time.Second, "longest wait for each push to be delivered, acknowledged and counted")
		if o.Scenario == TagPush {
			fs.IntVar(&o.ResolvePasses, "resolve-passes", 5, "times the whole tag is read from the tag index to measure resolution")
		}
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return o, err
		}
		return o, fmt.Errorf("%w: %v", ErrInvalidOptions, err)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("%w: unexpected arguments: %s", ErrInvalidOptions, strings.Join(fs.Args(), " "))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["cluster"] && set["target"] {
		return o, fmt.Errorf("%w: --cluster starts its own target; do not give --target too", ErrInvalidOptions)
	}
	if set["herald"] && !set["cluster"] {
		return o, fmt.Errorf("%w: --herald names the binary --cluster runs; give --cluster too", ErrInvalidOptions)
	}
	var err error
	if o.Scenario == Unicast && set["messages"] && set["duration"] {
		return o, fmt.Errorf("%w: give --messages or --duration (rate × duration pushes), not both", ErrInvalidOptions)
	}
	if set["churn"] && o.ChurnShare <= 0 {
		return o, fmt.Errorf("%w: --churn must be above 0 and at most 1; got %v", ErrInvalidOptions, o.ChurnShare)
	}
	if o.Sources, err = fleet.ParseSources(*sources); err != nil {
		return o, fmt.Errorf("%w: --sources: %v", ErrInvalidOptions, err)
	}
	if o.Scenario != Hold && o.Scenario != Storm {
		if ttl < 0 {
			return o, fmt.Errorf("%w: --ttl must be 0 (online only) or more seconds; got %d", ErrInvalidOptions, ttl)
		}
		o.TTL, o.OnlineOnly = time.Duration(ttl)*time.Second, ttl == 0
	}
	o.AdminToken = getenv("HERALD_ADMIN_TOKEN")
	o.ClusterToken = getenv("HERALD_CLUSTER_TOKEN")
	o = o.withDefaults()
	if err := o.validate(); err != nil {
		return o, err
	}
	return o, nil
}
