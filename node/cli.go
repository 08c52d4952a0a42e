package node

// The command line of the herald binary: Main parses flags and HERALD_*
// environment variables into component configs and runs them until a
// signal stops them. cmd/herald only calls Main.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/dataservice/storespec"
	"github.com/heraldpush/herald/gateway"
	"github.com/heraldpush/herald/internal/ratelimit"
)

// Main runs the herald command with args (without the program name) and
// returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	cmd := "all"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "all":
		return runAll(args, stdout, stderr)
	case "dataservice":
		return runDataservice(args, stdout, stderr)
	case "connector":
		return runConnector(args, stdout, stderr)
	case "gateway":
		return runGateway(args, stdout, stderr)
	case "portal":
		return runPortal(args, stdout, stderr)
	case "healthcheck":
		return runHealthcheck(args, stderr)
	case "version":
		fmt.Fprintln(stdout, "herald", Version())
		return 0
	case "help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "herald: unknown command %q\n\n", cmd)
		usage(stderr)
		return 2
	}
}

func usage(w io.Writer) {
	fmt.Fprint(w, `Herald is a push platform: devices hold connections, app backends push.

Usage:
  herald [all] [flags]         run every component in one process (embedded store)
  herald dataservice [flags]   serve a store to the other components over HTTP/2
  herald connector [flags]     hold device connections (needs dataservice)
  herald gateway [flags]       serve the REST API (needs dataservice and connectors)
  herald portal [flags]        serve the marketers' web portal (needs a gateway)
  herald healthcheck URL       exit 0 if URL answers 200, such as http://127.0.0.1:8080/readyz (container health checks)
  herald version               print the version
  herald help                  print this help

Run "herald COMMAND -h" for the flags of a command. Every flag can also be set
with an environment variable: --http is HERALD_HTTP, --data is HERALD_DATA, and
so on. Secrets come only from the environment: HERALD_ADMIN_TOKEN,
HERALD_CLUSTER_TOKEN.
`)
}

// Version returns the module version the binary was built from.
func Version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// flags is a flag set whose defaults come from HERALD_* variables.
type flags struct {
	*flag.FlagSet
	errs  []error
	later []func() error // checks of values, once parsed
}

func newFlags(name string, stderr io.Writer) *flags {
	fs := flag.NewFlagSet("herald "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return &flags{FlagSet: fs}
}

func envName(flagName string) string {
	return "HERALD_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func (f *flags) string(name, def, usage string) *string {
	if v, ok := os.LookupEnv(envName(name)); ok {
		def = v
	}
	return f.String(name, def, usage+" ("+envName(name)+")")
}

func (f *flags) duration(name string, def time.Duration, usage string) *time.Duration {
	if v, ok := os.LookupEnv(envName(name)); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("%s=%q: %w", envName(name), v, err))
		} else {
			def = d
		}
	}
	return f.Duration(name, def, usage+" ("+envName(name)+")")
}

func (f *flags) int(name string, def int, usage string) *int {
	if v, ok := os.LookupEnv(envName(name)); ok {
		var n int
		if _, err := fmt.Sscan(v, &n); err != nil {
			f.errs = append(f.errs, fmt.Errorf("%s=%q: not a number", envName(name), v))
		} else {
			def = n
		}
	}
	return f.Int(name, def, usage+" ("+envName(name)+")")
}

func (f *flags) bool(name string, def bool, usage string) *bool {
	if v, ok := os.LookupEnv(envName(name)); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			f.errs = append(f.errs, fmt.Errorf("%s=%q: not true or false", envName(name), v))
		} else {
			def = b
		}
	}
	return f.Bool(name, def, usage+" ("+envName(name)+")")
}

// trustedProxiesUsage describes --trusted-proxies.
const trustedProxiesUsage = "comma-separated addresses or CIDR ranges of proxies (the portal's servers, a load balancer) whose X-Forwarded-For names the client of a portal login or a device registration, for their per-address limits (default: none; the client is the peer)"

