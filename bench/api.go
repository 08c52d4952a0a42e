package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/internal/runtimestats"
)

// requestTimeout bounds every REST call of the bench.
const requestTimeout = 30 * time.Second

// newTransport returns a transport that speaks HTTP/2 only, cleartext
// with prior knowledge for http:// targets and TLS for https://, over one
// connection: requests beyond the server's stream limit wait for a stream
// instead of opening another connection, and a burst of first requests
// does not dial one connection each (MaxConnsPerHost).
func newTransport() *http.Transport {
	p := new(http.Protocols)
	p.SetUnencryptedHTTP2(true)
	p.SetHTTP2(true)
	return &http.Transport{
		Protocols:       p,
		MaxConnsPerHost: 1,
		DialContext:     (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		HTTP2: &http.HTTP2Config{
			StrictMaxConcurrentRequests: true,
			SendPingTimeout:             15 * time.Second,
			PingTimeout:                 15 * time.Second,
		},
	}
}

// fallbackStreamLimit is the stream limit assumed when the server's cannot
// be read: the least HTTP/2 recommends servers allow.
const fallbackStreamLimit = 100

// streamLimit asks the server at target how many concurrent streams it
// allows on one connection, over a probe connection of its own.
func streamLimit(ctx context.Context, tr *http.Transport, target string) (int, error) {
	u, err := url.Parse(target)
	if err != nil {
		return 0, err
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), map[string]string{"http": "80", "https": "443"}[u.Scheme])
	}
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	cc, err := tr.NewClientConn(ctx, u.Scheme, host)
	if err != nil {
		return 0, err
	}
	defer cc.Close()
	// The limit is known once the server's SETTINGS arrived, which the
	// first answer guarantees.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(target, "/")+"/healthz", nil)
	if err != nil {
		return 0, err
	}
	resp, err := cc.RoundTrip(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if n := cc.Available() + cc.InFlight(); n > 0 {
		return n, nil
	}
	return fallbackStreamLimit, nil
}

// streamLimiter keeps the requests in flight on the shared connection
// within the server's stream limit. The Go HTTP/2 client stalls when more
// requests than the limit wait for a stream with
// StrictMaxConcurrentRequests set: their reservations count against the
// limit and are released only by themselves (golang/go#70809). A slot is
// held until the response body is closed, as the stream is.
type streamLimiter struct {
	base  http.RoundTripper
	slots chan struct{}
}

// RoundTrip implements http.RoundTripper.
func (l *streamLimiter) RoundTrip(req *http.Request) (*http.Response, error) {
	select {
	case l.slots <- struct{}{}:
	case <-req.Context().Done():
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, req.Context().Err()
	}
	resp, err := l.base.RoundTrip(req)
	if err != nil {
		<-l.slots
		return nil, err
	}
	resp.Body = &releasingBody{ReadCloser: resp.Body, slots: l.slots}
	return resp, nil
}

// CloseIdleConnections closes the shared connection if it is idle.
func (l *streamLimiter) CloseIdleConnections() {
	if c, ok := l.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// releasingBody frees its stream slot when closed.
type releasingBody struct {
	io.ReadCloser
	slots chan struct{}
	once  sync.Once
}

func (b *releasingBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(func() { <-b.slots })
	return err
}

// newHTTPClient returns the client of every REST call of a run: one
// HTTP/2 connection per transport, at most limit requests in flight on
// each, requests spread over them in turn. An app backend pushing at a high
// rate holds several connections; one connection's frames are written by a
// single goroutine at each end.
func newHTTPClient(trs []*http.Transport, limit int) *http.Client {
	p := &connPool{}
	for _, tr := range trs {
		p.conns = append(p.conns, &streamLimiter{base: tr, slots: make(chan struct{}, limit)})
	}
	return &http.Client{Transport: p, Timeout: requestTimeout}
}

// connPool spreads requests over several connections, round robin.
type connPool struct {
	conns []*streamLimiter
	next  atomic.Uint64
}

// RoundTrip implements http.RoundTripper.
func (p *connPool) RoundTrip(req *http.Request) (*http.Response, error) {
	return p.conns[p.next.Add(1)%uint64(len(p.conns))].RoundTrip(req)
}

// CloseIdleConnections closes the idle connections.
func (p *connPool) CloseIdleConnections() {
	for _, c := range p.conns {
		c.CloseIdleConnections()
	}
}

// httpError is a REST call answered with a status other than the expected
// one.
type httpError struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *httpError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d: %s", e.Method, e.Path, e.Status, e.Body)
}

