package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/heraldpush/herald/sdk"
)

// WorkerEnv is the environment variable that makes herald-bench a worker
// process: with WorkerEnv=1, Main holds the devices a parent herald-bench
// sends it instead of parsing a command line.
const WorkerEnv = "HERALD_BENCH_WORKER"

// MaxWorkers bounds Options.Workers.
const MaxWorkers = 64

// reportInterval is how often a worker sends what its devices received:
// the arrivals, each with its own timestamp, and its counters (connections,
// ACKs). Times that depend on counters, such as a round's all_acked_ms,
// are as precise as this interval.
const reportInterval = 10 * time.Millisecond

// ErrWorker means a worker process failed or broke the protocol.
var ErrWorker = errors.New("bench: worker failed")

// A parent and its workers speak JSON lines: commands on the worker's
// stdin, reports on its stdout. The worker's stderr is the parent's
// progress output.
//
// Commands, in order: one "init" with the worker's devices, one
// "connect", any number of "sync", one "close". End of stdin is "close"
// too: a worker whose parent died stops by itself.
//
// Reports: "arrivals" (device, seq, sent, at — Unix nanoseconds), "status"
// (the fleet's counters), "error" (one device's connection failure),
// "connected" (answers connect, with the devices that failed) and "synced"
// (answers sync, once everything before it was reported). A worker told to
// close closes its devices and exits, which ends its stdout.

// workerInit is what a worker needs to hold its share of the fleet.
type workerInit struct {
	Worker          int               `json:"worker"`
	Gateway         string            `json:"gateway"`
	First           int               `json:"first"`
	Messages        int               `json:"messages"`
	Shared          bool              `json:"shared"`
	TimeConnects    bool              `json:"time_connects,omitempty"`
	Heartbeat       time.Duration     `json:"heartbeat"`
	DialConcurrency int               `json:"dial_concurrency"`
	Sources         []netip.Addr      `json:"sources"`
	Credentials     []sdk.Credentials `json:"credentials"`
	Endpoints       []sdk.Endpoints   `json:"endpoints"`
}

// workerCommand is one line from the parent.
type workerCommand struct {
	Op     string      `json:"op"` // init, connect, churn, steady, sync, close
	Init   *workerInit `json:"init,omitempty"`
	N      int64       `json:"n,omitempty"` // sync's number, echoed in synced; churn's devices
	Steady *steadyPlan `json:"steady,omitempty"`
}

// Kinds of workerReport.
const (
	reportArrivals  = "arrivals"
	reportStatus    = "status"
	reportError     = "error"
	reportConnected = "connected"
	reportSynced    = "synced"
)

// workerReport is one line from a worker.
type workerReport struct {
	T            string      `json:"t"`
	Arrivals     [][4]int64  `json:"arrivals,omitempty"` // device, seq, sent, at
	Stats        *fleetStats `json:"stats,omitempty"`
	FirstInvalid string      `json:"first_invalid,omitempty"`
	CPUSeconds   float64     `json:"cpu_s,omitempty"`
	Message      string      `json:"message,omitempty"`
	Failed       int         `json:"failed,omitempty"`
	N            int64       `json:"n,omitempty"`
}

// span is a worker's share of the fleet: devices [first, first+n).
type span struct{ first, n int }

// splitDevices divides n devices over w workers as evenly as possible, in
// order: the first n%w workers hold one device more.
func splitDevices(n, w int) []span {
	out := make([]span, w)
	first := 0
	for i := range out {
		k := n / w
		if i < n%w {
			k++
		}
		out[i] = span{first, k}
		first += k
	}
	return out
}

// splitSources gives each of w workers its own source addresses: a
// contiguous share of sources when there are at least w of them, so that no
// two workers dial from the same address and each address's ephemeral
// ports serve one process; otherwise one address each, in turn.
func splitSources(sources []netip.Addr, w int) [][]netip.Addr {
	out := make([][]netip.Addr, w)
	for i := range out {
		if len(sources) >= w {
			out[i] = sources[i*len(sources)/w : (i+1)*len(sources)/w]
		} else {
			out[i] = []netip.Addr{sources[i%len(sources)]}
		}
	}
	return out
}

// workerCount returns how many worker processes a run of o uses: Workers,
// or, when it is zero, none for a fleet one process can hold and otherwise
// enough that none holds more than MaxDevices.
func (o *Options) workerCount() int {
	switch {
	case o.Workers > 0:
		return o.Workers
	case o.Devices > MaxDevices:
		return (o.Devices + MaxDevices - 1) / MaxDevices
	}
	return 0
}

