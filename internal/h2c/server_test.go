package h2c

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// serve starts a server of h with cfg on a loopback port and returns its
// address.
func serve(t *testing.T, h http.Handler, cfg ServerConfig) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(h, cfg)
	go s.Serve(ln)
	t.Cleanup(func() { s.Close() })
	return ln.Addr().String()
}

// bodyHandler reads the request body and answers what reading it gave:
// 200 and its length, or 408 for a *BodyTimeoutError.
var bodyHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	n, err := io.Copy(io.Discard, r.Body)
	var bte *BodyTimeoutError
	switch {
	case errors.As(err, &bte):
		writeError(w, http.StatusRequestTimeout, "request_timeout", err.Error())
	case err != nil:
		writeError(w, http.StatusBadRequest, "unreadable", err.Error())
	default:
		fmt.Fprintln(w, n)
	}
})

func TestSlowBodyTimesOutOverHTTP1(t *testing.T) {
	addr := serve(t, bodyHandler, ServerConfig{BodyTimeout: 200 * time.Millisecond})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// The flood: a large Content-Length, one byte, then silence.
	fmt.Fprint(c, "POST /v1/devices HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n{")
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to a body that stopped coming: %v", err)
	}
	if res.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("status %d, want 408", res.StatusCode)
	}
}

func TestSlowBodyTimesOutOverHTTP2(t *testing.T) {
	addr := serve(t, bodyHandler, ServerConfig{BodyTimeout: 200 * time.Millisecond})
	pr, pw := io.Pipe()
	defer pw.Close()
	go pw.Write([]byte("{"))
	req, _ := http.NewRequest("POST", "http://"+addr+"/v1/devices", pr)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := (&http.Client{Transport: NewTransport()}).Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("no answer to a body that stopped coming: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("status %d, want 408", res.StatusCode)
	}
}

func TestHandlerOutlivesTheBodyTimeoutOnceItHasTheBody(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			t.Error(err)
		}
		select {
		case <-time.After(400 * time.Millisecond): // twice the body timeout
			fmt.Fprintln(w, "done")
		case <-r.Context().Done():
			t.Error("the request's context ended when the body timeout passed, after the body was read")
		}
	})
	addr := serve(t, h, ServerConfig{BodyTimeout: 200 * time.Millisecond})
	for name, c := range map[string]*http.Client{"HTTP/1.1": {}, "HTTP/2": {Transport: NewTransport()}} {
		t.Run(name, func(t *testing.T) {
			res, err := c.Post("http://"+addr+"/", "application/json", strings.NewReader(`{"a":1}`))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != 200 || string(b) != "done\n" {
				t.Fatalf("%d %q", res.StatusCode, b)
			}
		})
	}
}

func TestStreamingHandlerLiftsTheBodyTimeout(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = http.NewResponseController(w).SetReadDeadline(time.Time{})
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			writeError(w, http.StatusBadRequest, "unreadable", err.Error())
			return
		}
		fmt.Fprintln(w, n)
	})
	addr := serve(t, h, ServerConfig{BodyTimeout: 100 * time.Millisecond})
	pr, pw := io.Pipe()
	go func() {
		for range 4 {
			pw.Write([]byte("ack"))
			time.Sleep(100 * time.Millisecond)
		}
		pw.Close()
	}()
	res, err := (&http.Client{Transport: NewTransport()}).Post("http://"+addr+"/", "application/octet-stream", pr)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || string(b) != "12\n" {
		t.Fatalf("%d %q: a stream that lifted its deadline was cut", res.StatusCode, b)
	}
}

// errorCode reads the code of a JSON error body.
func errorCode(t *testing.T, res *http.Response) string {
	t.Helper()
	var body struct {
		Error struct{ Code, Message string }
	}
	b, _ := io.ReadAll(res.Body)
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("Content-Type %q, body %q: want a JSON error", ct, b)
	}
	if err := json.Unmarshal(b, &body); err != nil || body.Error.Message == "" {
		t.Fatalf("not a JSON error: %q", b)
	}
	return body.Error.Code
}

