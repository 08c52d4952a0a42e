package webhook

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
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
		{"2002:7f00:1::1", false},                       // 6to4 of 127.0.0.1
		{"2002:808:808::1", false},                      // 6to4, even of a public address: the whole range
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", false}, // Teredo
		{"2001:4860:4860::8888", true},
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

// The forms that net/url parses but resolvers read as loopback
// or "this host", and ports out of range, are refused whatever the
// operator allows; names and dotted-decimal addresses pass (PrivateHost
// judges the latter).
func TestCheckURL(t *testing.T) {
	for _, tc := range []struct {
		url  string
		ok   bool
		hint string
	}{
		{"http://0/", false, "IPv4"},
		{"http://2130706433/", false, "IPv4"},
		{"http://0177.0.0.1/", false, "IPv4"},
		{"http://127.1/", false, "IPv4"},
		{"http://0x7f.0.0.1/", false, "IPv4"},
		{"http://0x7f000001/h", false, "IPv4"},
		{"http://127.0.0.01/", false, "IPv4"},
		{"http://1.2.3.4.5/", false, "IPv4"},
		{"http://example.0x1/", false, "IPv4"},
		{"http://0x/", false, "IPv4"},
		{"http://127.0.1./", false, "IPv4"},
		{"http://\uff11\uff12\uff17.0.0.1/", false, "ASCII"},
		{"http://127\u30020\u30020\u30021/", false, "ASCII"},
		{"https://example.com:99999/", false, "port 99999"},
		{"https://example.com:0/", false, "port 0"},
		{"https://example.com:65536/", false, "port 65536"},
		{"https://example.com/", true, ""},
		{"https://example.com:65535/h", true, ""},
		{"https://example.com:/h", true, ""},
		{"https://api.example.com./h", true, ""},
		{"https://1e100.net/", true, ""},
		{"https://123.example.com/", true, ""},
		{"https://cafe/", true, ""},
		{"https://8.8.8.8/h", true, ""},
		{"https://8.8.8.8./h", true, ""},
		{"http://127.0.0.1:8080/h", true, ""}, // four decimal numbers: PrivateHost's to judge
		{"http://[::1]/h", true, ""},
		{"http://[2002:7f00:1::1]/h", true, ""},
		{"http://bücher.example/", true, ""},
	} {
		err := CheckURL(tc.url)
		var ue *URLError
		switch {
		case tc.ok && err != nil:
			t.Errorf("CheckURL(%q) = %v, want nil", tc.url, err)
		case !tc.ok && !errors.As(err, &ue):
			t.Errorf("CheckURL(%q) = %v, want a *URLError", tc.url, err)
		case !tc.ok && !strings.Contains(ue.Reason, tc.hint):
			t.Errorf("CheckURL(%q) says %q, want it to name %q", tc.url, ue.Reason, tc.hint)
		}
	}
}
