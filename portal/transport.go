package portal

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
)

// HandlerTransport returns a RoundTripper that serves each request with h in
// this process, as `herald all` calls its own gateway: no socket, no
// encoding beyond the JSON bodies. The request h sees comes from the
// browser's address (what the portal is serving), so that the gateway's
// limits per client address count browsers, not the portal.
//
// The answer is buffered whole before RoundTrip returns: h must not stream
// without end (the gateway's REST API does not).
func HandlerTransport(h http.Handler) http.RoundTripper {
	return handlerTransport{h}
}

type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	in := req.Clone(req.Context())
	if in.Body == nil {
		in.Body = http.NoBody
	}
	in.RequestURI = req.URL.RequestURI()
	in.Proto, in.ProtoMajor, in.ProtoMinor = "HTTP/1.1", 1, 1
	if in.Host == "" {
		in.Host = req.URL.Host
	}
	in.RemoteAddr = "127.0.0.1:0"
	if a, ok := req.Context().Value(clientAddrKey{}).(string); ok && a != "" {
		in.RemoteAddr = a
	}
	w := &bufferedResponse{header: http.Header{}}
	t.h.ServeHTTP(w, in)
	if w.status == 0 {
		w.status = http.StatusOK
	}
	res := &http.Response{
		Status:        strconv.Itoa(w.status) + " " + http.StatusText(w.status),
		StatusCode:    w.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        w.header,
		Body:          io.NopCloser(bytes.NewReader(w.body.Bytes())),
		ContentLength: int64(w.body.Len()),
		Request:       req,
	}
	return res, nil
}

// bufferedResponse is the http.ResponseWriter of handlerTransport.
type bufferedResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *bufferedResponse) Header() http.Header { return w.header }

func (w *bufferedResponse) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *bufferedResponse) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.body.Write(b)
}

// Flush does nothing: the answer is handed over whole.
func (w *bufferedResponse) Flush() {}

// clientAddrKey is the context key of the browser's address ("host:port")
// on calls the portal makes for it.
type clientAddrKey struct{}

// withClientAddr returns ctx carrying the browser's address addr.
func withClientAddr(ctx context.Context, addr string) context.Context {
	if addr == "" {
		return ctx
	}
	return context.WithValue(ctx, clientAddrKey{}, addr)
}