// workerPool is the parent's side of the worker processes holding a
// fleet's devices. Its readers count the arrivals they report into the
// fleet and keep the fleet's connection and ACK counters at the sum of
// their latest status.
type workerPool struct {
	fleet   *fleet
	procs   []*workerProc
	printf  func(format string, args ...any)
	onError atomic.Pointer[func(error)]
	syncs   atomic.Int64

	mu     sync.Mutex // guards the procs' latest status and cpu
	closed sync.Once
}

// workerProc is one worker process.
type workerProc struct {
	index int
	span  span
	cmd   *exec.Cmd
	stdin io.WriteCloser
	encMu sync.Mutex
	enc   *json.Encoder

	latest fleetStats // guarded by workerPool.mu
	cpu    float64

	replies chan workerReport // connected, synced
	done    chan struct{}     // closed when its stdout ended
}

// startWorkers starts w worker processes, gives each its share of f's
// devices and source addresses, and attaches them to f.
func startWorkers(r *run, f *fleet, w int) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("%w: finding herald-bench to run its workers: %v", ErrWorker, err)
	}
	p := &workerPool{fleet: f, printf: r.printf}
	noop := func(error) {}
	p.onError.Store(&noop)
	spans := splitDevices(len(f.devices), w)
	sources := splitSources(r.opts.Sources, w)
	for i, sp := range spans {
		wp, err := p.start(exe, i, sp, r.opts.Progress)
		if err != nil {
			p.close()
			return err
		}
		p.procs = append(p.procs, wp)
		init := &workerInit{
			Worker: i, Gateway: f.cfg.Gateway, First: f.cfg.First + sp.first, Messages: f.cfg.Messages,
			Shared: f.cfg.Shared, TimeConnects: f.cfg.TimeConnects, Heartbeat: f.cfg.Heartbeat, DialConcurrency: r.opts.DialConcurrency,
			Sources:     sources[i],
			Credentials: make([]sdk.Credentials, sp.n),
			Endpoints:   make([]sdk.Endpoints, sp.n),
		}
		for k := range sp.n {
			init.Credentials[k] = f.devices[sp.first+k].cred
			init.Endpoints[k] = f.devices[sp.first+k].ends
		}
		if err := wp.send(workerCommand{Op: "init", Init: init}); err != nil {
			p.close()
			return fmt.Errorf("%w: starting worker %d: %v", ErrWorker, i, err)
		}
	}
	f.remote = p
	return nil
}

// start starts worker i holding devices sp and its reader.
func (p *workerPool) start(exe string, i int, sp span, stderr io.Writer) (*workerProc, error) {
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), WorkerEnv+"=1")
	cmd.Stderr = stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%w: starting worker %d (%s): %v", ErrWorker, i, exe, err)
	}
	wp := &workerProc{index: i, span: sp, cmd: cmd, stdin: stdin, enc: json.NewEncoder(stdin),
		replies: make(chan workerReport, 16), done: make(chan struct{})}
	go func() {
		defer close(wp.done)
		dec := json.NewDecoder(bufio.NewReaderSize(stdout, 64<<10))
		for {
			var rep workerReport
			if err := dec.Decode(&rep); err != nil {
				if !errors.Is(err, io.EOF) {
					p.printf("herald-bench: worker %d: %v", i, err)
				}
				_, _ = io.Copy(io.Discard, stdout)
				if err := cmd.Wait(); err != nil {
					p.printf("herald-bench: worker %d: %v", i, err)
				}
				return
			}
			if err := p.handle(wp, rep); err != nil {
				p.printf("herald-bench: worker %d: %v", i, err)
			}
		}
	}()
	return wp, nil
}

// send writes one command to the worker.
func (wp *workerProc) send(c workerCommand) error {
	wp.encMu.Lock()
	defer wp.encMu.Unlock()
	return wp.enc.Encode(c)
}

