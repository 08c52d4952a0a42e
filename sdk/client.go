package sdk

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// Version is the SDK version sent in HELLO.
const Version = "herald-go/0.1.0"

// Message is a message pushed to the device.
type Message struct {
	// ID identifies the message; the same id is never handed over twice
	// within the dedupe window.
	ID      uint64
	AppKey  string
	Title   string
	Content string
	// Extras is the JSON object the app backend attached, or nil.
	Extras json.RawMessage
	// ExpiresAt is when the message stops being worth showing; zero for
	// messages sent online only.
	ExpiresAt time.Time
}

// Handler handles one message. Returning nil acknowledges it; returning an
// error leaves it unacknowledged, and Herald sends it again on a later
// connection.
type Handler func(*Message) error

// State is the connection state of a Client.
type State int

// Connection states reported to Config.OnState.
const (
	StateConnecting State = iota
	StateConnected
	StateDisconnected
	StateClosed
)

func (s State) String() string {
	switch s {
	case StateConnecting:
		return "connecting"
	case StateConnected:
		return "connected"
	case StateDisconnected:
		return "disconnected"
	case StateClosed:
		return "closed"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Errors that end a Client: reconnecting would not help.
var (
	// ErrUnauthorized means the server does not know these credentials
	// (the device was deleted, or they are wrong): register again.
	ErrUnauthorized = errors.New("herald: device credentials rejected; register the device again")
	// ErrReplaced means another connection of the same device took over.
	ErrReplaced = errors.New("herald: another connection of this device took over")
	// ErrClosed is returned by Wait after Close, and by Click and Send
	// after Close.
	ErrClosed = errors.New("herald: client closed")
)

// MaxPendingClicks bounds the clicks a Client keeps while it is
// disconnected; beyond it the oldest are dropped.
const MaxPendingClicks = 1024

// Config configures a Client. Gateway, Credentials and Handler are
// required; zero values of the others mean their defaults.
type Config struct {
	// Gateway is the base URL of Herald's REST API, such as
	// http://127.0.0.1:8080.
	Gateway     string
	Credentials Credentials
	Handler     Handler
	// Heartbeat is the interval the device asks for; the server grants a
	// value within its bounds. Zero means the server's default.
	Heartbeat time.Duration
	// Endpoints, if set, are tried before asking dispatch: what an earlier
	// Dispatch or Client.Endpoints returned.
	Endpoints *Endpoints
	// ServerKey pins the connectors' Noise public key. Nil means the key
	// dispatch returns.
	ServerKey []byte
	// HTTPClient calls dispatch. Nil means a client with a 10s timeout.
	HTTPClient *http.Client
	// Dial opens connections. Nil means net.Dialer with a 10s timeout and
	// without TCP keepalive: the protocol's heartbeat already finds a dead
	// connection, and keepalive probes would only wake a phone's radio
	// more often (and cost four setsockopt calls per connection).
	Dial func(ctx context.Context, network, address string) (net.Conn, error)
	// MinBackoff and MaxBackoff bound the wait between reconnection
	// rounds; each wait is drawn at random up to a bound that doubles per
	// failed round. Zero means 500ms and 5m.
	MinBackoff, MaxBackoff time.Duration
	// DedupeWindow is how many recent message ids are remembered to drop
	// duplicates. Zero means 4096.
	DedupeWindow int
	// OnState, if set, is called on every state change with the error that
	// caused it, if any. It must not block.
	OnState func(State, error)
	// Logger receives the client's logs. Nil means slog.Default().
	Logger *slog.Logger
}

// Stats are counters of a Client since it started.
type Stats struct {
	// Received counts messages handed to the handler (and handled).
	Received int64
	// Duplicates counts messages dropped because their id was handled
	// already.
	Duplicates int64
	// Acked counts acknowledged messages.
	Acked int64
	// Connects counts successful connections.
	Connects int64
	// Clicked counts clicks written to the server (see Client.Click).
	Clicked int64
	// Sent counts upstream messages the server acknowledged (see
	// Client.Send).
	Sent int64
}

// Client is a device's connection to Herald.
type Client struct {
	cfg    Config
	secret []byte
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	err    error // why the client stopped; set before done closes

	mu        sync.Mutex
	conn      net.Conn  // current connection, closed by Close
	endpoints Endpoints // what the client connects with
	live      *conn     // the established connection, nil between connections
	clicks    []uint64  // clicks not yet written, oldest first
	// upstreams are the upstream messages not yet acknowledged, oldest
	// first (see Send).
	upstreams    []*pendingUpstream
	lastUpstream uint64 // the last upstream id handed out

	// kick wakes the sender: clicks, upstream messages, acknowledgements
	// or a connection arrived.
	kick chan struct{}

	received, duplicates, acked, connects, clicked, sent atomic.Int64
}

// Dial starts a client and waits until it is connected, or ctx is done, or
// the server rejects the device. After that, the client keeps itself
// connected until Close, whatever happens to the network.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Gateway == "" || cfg.Credentials.RegistrationID == "" || cfg.Handler == nil {
		return nil, errors.New("herald: Config needs Gateway, Credentials and Handler")
	}
	secret, err := decodeSecret(cfg.Credentials.DeviceSecret)
	if err != nil {
		return nil, err
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 500 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 5 * time.Minute
	}
	if cfg.DedupeWindow <= 0 {
		cfg.DedupeWindow = 4096
	}
	if cfg.Dial == nil {
		d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: -1}
		cfg.Dial = d.DialContext
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Client{cfg: cfg, secret: secret, log: cfg.Logger, done: make(chan struct{}), kick: make(chan struct{}, 1)}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	first := make(chan error, 1)
	go c.run(first)
	go c.sender()
	select {
	case err := <-first:
		if err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	case <-ctx.Done():
		c.Close()
		return nil, ctx.Err()
	}
}

