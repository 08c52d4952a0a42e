package fleet

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"
)

// maxSources bounds how many addresses a list of sources may expand to.
const maxSources = 1 << 16

// ParseSources parses a comma-separated list of IP addresses and inclusive
// ranges of them, such as "127.0.0.2-127.0.0.254" or "10.0.0.5,10.0.0.9".
// Linux routes all of 127.0.0.0/8 to lo, so loopback sources need no setup.
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

// newSourceDialer returns a dialer from sources; with none, the system
// picks the source address.
func newSourceDialer(sources []netip.Addr, timeout time.Duration) *sourceDialer {
	// No TCP keepalive, as the SDK's own dialer: heartbeats do its job.
	sd := &sourceDialer{dialers: []net.Dialer{{Timeout: timeout, KeepAlive: -1}}}
	if len(sources) > 0 {
		sd.dialers = make([]net.Dialer, len(sources))
		for i, a := range sources {
			sd.dialers[i] = net.Dialer{Timeout: timeout, KeepAlive: -1, LocalAddr: &net.TCPAddr{IP: a.AsSlice()}}
		}
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

// splitSources gives each of w workers its own source addresses: a
// contiguous share of sources when there are at least w of them, so that no
// two workers dial from the same address and each address's ephemeral
// ports serve one process; otherwise one address each, in turn; none if
// there are none.
func splitSources(sources []netip.Addr, w int) [][]netip.Addr {
	out := make([][]netip.Addr, w)
	if len(sources) == 0 {
		return out
	}
	for i := range out {
		if len(sources) >= w {
			out[i] = sources[i*len(sources)/w : (i+1)*len(sources)/w]
		} else {
			out[i] = []netip.Addr{sources[i%len(sources)]}
		}
	}
	return out
}