// handle applies one report of worker wp.
func (p *workerPool) handle(wp *workerProc, rep workerReport) error {
	f := p.fleet
	switch rep.T {
	case reportArrivals:
		first, last := f.cfg.First+wp.span.first, f.cfg.First+wp.span.first+wp.span.n
		for _, a := range rep.Arrivals {
			dev, seq := int(a[0]), int(a[1])
			if dev < first || dev >= last || seq < 0 || seq >= f.cfg.Messages {
				return fmt.Errorf("%w: arrival of message %d at device %d, outside its devices [%d, %d)", ErrWorker, seq, dev, first, last)
			}
			f.record(dev, seq, a[2], a[3])
		}
	case reportStatus:
		if rep.Stats == nil {
			return fmt.Errorf("%w: status without counters", ErrWorker)
		}
		if rep.FirstInvalid != "" {
			m := rep.FirstInvalid
			f.firstInvalid.CompareAndSwap(nil, &m)
		}
		p.update(wp, *rep.Stats, rep.CPUSeconds)
	case reportError:
		(*p.onError.Load())(errors.New(rep.Message))
	case reportConnected, reportSynced:
		wp.replies <- rep
	default:
		return fmt.Errorf("%w: unknown report %q", ErrWorker, rep.T)
	}
	return nil
}

// update records worker wp's latest counters and sets the fleet's to the
// sum over the workers.
func (p *workerPool) update(wp *workerProc, st fleetStats, cpu float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	wp.latest, wp.cpu = st, cpu
	var sum fleetStats
	for _, o := range p.procs {
		sum.add(o.latest)
	}
	f := p.fleet
	f.connected.Store(sum.Connected)
	f.welcomed.Store(sum.Welcomed)
	f.dialErrors.Store(sum.Unconnected)
	f.disconnects.Store(sum.Disconnects)
	f.reconnects.Store(sum.Reconnects)
	f.reconnectErrors.Store(sum.ReconnectErrors)
	f.invalid.Store(sum.Invalid)
	f.firstDial.Store(sum.FirstDial)
	// Upstream Sends happen in the workers only; the webhook that counts
	// their arrival is the parent's.
	f.upSent.Store(sum.UpSent)
	f.upAcked.Store(sum.UpAcked)
	f.upErrors.Store(sum.UpErrors)
	f.lastWelcome.Store(sum.LastWelcome)
	f.remoteStats.Store(&sum)
}

// cpuSeconds returns the CPU seconds the workers reported using.
func (p *workerPool) cpuSeconds() float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var s float64
	for _, wp := range p.procs {
		s += wp.cpu
	}
	return s
}

// await waits for worker wp's next reply of kind t (and, for synced, number
// n), skipping stale ones. It reports false if the worker ended, ctx ended
// or timeout passed first.
func (wp *workerProc) await(ctx context.Context, t string, n int64, timeout time.Duration) (workerReport, bool) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case rep := <-wp.replies:
			if rep.T == t && rep.N == n {
				return rep, true
			}
		case <-wp.done:
			// Replies sent before the worker ended are still queued.
			select {
			case rep := <-wp.replies:
				if rep.T == t && rep.N == n {
					return rep, true
				}
				continue
			default:
			}
			return workerReport{}, false
		case <-ctx.Done():
			return workerReport{}, false
		case <-timer.C:
			return workerReport{}, false
		}
	}
}

// connect has every worker connect its devices and returns how many
// devices failed to connect; a worker that fails counts all of its
// devices.
func (p *workerPool) connect(ctx context.Context, onError func(error)) int {
	p.onError.Store(&onError)
	for _, wp := range p.procs {
		if err := wp.send(workerCommand{Op: "connect"}); err != nil {
			onError(fmt.Errorf("%w: worker %d: %v", ErrWorker, wp.index, err))
		}
	}
	failed := 0
	for _, wp := range p.procs {
		// A worker's dials are bounded by their own timeout; the day is a
		// backstop for a worker that hangs.
		rep, ok := wp.await(ctx, reportConnected, 0, 24*time.Hour)
		if !ok {
			if ctx.Err() == nil {
				onError(fmt.Errorf("%w: worker %d ended while connecting its %d devices", ErrWorker, wp.index, wp.span.n))
			}
			failed += wp.span.n
			continue
		}
		failed += rep.Failed
	}
	return failed
}

// churn has the workers reconnect n devices between them, each a share
// as large as its share of the devices, without waiting for them.
func (p *workerPool) churn(n int) {
	total := len(p.fleet.devices)
	done := 0
	for i, wp := range p.procs {
		// The share of workers 0..i, minus what earlier ones took, so the
		// shares add up to n.
		upto := int(int64(n) * int64(wp.span.first+wp.span.n) / int64(max(total, 1)))
		if i == len(p.procs)-1 {
			upto = n
		}
		if k := upto - done; k > 0 {
			_ = wp.send(workerCommand{Op: "churn", N: int64(k)})
		}
		done = upto
	}
}

