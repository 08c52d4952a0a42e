package h2c

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/internal/connlimit"
)

// ServerConfig configures NewServer. Zero fields take their defaults.
type ServerConfig struct {
	// BodyTimeout bounds the reading of a request's body, from the moment
	// its handler starts, over HTTP/1.1 and HTTP/2 alike: a read after it
	// fails with a *BodyTimeoutError. A handler that streams its request
	// body for long lifts it, once the caller is authenticated, with
	// http.NewResponseController(w).SetReadDeadline(time.Time{}). Zero
	// means DefaultBodyTimeout.
	BodyTimeout time.Duration
	// Conns caps the server's connections (Serve applies it). Nil means
	// no caps.
	Conns *connlimit.Limiter
}

// DefaultBodyTimeout is ServerConfig.BodyTimeout's default: a body of the
// largest size the APIs take (8 MiB, between components) at 2 Mbit/s; an
// API call's body of a few KiB needs a fraction of a second on any link.
const DefaultBodyTimeout = 30 * time.Second

// Header limits. The request line and header fields of a request over
// MaxHeaderBytes get a JSON 431 from the server. The HTTP/2 server
// refuses header lists over hardHeaderBytes itself (its answer is Go's
// own, in HTML); HTTP/1.1 requests over it get the same JSON 431 as the
// others (answerConn).
const (
	MaxHeaderBytes  = 64 << 10
	hardHeaderBytes = 256 << 10
)

// drainLimit is how much of an HTTP/2 request body a handler left unread
// the server reads and drops before ending the stream, so that the
// answer is not followed by a reset that some clients (curl) take for an
// error. It is Go's default stream flow-control window: what a client
// may send before it has to wait for the server anyway.
const drainLimit = 1 << 20

// Server is an HTTP server for HTTP/1.1 and cleartext HTTP/2 (prior
// knowledge) on one port, made by NewServer.
type Server struct {
	*http.Server
	conns *connlimit.Limiter
}

// NewServer returns a server of h for HTTP/1.1 and cleartext HTTP/2 on
// the same port, with limits that bound slow and greedy clients: on the
// time to send request headers (10s) and bodies (cfg.BodyTimeout), the
// size of headers (MaxHeaderBytes), idle keep-alive connections (2 min),
// and the connections open at once (cfg.Conns).
func NewServer(h http.Handler, cfg ServerConfig) *Server {
	if cfg.BodyTimeout <= 0 {
		cfg.BodyTimeout = DefaultBodyTimeout
	}
	if cfg.Conns == nil {
		cfg.Conns = connlimit.New(connlimit.Config{MakeRoom: true})
	}
	s := &Server{conns: cfg.Conns}
	s.Server = &http.Server{
		Handler:           guard(h, cfg.BodyTimeout),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    hardHeaderBytes,
		Protocols:         new(http.Protocols),
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: MaxStreams},
		ConnState:         cfg.Conns.ConnState,
		ConnContext:       cfg.Conns.ConnContext,
	}
	s.Protocols.SetHTTP1(true)
	s.Protocols.SetUnencryptedHTTP2(true)
	return s
}

// Serve serves the connections ln accepts within the server's caps.
func (s *Server) Serve(ln net.Listener) error {
	return s.Server.Serve(s.conns.Listener(answering(ln)))
}

// Conns returns the server's connection caps.
func (s *Server) Conns() *connlimit.Limiter { return s.conns }

// guard serves h with the server's limits on headers and bodies, and
// tells the connection caps what each request waits for.
func guard(h http.Handler, timeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n := headerBytes(r); n > MaxHeaderBytes {
			writeError(w, http.StatusRequestHeaderFieldsTooLarge, "headers_too_large",
				fmt.Sprintf("the request line and header fields take %d bytes; at most %d are accepted", n, MaxHeaderBytes))
			return
		}
		hasBody := r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0
		req := connlimit.Start(r.Context())
		defer req.Done()
		if !hasBody {
			h.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		_ = rc.SetReadDeadline(time.Now().Add(timeout))
		b := &timedBody{ReadCloser: r.Body, rc: rc, req: req, timeout: timeout}
		r.Body = b
		h.ServeHTTP(w, r)
		if r.ProtoMajor == 2 {
			b.drain(r)
		} else if !b.ended.Load() {
			// The handler answered without the whole body (a 401, a
			// 429). net/http would wait for the rest, to discard it and
			// keep the connection, before sending the answer, and again
			// when closing the body: with a slow body, as long as the
			// body timeout, holding a place no new connection may take
			// (it is waiting for no handler). What has arrived is
			// discarded; then the answer goes out and the connection
			// closes.
			_ = rc.SetReadDeadline(time.Now())
		}
	})
}

// headerBytes is about what the request line and header fields of r took
// on the wire (HTTP/1.1), as http.Server.MaxHeaderBytes counts them.
func headerBytes(r *http.Request) int {
	n := len(r.Method) + len(r.RequestURI) + len(r.Proto) + 4
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// BodyTimeoutError is what reading a request body returns once the
// server's BodyTimeout has passed.
type BodyTimeoutError struct {
	// Timeout is the server's BodyTimeout.
	Timeout time.Duration
	// Err is the error of the read.
	Err error
}

func (e *BodyTimeoutError) Error() string {
	return fmt.Sprintf("h2c: the request body did not arrive within %v: %v", e.Timeout, e.Err)
}

func (e *BodyTimeoutError) Unwrap() error { return e.Err }

// timedBody is a request body read under the server's deadline, which it
// lifts once the body has been read whole (an HTTP/1.1 server would
// otherwise cancel the request's context when the deadline passes during
// the rest of the handler).
type timedBody struct {
	io.ReadCloser
	rc      *http.ResponseController
	req     *connlimit.Request
	timeout time.Duration
	ended   atomic.Bool  // EOF or an error was read
	reads   atomic.Int32 // reads under way
}

func (b *timedBody) Read(p []byte) (int, error) {
	b.reads.Add(1)
	b.req.Reading(true)
	n, err := b.ReadCloser.Read(p)
	b.req.Reading(false)
	b.reads.Add(-1)
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = &BodyTimeoutError{Timeout: b.timeout, Err: err}
		}
		if b.ended.CompareAndSwap(false, true) {
			if err == io.EOF {
				_ = b.rc.SetReadDeadline(time.Time{})
			}
		}
	}
	return n, err
}

func (b *timedBody) Close() error { return b.ReadCloser.Close() }

// drain reads what the handler left of an HTTP/2 request body, up to
// drainLimit, before the stream ends. The answer goes out first.
func (b *timedBody) drain(r *http.Request) {
	if b.ended.Load() || b.reads.Load() > 0 || r.ContentLength > drainLimit || r.Header.Get("Expect") != "" {
		return
	}
	_ = b.rc.Flush()
	_, _ = io.CopyN(io.Discard, b, drainLimit+1)
}

// writeError writes the JSON error body every API of Herald answers
// with.
func writeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, errorBody(code, message))
}

// errorBody is {"error":{"code":code,"message":message}}.
func errorBody(code, message string) string {
	b, _ := json.Marshal(map[string]map[string]string{"error": {"code": code, "message": message}})
	return string(b) + "\n"
}
