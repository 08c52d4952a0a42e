package flood

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// A server that closes what it holds: the flood opens them again, and
// counts.
func TestFloodReopensWhatTheServerCloses(t *testing.T) {
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
			go func() {
				io.ReadFull(c, make([]byte, 1))
				time.Sleep(50 * time.Millisecond)
				c.Close()
			}()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	f, err := Start(ctx, Config{REST: ln.Addr().String(), SlowBodies: 3, Device: ln.Addr().String(), HalfOpen: 3, Retry: 20 * time.Millisecond, Trickle: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	for f.Stats().Closed < 20 {
		if ctx.Err() != nil {
			t.Fatalf("the flood did not reopen its connections: %v", f.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	f.Stop()
	if s := f.Stats(); s.SlowOpen != 0 || s.HalfOpenOpen != 0 || s.SlowHeldMax <= 0 {
		t.Fatalf("after Stop: %v", s)
	}
}

func TestProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	r := Probe(ctx, srv.URL, 20*time.Millisecond, time.Second)
	if r.Answered < 3 || r.Failed != 0 || r.P99 < r.P50 || r.Max < r.P99 {
		t.Fatalf("Probe = %+v", r)
	}
}
