package connlimit

import (
	"bytes"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestAdmitCapsTotalAndPerAddress(t *testing.T) {
	l := New(Config{Total: 5, PerAddress: 2, Exempt: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	var held []Ticket
	admit := func(a netip.Addr, want bool) {
		t.Helper()
		tk, ok := l.Admit(a)
		if ok != want {
			t.Fatalf("Admit(%v) = %v, want %v (stats %+v)", a, ok, want, l.Stats())
		}
		if ok {
			held = append(held, tk)
		}
	}
	admit(addr("192.0.2.1"), true)
	admit(addr("::ffff:192.0.2.1"), true) // the same client, IPv4-mapped
	admit(addr("192.0.2.1"), false)       // its cap
	admit(addr("2001:db8:1:2::1"), true)
	admit(addr("2001:db8:1:2:aaaa::9"), true) // the same /64
	admit(addr("2001:db8:1:2::7"), false)
	admit(addr("10.1.1.1"), true)  // exempt from the per-address cap
	admit(addr("10.1.1.1"), false) // but not from the total (5)
	admit(netip.Addr{}, false)
	if s := l.Stats(); s.Open != 5 || s.Refused != 4 || s.Addresses != 2 {
		t.Fatalf("stats %+v, want 5 open from 2 counted addresses, 4 refused", s)
	}
	for _, tk := range held {
		l.Release(tk)
	}
	l.Release(Ticket{}) // nothing
	if s := l.Stats(); s.Open != 0 || s.Addresses != 0 {
		t.Fatalf("after releasing everything: %+v", s)
	}
	admit(addr("192.0.2.1"), true)
	admit(netip.Addr{}, true) // no address: under the total only
}

func TestNoCapsAdmitEverything(t *testing.T) {
	l := New(Config{})
	for range 1000 {
		if _, ok := l.Admit(addr("192.0.2.1")); !ok {
			t.Fatal("refused without caps")
		}
	}
}

func TestRefusalsAreLoggedAtABoundedRate(t *testing.T) {
	var out bytes.Buffer
	var mu sync.Mutex
	l := New(Config{Name: "rest", PerAddress: 1, Log: slog.New(slog.NewTextHandler(&lockedWriter{&mu, &out}, nil))})
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	if _, ok := l.Admit(addr("192.0.2.1")); !ok {
		t.Fatal("first connection refused")
	}
	for range 100 {
		l.Admit(addr("192.0.2.1"))
	}
	now = now.Add(logEvery)
	l.Admit(addr("192.0.2.9")) // admitted: no line
	l.Admit(addr("192.0.2.1"))
	mu.Lock()
	defer mu.Unlock()
	lines := strings.Count(out.String(), "\n")
	if lines != 2 {
		t.Fatalf("%d log lines for 101 refusals over 10s, want 2:\n%s", lines, out.String())
	}
	if !strings.Contains(out.String(), "refused=100") || !strings.Contains(out.String(), "listener=rest") {
		t.Fatalf("the second line should count the 100 refusals since the first:\n%s", out.String())
	}
	if s := l.Stats(); s.Refused != 101 {
		t.Fatalf("Refused = %d, want 101", s.Refused)
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}
