package webhook

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestPublicAddress(t *testing.T) {
	for _, tc := range []struct {
		ip     string
		public bool
	}{
		{"8.8.8.8", true},
		{"1.1.1.1", true},
		{"2606:4700:4700::1111", true},
		{"::ffff:8.8.8.8", true},
		{"127.0.0.1", false},
		{"127.255.0.9", false},
		{"::1", false},
		{"::", false},
		{"0.0.0.0", false},
		{"10.1.2.3", false},
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"172.32.0.1", true},
		{"192.168.0.1", false},
		{"169.254.169.254", false},
		{"100.64.0.1", false},
		{"100.128.0.1", true},
		{"198.18.0.1", false},
		{"224.0.0.1", false},
		{"255.255.255.255", false},
		{"192.0.2.1", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:10.0.0.1", false},
		{"fd12:3456::1", false},
		{"fe80::1", false},
		{"fe80::1%eth0", false},
		{"ff02::1", false},
		{"2001:db8::1", false},
		{"::7f00:1", false},
		{"64:ff9b::808:808", true},
		{"64:ff9b::a00:1", false},
		{"64:ff9b::a9fe:a9fe", false},
	} {
		if got := publicAddress(netip.MustParseAddr(tc.ip)); got != tc.public {
			t.Errorf("publicAddress(%s) = %v, want %v", tc.ip, got, tc.public)
		}
	}
	if publicAddress(netip.Addr{}) {
		t.Error("the zero address counts as public")
	}
}

func TestPrivateHost(t *testing.T) {
	for _, tc := range []struct {
		url     string
		host    string
		private bool
	}{
		{"https://api.example.com/h", "", false},
		{"https://8.8.8.8/h", "8.8.8.8", false},
		{"http://localhost:9000/h", "localhost", true},
		{"http://LOCALHOST./h", "localhost", true},
		{"http://x.localhost/h", "x.localhost", true},
		{"http://127.0.0.1/h", "127.0.0.1", true},
		{"http://[::1]:80/h", "::1", true},
		{"http://169.254.169.254/", "169.254.169.254", true},
	} {
		host, private := PrivateHost(tc.url)
		if private != tc.private || (private && host != tc.host) {
			t.Errorf("PrivateHost(%q) = %q, %v; want %q, %v", tc.url, host, private, tc.host, tc.private)
		}
	}
}

// The delivery's own transport checks the address it connects to, after
// resolution: "localhost" and loopback literals are refused alike.
func TestWebhookTransportRefusesPrivateAddresses(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	named := "http://localhost:" + port

	public := &http.Client{Transport: Config{}.withDefaults().Transport}
	for _, u := range []string{srv.URL, named} {
		resp, err := public.Get(u)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("GET %s through the default transport: status %d, want refused", u, resp.StatusCode)
		}
		if !errors.Is(err, ErrPrivateDestination) {
			t.Fatalf("GET %s: %v, want ErrPrivateDestination", u, err)
		}
	}

	private := &http.Client{Transport: Config{PrivateDestinations: true}.withDefaults().Transport}
	resp, err := private.Get(srv.URL)
	if err != nil {
		t.Fatalf("GET %s with private destinations allowed: %v", srv.URL, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status %d, want 204", resp.StatusCode)
	}
}