// steady has every worker run plan on its devices, without waiting.
func (p *workerPool) steady(plan steadyPlan) {
	for _, wp := range p.procs {
		_ = wp.send(workerCommand{Op: "steady", Steady: &plan})
	}
}

// syncTimeout bounds the wait for a worker's answer to sync.
const syncTimeout = 10 * time.Second

// sync waits until every worker has reported all it had when asked.
func (p *workerPool) sync(ctx context.Context) {
	n := p.syncs.Add(1)
	for _, wp := range p.procs {
		_ = wp.send(workerCommand{Op: "sync", N: n})
	}
	for _, wp := range p.procs {
		wp.await(ctx, reportSynced, n, syncTimeout)
	}
}

// closeTimeout bounds the wait for a worker to close its devices and exit
// before it is killed.
const closeTimeout = 30 * time.Second

// close has every worker close its devices and exit, and waits for them;
// a worker still running after closeTimeout is killed.
func (p *workerPool) close() {
	p.closed.Do(func() {
		for _, wp := range p.procs {
			_ = wp.send(workerCommand{Op: "close"})
			_ = wp.stdin.Close()
		}
		deadline := time.NewTimer(closeTimeout)
		defer deadline.Stop()
		for _, wp := range p.procs {
			select {
			case <-wp.done:
			case <-deadline.C:
				p.printf("herald-bench: worker %d did not exit; killing it", wp.index)
				_ = wp.cmd.Process.Kill()
				<-wp.done
			}
		}
	})
}

// RunWorker is the worker process: it reads commands from in and writes
// reports to out (see workerCommand and workerReport). It returns when told
// to close, when in ends or when its parent dies, having closed its
// devices; the result is the process's exit status.
func RunWorker(in io.Reader, out, stderr io.Writer) int {
	// Ctrl-C reaches the whole process group; the parent decides when the
	// devices close.
	signal.Ignore(os.Interrupt)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := runWorker(ctx, in, out, os.Getppid); err != nil {
		fmt.Fprintln(stderr, "herald-bench worker:", err)
		return ExitSetup
	}
	return ExitOK
}

// worker is the state of a worker process.
type worker struct {
	out   *bufio.Writer
	enc   *json.Encoder
	outMu sync.Mutex // guards out, enc, last

	pendMu  sync.Mutex
	pending [][4]int64

	fleet           *fleet
	dialConcurrency int
	last            fleetStats
	cpu0            float64
}

