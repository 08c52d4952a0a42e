// Package cluster is the gateway's view of the connectors: which
// connector holds a device's session (to route pushes there), every
// connector (for broadcasts and withdrawals), and where a device should
// connect (GET /v1/dispatch).
//
// Local is the view of `herald all`, one connector in the same process.
// Remote is the view of a gateway running apart: it follows the connector
// registry in the dataservice, places devices on a consistent-hash ring
// with bounded loads (ring.go), and calls connectors over HTTP/2.
//
// Concurrency: both are safe for concurrent use. Remote's view is an
// immutable snapshot replaced on every reading of the registry (its own
// goroutine, until Close); the ring's dispatch counters are atomic.
package cluster
