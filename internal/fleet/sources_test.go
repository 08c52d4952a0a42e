package fleet

import (
	"context"
	"net"
	"net/netip"
	"testing"
)

func TestParseSources(t *testing.T) {
	tests := []struct {
		in          string
		n           int
		first, last string
		wantErr     bool
	}{
		{in: "127.0.0.2-127.0.0.254", n: 253, first: "127.0.0.2", last: "127.0.0.254"},
		{in: "127.0.0.5", n: 1, first: "127.0.0.5", last: "127.0.0.5"},
		{in: "127.0.0.5, 127.0.0.9-127.0.0.10", n: 3, first: "127.0.0.5", last: "127.0.0.10"},
		{in: "127.0.0.250-127.0.1.3", n: 10, first: "127.0.0.250", last: "127.0.1.3"},
		{in: "::1", n: 1, first: "::1", last: "::1"},
		{in: "", wantErr: true},
		{in: "127.0.0.9-127.0.0.2", wantErr: true},
		{in: "127.0.0.1-::1", wantErr: true},
		{in: "localhost", wantErr: true},
		{in: "10.0.0.0-10.1.0.0", wantErr: true}, // more than 65536
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSources(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got %d addresses, want an error", len(got))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != tt.n || got[0] != netip.MustParseAddr(tt.first) || got[len(got)-1] != netip.MustParseAddr(tt.last) {
				t.Fatalf("got %d addresses %v … %v", len(got), got[0], got[len(got)-1])
			}
		})
	}
}

func TestSourceDialerCyclesThroughAddresses(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	sources, err := ParseSources("127.0.0.2-127.0.0.4")
	if err != nil {
		t.Fatal(err)
	}
	sd := newSourceDialer(sources, 0)
	want := []string{"127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.2", "127.0.0.3"}
	for i, w := range want {
		c, err := sd.DialContext(context.Background(), "tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		got := c.LocalAddr().(*net.TCPAddr).IP.String()
		c.Close()
		if got != w {
			t.Fatalf("dial %d came from %s, want %s", i, got, w)
		}
	}
	if f := sd.failures.Load(); f != 0 {
		t.Fatalf("%d failures counted", f)
	}
	if _, err := sd.DialContext(context.Background(), "tcp", "127.0.0.1:1"); err == nil {
		t.Fatal("dial to a closed port succeeded")
	}
	if f := sd.failures.Load(); f != 1 {
		t.Fatalf("%d failures counted, want 1", f)
	}
}
