// Command herald-bench is Herald's load generator: it drives a running
// Herald with simulated devices and reports one JSON line. See
// "herald-bench help".
package main

import (
	"os"

	"github.com/heraldpush/herald/bench"
)

func main() {
	os.Exit(bench.Main(os.Args[1:], os.Stdout, os.Stderr))
}
