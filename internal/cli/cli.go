// Package cli is the command line of the herald binary: it parses flags and
// HERALD_* environment variables into component configs and runs them until
// a signal stops them. cmd/herald only calls Main.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/dataservice/storespec"
	"github.com/heraldpush/herald/internal/server"
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
  herald healthcheck URL       exit 0 if URL answers 200 (container health checks)
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
	errs []error
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

func (f *flags) parse(args []string) error {
	if err := f.Parse(args); err != nil {
		return err
	}
	if f.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(f.Args(), " "))
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

func runAll(args []string, stdout, stderr io.Writer) int {
	f := newFlags("all", stderr)
	dataDir := f.string("data", "./herald-data", "directory of the embedded store")
	httpAddr := f.string("http", "127.0.0.1:8080", "REST API address")
	deviceAddr := f.string("device", "127.0.0.1:7100", "device TCP address")
	advertise := f.string("device-advertise", "", "device address given to devices by dispatch (default: the listening address)")
	heartbeat := f.duration("heartbeat", 180*time.Second, "heartbeat granted to devices that ask for none")
	grace := f.duration("grace", 30*time.Second, "how long a disconnected device keeps its state for a quick reconnect")
	node := f.int("node", 0, "number of this process in message ids, 0..1023")
	store := f.string("store", "", "store to use instead of the embedded one in --data: leveldb:DIR or aerospike://host:port[,host:port]/namespace")
	dataservices := f.string("dataservice", "", "comma-separated URLs of dataservice instances to use instead of a store (needs HERALD_CLUSTER_TOKEN)")
	logLevel := f.string("log-level", "info", "debug, info, warn or error")
	if err := f.parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "herald all:", err)
		return 2
	}
	log, err := newLogger(*logLevel, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "herald all:", err)
		return 2
	}
	cfg := server.AllConfig{
		DataDir:      *dataDir,
		Store:        *store,
		Dataservice:  splitList(*dataservices),
		ClusterToken: os.Getenv("HERALD_CLUSTER_TOKEN"),
		HTTP:         *httpAddr,
		AdminToken:   os.Getenv("HERALD_ADMIN_TOKEN"),
		Node:         *node,
		Log:          log,
	}
	cfg.Connector.Listen = *deviceAddr
	cfg.Connector.Advertise = *advertise
	cfg.Connector.Settings.Heartbeat = *heartbeat
	cfg.Connector.Settings.Grace = *grace

	ctx, stop := untilSignal()
	defer stop()
	n, err := server.StartAll(cfg)
	if err != nil {
		fmt.Fprintln(stderr, "herald all:", err)
		return 1
	}
	data := n.DataDir()
	switch {
	case len(cfg.Dataservice) > 0:
		data = "dataservice " + strings.Join(cfg.Dataservice, ", ")
	case cfg.Store != "":
		data = storespec.Redact(cfg.Store)
	}
	fmt.Fprintf(stdout, "herald %s running\n  REST API    http://%s\n  devices     tcp://%s\n  data        %s\n",
		Version(), n.HTTPAddr(), n.DeviceAddr(), data)
	if n.NewAdminToken != "" {
		fmt.Fprintf(stdout, "  admin token %s\n              (shown once: keep it; only its hash is stored. Or set HERALD_ADMIN_TOKEN.)\n", n.NewAdminToken)
	}
	<-ctx.Done()
	stop()
	fmt.Fprintln(stdout, "herald: shutting down")
	shutdown, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n.Close(shutdown); err != nil {
		fmt.Fprintln(stderr, "herald: shutdown:", err)
		return 1
	}
	fmt.Fprintln(stdout, "herald: stopped")
	return 0
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
	logLevel := f.string("log-level", "info", "debug, info, warn or error")
	if err := f.parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "herald dataservice:", err)
		return 2
	}
	log, err := newLogger(*logLevel, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "herald dataservice:", err)
		return 2
	}
	ctx, stop := untilSignal()
	defer stop()
	n, err := server.StartDataservice(server.DataserviceConfig{
		Store:    *store,
		HTTP:     *httpAddr,
		Token:    os.Getenv("HERALD_CLUSTER_TOKEN"),
		Sentinel: dataservice.SentinelConfig{Lease: *lease},
		Log:      log,
	})
	if err != nil {
		fmt.Fprintln(stderr, "herald dataservice:", err)
		return 1
	}
	fmt.Fprintf(stdout, "herald %s dataservice running\n  serving     http://%s\n  store       %s\n", Version(), n.Addr(), storespec.Redact(*store))
	<-ctx.Done()
	stop()
	fmt.Fprintln(stdout, "herald: shutting down")
	shutdown, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n.Close(shutdown); err != nil {
		fmt.Fprintln(stderr, "herald: shutdown:", err)
		return 1
	}
	fmt.Fprintln(stdout, "herald: stopped")
	return 0
}

// runHealthcheck GETs a health endpoint: containers without curl use it.
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
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		fmt.Fprintln(stderr, "herald healthcheck:", res.Status)
		return 1
	}
	return 0
}
