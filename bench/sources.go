package bench

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"
)

// DefaultSources is the default --sources: every loopback address but
// 127.0.0.1 and the broadcast address. Linux routes all of 127.0.0.0/8 to
// lo, so they need no setup.
const DefaultSources = "127.0.0.2-127.0.0.254"

// maxSources bounds how many addresses a --sources range may expand to.
const maxSources = 1 << 16

// ParseSources parses a comma-separated list of IP addresses and inclusive
// ranges of them, such as "127.0.0.2-127.0.0.254" or "10.0.0.5,10.0.0.9".
func ParseSources(s string) ([]netip.Addr, error) {
	var out []netip.Addr
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := netip.ParseAddr(strings.TrimSpace(lo))
		if err != nil {
			return nil, fmt.Errorf("source address %q: %w", lo, err)
		}
		last := first
		if isRange {
			if last, err = netip.ParseAddr(strings.TrimSpace(hi)); err != nil {
				return nil, fmt.Errorf("source address %q: %w", hi, err)
			}
			if first.Is4() != last.Is4() || last.Less(first) {
				return nil, fmt.Errorf("source range %q: the second address must follow the first, in the same family", part)
			}
		}
		for a := first; ; a = a.Next() {
			if len(out) == maxSources {
				return nil, fmt.Errorf("source addresses: more than %d", maxSources)
			}
			out = append(out, a)
			if a == last {
				break
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("source addresses: none given")
	}
	return out, nil
}

// sourceDialer dials TCP from its source addresses in turn, so that device
// sockets spread over them. It is safe for concurrent use.
type sourceDialer struct {
	dialers []net.Dialer
	next    atomic.Uint64
	// failures counts dials that failed (the SDK retries them).
	failures atomic.Int64
}

func newSourceDialer(sources []netip.Addr, timeout time.Duration) *sourceDialer {
	sd := &sourceDialer{dialers: make([]net.Dialer, len(sources))}
	for i, a := range sources {
		// No TCP keepalive, as the SDK's own dialer: heartbeats do its job.
		sd.dialers[i] = net.Dialer{Timeout: timeout, KeepAlive: -1, LocalAddr: &net.TCPAddr{IP: a.AsSlice()}}
	}
	return sd
}

// pick returns the index of the next source address, round robin.
func (sd *sourceDialer) pick() int {
	return int((sd.next.Add(1) - 1) % uint64(len(sd.dialers)))
}

// DialContext dials address from the next source address; it has the
// signature of sdk.Config.Dial.
func (sd *sourceDialer) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	c, err := sd.dialers[sd.pick()].DialContext(ctx, network, address)
	if err != nil {
		sd.failures.Add(1)
	}
	return c, err
}