// runWorker serves the commands read from in until close, the end of in,
// ctx's end or getppid changing (the parent died).
func runWorker(ctx context.Context, in io.Reader, out io.Writer, getppid func() int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	bw := bufio.NewWriterSize(out, 64<<10)
	w := &worker{out: bw, enc: json.NewEncoder(bw), cpu0: processCPU()}

	cmds := make(chan workerCommand)
	readErr := make(chan error, 1)
	go func() {
		dec := json.NewDecoder(bufio.NewReaderSize(in, 64<<10))
		for {
			var c workerCommand
			if err := dec.Decode(&c); err != nil {
				readErr <- err
				if errors.Is(err, io.EOF) {
					cancel() // stop a connect in progress too
				}
				return
			}
			if c.Op == "close" {
				// Also ends a connect in progress, which holds the loop
				// below.
				cancel()
				return
			}
			select {
			case cmds <- c:
			case <-ctx.Done():
				return
			}
		}
	}()
	go func() {
		ppid := getppid()
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if getppid() != ppid {
					cancel()
					return
				}
			}
		}
	}()

	defer func() {
		if w.fleet != nil {
			w.fleet.close()
		}
	}()
	var flusher sync.WaitGroup
	defer flusher.Wait()
	defer cancel()
	for {
		var c workerCommand
		select {
		case c = <-cmds:
		case err := <-readErr:
			if errors.Is(err, io.EOF) {
				return nil // the parent is gone or done
			}
			return fmt.Errorf("reading commands: %w", err)
		case <-ctx.Done():
			// Told to close, or the parent is gone. The deferred calls stop
			// the reports and close the devices; the parent sees the end of
			// stdout when the process exits.
			return nil
		}
		switch c.Op {
		case "init":
			if w.fleet != nil || c.Init == nil || len(c.Init.Credentials) != len(c.Init.Endpoints) || len(c.Init.Sources) == 0 {
				return fmt.Errorf("%w: bad init", ErrWorker)
			}
			w.init(c.Init)
			if err := w.flush(true); err != nil {
				return err
			}
			flusher.Go(func() {
				t := time.NewTicker(reportInterval)
				defer t.Stop()
				for {
					select {
					case <-ctx.Done():
						return
					case <-t.C:
						if err := w.flush(false); err != nil {
							cancel()
							return
						}
					}
				}
			})
		case "connect":
			if w.fleet == nil {
				return fmt.Errorf("%w: connect before init", ErrWorker)
			}
			failed := w.fleet.connect(ctx, w.dialConcurrency, func(err error) {
				_ = w.send(workerReport{T: reportError, Message: err.Error()})
			})
			if err := w.flush(true); err != nil {
				return err
			}
			if err := w.send(workerReport{T: reportConnected, Failed: failed}); err != nil {
				return err
			}
		case "churn":
			if w.fleet == nil {
				return fmt.Errorf("%w: churn before init", ErrWorker)
			}
			// Churn runs beside the command loop, so that sync answers
			// while devices reconnect; the parent paces churn commands a
			// second apart, and a slow round only overlaps the next.
			flusher.Go(func() {
				w.fleet.churn(ctx, int(c.N), w.dialConcurrency, func(err error) {
					_ = w.send(workerReport{T: reportError, Message: err.Error()})
				})
			})
		case "steady":
			if w.fleet == nil || c.Steady == nil || c.Steady.Period < 1 || c.Steady.Rounds < 1 {
				return fmt.Errorf("%w: bad steady", ErrWorker)
			}
			// Like churn, beside the command loop.
			plan := *c.Steady
			flusher.Go(func() { w.fleet.steady(ctx, plan) })
		case "sync":
			if err := w.flush(true); err != nil {
				return err
			}
			if err := w.send(workerReport{T: reportSynced, N: c.N}); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: unknown command %q", ErrWorker, c.Op)
		}
	}
}

// init builds the worker's fleet.
func (w *worker) init(in *workerInit) {
	tr := newTransport()
	w.fleet = newFleet(fleetConfig{
		Gateway:      in.Gateway,
		HTTP:         newHTTPClient([]*http.Transport{tr}, fallbackStreamLimit),
		Sources:      newSourceDialer(in.Sources, 10*time.Second),
		First:        in.First,
		Messages:     in.Messages,
		Shared:       in.Shared,
		TimeConnects: in.TimeConnects,
		Heartbeat:    in.Heartbeat,
		DialTimeout:  30 * time.Second,
		OnUpstreamError: func(err error) {
			_ = w.send(workerReport{T: reportError, Message: err.Error()})
		},
		Sink: func(device, seq int, sent, at int64) {
			w.pendMu.Lock()
			w.pending = append(w.pending, [4]int64{int64(device), int64(seq), sent, at})
			w.pendMu.Unlock()
		},
	}, in.Credentials, in.Endpoints)
	w.dialConcurrency = max(in.DialConcurrency, 1)
}

// send writes one report and flushes it.
func (w *worker) send(rep workerReport) error {
	w.outMu.Lock()
	defer w.outMu.Unlock()
	if err := w.enc.Encode(rep); err != nil {
		return err
	}
	return w.out.Flush()
}

// flush reports the arrivals since the last flush, then the counters if
// they changed or force is set.
func (w *worker) flush(force bool) error {
	w.outMu.Lock()
	defer w.outMu.Unlock()
	w.pendMu.Lock()
	arrivals := w.pending
	w.pending = nil
	w.pendMu.Unlock()
	if len(arrivals) > 0 {
		if err := w.enc.Encode(workerReport{T: reportArrivals, Arrivals: arrivals}); err != nil {
			return err
		}
	}
	if f := w.fleet; f != nil {
		st := f.stats()
		if force || st != w.last {
			rep := workerReport{T: reportStatus, Stats: &st, CPUSeconds: round3(processCPU() - w.cpu0)}
			if m := f.firstInvalid.Load(); m != nil {
				rep.FirstInvalid = *m
			}
			if err := w.enc.Encode(rep); err != nil {
				return err
			}
			w.last = st
		}
	}
	return w.out.Flush()
}
