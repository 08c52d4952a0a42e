package main

import (
	"os"
	_ "time/tzdata" // time zones of devices, whatever the host has installed

	"github.com/heraldpush/herald/node"
)

func main() {
	os.Exit(node.Main(os.Args[1:], os.Stdout, os.Stderr))
}
