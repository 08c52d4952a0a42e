// Command loadproc is a load process of the end-to-end tests: a worker
// process of an internal/fleet fleet, holding a share of a large fleet of
// SDK devices, so that the fleet can exceed what one process may open
// (20,000 files here) and the test process, which runs under the race
// detector, holds no device socket itself. The test process starts it with
// fleet.StartWorkers and speaks the fleet's protocol on its stdin and
// stdout; it stops when its stdin ends or its parent dies.
package main

import (
	"os"

	"github.com/heraldpush/herald/internal/fleet"
)

func main() {
	os.Exit(fleet.WorkerMain(os.Stdin, os.Stdout, os.Stderr, nil))
}
