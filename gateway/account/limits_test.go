package account

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientAddress(t *testing.T) {
	a := New(Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128")}}, nil)
	for _, tc := range []struct {
		name, peer, xff, want string
	}{
		{"an untrusted peer is the client", "203.0.113.5:4000", "198.51.100.1", "203.0.113.5"},
		{"a trusted proxy names the client", "10.1.2.3:4000", "198.51.100.1", "198.51.100.1"},
		{"the last untrusted hop counts", "10.1.2.3:4000", "192.0.2.1, 198.51.100.1, 10.9.9.9", "198.51.100.1"},
		{"a proxy without the header is the client", "10.1.2.3:4000", "", "10.1.2.3"},
		{"garbage stops the walk", "10.1.2.3:4000", "198.51.100.1, junk", "10.1.2.3"},
		{"IPv6 loopback as a proxy", "[::1]:4000", "2001:db8::1", "2001:db8::1"},
		{"IPv4 in IPv6", "[::ffff:10.0.0.1]:4000", "198.51.100.7", "198.51.100.7"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/v1/portal/sessions", nil)
			r.RemoteAddr = tc.peer
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			if got := a.ClientAddress(r); got != tc.want {
				t.Errorf("ClientAddress = %q, want %q", got, tc.want)
			}
		})
	}
}
