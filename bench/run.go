package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/internal/fleet"
	"github.com/heraldpush/herald/internal/runtimestats"
	"github.com/heraldpush/herald/sdk"
)

// shownErrors is how many errors of each kind are printed to
// Options.Progress; the rest are only counted.
const shownErrors = 5

// Run runs the scenario opts describe and returns its result. Its errors
// wrap ErrInvalidOptions when opts are unusable, ErrSetup when the run
// could not start, or ctx's error when ctx ended it. A run that starts
// returns a Result even if it misses every target: its counters say how.
func Run(ctx context.Context, opts Options) (Result, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return Result{}, err
	}
	if err := prepareOut(opts.Out); err != nil {
		return Result{}, err
	}
	if opts.Cluster > 0 {
		c, err := startLocalCluster(ctx, &opts)
		if err != nil {
			return Result{}, fmt.Errorf("%w: %w", ErrSetup, err)
		}
		defer c.stop()
	}
	r, err := newRun(ctx, opts)
	if err != nil {
		return Result{}, err
	}
	defer r.http.CloseIdleConnections()
	stop := r.startProgress()
	defer stop()
	var res Result
	switch opts.Scenario {
	case Hold:
		res, err = r.hold(ctx)
	case Storm:
		res, err = r.storm(ctx)
	case Churn:
		res, err = r.churn(ctx)
	case Steady:
		res, err = r.steady(ctx)
	case Unicast:
		res, err = r.unicast(ctx)
	case Broadcast, TagPush:
		res, err = r.fanout(ctx)
	}
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	stop()
	if opts.Out != "" && res.Scenario != "" {
		files, werr := writeOut(opts.Out, r.report(res))
		if werr != nil {
			err = errors.Join(err, werr)
		} else {
			r.printf("herald-bench: wrote %s", strings.Join(files, ", "))
		}
	}
	return res, err
}

// run is the state of one run. It is driven by the goroutine calling Run;
// counters are atomic because phase workers and the progress reporter
// read them.
type run struct {
	opts    Options
	http    *http.Client
	api     *api
	started time.Time
	cpu0    float64 // this process's CPU seconds at start

	phase      atomic.Pointer[string]
	fleet      atomic.Pointer[countedFleet]
	registered atomic.Int64
	pushed     atomic.Int64 // pushes answered 200
	pushErrors atomic.Int64
	firstPush  atomic.Int64 // Unix nanoseconds
	lastPushed atomic.Int64

	printMu sync.Mutex
	shown   map[string]int // errors printed per kind

	// series is a Sample per progress line, appended by the progress
	// reporter once a second.
	seriesMu sync.Mutex
	series   []Sample
}

// newRun prepares a run, learning how many requests the target takes at
// once on one connection.
func newRun(ctx context.Context, opts Options) (*run, error) {
	started := time.Now()
	tr := newTransport()
	limit, err := streamLimit(ctx, tr, opts.Target)
	if err != nil {
		return nil, setupError("connecting to "+opts.Target, err)
	}
	if opts.Scenario == Unicast && opts.Concurrency > limit*opts.Connections {
		fmt.Fprintf(opts.Progress, "herald-bench: the gateway allows %d requests at once on a connection: at most %d pushes are in flight on %d connections, not %d\n",
			limit, limit*opts.Connections, opts.Connections, opts.Concurrency)
	}
	trs := []*http.Transport{tr}
	for len(trs) < opts.Connections {
		trs = append(trs, newTransport())
	}
	c := newHTTPClient(trs, limit)
	r := &run{
		opts:    opts,
		http:    c,
		api:     newAPI(opts.Target, opts.AdminToken, c).withClusterToken(opts.ClusterToken).withDataservice(opts.Dataservice),
		started: started,
		cpu0:    processCPU(),
		shown:   map[string]int{},
	}
	r.setPhase("setup")
	return r, nil
}

func (r *run) setPhase(p string) { r.phase.Store(&p) }

// printf writes a line to the progress output.
func (r *run) printf(format string, args ...any) {
	r.printMu.Lock()
	defer r.printMu.Unlock()
	fmt.Fprintf(r.opts.Progress, format+"\n", args...)
}

