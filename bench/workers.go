package bench

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"

	"github.com/heraldpush/herald/internal/fleet"
	"github.com/heraldpush/herald/sdk"
)

// WorkerEnv is the environment variable that makes herald-bench a worker
// process: with WorkerEnv=1, Main holds the devices a parent herald-bench
// sends it (fleet.WorkerMain) instead of parsing a command line.
const WorkerEnv = "HERALD_BENCH_WORKER"

// MaxWorkers bounds Options.Workers.
const MaxWorkers = 64

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

// startWorkers re-executes herald-bench as n worker processes holding the
// devices of cfg, each dialing from its own share of the source addresses.
// Their stderr is the run's progress output.
func (r *run) startWorkers(cfg fleet.Config, n int, creds []sdk.Credentials, ends []sdk.Endpoints) (*fleet.Workers, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("%w: finding herald-bench to run its workers: %v", fleet.ErrWorker, err)
	}
	return fleet.StartWorkers(fleet.WorkersConfig{
		Config:  cfg,
		Workers: n,
		Command: func(int) *exec.Cmd {
			cmd := exec.Command(exe)
			cmd.Env = append(os.Environ(), WorkerEnv+"=1")
			cmd.Stderr = r.opts.Progress
			return cmd
		},
		Logf: func(format string, args ...any) { r.printf("herald-bench: "+format, args...) },
	}, creds, ends)
}

// RunWorker is the worker process: it holds the devices its parent sends
// over in and reports what they receive on out (fleet.WorkerMain), asking
// dispatch as the parent would. The result is the process's exit status.
func RunWorker(in io.Reader, out, stderr io.Writer) int {
	return fleet.WorkerMain(in, out, stderr, newHTTPClient([]*http.Transport{newTransport()}, fallbackStreamLimit))
}