// api calls the gateway's REST API. Its methods are safe for concurrent
// use once the app is set.
type api struct {
	base      string
	http      *http.Client
	adminAuth string // Authorization header of admin calls
	// clusterAuth is the Authorization header of calls to a cluster's
	// connectors (GET /internal/v1/runtime); empty without a cluster token.
	clusterAuth string
	// dataservice is the base URL of the cluster's dataservice, whose
	// figures are read with clusterAuth too; empty if unknown.
	dataservice string
	appKey      string
	// masterSecret is the app's, for the calls the fleet makes as the app
	// backend (a device's tags).
	masterSecret string
	appAuth      string // Authorization header of the app's calls
	// pushConns, when set, send the pushes instead of http, in turn.
	pushConns []*pushConn
	nextPush  atomic.Uint64
}

func newAPI(target, adminToken string, c *http.Client) *api {
	return &api{base: strings.TrimSuffix(target, "/"), http: c, adminAuth: "Bearer " + adminToken}
}

// withClusterToken makes a read the figures of a cluster's connectors too,
// with token; an empty token leaves a as it is.
func (a *api) withClusterToken(token string) *api {
	if token != "" {
		a.clusterAuth = "Bearer " + token
	}
	return a
}

// withDataservice makes a read the figures of the cluster's dataservice
// at base URL u too (with the cluster token); an empty u leaves a as it
// is.
func (a *api) withDataservice(u string) *api {
	a.dataservice = strings.TrimSuffix(u, "/")
	return a
}

// do makes a call and decodes a 2xx answer into out, if not nil.
func (a *api) do(ctx context.Context, method, path, auth string, body []byte, out any) error {
	return a.call(ctx, method, a.base+path, path, auth, body, out)
}

// doURL is do with an absolute URL, for calls to other processes than the
// gateway.
func (a *api) doURL(ctx context.Context, method, rawURL, auth string, body []byte, out any) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err
	}
	return a.call(ctx, method, rawURL, u.Path, auth, body, out)
}

// call makes a call to rawURL, named path in errors.
func (a *api) call(ctx context.Context, method, rawURL, path, auth string, body []byte, out any) error {
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, rawURL, r)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return &httpError{Method: method, Path: path, Status: resp.StatusCode, Body: strings.TrimSpace(string(data))}
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(data, out)
}

// serverFigures is the part of GET /v1/admin/runtime the bench reads, and
// of GET /internal/v1/runtime, which connectors serve in the same shape.
type serverFigures struct {
	// Role is "connector" or "dataservice" from GET /internal/v1/runtime;
	// the gateway's answer has none.
	Role    string `json:"role"`
	ID      string `json:"id"`
	Process struct {
		RSSBytes     int64   `json:"rss_bytes"`
		GCPauseP99Ms float64 `json:"gc_pause_p99_ms"`
		CPUSeconds   float64 `json:"cpu_seconds"`
		Goroutines   int     `json:"goroutines"`
		// GCPauses and GCStopping are the pause histograms since the
		// process started (see runtimestats.Stats).
		GCPauses   runtimestats.Histogram `json:"gc_pauses"`
		GCStopping runtimestats.Histogram `json:"gc_stopping"`
	} `json:"process"`
	Components struct {
		// Connector is the connector of `herald all`, or the connector
		// answering GET /internal/v1/runtime.
		Connector *struct {
			Connections int `json:"connections"`
			Devices     int `json:"devices"`
		} `json:"connector"`
		// Connectors are those of a cluster, as the gateway last read
		// the registry.
		Connectors []struct {
			ID          string `json:"id"`
			Internal    string `json:"internal"`
			Connections int    `json:"connections"`
		} `json:"connectors"`
	} `json:"components"`
	// Peers are the cluster's connectors as each reported itself at GET
	// /internal/v1/runtime, in registry order; empty without the cluster
	// token, or if one of them could not be read (peerErr says why).
	Peers []serverFigures `json:"-"`
	// Data is the cluster's dataservice as it reported itself, if the
	// bench knows where it is and has the cluster token.
	Data    *serverFigures `json:"-"`
	peerErr error
}