// Close disconnects and stops reconnecting. It waits for the handler to
// return.
func (c *Client) Close() error {
	c.cancel()
	c.mu.Lock()
	if c.conn != nil {
		_ = c.conn.Close()
	}
	c.mu.Unlock()
	<-c.done
	return nil
}

// Wait blocks until the client stops and returns why: ErrClosed after
// Close, or the error that ended it (ErrUnauthorized, ErrReplaced).
func (c *Client) Wait() error {
	<-c.done
	return c.err
}

// Endpoints returns the endpoints the client currently uses, for an app to
// keep and pass in Config.Endpoints on its next start.
func (c *Client) Endpoints() Endpoints {
	c.mu.Lock()
	defer c.mu.Unlock()
	return Endpoints{Addresses: append([]string(nil), c.endpoints.Addresses...), ServerKey: append([]byte(nil), c.endpoints.ServerKey...)}
}

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	return Stats{Received: c.received.Load(), Duplicates: c.duplicates.Load(), Acked: c.acked.Load(), Connects: c.connects.Load(),
		Clicked: c.clicked.Load(), Sent: c.sent.Load()}
}

// Click reports that the user opened the notification of message id, a
// message this device received: Herald counts it in the clicked figure of
// the message's report and in its status on this device. A message counts
// once per device however often it is reported, and Herald ignores ids
// the device never received.
//
// Click does not wait for the network: the click is sent in the
// background, at once if the client is connected, else on its next
// connection (at most MaxPendingClicks wait; the oldest are dropped). A
// click in flight when a connection drops is lost, and so are clicks on a
// connection to a server too old to accept them. It fails only for a zero
// id and after Close.
func (c *Client) Click(id uint64) error {
	if id == 0 {
		return errors.New("herald: Click of message id 0")
	}
	if c.ctx.Err() != nil {
		return ErrClosed
	}
	c.mu.Lock()
	if !slices.Contains(c.clicks, id) {
		if len(c.clicks) == MaxPendingClicks {
			c.clicks = slices.Delete(c.clicks, 0, 1)
		}
		c.clicks = append(c.clicks, id)
	}
	c.mu.Unlock()
	c.wake()
	return nil
}

// wake tells the sender to look for work.
func (c *Client) wake() {
	select {
	case c.kick <- struct{}{}:
	default:
	}
}

// setLive records the established connection (nil: none) and wakes the
// sender.
func (c *Client) setLive(cn *conn) {
	c.mu.Lock()
	c.live = cn
	c.mu.Unlock()
	if cn != nil {
		c.wake()
	}
}

// sender writes waiting clicks and upstream messages to the established
// connection, until the client closes. Runs in its own goroutine, so that
// Click and Send never wait for the network.
func (c *Client) sender() {
	for {
		select {
		case <-c.kick:
		case <-c.ctx.Done():
			return
		}
		c.sendClicks()
		c.sendUpstreams()
	}
}

