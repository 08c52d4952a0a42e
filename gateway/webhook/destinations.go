package webhook

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Webhook URLs are chosen by apps, not by the operator: left alone, an app
// could have the gateway post to the operator's own network (its
// dataservice, a cloud metadata endpoint on 169.254.169.254, an admin
// port on loopback). Unless Config.PrivateDestinations allows
// them, the gateway refuses webhook URLs naming such an address, and its
// transport refuses to connect to one whatever a name resolves to when the
// call is made, so a name that resolves differently later does not get
// through either.

// ErrPrivateDestination is why a webhook call to a loopback, private,
// link-local or otherwise non-public address was refused.
var ErrPrivateDestination = errors.New("webhook: destination is not a public address")

// nonPublic are special-purpose ranges that netip's predicates do not
// cover (RFC 6890 and successors).
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),       // "this network"
	netip.MustParsePrefix("10.0.0.0/8"),      // private
	netip.MustParsePrefix("100.64.0.0/10"),   // carrier-grade NAT
	netip.MustParsePrefix("127.0.0.0/8"),     // loopback
	netip.MustParsePrefix("169.254.0.0/16"),  // link-local, cloud metadata
	netip.MustParsePrefix("172.16.0.0/12"),   // private
	netip.MustParsePrefix("192.0.0.0/24"),    // IETF protocol assignments
	netip.MustParsePrefix("192.0.2.0/24"),    // documentation
	netip.MustParsePrefix("192.168.0.0/16"),  // private
	netip.MustParsePrefix("198.18.0.0/15"),   // benchmarking
	netip.MustParsePrefix("198.51.100.0/24"), // documentation
	netip.MustParsePrefix("203.0.113.0/24"),  // documentation
	netip.MustParsePrefix("224.0.0.0/3"),     // multicast, reserved, broadcast
	netip.MustParsePrefix("::/96"),           // unspecified, loopback, IPv4-compatible
	netip.MustParsePrefix("64:ff9b:1::/48"),  // local-use IPv4/IPv6 translation
	netip.MustParsePrefix("100::/64"),        // discard-only
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("fc00::/7"),        // unique local
	netip.MustParsePrefix("fe80::/10"),       // link-local
	netip.MustParsePrefix("fec0::/10"),       // deprecated site-local
	netip.MustParsePrefix("ff00::/8"),        // multicast
}

// nat64 is the well-known prefix of IPv4 addresses translated to IPv6
// (RFC 6052): what counts is the IPv4 address in its last 32 bits.
var nat64 = netip.MustParsePrefix("64:ff9b::/96")

// publicAddress reports whether ip is an address the gateway may post
// webhooks to when private destinations are not allowed.
func publicAddress(ip netip.Addr) bool {
	if !ip.IsValid() {
		return false
	}
	ip = ip.Unmap().WithZone("") // ::ffff:127.0.0.1 is 127.0.0.1; a zone never matches a prefix
	if nat64.Contains(ip) {      // 64:ff9b::a00:1 reaches 10.0.0.1 through a NAT64 gateway
		b := ip.As16()
		return publicAddress(netip.AddrFrom4([4]byte(b[12:])))
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// refusePrivate is a net.Dialer Control function: it runs after the name
// was resolved, on the address about to be connected to.
func refusePrivate(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: %s", ErrPrivateDestination, address)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !publicAddress(ip) {
		return fmt.Errorf("%w: %s", ErrPrivateDestination, host)
	}
	return nil
}

// publicDialer connects only to public addresses; its other settings are
// those of net/http's default transport.
func publicDialer() *net.Dialer {
	return &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: refusePrivate}
}

// PrivateHost returns the host of a webhook URL if it names a loopback
// or non-public address outright ("localhost", an IP literal), for an
// answer that says so when the webhook is set. Names that resolve to such
// addresses are refused when called.
func PrivateHost(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", false
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return host, true
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return "", false
	}
	return host, !publicAddress(ip)
}
