package bench

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// startH2C serves handler over HTTP/1.1 and cleartext HTTP/2, as the
// gateway does, and returns its base URL.
func startH2C(t *testing.T, handler http.HandlerFunc) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &http.Server{Handler: handler, Protocols: new(http.Protocols)}
	s.Protocols.SetHTTP1(true)
	s.Protocols.SetUnencryptedHTTP2(true)
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return "http://" + ln.Addr().String()
}

func TestStreamLimitReadsTheServersSetting(t *testing.T) {
	url := startH2C(t, func(w http.ResponseWriter, r *http.Request) {})
	n, err := streamLimit(t.Context(), newTransport(), url)
	if err != nil || n != 250 { // Go's default MaxConcurrentStreams
		t.Fatalf("streamLimit = %d, %v; want 250", n, err)
	}
	if _, err := streamLimit(t.Context(), newTransport(), "http://127.0.0.1:1"); err == nil {
		t.Fatal("streamLimit of a closed port succeeded")
	}
}

// More requests than the server's stream limit, on one connection, must
// all complete: Go's HTTP/2 client alone stalls here (golang/go#70809).
func TestRequestsBeyondTheStreamLimitDoNotStall(t *testing.T) {
	var conns atomic.Int64
	url := startH2C(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		time.Sleep(2 * time.Millisecond)
		_, _ = w.Write([]byte(`{"msg_id":"1"}`))
	})
	tr := newTransport()
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conns.Add(1)
		return dial(ctx, network, addr)
	}
	limit, err := streamLimit(t.Context(), tr, url)
	if err != nil {
		t.Fatal(err)
	}
	c := newHTTPClient([]*http.Transport{tr}, limit)
	c.Timeout = 10 * time.Second
	var (
		wg     sync.WaitGroup
		failed atomic.Int64
	)
	for range 2 * limit {
		wg.Go(func() {
			for range 5 {
				resp, err := c.Post(url, "application/json", nil)
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		t.Fatalf("%d requests failed", n)
	}
	if n := conns.Load(); n != 2 { // the probe's and the shared one
		t.Fatalf("%d connections opened, want the probe's and one shared", n)
	}
}

func TestMsgIDOf(t *testing.T) {
	tests := []struct {
		body string
		want uint64
		ok   bool
	}{
		{`{"msg_id":"1234567890123"}` + "\n", 1234567890123, true},
		{`{"msg_id":""}`, 0, false},
		{`{"msg_id":"x1"}`, 0, false},
		{`{"error":{"code":"internal"}}`, 0, false},
	}
	for _, tt := range tests {
		got, ok := msgIDOf([]byte(tt.body))
		if got != tt.want || ok != tt.ok {
			t.Errorf("msgIDOf(%s) = %d, %v; want %d, %v", tt.body, got, ok, tt.want, tt.ok)
		}
	}
}