// prefixes parses a comma-separated list of addresses and CIDR ranges.
func (f *flags) prefixes(name, usage string) *[]netip.Prefix {
	raw := f.string(name, "", usage)
	out := new([]netip.Prefix)
	f.later = append(f.later, func() error {
		for _, s := range splitList(*raw) {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				a, aerr := netip.ParseAddr(s)
				if aerr != nil {
					return fmt.Errorf("--%s: %q is neither an address nor a CIDR range", name, s)
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
			*out = append(*out, p.Masked())
		}
		return nil
	})
	return out
}

// Usages of the limits per app.
const (
	maxSchedulesUsage = "the most schedules an app may have; creating one more answers 409 too_many_schedules (negative: no limit)"
	maxSegmentsUsage  = "the most segments an app may have; creating one more answers 409 too_many_segments (negative: no limit)"
)

// listenerFlags registers the caps of the --http listener, and of the
// --device one if device is true, and --http-body-timeout; what is the
// --http port in usage texts; proxies tells the command has
// --trusted-proxies. Zero values are the defaults the Start
// functions take from the file budget (caps.go), which def shows.
func (f *flags) listenerFlags(what string, def budgets, device, proxies bool) (httpCaps, deviceCaps *ConnCaps, bodyTimeout *time.Duration) {
	note := ""
	if proxies {
		note = "; --trusted-proxies count toward --http-conns only"
	}
	httpCaps = f.caps("http", what, "the connection that has waited longest for a request body, else one that has waited over 1s for its first request or been idle over 2s, is closed to make room, else the new one is closed at once",
		def.http, note)
	if device {
		deviceCaps = f.caps("device", "the device port", "a new connection is closed at once, before its handshake", def.device, "")
	}
	bodyTimeout = f.duration("http-body-timeout", 30*time.Second, "how long a request's body may take to arrive once its headers have; a slower one gets 408 and its connection is closed")
	return httpCaps, deviceCaps, bodyTimeout
}

// caps registers --NAME-conns and --NAME-conns-per-address.
func (f *flags) caps(name, what, over string, def ConnCaps, note string) *ConnCaps {
	total := f.int(name+"-conns", 0, fmt.Sprintf("connections %s holds at once; over it, %s (0: %d, this process's share of its open-file limit; -1: no cap)", what, over, def.Total))
	per := f.int(name+"-conns-per-address", 0, fmt.Sprintf("connections %s holds at once from one client address, an IPv4 address or an IPv6 /64%s (0: an eighth of --%s-conns, at least 8, so %d by default; -1: no cap)", what, note, name, def.PerAddress))
	out := new(ConnCaps)
	f.later = append(f.later, func() error {
		*out = ConnCaps{Total: *total, PerAddress: *per}
		return nil
	})
	return out
}

// registrationFlags registers --register-limit-per-address and
// --register-limit-per-app.
func (f *flags) registrationFlags() *gateway.RegistrationLimits {
	def := gateway.DefaultRegistrationLimits
	addr := f.string("register-limit-per-address", def.PerAddress.String(), "device registrations (POST /v1/devices) one client address may make, as N/DURATION: N at once, then N per DURATION; off for no limit (behind a proxy, set --trusted-proxies)")
	app := f.string("register-limit-per-app", def.PerApp.String(), "device registrations of one app's devices, as N/DURATION: N at once, then N per DURATION; off for no limit")
	out := new(gateway.RegistrationLimits)
	f.later = append(f.later, func() error {
		var err error
		if out.PerAddress, err = ratelimit.ParseRate(*addr); err != nil {
			return fmt.Errorf("--register-limit-per-address: %w", err)
		}
		if out.PerApp, err = ratelimit.ParseRate(*app); err != nil {
			return fmt.Errorf("--register-limit-per-app: %w", err)
		}
		return nil
	})
	return out
}

// webhookPrivateUsage describes --webhook-private-networks.
const webhookPrivateUsage = "let apps' webhooks be loopback, private or link-local addresses (default: public addresses only)"

func (f *flags) parse(args []string) error {
	if err := f.Parse(args); err != nil {
		return err
	}
	if f.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(f.Args(), " "))
	}
	for _, check := range f.later {
		if err := check(); err != nil {
			f.errs = append(f.errs, err)
		}
	}
	return errors.Join(f.errs...)
}

