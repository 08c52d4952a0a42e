package fleet

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/heraldpush/herald/internal/h2c"
	"github.com/heraldpush/herald/internal/runtimestats"
)

// WorkerMain runs this process as a worker of a fleet (see StartWorkers):
// it reads commands from in and writes reports to out until it is told to
// close, in ends, its parent dies or SIGTERM arrives, and then closes its
// devices. Ctrl-C, which reaches the whole process group, is ignored: the
// parent decides when the devices close. httpClient makes the devices'
// dispatch calls; nil means cleartext HTTP/2 over one connection
// (h2c.NewTransport) with a 30s timeout. It returns the exit status: 0, or
// 1 after printing why to stderr.
func WorkerMain(in io.Reader, out, stderr io.Writer, httpClient *http.Client) int {
	signal.Ignore(os.Interrupt)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if httpClient == nil {
		httpClient = &http.Client{Transport: h2c.NewTransport(), Timeout: 30 * time.Second}
	}
	if err := serve(ctx, in, out, httpClient, os.Getppid); err != nil {
		fmt.Fprintf(stderr, "%s worker: %v\n", filepath.Base(os.Args[0]), err)
		return 1
	}
	return 0
}

// worker is the state of a worker process.
type worker struct {
	out   *bufio.Writer
	enc   *json.Encoder
	outMu sync.Mutex // guards out, enc, last

	pendMu  sync.Mutex
	pending [][5]int64 // arrivals not reported yet
	// spare is the buffer of the arrivals flush reported last, for pending
	// to reuse; guarded by outMu.
	spare [][5]int64

	fleet *Local // set by init, on the command loop
	last  Stats
	cpu0  time.Duration
}

// serve serves the commands read from in until close, the end of in,
// ctx's end or getppid changing (the parent died).
func serve(ctx context.Context, in io.Reader, out io.Writer, httpClient *http.Client, getppid func() int) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	bw := bufio.NewWriterSize(out, 64<<10)
	w := &worker{out: bw, enc: json.NewEncoder(bw), cpu0: runtimestats.CPUTime()}

	cmds := make(chan command)
	readErr := make(chan error, 1)
	go func() {
		dec := json.NewDecoder(bufio.NewReaderSize(in, 64<<10))
		for {
			var c command
			if err := dec.Decode(&c); err != nil {
				readErr <- err
				if errors.Is(err, io.EOF) {
					cancel() // stop a connect in progress too
				}
				return
			}
			if c.Op == opClose {
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
	ppid := getppid()
	go every(ctx, time.Second, func() bool {
		if getppid() != ppid {
			cancel()
			return false
		}
		return true
	})

	defer func() {
		if w.fleet != nil {
			w.fleet.Close()
		}
	}()
	var beside sync.WaitGroup // the reporter, churns and upstream plans
	defer beside.Wait()
	defer cancel()
	for {
		var c command
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
		if c.Op != opInit && w.fleet == nil {
			return fmt.Errorf("%w: %s before init", ErrWorker, c.Op)
		}
		switch c.Op {
		case opInit:
			in := c.Init
			if w.fleet != nil || in == nil || (in.Endpoints != nil && len(in.Endpoints) != len(in.Credentials)) {
				return fmt.Errorf("%w: bad init", ErrWorker)
			}
			w.init(in, httpClient)
			if err := w.flush(true); err != nil {
				return err
			}
			beside.Go(func() {
				every(ctx, reportInterval, func() bool {
					if err := w.flush(false); err != nil {
						cancel()
						return false
					}
					return true
				})
			})
		case opConnect, opDisconnect:
			rep := report{T: reportConnected, N: c.N}
			if c.Op == opConnect {
				rep.Count = w.fleet.Connect(ctx, c.From, c.To)
			} else {
				rep.T, rep.Count = reportDisconnected, w.fleet.Disconnect(ctx, c.From, c.To)
			}
			// Everything the devices did before the answer is reported
			// before it.
			if err := w.flush(true); err != nil {
				return err
			}
			if err := w.send(rep); err != nil {
				return err
			}
		case opChurn:
			// Churns and plans run beside the command loop, so that sync
			// answers while devices reconnect or send; a churn that takes
			// longer than the parent's pace overlaps the next.
			beside.Go(func() { w.fleet.Churn(ctx, c.Count) })
		case opUpstream:
			if c.Upstream == nil || !c.Upstream.valid() {
				return fmt.Errorf("%w: bad upstream plan", ErrWorker)
			}
			plan := *c.Upstream
			beside.Go(func() { w.fleet.Upstream(ctx, plan) })
		case opSync:
			if err := w.flush(true); err != nil {
				return err
			}
			if err := w.send(report{T: reportSynced, N: c.N}); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: unknown command %q", ErrWorker, c.Op)
		}
	}
}

// every calls do every interval until ctx ends or do returns false.
func every(ctx context.Context, interval time.Duration, do func() bool) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if !do() {
				return
			}
		}
	}
}

// init builds the worker's fleet, whose arrivals and errors become
// reports.
func (w *worker) init(in *initCommand, httpClient *http.Client) {
	cfg := in.config()
	cfg.HTTP = httpClient
	cfg.OnArrival = func(a Arrival) {
		w.pendMu.Lock()
		w.pending = append(w.pending, a.wire())
		w.pendMu.Unlock()
	}
	cfg.OnError = func(op string, err error) {
		_ = w.send(report{T: reportError, Op: op, Message: err.Error()})
	}
	w.fleet = NewLocal(cfg, in.Credentials, in.Endpoints)
}

// send writes one report and flushes it.
func (w *worker) send(rep report) error {
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
	w.pending = w.spare[:0]
	w.pendMu.Unlock()
	w.spare = arrivals
	if len(arrivals) > 0 {
		if err := w.enc.Encode(report{T: reportArrivals, Arrivals: arrivals}); err != nil {
			return err
		}
	}
	if f := w.fleet; f != nil {
		st := f.Stats()
		if force || st != w.last {
			rep := report{T: reportStatus, Stats: &st, FirstInvalid: f.FirstInvalid(),
				CPUSeconds: float64((runtimestats.CPUTime()-w.cpu0)/time.Millisecond) / 1000}
			if err := w.enc.Encode(rep); err != nil {
				return err
			}
			w.last = st
		}
	}
	return w.out.Flush()
}