// sendClicks writes waiting clicks to the established connection. It runs
// on the sender goroutine.
func (c *Client) sendClicks() {
	for {
		c.mu.Lock()
		cn, ids := c.live, c.clicks
		if cn == nil || len(ids) == 0 {
			c.mu.Unlock()
			return
		}
		n := min(len(ids), protocol.MaxClickIDs)
		batch := slices.Clone(ids[:n])
		c.clicks = slices.Delete(ids, 0, n)
		c.mu.Unlock()
		if cn.features&protocol.FeatureClick == 0 {
			c.log.Debug("herald: the server does not accept clicks; dropped", "clicks", len(batch))
			continue
		}
		if err := cn.click(batch); err != nil {
			// The connection failed: serve notices and reconnects; the
			// clicks go out on the next one.
			c.mu.Lock()
			c.clicks = append(batch, c.clicks...)
			c.clicks = c.clicks[max(0, len(c.clicks)-MaxPendingClicks):]
			if c.live == cn {
				c.live = nil
			}
			c.mu.Unlock()
			return
		}
		c.clicked.Add(int64(len(batch)))
	}
}

func (c *Client) state(s State, err error) {
	if c.cfg.OnState != nil {
		c.cfg.OnState(s, err)
	}
}

// run keeps the client connected: dispatch, then try the addresses in
// order; when all fail, wait a jittered, growing backoff and ask dispatch
// again, saying which addresses failed.
func (c *Client) run(first chan<- error) {
	var (
		reported bool
		addrs    []string
		failed   []string
		key      []byte
		idx      int
		backoff  = c.cfg.MinBackoff
		dd       = newDedupe(c.cfg.DedupeWindow)
	)
	use := func(e Endpoints) {
		addrs, idx = e.Addresses, 0
		key = c.cfg.ServerKey
		if key == nil {
			key = e.ServerKey
		}
		c.mu.Lock()
		c.endpoints = e
		c.mu.Unlock()
	}
	if e := c.cfg.Endpoints; e != nil && len(e.Addresses) > 0 {
		use(*e)
	}
	stop := func(err error) {
		c.err = err
		if !reported {
			first <- err
		}
		c.state(StateClosed, err)
		close(c.done)
	}
	for {
		if c.ctx.Err() != nil {
			stop(ErrClosed)
			return
		}
		if addrs == nil {
			c.state(StateConnecting, nil)
			d, err := dispatch(c.ctx, httpClientOrDefault(c.cfg.HTTPClient), c.cfg.Gateway, c.cfg.Credentials.RegistrationID, failed)
			var ae *APIError
			if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
				stop(fmt.Errorf("%w: %v", ErrUnauthorized, err))
				return
			}
			if err != nil {
				c.log.Debug("herald: dispatch failed", "err", err)
				backoff = c.sleep(backoff)
				continue
			}
			failed = nil
			use(d)
		}
		addr := addrs[idx]
		conn, err := c.connect(addr, key, dd)
		if err == nil {
			if !reported {
				reported = true
				first <- nil
			}
			c.connects.Add(1)
			c.state(StateConnected, nil)
			up := time.Now()
			c.setLive(conn)
			err = conn.serve()
			c.setLive(nil)
			if c.ctx.Err() != nil {
				stop(ErrClosed)
				return
			}
			c.state(StateDisconnected, err)
			if time.Since(up) > time.Minute {
				backoff = c.cfg.MinBackoff // it was a healthy connection
			}
		}
		var perr *protocol.Error
		told := errors.As(err, &perr) // the server said why, in an ERROR or a refusal
		switch {
		case errors.Is(err, ErrUnauthorized), errors.Is(err, ErrReplaced):
			stop(err)
			return
		case told && perr.Code == protocol.CodeHandshakeFailed:
			addrs = nil // the server key may have changed: ask dispatch again
			backoff = c.sleep(backoff)
			continue
		case told && perr.RetryAfter > 0:
			c.wait(perr.RetryAfter) // at least that long, whatever the code
		}
		if conn == nil {
			failed = append(failed, addr)
			if idx++; idx == len(addrs) {
				addrs = nil
				backoff = c.sleep(backoff)
			}
			continue
		}
		if told && perr.Code >= 1000 && perr.Code <= 1999 {
			// The server cut the connection off for what this client did
			// (flooding, reading too slowly, a violation, a timeout): back
			// off, growing, so that a client that keeps doing it does not
			// keep the server busy (docs/protocol.md, 8.3).
			backoff = c.sleep(backoff)
			continue
		}
		// The connection was up and dropped: retry it after a short,
		// jittered pause (the server keeps the device's state for a grace
		// period), then walk the list if that fails.
		c.wait(time.Duration(rand.Int64N(int64(c.cfg.MinBackoff))))
	}
}