func newLogger(level string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: use debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// untilSignal returns a context canceled by SIGINT or SIGTERM.
func untilSignal() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

// setup parses a command's flags and builds its logger; code is non-zero
// (the exit code) when the command must not run.
func (f *flags) setup(args []string, logLevel *string, stderr io.Writer) (log *slog.Logger, code int) {
	name := f.Name()
	if err := f.parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, -1
		}
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return nil, 2
	}
	log, err := newLogger(*logLevel, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return nil, 2
	}
	return log, 0
}

// exitCode turns setup's code into the process exit code.
func exitCode(code int) int { return max(code, 0) }

// serveUntilSignal waits until ctx (from untilSignal) ends, then shuts n
// down; stop (untilSignal's) lets a second signal kill the process.
func serveUntilSignal(ctx context.Context, stop context.CancelFunc, n interface{ Close(context.Context) error }, stdout, stderr io.Writer) int {
	// Starting leaves garbage behind: protoactor builds a process registry
	// of 32,768 maps that actors.CompactRegistry replaces (~3 MB), stores
	// read their state. Give its pages back now, so a process at rest is
	// as large as what it keeps, not what it once held.
	debug.FreeOSMemory()
	var failed <-chan error // a gateway that must stop says so here
	if f, ok := n.(interface{ Failed() <-chan error }); ok {
		failed = f.Failed()
	}
	code := 0
	select {
	case <-ctx.Done():
	case err := <-failed:
		fmt.Fprintln(stderr, "herald:", err)
		code = 1
	}
	stop()
	fmt.Fprintln(stdout, "herald: shutting down")
	shutdown, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n.Close(shutdown); err != nil {
		fmt.Fprintln(stderr, "herald: shutdown:", err)
		return 1
	}
	fmt.Fprintln(stdout, "herald: stopped")
	return code
}

func runAll(args []string, stdout, stderr io.Writer) int {
	f := newFlags("all", stderr)
	dataDir := f.string("data", "./herald-data", "directory of the embedded store")
	httpAddr := f.string("http", "127.0.0.1:8080", "REST API address")
	metricsAddr := f.string("metrics", "", metricsUsage)
	deviceAddr := f.string("device", "127.0.0.1:7100", "device TCP address")
	advertise := f.string("device-advertise", "", "device address given to devices by dispatch (default: the listening address)")
	heartbeat := f.duration("heartbeat", 180*time.Second, "heartbeat granted to devices that ask for none")
	grace := f.duration("grace", 30*time.Second, "how long a disconnected device keeps its state for a quick reconnect")
	node := f.int("node", 0, "number of this process in message ids, 0..1023")
	store := f.string("store", "", "store to use instead of the embedded one in --data: leveldb:DIR or aerospike://host:port[,host:port]/namespace")
	webhookPrivate := f.bool("webhook-private-networks", false, webhookPrivateUsage)
	maxSchedules := f.int("max-schedules", gateway.DefaultMaxSchedules, maxSchedulesUsage)
	maxSegments := f.int("max-segments", gateway.DefaultMaxSegments, maxSegmentsUsage)
	trustedProxies := f.prefixes("trusted-proxies", trustedProxiesUsage)
	registrations := f.registrationFlags()
	httpCaps, deviceCaps, bodyTimeout := f.listenerFlags("the REST port", defaultBudgets(openFileLimit(), storeReserve, true), true, true)
	logLevel := f.string("log-level", "info", "debug, info, warn or error")
	log, code := f.setup(args, logLevel, stderr)
	if code != 0 {
		return exitCode(code)
	}
	cfg := AllConfig{
		DataDir:     *dataDir,
		Store:       *store,
		HTTP:        *httpAddr,
		HTTPConns:   *httpCaps,
		BodyTimeout: *bodyTimeout,
		Metrics:     *metricsAddr,
		AdminToken:  os.Getenv("HERALD_ADMIN_TOKEN"),
		Node:        *node,
		Log:         log,
	}
	cfg.Connector.MaxConnections, cfg.Connector.MaxConnectionsPerAddress = deviceCaps.Total, deviceCaps.PerAddress
	cfg.Connector.Listen = *deviceAddr
	cfg.Connector.Advertise = *advertise
	cfg.Connector.Settings.Heartbeat = *heartbeat
	cfg.Connector.Settings.Grace = *grace
	cfg.Gateway.Webhooks.PrivateDestinations = *webhookPrivate
	cfg.Gateway.MaxSchedules, cfg.Gateway.MaxSegments = *maxSchedules, *maxSegments
	cfg.Gateway.Accounts.TrustedProxies = *trustedProxies
	cfg.Gateway.Registrations = *registrations

	ctx, stop := untilSignal()
	defer stop()
	n, err := StartAll(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "herald all:", err)
		return 1
	}
	data := n.DataDir()
	if cfg.Store != "" {
		data = storespec.Redact(cfg.Store)
	}
	fmt.Fprintf(stdout, "herald %s running\n  REST API    http://%s\n  devices     tcp://%s\n  portal      http://%s/portal/\n  data        %s\n",
		Version(), n.HTTPAddr(), n.DeviceAddr(), n.HTTPAddr(), data)
	printMetricsAddr(stdout, n.MetricsAddr())
	if n.NewAdminToken != "" {
		printAdminToken(stdout, n.NewAdminToken)
	}
	return serveUntilSignal(ctx, stop, n, stdout, stderr)
}

