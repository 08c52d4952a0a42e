package account

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"
)

// limiter is one count of failed logins: of an account, or of an address.
type limiter struct {
	kind, key string
	limit     int
}

// checkLimits refuses with a *RateLimitedError if a limiter has its limit
// of failures within the window; RetryAfter is when the oldest of those
// leaves it.
func (a *Accounts) checkLimits(ctx context.Context, limiters []limiter) error {
	now := a.now()
	var refused *RateLimitedError
	for _, l := range limiters {
		failures, err := a.store.LoginFailures(ctx, l.key)
		if err != nil {
			return err
		}
		recent := failures[:0]
		for _, t := range failures {
			if now.Sub(t) < a.cfg.FailureWindow {
				recent = append(recent, t)
			}
		}
		if len(recent) < l.limit {
			continue
		}
		wait := recent[len(recent)-l.limit].Add(a.cfg.FailureWindow).Sub(now)
		if refused == nil || wait > refused.RetryAfter {
			refused = &RateLimitedError{Limit: l.kind, RetryAfter: wait}
		}
	}
	if refused != nil {
		return refused
	}
	return nil
}

// recordFailure counts a failed login against every limiter.
func (a *Accounts) recordFailure(ctx context.Context, limiters []limiter) error {
	now := a.now()
	for _, l := range limiters {
		if err := a.store.AddLoginFailure(ctx, l.key, now, l.limit, a.cfg.FailureWindow); err != nil {
			return err
		}
	}
	return nil
}

// ClientAddress returns the address of the client of r: its peer, or, if
// the peer is one of the trusted proxies, the last address of
// X-Forwarded-For that is not one of them.
func (a *Accounts) ClientAddress(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !a.trusted(peer) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		hop, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break // not an address: trust nothing before it
		}
		if !a.trusted(hop) {
			return hop.Unmap().String()
		}
		peer = hop
	}
	return peer.Unmap().String()
}

func (a *Accounts) trusted(addr netip.Addr) bool {
	addr = addr.Unmap()
	for _, p := range a.cfg.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// retryAfterSeconds is d as the whole seconds of a Retry-After header,
// rounded up.
func retryAfterSeconds(d time.Duration) int {
	return int((d + time.Second - 1) / time.Second)
}

// RetryAfterSeconds is e.RetryAfter as the whole seconds of a Retry-After
// header, rounded up, at least 1.
func (e *RateLimitedError) RetryAfterSeconds() int { return max(1, retryAfterSeconds(e.RetryAfter)) }
