package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// h2cServer serves handler over cleartext HTTP/2 with at most maxStreams
// streams per connection and returns its URL.
func h2cServer(t *testing.T, maxStreams int, handler http.HandlerFunc) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: handler, Protocols: p, HTTP2: &http.HTTP2Config{MaxConcurrentStreams: maxStreams}}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// Requests and answers larger than the windows either side starts with
// (64 KiB), more requests at once than the server allows streams, and the
// headers a push needs: every request gets its own answer.
func TestPushConn(t *testing.T) {
	const maxStreams, requests = 3, 400
	var open, most atomic.Int64
	url := h2cServer(t, maxStreams, func(w http.ResponseWriter, r *http.Request) {
		n := open.Add(1)
		defer open.Add(-1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.Path != "/v1/push" || r.Header.Get("Authorization") != "Basic app" ||
			r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, fmt.Sprintf("%s %s %q %q", r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type")), http.StatusBadRequest)
			return
		}
		time.Sleep(time.Millisecond)
		// The answer echoes the request's id and pads it past 512 bytes,
		// so the answers add up to more than the client's window.
		fmt.Fprintf(w, `{"msg_id":"%s","pad":"%s"}`, bytes.TrimSpace(body[:8]), strings.Repeat("x", 512))
	})
	c, err := dialPushConn(t.Context(), url, "Basic app")
	if err != nil {
		t.Fatal(err)
	}
	defer c.close()
	var wg sync.WaitGroup
	for i := range requests {
		wg.Go(func() {
			id := fmt.Sprintf("%08d", i+1)
			body := append([]byte(id), bytes.Repeat([]byte(" "), 1024)...) // 400 KiB in all
			status, answer, err := c.push(t.Context(), body)
			if err != nil {
				t.Errorf("request %d: %v", i, err)
				return
			}
			got, err := pushAnswer(status, answer)
			if err != nil || fmt.Sprintf("%08d", got) != id {
				t.Errorf("request %d: answered %d, %v (%s)", i, got, err, answer)
			}
		})
	}
	wg.Wait()
	if most.Load() > maxStreams {
		t.Errorf("%d requests at once, the server allows %d", most.Load(), maxStreams)
	}
}

// A connection that ends fails the requests in flight and those after.
func TestPushConnEnds(t *testing.T) {
	release := make(chan struct{})
	url := h2cServer(t, 10, func(w http.ResponseWriter, r *http.Request) {
		<-release
	})
	defer close(release)
	c, err := dialPushConn(t.Context(), url, "Basic app")
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 1)
	go func() {
		_, _, err := c.push(t.Context(), []byte("{}"))
		errs <- err
	}()
	time.Sleep(20 * time.Millisecond) // let the request go out
	c.close()
	select {
	case err := <-errs:
		if err == nil {
			t.Fatal("a request in flight on a closed connection succeeded")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a request in flight did not fail when its connection ended")
	}
	if _, _, err := c.push(t.Context(), []byte("{}")); err == nil {
		t.Fatal("a request on a closed connection succeeded")
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if _, err := dialPushConn(ctx, "https://127.0.0.1:1", "x"); err == nil {
		t.Fatal("dialed an https target")
	}
}