// metricsUsage is the help of --metrics.
const metricsUsage = "address serving Prometheus metrics at /metrics without a token (default: none; /metrics on the REST port needs the admin token). Bind it where only Prometheus reaches it"

func printMetricsAddr(w io.Writer, addr net.Addr) {
	if addr != nil {
		fmt.Fprintf(w, "  metrics     http://%s/metrics\n", addr)
	}
}

func printAdminToken(w io.Writer, token string) {
	fmt.Fprintf(w, "  admin token %s\n              (shown once: keep it; only its hash is stored. Or set HERALD_ADMIN_TOKEN.)\n", token)
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

func runDataservice(args []string, stdout, stderr io.Writer) int {
	f := newFlags("dataservice", stderr)
	store := f.string("store", "leveldb:./herald-data/store", "leveldb:DIR or aerospike://host:port[,host:port]/namespace")
	httpAddr := f.string("http", "127.0.0.1:8090", "address served to the other components (HTTP/2 cleartext)")
	lease := f.duration("lease", 500*time.Millisecond, "how long caches of other processes may serve without hearing from this one")
	httpCaps, _, bodyTimeout := f.listenerFlags("the --http address", defaultBudgets(openFileLimit(), storeReserve, false), false, false)
	logLevel := f.string("log-level", "info", "debug, info, warn or error")
	log, code := f.setup(args, logLevel, stderr)
	if code != 0 {
		return exitCode(code)
	}
	ctx, stop := untilSignal()
	defer stop()
	n, err := StartDataservice(DataserviceConfig{
		Store:        *store,
		HTTP:         *httpAddr,
		HTTPConns:    *httpCaps,
		BodyTimeout:  *bodyTimeout,
		Token:        os.Getenv("HERALD_CLUSTER_TOKEN"),
		Invalidation: dataservice.InvalidationConfig{Lease: *lease},
		Log:          log,
	})
	if err != nil {
		fmt.Fprintln(stderr, "herald dataservice:", err)
		return 1
	}
	fmt.Fprintf(stdout, "herald %s dataservice running\n  serving     http://%s\n  store       %s\n", Version(), n.Addr(), storespec.Redact(*store))
	return serveUntilSignal(ctx, stop, n, stdout, stderr)
}

func runConnector(args []string, stdout, stderr io.Writer) int {
	f := newFlags("connector", stderr)
	id := f.string("id", "", "name of this connector in the cluster (default: a new random one each start)")
	dataservices := f.string("dataservice", "http://127.0.0.1:8090", "comma-separated URLs of dataservice instances")
	deviceAddr := f.string("device", "127.0.0.1:7100", "device TCP address")
	advertise := f.string("device-advertise", "", "device address given to devices by dispatch (default: the listening address)")
	httpAddr := f.string("http", "127.0.0.1:7190", "internal API address, called by gateways (HTTP/2 cleartext)")
	internalURL := f.string("internal-url", "", "URL gateways use to reach the internal API (default: http:// and the listening address)")
	heartbeat := f.duration("heartbeat", 180*time.Second, "heartbeat granted to devices that ask for none")
	grace := f.duration("grace", 30*time.Second, "how long a disconnected device keeps its state for a quick reconnect")
	announce := f.duration("announce", 3*time.Second, "how often the connector refreshes its registry entry (which lives three times as long)")
	httpCaps, deviceCaps, bodyTimeout := f.listenerFlags("the internal API", defaultBudgets(openFileLimit(), plainReserve, true), true, false)
	logLevel := f.string("log-level", "info", "debug, info, warn or error")
	log, code := f.setup(args, logLevel, stderr)
	if code != 0 {
		return exitCode(code)
	}
	cfg := ConnectorConfig{
		ID:           *id,
		Dataservice:  splitList(*dataservices),
		ClusterToken: os.Getenv("HERALD_CLUSTER_TOKEN"),
		HTTP:         *httpAddr,
		InternalURL:  *internalURL,
		HTTPConns:    *httpCaps,
		BodyTimeout:  *bodyTimeout,
		Announce:     *announce,
		Log:          log,
	}
	cfg.Connector.MaxConnections, cfg.Connector.MaxConnectionsPerAddress = deviceCaps.Total, deviceCaps.PerAddress
	cfg.Connector.Listen = *deviceAddr
	cfg.Connector.Advertise = *advertise
	cfg.Connector.Settings.Heartbeat = *heartbeat
	cfg.Connector.Settings.Grace = *grace
	tuneConnectorGC(os.Getenv)
	ctx, stop := untilSignal()
	defer stop()
	n, err := StartConnector(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "herald connector:", err)
		return 1
	}
	fmt.Fprintf(stdout, "herald %s connector %s running\n  devices     tcp://%s\n  internal    http://%s\n  dataservice %s\n",
		Version(), n.ID(), n.DeviceAddr(), n.InternalAddr(), strings.Join(cfg.Dataservice, ", "))
	return serveUntilSignal(ctx, stop, n, stdout, stderr)
}

