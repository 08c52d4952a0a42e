package fleet

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/sdk"
)

// WorkersConfig configures a fleet held by worker processes.
type WorkersConfig struct {
	// Config is each worker's fleet's configuration, with the exceptions
	// its fields state; OnArrival and OnError are called in this process
	// with what the workers report.
	Config
	// Workers is how many worker processes hold the devices, each an even,
	// contiguous share.
	Workers int
	// Command returns the command that starts worker i: a program that
	// calls WorkerMain. Its stdin and stdout are the fleet's; set its
	// Stderr and environment as needed.
	Command func(worker int) *exec.Cmd
	// Logf, if set, is told when a worker fails or breaks the protocol.
	Logf func(format string, args ...any)
}

// Workers is a fleet whose devices are held by worker processes. Each
// worker's reader goroutine passes on the arrivals and errors it reports
// and keeps its latest counters, which Stats sums.
type Workers struct {
	cfg     WorkersConfig
	procs   []*workerProc
	numbers atomic.Int64 // of answered commands
	closed  sync.Once
	devices int

	mu sync.Mutex // guards the procs' latest, cpu and firstInvalid
}

// workerProc is one worker process.
type workerProc struct {
	index    int
	first, n int // its devices: global [first, first+n)
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	encMu    sync.Mutex
	enc      *json.Encoder
	latest   Stats // guarded by Workers.mu
	cpu      float64
	invalid  string
	replies  chan report   // answers to commands; see reply
	done     chan struct{} // closed when its stdout ended
}

// StartWorkers starts cfg.Workers worker processes and gives each its
// share of the devices (creds and, if not nil, ends, as NewLocal takes
// them) and of cfg.Sources. No device is connected yet. Its errors wrap
// ErrWorker.
func StartWorkers(cfg WorkersConfig, creds []sdk.Credentials, ends []sdk.Endpoints) (*Workers, error) {
	if cfg.Workers < 1 || cfg.Command == nil {
		return nil, fmt.Errorf("%w: %d workers, command set %v", ErrWorker, cfg.Workers, cfg.Command != nil)
	}
	cfg.Config = cfg.Config.withDefaults()
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	w := &Workers{cfg: cfg, devices: len(creds)}
	sources := splitSources(cfg.Sources, cfg.Workers)
	for i, sp := range splitDevices(len(creds), cfg.Workers) {
		wp, err := w.start(i, cfg.First+sp.first, sp.n)
		if err != nil {
			w.Close()
			return nil, err
		}
		w.procs = append(w.procs, wp)
		var wends []sdk.Endpoints
		if ends != nil {
			wends = ends[sp.first : sp.first+sp.n]
		}
		in := newInit(i, cfg.Config, cfg.First+sp.first, sources[i], creds[sp.first:sp.first+sp.n], wends)
		if err := wp.send(command{Op: opInit, Init: in}); err != nil {
			w.Close()
			return nil, fmt.Errorf("%w: starting worker %d: %v", ErrWorker, i, err)
		}
	}
	return w, nil
}

// span is a worker's share of the devices: [first, first+n) of the
// fleet's own indexes.
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

// start starts worker i, holding the devices [first, first+n), and its
// reader.
func (w *Workers) start(i, first, n int) (*workerProc, error) {
	cmd := w.cfg.Command(i)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrWorker, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrWorker, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%w: starting worker %d (%s): %v", ErrWorker, i, cmd.Path, err)
	}
	wp := &workerProc{index: i, first: first, n: n, cmd: cmd, stdin: stdin, enc: json.NewEncoder(stdin),
		replies: make(chan report, 16), done: make(chan struct{})}
	go func() {
		defer close(wp.done)
		dec := json.NewDecoder(bufio.NewReaderSize(stdout, 64<<10))
		for {
			var rep report
			if err := dec.Decode(&rep); err != nil {
				if !errors.Is(err, io.EOF) {
					w.cfg.Logf("worker %d: %v", i, err)
				}
				_, _ = io.Copy(io.Discard, stdout)
				if err := cmd.Wait(); err != nil {
					w.cfg.Logf("worker %d: %v", i, err)
				}
				return
			}
			if err := w.handle(wp, rep); err != nil {
				w.cfg.Logf("worker %d: %v", i, err)
			}
		}
	}()
	return wp, nil
}

