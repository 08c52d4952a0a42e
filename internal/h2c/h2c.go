package h2c

import (
	"context"
	"crypto/tls"
	"net"
	"time"

	"golang.org/x/net/http2"
)

// MaxStreams is how many calls a server accepts at once on one HTTP/2
// connection. Clients between components keep fewer in flight per peer
// and queue the rest themselves: Go's HTTP/2 client can stall when calls
// wait for streams (golang/go#70809).
const MaxStreams = 1000

// NewTransport returns the transport of calls between components:
// cleartext HTTP/2 with prior knowledge, one multiplexed connection per
// peer, pings after 10s of silence and a dead peer noticed 5s later.
func NewTransport() *http2.Transport {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
		ReadIdleTimeout:            10 * time.Second,
		PingTimeout:                5 * time.Second,
		StrictMaxConcurrentStreams: true, // one connection: never open a second one for more streams
	}
}

// InFlight is how many calls a client keeps in flight to one peer: fewer
// than the server's stream limit, so calls wait in Slots rather than in the
// HTTP/2 layer.
const InFlight = MaxStreams - 100

// Slots bounds the calls in flight to one peer.
type Slots chan struct{}

// NewSlots returns InFlight slots.
func NewSlots() Slots { return make(Slots, InFlight) }

// Acquire takes a slot, waiting for one until ctx ends.
func (s Slots) Acquire(ctx context.Context) error {
	select {
	case s <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Release returns a slot taken by Acquire.
func (s Slots) Release() { <-s }
