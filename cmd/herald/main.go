// Command herald runs Herald. See "herald help".
package main

import (
	"os"
	_ "time/tzdata" // time zones of devices, whatever the host has installed

	"github.com/heraldpush/herald/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