func TestHeaderOverflowIsAJSON431(t *testing.T) {
	addr := serve(t, bodyHandler, ServerConfig{})
	for _, size := range []int{MaxHeaderBytes + 1000, 2 * hardHeaderBytes} {
		t.Run(fmt.Sprintf("HTTP/1.1 %d", size), func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			go fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n", strings.Repeat("a", size))
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			res, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge || errorCode(t, res) != "headers_too_large" {
				t.Fatalf("status %d", res.StatusCode)
			}
		})
	}
	t.Run("HTTP/2", func(t *testing.T) {
		req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
		req.Header.Set("X-Big", strings.Repeat("a", MaxHeaderBytes+1000))
		res, err := (&http.Client{Transport: NewTransport()}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge || errorCode(t, res) != "headers_too_large" {
			t.Fatalf("status %d", res.StatusCode)
		}
	})
}

func TestMalformedHTTP1RequestIsAJSON400(t *testing.T) {
	addr := serve(t, bodyHandler, ServerConfig{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "GET / HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n")
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusBadRequest || errorCode(t, res) != "bad_request" {
		t.Fatalf("status %d", res.StatusCode)
	}
}

// TestAnswerBeforeTheBodyIsNotFollowedByAReset: a handler that answers
// without reading the body (a 401) must not make the HTTP/2 server reset
// the stream while the client still sends it: curl reports that as
// "Stream error in the HTTP/2 framing layer" instead of the answer.
func TestAnswerBeforeTheBodyIsNotFollowedByAReset(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusUnauthorized, "unauthorized", "internal calls need the cluster token")
	})
	addr := serve(t, h, ServerConfig{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(c, c)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if err := fr.WriteSettings(); err != nil {
		t.Fatal(err)
	}
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":authority", addr}, {":path", "/internal/v1/deliver"}, {"content-type", "application/json"}} {
		_ = enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true}); err != nil {
		t.Fatal(err)
	}
	// Read the answer before sending the body, as a client on a slow
	// link would.
	sentBody := false
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("reading frames: %v", err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = fr.WriteSettingsAck()
			}
		case *http2.MetaHeadersFrame:
			if f.StreamID == 1 && f.PseudoValue("status") != "401" {
				t.Fatalf("status %q", f.PseudoValue("status"))
			}
		case *http2.DataFrame:
			if f.StreamID != 1 {
				continue
			}
			if f.StreamEnded() {
				if !sentBody {
					t.Fatal("the stream ended before the client sent its body")
				}
				return // answered whole, and no reset
			}
			if !sentBody {
				sentBody = true
				if err := fr.WriteData(1, true, []byte(`{"message":{}}`)); err != nil {
					t.Fatal(err)
				}
			}
		case *http2.RSTStreamFrame:
			t.Fatalf("the server reset the stream (%v) instead of taking the rest of the body", f.ErrCode)
		case *http2.GoAwayFrame:
			t.Fatalf("GOAWAY %v", f.ErrCode)
		}
	}
}

// Issue 16: a slow body to an endpoint that answers before reading it (a
// 401 without credentials, a 429) held its connection until the body
// timeout, waiting for no handler, so that no new connection could take
// its place; its answer came only then. It comes at once now, and the
// connection closes.
func TestAnswerBeforeASlowBodyComesAtOnceAndCloses(t *testing.T) {
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusUnauthorized, "unauthorized", "no credentials")
	}), ServerConfig{BodyTimeout: time.Minute})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprint(c, "POST /v1/push HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n{")
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer before the body: %v", err)
	}
	if res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", res.StatusCode)
	}
	io.Copy(io.Discard, res.Body)
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("the connection was kept: %v", err)
	}

	// A whole body that the handler does not read keeps the connection.
	c2, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	br2 := bufio.NewReader(c2)
	for range 2 {
		fmt.Fprint(c2, "POST /v1/push HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
		_ = c2.SetReadDeadline(time.Now().Add(5 * time.Second))
		res, err := http.ReadResponse(br2, nil)
		if err != nil || res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("answer on a kept connection: %v", err)
		}
		io.Copy(io.Discard, res.Body)
	}
}