// connectorGCPercent is the garbage collector's target of a `herald
// connector` whose environment sets no GOGC. A connector's heap is mostly
// what its connections keep; the garbage of a burst of connections
// (handshakes, session writes) shares spans with it, and what a collection
// frees there stays resident until the next burst refills it. At Go's
// default of 100 that was about 440 bytes per connection at 18,000, at 50
// about 310. Devices connect as fast; the connector spends about 8% more
// CPU while they do (docs/benchmarks.md).
const connectorGCPercent = 50

// tuneConnectorGC sets connectorGCPercent unless GOGC says otherwise: the
// runtime has read GOGC already, so there is nothing to do then.
func tuneConnectorGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(connectorGCPercent)
	}
}

func runGateway(args []string, stdout, stderr io.Writer) int {
	f := newFlags("gateway", stderr)
	dataservices := f.string("dataservice", "http://127.0.0.1:8090", "comma-separated URLs of dataservice instances")
	httpAddr := f.string("http", "127.0.0.1:8080", "REST API address")
	metricsAddr := f.string("metrics", "", metricsUsage)
	node := f.int("node", 0, "number of this gateway in message ids, 0..1023; each gateway of a cluster needs its own (it is claimed in the dataservice: a gateway does not start on a node another one holds)")
	refresh := f.duration("refresh", time.Second, "how often the connector registry is read")
	webhookPrivate := f.bool("webhook-private-networks", false, webhookPrivateUsage)
	maxSchedules := f.int("max-schedules", gateway.DefaultMaxSchedules, maxSchedulesUsage)
	maxSegments := f.int("max-segments", gateway.DefaultMaxSegments, maxSegmentsUsage)
	trustedProxies := f.prefixes("trusted-proxies", trustedProxiesUsage)
	registrations := f.registrationFlags()
	httpCaps, _, bodyTimeout := f.listenerFlags("the REST port", defaultBudgets(openFileLimit(), plainReserve, false), false, true)
	logLevel := f.string("log-level", "info", "debug, info, warn or error")
	log, code := f.setup(args, logLevel, stderr)
	if code != 0 {
		return exitCode(code)
	}
	ctx, stop := untilSignal()
	defer stop()
	gcfg := GatewayConfig{
		Dataservice:  splitList(*dataservices),
		ClusterToken: os.Getenv("HERALD_CLUSTER_TOKEN"),
		HTTP:         *httpAddr,
		HTTPConns:    *httpCaps,
		BodyTimeout:  *bodyTimeout,
		Metrics:      *metricsAddr,
		AdminToken:   os.Getenv("HERALD_ADMIN_TOKEN"),
		Node:         *node,
		Refresh:      *refresh,
		Log:          log,
	}
	gcfg.Gateway.Webhooks.PrivateDestinations = *webhookPrivate
	gcfg.Gateway.MaxSchedules, gcfg.Gateway.MaxSegments = *maxSchedules, *maxSegments
	gcfg.Gateway.Accounts.TrustedProxies = *trustedProxies
	gcfg.Gateway.Registrations = *registrations
	n, err := StartGateway(gcfg)
	if err != nil {
		fmt.Fprintln(stderr, "herald gateway:", err)
		return 1
	}
	fmt.Fprintf(stdout, "herald %s gateway running\n  REST API    http://%s\n  dataservice %s\n", Version(), n.HTTPAddr(), *dataservices)
	printMetricsAddr(stdout, n.MetricsAddr())
	if n.NewAdminToken != "" {
		printAdminToken(stdout, n.NewAdminToken)
	}
	return serveUntilSignal(ctx, stop, n, stdout, stderr)
}