// withPausesOf returns f with the pause histograms of o, process by
// process (gateway, connectors by id, dataservice): a run's pauses are
// then counted from o's reading instead of f's.
func (f serverFigures) withPausesOf(o serverFigures) serverFigures {
	f.Process.GCPauses, f.Process.GCStopping = o.Process.GCPauses, o.Process.GCStopping
	peers := make([]serverFigures, len(f.Peers))
	for i, p := range f.Peers {
		for _, q := range o.Peers {
			if q.Role == p.Role && q.ID == p.ID {
				p.Process.GCPauses, p.Process.GCStopping = q.Process.GCPauses, q.Process.GCStopping
			}
		}
		peers[i] = p
	}
	f.Peers = peers
	if f.Data != nil && o.Data != nil {
		d := *f.Data
		d.Process.GCPauses, d.Process.GCStopping = o.Data.Process.GCPauses, o.Data.Process.GCStopping
		f.Data = &d
	}
	return f
}

// connections returns the device connections of the server: its own
// connector's, or the sum over a cluster's connectors, as they reported
// themselves if they were read, else as the gateway last read the
// registry.
func (f serverFigures) connections() int {
	if len(f.Peers) > 0 {
		n := 0
		for _, p := range f.Peers {
			n += p.connections()
		}
		return n
	}
	n := 0
	if f.Components.Connector != nil {
		n = f.Components.Connector.Connections
	}
	for _, c := range f.Components.Connectors {
		n += c.Connections
	}
	return n
}

// heldRSS is the resident memory of the processes that hold the device
// connections: a cluster's connectors, if they were read, else the
// server itself (herald all).
func (f serverFigures) heldRSS() int64 {
	if len(f.Peers) == 0 {
		return f.Process.RSSBytes
	}
	var n int64
	for _, p := range f.Peers {
		n += p.Process.RSSBytes
	}
	return n
}

// runtime reads the server's runtime figures and, for a cluster whose
// cluster token the bench has, each connector's.
func (a *api) runtime(ctx context.Context) (serverFigures, error) {
	var f serverFigures
	if err := a.do(ctx, http.MethodGet, "/v1/admin/runtime", a.adminAuth, nil, &f); err != nil {
		return f, err
	}
	if a.clusterAuth == "" || len(f.Components.Connectors) == 0 {
		return f, nil
	}
	peers := make([]serverFigures, len(f.Components.Connectors))
	errs := make([]error, len(peers)+1)
	var wg sync.WaitGroup
	if a.dataservice != "" {
		wg.Go(func() {
			var d serverFigures
			if err := a.doURL(ctx, http.MethodGet, a.dataservice+"/internal/v1/runtime", a.clusterAuth, nil, &d); err != nil {
				errs[len(peers)] = fmt.Errorf("dataservice at %s: %w", a.dataservice, err)
				return
			}
			f.Data = &d
		})
	}
	for i, c := range f.Components.Connectors {
		wg.Go(func() {
			errs[i] = a.doURL(ctx, http.MethodGet, strings.TrimSuffix(c.Internal, "/")+"/internal/v1/runtime", a.clusterAuth, nil, &peers[i])
			if errs[i] != nil {
				errs[i] = fmt.Errorf("connector %s at %s: %w", c.ID, c.Internal, errs[i])
			}
		})
	}
	wg.Wait()
	if f.peerErr = errors.Join(errs...); f.peerErr == nil {
		f.Peers = peers
	}
	return f, nil
}

