// Command herald runs Herald. See "herald help".
package main

import (
	"os"

	"github.com/heraldpush/herald/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