func runPortal(args []string, stdout, stderr io.Writer) int {
	f := newFlags("portal", stderr)
	gatewayURL := f.string("gateway", "http://127.0.0.1:8080", "base URL of the gateway's REST API (http:// is called over cleartext HTTP/2)")
	httpAddr := f.string("http", "127.0.0.1:8081", "address the portal serves (its pages are under /portal/)")
	secure := f.bool("secure-cookies", false, "mark cookies Secure on every answer, as behind a proxy that terminates TLS (default: when the request came over https)")
	httpCaps, _, bodyTimeout := f.listenerFlags("the portal's address", defaultBudgets(openFileLimit(), plainReserve, false), false, false)
	logLevel := f.string("log-level", "info", "debug, info, warn or error")
	log, code := f.setup(args, logLevel, stderr)
	if code != 0 {
		return exitCode(code)
	}
	ctx, stop := untilSignal()
	defer stop()
	cfg := PortalConfig{Gateway: *gatewayURL, HTTP: *httpAddr, HTTPConns: *httpCaps, BodyTimeout: *bodyTimeout, Log: log}
	cfg.Portal.SecureCookies = *secure
	n, err := StartPortal(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "herald portal:", err)
		return 1
	}
	fmt.Fprintf(stdout, "herald %s portal running\n  portal      http://%s/portal/\n  gateway     %s\n", Version(), n.HTTPAddr(), *gatewayURL)
	return serveUntilSignal(ctx, stop, n, stdout, stderr)
}

// runHealthcheck GETs a health endpoint (/healthz or /readyz): containers
// without curl use it. It exits 0 on 200 and 1 otherwise, saying why.
func runHealthcheck(args []string, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: herald healthcheck URL")
		return 2
	}
	c := &http.Client{Timeout: 3 * time.Second}
	res, err := c.Get(args[0])
	if err != nil {
		fmt.Fprintln(stderr, "herald healthcheck:", err)
		return 1
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 4<<10))
		fmt.Fprintf(stderr, "herald healthcheck: %s: %s\n", res.Status, strings.TrimSpace(string(body)))
		return 1
	}
	return 0
}