// createApp creates the app the run's devices belong to.
func (a *api) createApp(ctx context.Context, name string) error {
	body, _ := json.Marshal(map[string]string{"name": name})
	var out struct {
		AppKey       string `json:"app_key"`
		MasterSecret string `json:"master_secret"`
	}
	if err := a.do(ctx, http.MethodPost, "/v1/apps", a.adminAuth, body, &out); err != nil {
		return err
	}
	if out.AppKey == "" || out.MasterSecret == "" {
		return errors.New("POST /v1/apps answered without app_key or master_secret")
	}
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth(out.AppKey, out.MasterSecret)
	a.appKey, a.masterSecret, a.appAuth = out.AppKey, out.MasterSecret, req.Header.Get("Authorization")
	return nil
}

// tagPage reads up to limit members of tag after the member after, from
// the tag index, and returns them with the after of the next page (empty
// on the last).
func (a *api) tagPage(ctx context.Context, tag, after string, limit int) (members []string, next string, err error) {
	var out struct {
		Members []string `json:"members"`
		Next    string   `json:"next"`
	}
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	if after != "" {
		q.Set("after", after)
	}
	err = a.do(ctx, http.MethodGet, "/v1/tags/"+url.PathEscape(tag)+"?"+q.Encode(), a.appAuth, nil, &out)
	return out.Members, out.Next, err
}

// push sends one POST /v1/push with body and returns the message id. buf
// is scratch space for the answer, reused by the caller.
func (a *api) push(ctx context.Context, body []byte, buf *bytes.Buffer) (uint64, error) {
	if len(a.pushConns) > 0 {
		c := a.pushConns[a.nextPush.Add(1)%uint64(len(a.pushConns))]
		status, answer, err := c.push(ctx, body)
		if err != nil {
			return 0, err
		}
		return pushAnswer(status, answer)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.base+"/v1/push", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", a.appAuth)
	resp, err := a.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	buf.Reset()
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, 64<<10)); err != nil {
		return 0, err
	}
	return pushAnswer(resp.StatusCode, buf.Bytes())
}

// pushAnswer reads the message id from the answer to a push.
func pushAnswer(status int, body []byte) (uint64, error) {
	if status != http.StatusOK {
		return 0, &httpError{Method: http.MethodPost, Path: "/v1/push", Status: status, Body: strings.TrimSpace(string(body))}
	}
	id, ok := msgIDOf(body)
	if !ok {
		return 0, fmt.Errorf("POST /v1/push: no msg_id in %q", body)
	}
	return id, nil
}

// openPushConns makes the pushes go over n connections of pushConn, once
// the app exists; closePushConns ends them.
func (a *api) openPushConns(ctx context.Context, n int) error {
	for range n {
		c, err := dialPushConn(ctx, a.base, a.appAuth)
		if err != nil {
			a.closePushConns()
			return err
		}
		a.pushConns = append(a.pushConns, c)
	}
	return nil
}

func (a *api) closePushConns() {
	for _, c := range a.pushConns {
		c.close()
	}
	a.pushConns = nil
}

// msgIDOf finds the decimal msg_id in a push answer without allocating.
func msgIDOf(b []byte) (uint64, bool) {
	const key = `"msg_id":"`
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return 0, false
	}
	b = b[i+len(key):]
	j := bytes.IndexByte(b, '"')
	if j <= 0 {
		return 0, false
	}
	id, err := strconv.ParseUint(string(b[:j]), 10, 64)
	return id, err == nil && id != 0
}

// report is the part of a message report the bench reads.
type report struct {
	Targeted  int64 `json:"targeted"`
	Sent      int64 `json:"sent"`
	Delivered int64 `json:"delivered"`
	Failed    int64 `json:"failed"`
}

// report reads the delivery report of message id.
func (a *api) report(ctx context.Context, id uint64) (report, error) {
	var r report
	err := a.do(ctx, http.MethodGet, "/v1/messages/"+strconv.FormatUint(id, 10), a.appAuth, nil, &r)
	return r, err
}