// reportError prints one of the first few errors of its kind.
func (r *run) reportError(kind string, err error) {
	r.printMu.Lock()
	defer r.printMu.Unlock()
	switch n := r.shown[kind]; {
	case n < shownErrors:
		fmt.Fprintf(r.opts.Progress, "herald-bench: %s: %v\n", kind, err)
	case n == shownErrors:
		fmt.Fprintf(r.opts.Progress, "herald-bench: %s: more errors, counted but not shown\n", kind)
	}
	r.shown[kind]++
}

// setupError wraps err as a setup failure, saying what the bench was
// doing.
func setupError(doing string, err error) error {
	var he *httpError
	if errors.As(err, &he) && he.Status == http.StatusUnauthorized && he.Path == "/v1/admin/runtime" {
		return fmt.Errorf("%w: %s: the admin token was rejected; set HERALD_ADMIN_TOKEN to the server's admin token (%v)", ErrSetup, doing, err)
	}
	return fmt.Errorf("%w: %s: %v", ErrSetup, doing, err)
}

// start checks that the target answers and the admin token works, and
// returns the server's figures at the start of the run.
func (r *run) start(ctx context.Context) (serverFigures, error) {
	f, err := r.api.runtime(ctx)
	if err != nil {
		return f, setupError("reading "+r.opts.Target+"/v1/admin/runtime", err)
	}
	return f, nil
}

// connected runs start, setup and connect, the first steps of every
// scenario whose devices connect at once: it returns the server's figures
// at the start, the fleet with its devices connected (the caller closes
// it) and how many devices failed to connect.
func (r *run) connected(ctx context.Context, messages int) (serverFigures, *countedFleet, int, error) {
	start, err := r.start(ctx)
	if err != nil {
		return start, nil, 0, err
	}
	f, err := r.setup(ctx, messages)
	if err != nil {
		return start, nil, 0, err
	}
	failed, err := r.connect(ctx, f)
	if err != nil {
		f.held.Close()
		return start, nil, 0, err
	}
	return start, f, failed, nil
}

// setup creates the run's app, registers the devices and builds the fleet
// (not yet connected), in this process or in worker processes.
func (r *run) setup(ctx context.Context, messages int) (*countedFleet, error) {
	name := fmt.Sprintf("herald-bench %s %s", r.opts.Scenario, time.Now().UTC().Format(time.RFC3339))
	if err := r.api.createApp(ctx, name); err != nil {
		return nil, setupError("creating the app", err)
	}
	r.setPhase("register")
	creds, ends, err := r.register(ctx)
	if err != nil {
		return nil, err
	}
	f := newCountedFleet(creds, messages, r.opts.Scenario.fanout())
	cfg := fleet.Config{
		Gateway:     r.api.base,
		HTTP:        r.http,
		Sources:     r.opts.Sources,
		Concurrency: r.opts.DialConcurrency,
		DialTimeout: 30 * time.Second,
		Heartbeat:   r.opts.Heartbeat,
		// The server retries unacknowledged messages only after a
		// reconnect; remembering every message of the run suffices, and
		// keeps 18,000 clients from holding the default 4096-entry map each.
		DedupeWindow: messages + 16,
		Stamped:      true,
		Messages:     messages,
		Shared:       r.opts.Scenario.fanout(),
		// Storm times each device's connection as its message 0.
		TimeConnects: r.opts.Scenario == Storm,
		OnArrival:    f.record,
		// The ops ("connect", "reconnect", "upstream") are the kinds of
		// errors printed.
		OnError: r.reportError,
	}
	if w := r.opts.workerCount(); w > 0 {
		r.setPhase("workers")
		workers, err := r.startWorkers(cfg, w, creds, ends)
		if err != nil {
			return nil, setupError(fmt.Sprintf("starting %d worker processes", w), err)
		}
		f.held, f.workers = workers, workers
	} else {
		f.held = fleet.NewLocal(cfg, creds, ends)
	}
	r.fleet.Store(f)
	return f, nil
}

// register registers the devices, RegisterConcurrency at a time, and asks
// dispatch where each connects, as a real device does once and then
// caches: the timed connection phase measures handshake, authentication
// and session registration, not dispatch. For TagPush it also gives each
// device the run's tag.
func (r *run) register(ctx context.Context) ([]sdk.Credentials, []sdk.Endpoints, error) {
	reg := fleet.Registration{
		Gateway:      r.api.base,
		AppKey:       r.api.appKey,
		MasterSecret: r.api.masterSecret,
		HTTP:         r.http,
		Concurrency:  r.opts.RegisterConcurrency,
		Dispatch:     true,
		OnRegistered: func(int) { r.registered.Add(1) },
	}
	if r.opts.Scenario == TagPush {
		tagged := fleet.Spec{Tags: []string{benchTag}}
		reg.Spec = func(int) fleet.Spec { return tagged }
	}
	creds, ends, err := fleet.Register(ctx, reg, r.opts.Devices)
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if err != nil {
		return nil, nil, setupError(fmt.Sprintf("registering %d devices", r.opts.Devices), err)
	}
	return creds, ends, nil
}

