package webhook

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"
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
	netip.MustParsePrefix("2001::/32"),       // Teredo: an IPv4 address, obfuscated, in its last 32 bits
	netip.MustParsePrefix("2001:db8::/32"),   // documentation
	netip.MustParsePrefix("2002::/16"),       // 6to4: an IPv4 address in bits 16 to 48
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

// URLError is why CheckURL refused a webhook URL, in words for the app.
type URLError struct {
	URL    string // as the app sent it
	Reason string // what is wrong with it and how to write it
}

func (e *URLError) Error() string {
	return "webhook: URL " + strconv.Quote(e.URL) + " refused: " + e.Reason
}

// CheckURL refuses webhook URLs that net/url parses but that name their
// destination ambiguously, whatever PrivateDestinations says: a port
// outside 1 to 65535, and a host that resolvers (inet_aton, browsers'
// URL parsers) read as an IPv4 address although it is not four decimal
// numbers — "0", "2130706433", "0177.0.0.1", "127.1", "0x7f.1" all reach
// 127.0.0.1 or 0.0.0.0 through them, and PrivateHost would see names. As
// the WHATWG URL standard, a host whose last label is a number is an IPv4
// address or nothing. Hosts with digits or dots other than ASCII ones
// (fullwidth, ideographic), which IDNA maps to ASCII ones, are refused
// too. The URL has passed dataservice.CheckWebhookURL.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return &URLError{raw, "it does not parse"}
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return &URLError{raw, fmt.Sprintf("port %s is not a port (1 to 65535)", p)}
		}
	}
	host := u.Hostname()
	if strings.HasPrefix(u.Host, "[") { // an IPv6 literal: netip reads it as everyone does
		if _, err := netip.ParseAddr(host); err != nil {
			return &URLError{raw, fmt.Sprintf("host [%s] is not an IPv6 address", host)}
		}
		return nil
	}
	for _, r := range host {
		if r >= utf8.RuneSelf && (unicode.IsDigit(r) || r == '\uff0e' || r == '\u3002' || r == '\uff61') {
			return &URLError{raw, fmt.Sprintf("host %q has a digit or a dot that is not ASCII; write it in ASCII", host)}
		}
	}
	labels := strings.Split(strings.TrimSuffix(host, "."), ".")
	if !numericLabel(labels[len(labels)-1]) {
		return nil // a name
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.Is4() {
		return nil
	}
	if ip, err := netip.ParseAddr(strings.TrimSuffix(host, ".")); err == nil && ip.Is4() {
		return nil
	}
	return &URLError{raw, fmt.Sprintf("host %q reads as an IPv4 address in a form other than four decimal numbers (one number, fewer parts, octal or hexadecimal); write the address as four decimal numbers without leading zeros, such as 203.0.113.7, or use a name", host)}
}

// numericLabel reports whether a host's label is a number as IPv4 parsers
// read one: decimal digits, or 0x (or 0X) and hexadecimal digits.
func numericLabel(label string) bool {
	digits, base := label, "0123456789"
	if len(label) >= 2 && label[0] == '0' && (label[1] == 'x' || label[1] == 'X') {
		digits, base = label[2:], "0123456789abcdefABCDEF"
		if digits == "" {
			return true // "0x" is 0
		}
	}
	return digits != "" && strings.Trim(digits, base) == ""
}
