package cluster

import (
	"time"

	"github.com/heraldpush/herald/actors"
)

// Cluster is a gateway's view of the connectors: where a device's
// session says it is (Connector), all of them (Connectors, for broadcasts
// and withdrawals), and where a device should connect (Dispatch).
type Cluster interface {
	actors.Routes
	// Dispatch tells a device where to connect: connector addresses, best
	// first, skipping those it reports as failed, and the Noise public key
	// and heartbeat they use.
	Dispatch(rid string, failed []string) Dispatch
}

// Dispatch is the answer to a device asking where to connect.
type Dispatch struct {
	Addresses []string      `json:"addresses"`
	Heartbeat time.Duration `json:"-"`
	ServerKey []byte        `json:"server_key"`
}