// send writes one command to the worker.
func (wp *workerProc) send(c command) error {
	wp.encMu.Lock()
	defer wp.encMu.Unlock()
	return wp.enc.Encode(c)
}

// handle applies one report of worker wp.
func (w *Workers) handle(wp *workerProc, rep report) error {
	switch rep.T {
	case reportArrivals:
		last := wp.first + wp.n
		for _, raw := range rep.Arrivals {
			a := arrivalOf(raw)
			if a.Device < wp.first || a.Device >= last || (w.cfg.Stamped && (a.Seq < 0 || a.Seq >= w.cfg.Messages)) {
				return fmt.Errorf("%w: arrival of message %d (seq %d) at device %d, outside its devices [%d, %d) or messages", ErrWorker, a.ID, a.Seq, a.Device, wp.first, last)
			}
			if w.cfg.OnArrival != nil {
				w.cfg.OnArrival(a)
			}
		}
	case reportStatus:
		if rep.Stats == nil {
			return fmt.Errorf("%w: status without counters", ErrWorker)
		}
		w.mu.Lock()
		wp.latest, wp.cpu = *rep.Stats, rep.CPUSeconds
		if wp.invalid == "" {
			wp.invalid = rep.FirstInvalid
		}
		w.mu.Unlock()
	case reportError:
		w.cfg.onError(rep.Op, errors.New(rep.Message))
	case reportConnected, reportDisconnected, reportSynced:
		wp.reply(rep)
	default:
		return fmt.Errorf("%w: unknown report %q", ErrWorker, rep.T)
	}
	return nil
}

// reply queues an answer for await. Answers no one awaits (their caller's
// ctx ended) would fill the queue: the oldest then makes room.
func (wp *workerProc) reply(rep report) {
	for {
		select {
		case wp.replies <- rep:
			return
		default:
		}
		select {
		case <-wp.replies:
		default:
		}
	}
}

// Stats implements Fleet: the sum of the workers' latest counters.
func (w *Workers) Stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	var s Stats
	for _, wp := range w.procs {
		s.Add(wp.latest)
	}
	return s
}

// Connected implements Fleet.
func (w *Workers) Connected() int64 { return w.Stats().Connected }

// Acked implements Fleet.
func (w *Workers) Acked() int64 { return w.Stats().Acked }

// FirstInvalid implements Fleet: the first worker's that has one.
func (w *Workers) FirstInvalid() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, wp := range w.procs {
		if wp.invalid != "" {
			return wp.invalid
		}
	}
	return ""
}

// CPUSeconds returns the CPU seconds the workers reported using.
func (w *Workers) CPUSeconds() float64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	var s float64
	for _, wp := range w.procs {
		s += wp.cpu
	}
	return s
}

// await waits for worker wp's answer of kind t numbered n, skipping stale
// ones. It reports false if the worker ended, ctx ended or timeout (if
// positive) passed first.
func (wp *workerProc) await(ctx context.Context, t string, n int64, timeout time.Duration) (report, bool) {
	var expired <-chan time.Time
	if timeout > 0 {
		timer := time.NewTimer(timeout)
		defer timer.Stop()
		expired = timer.C
	}
	for {
		select {
		case rep := <-wp.replies:
			if rep.T == t && rep.N == n {
				return rep, true
			}
		case <-wp.done:
			// Answers sent before the worker ended are still queued.
			select {
			case rep := <-wp.replies:
				if rep.T == t && rep.N == n {
					return rep, true
				}
				continue
			default:
			}
			return report{}, false
		case <-ctx.Done():
			return report{}, false
		case <-expired:
			return report{}, false
		}
	}
}