// sleep waits a random time up to backoff and returns the next backoff.
func (c *Client) sleep(backoff time.Duration) time.Duration {
	c.wait(time.Duration(rand.Int64N(int64(backoff))) + backoff/4)
	return min(backoff*2, c.cfg.MaxBackoff)
}

func (c *Client) wait(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-c.ctx.Done():
	}
}

// connect dials addr and runs the handshake up to WELCOME.
func (c *Client) connect(addr string, serverKey []byte, dd *dedupe) (*conn, error) {
	ctx, cancel := context.WithTimeout(c.ctx, 10*time.Second)
	defer cancel()
	nc, err := c.cfg.Dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if c.ctx.Err() != nil {
		c.mu.Unlock()
		nc.Close()
		return nil, ErrClosed
	}
	c.conn = nc
	c.mu.Unlock()
	cn, err := c.handshake(nc, serverKey, dd)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return cn, nil
}

func (c *Client) handshake(nc net.Conn, serverKey []byte, dd *dedupe) (*conn, error) {
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	init, err := protocol.NewInitiator(serverKey, nil)
	if err != nil {
		return nil, err
	}
	rec1, err := init.AppendRecord1(nil)
	if err != nil {
		return nil, err
	}
	if _, err := nc.Write(protocol.AppendRecord(nil, rec1)); err != nil {
		return nil, err
	}
	rr := protocol.NewRecordReader(nc, 0)
	body, err := rr.ReadRecord()
	if err != nil {
		return nil, err
	}
	sess, err := init.ReadRecord2(body)
	if err != nil {
		return nil, err
	}
	cn := &conn{client: c, nc: nc, sess: sess, rr: rr, dedupe: dd}
	binding := sess.ChannelBinding()
	hello := protocol.Hello{
		RegistrationID: []byte(c.cfg.Credentials.RegistrationID),
		Proof:          protocol.ClientProof(c.secret, binding),
		Heartbeat:      uint32(c.cfg.Heartbeat / time.Second),
		SDK:            []byte(Version),
	}
	if err := cn.write(func(b []byte) []byte { return protocol.AppendHello(b, cn.nextSeq(), &hello) }); err != nil {
		return nil, err
	}
	h, body, err := cn.read()
	if err != nil {
		return nil, err
	}
	switch h.Type {
	case protocol.TypeWelcome:
	case protocol.TypeError:
		return nil, serverError(body)
	default:
		return nil, fmt.Errorf("herald: server sent %v before WELCOME", h.Type)
	}
	var w protocol.Welcome
	if err := w.Unmarshal(body); err != nil {
		return nil, err
	}
	if !protocol.VerifyServerSignature(c.secret, binding, w.ServerSignature) {
		// The server does not hold this device's keys: an impostor, or the
		// device no longer exists.
		return nil, fmt.Errorf("%w: the server could not prove it knows this device", ErrUnauthorized)
	}
	cn.heartbeat = time.Duration(w.Heartbeat) * time.Second
	cn.features = w.Features
	if w.MaxRecord > 0 {
		rr.SetMax(int(w.MaxRecord))
	}
	_ = nc.SetDeadline(time.Time{})
	return cn, nil
}

// serverError turns an ERROR frame into the error the client acts on.
func serverError(body []byte) error {
	var e protocol.Error
	if err := e.Unmarshal(body); err != nil {
		return err
	}
	switch {
	case e.Code == protocol.CodeReplaced:
		return fmt.Errorf("%w (%s)", ErrReplaced, e.Message)
	case !e.Code.Reconnect():
		return fmt.Errorf("%w (%v: %s)", ErrUnauthorized, e.Code, e.Message)
	}
	return &e
}