// connect connects the fleet and fails the setup if no device could.
func (r *run) connect(ctx context.Context, f *countedFleet) (failed int, err error) {
	r.setPhase("connect")
	failed = f.held.Connect(ctx, 0, f.size())
	if err := ctx.Err(); err != nil {
		return failed, err
	}
	if failed == f.size() {
		return failed, fmt.Errorf("%w: no device could connect (see the errors above)", ErrSetup)
	}
	// The SDK reports a connection to OnState just after its Dial
	// returned: what follows (a push expecting the devices connected, the
	// connected count of the result) must see every one.
	welcomed := int64(f.size() - failed)
	waitFor(ctx, time.Now().Add(5*time.Second), time.Millisecond, func() bool {
		return f.held.Connected() >= welcomed
	})
	return failed, nil
}

// settle reads the server's figures every SettleInterval until two
// readings of the resident memory of the processes holding connections
// (heldRSS) are within 1% of each other or
// SettleTimeout passes, and returns the last reading.
func (r *run) settle(ctx context.Context) (serverFigures, error) {
	prev, err := r.api.runtime(ctx)
	if err != nil {
		return prev, err
	}
	deadline := time.Now().Add(r.opts.SettleTimeout)
	for time.Now().Before(deadline) {
		if err := sleep(ctx, r.opts.SettleInterval); err != nil {
			return prev, err
		}
		cur, err := r.api.runtime(ctx)
		if err != nil {
			return prev, err
		}
		if within1Percent(prev.heldRSS(), cur.heldRSS()) {
			return cur, nil
		}
		prev = cur
	}
	return prev, nil
}

func within1Percent(a, b int64) bool {
	d := b - a
	if d < 0 {
		d = -d
	}
	return d*100 <= a
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// waitFor polls cond every interval until it holds (true), the deadline
// passes or ctx ends (false).
func waitFor(ctx context.Context, deadline time.Time, interval time.Duration, cond func() bool) bool {
	for !cond() {
		if !time.Now().Before(deadline) || sleep(ctx, interval) != nil {
			return cond()
		}
	}
	return true
}

// finish fills in what every scenario reports.
func (r *run) finish(ctx context.Context, res *Result, start serverFigures, st fleetStats) {
	// The final reading should not fail because the run was interrupted.
	end, err := r.api.runtime(context.WithoutCancel(ctx))
	if err == nil && ctx.Err() == nil && (r.opts.Cluster > 0 || len(end.Components.Connectors) > 0) {
		// A gateway counts connections from the connectors' registry
		// entries, refreshed every announce (clusterAnnounce in a cluster
		// of the bench's): give a short run's last connections time to
		// show.
		waitFor(ctx, time.Now().Add(4*clusterAnnounce), 50*time.Millisecond, func() bool {
			if f, ferr := r.api.runtime(ctx); ferr == nil {
				end = f
			}
			return end.connections() >= int(st.Connected)
		})
	}
	if err != nil {
		r.reportError("reading runtime figures", err)
	} else {
		if end.peerErr != nil {
			r.reportError("reading the connectors' runtime figures", end.peerErr)
		}
		setServerFigures(res, start, end)
	}
	res.Scenario = string(r.opts.Scenario)
	res.Devices = r.opts.Devices
	res.Connected = st.Connected
	res.Disconnects = st.Disconnects
	res.DialRetries = st.DialFailures
	res.ConnectionsPerSec = rate(st.Welcomed, st.FirstDial, st.LastWelcome)
	res.BenchCPUSeconds = round3(processCPU() - r.cpu0)
	if f := r.fleet.Load(); f != nil && f.workers != nil {
		res.BenchCPUSeconds = round3(res.BenchCPUSeconds + f.workers.CPUSeconds())
	}
	res.DurationSeconds = round3(time.Since(r.started).Seconds())
}

// processCPU returns the CPU seconds this process has used.
func processCPU() float64 { return runtimestats.CPUTime().Seconds() }