// ranged sends op for the part of [from, to) each worker holds, in
// parallel, and returns the sum of the answers' counts; a worker that
// does not answer counts as all of its part (for connect: failed).
func (w *Workers) ranged(ctx context.Context, op, answer string, from, to int) int {
	n := w.numbers.Add(1)
	type part struct {
		wp     *workerProc
		lo, hi int
	}
	var parts []part
	for _, wp := range w.procs {
		lo, hi := max(from, wp.first), min(to, wp.first+wp.n)
		if lo >= hi {
			continue
		}
		if err := wp.send(command{Op: op, N: n, From: lo, To: hi}); err != nil {
			w.cfg.Logf("worker %d: %v", wp.index, err)
		}
		parts = append(parts, part{wp, lo, hi})
	}
	sum := 0
	for _, p := range parts {
		rep, ok := p.wp.await(ctx, answer, n, 0)
		if !ok {
			if ctx.Err() == nil {
				w.cfg.onError(op, fmt.Errorf("%w: worker %d ended before its devices %d to %d were done", ErrWorker, p.wp.index, p.lo, p.hi-1))
			}
			if op == opConnect {
				sum += p.hi - p.lo
			}
			continue
		}
		sum += rep.Count
	}
	return sum
}

// Connect implements Fleet: each worker connects its part of the range.
func (w *Workers) Connect(ctx context.Context, from, to int) int {
	return w.ranged(ctx, opConnect, reportConnected, from, to)
}

// Disconnect implements Fleet.
func (w *Workers) Disconnect(ctx context.Context, from, to int) int {
	return w.ranged(ctx, opDisconnect, reportDisconnected, from, to)
}

// Churn implements Fleet: each worker reconnects a share of n as large as
// its share of the devices, and Churn returns without waiting for them.
func (w *Workers) Churn(_ context.Context, n int) {
	done := 0
	for i, wp := range w.procs {
		// The share of workers 0..i, minus what earlier ones took, so the
		// shares add up to n.
		upto := int(int64(n) * int64(wp.first-w.cfg.First+wp.n) / int64(max(w.devices, 1)))
		if i == len(w.procs)-1 {
			upto = n
		}
		if k := upto - done; k > 0 {
			_ = wp.send(command{Op: opChurn, Count: k})
		}
		done = upto
	}
}

// Upstream implements Fleet: every worker runs p on its devices, and
// Upstream returns without waiting for them.
func (w *Workers) Upstream(_ context.Context, p UpstreamPlan) {
	for _, wp := range w.procs {
		_ = wp.send(command{Op: opUpstream, Upstream: &p})
	}
}

// syncTimeout bounds the wait for a worker's answer to sync.
const syncTimeout = 10 * time.Second

// Sync implements Fleet.
func (w *Workers) Sync(ctx context.Context) {
	n := w.numbers.Add(1)
	for _, wp := range w.procs {
		_ = wp.send(command{Op: opSync, N: n})
	}
	for _, wp := range w.procs {
		wp.await(ctx, reportSynced, n, syncTimeout)
	}
}

// closeTimeout bounds the wait for a worker to close its devices and exit
// before it is killed.
const closeTimeout = 30 * time.Second

// Close implements Fleet: every worker closes its devices and exits; a
// worker still running after closeTimeout is killed. Close may be called
// more than once.
func (w *Workers) Close() {
	w.closed.Do(func() {
		for _, wp := range w.procs {
			_ = wp.send(command{Op: opClose})
			_ = wp.stdin.Close()
		}
		deadline := time.NewTimer(closeTimeout)
		defer deadline.Stop()
		for _, wp := range w.procs {
			select {
			case <-wp.done:
			case <-deadline.C:
				w.cfg.Logf("worker %d did not exit; killing it", wp.index)
				_ = wp.cmd.Process.Kill()
				<-wp.done
			}
		}
	})
}
