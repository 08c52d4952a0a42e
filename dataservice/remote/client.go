package remote

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"unicode/utf8"

	"github.com/heraldpush/herald/cache"
	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/internal/h2c"
)

// ClientConfig configures a Client.
type ClientConfig struct {
	// URLs of the dataservice instances, such as http://10.0.0.5:8090.
	// Required.
	URLs []string
	// Token is the cluster token. Required.
	Token string
	// Transport carries the calls. Nil means h2c.NewTransport().
	Transport http.RoundTripper
	// Cache configures the cache of records read (apps, devices,
	// sessions, message bodies). Zero fields take cache.DefaultConfig's.
	Cache cache.Config
	// Log receives the client's logs. Nil means slog.Default().
	Log *slog.Logger
}

// Client is a dataservice.Client served by dataservice instances over
// HTTP/2. Its methods behave exactly like dataservice.Service's. Reads of
// cached kinds are served from a local cache while its CacheFollower
// keeps it exact; every other call is one HTTP/2 request.
type Client struct {
	c        *caller
	cache    *cache.Tiered
	follower *CacheFollower
	reads    *dataservice.Service // over the cached store: App, Device(s), Sessions, Message(s)
	// Concurrent reads of these kinds go out together (see coalescer).
	cursorReads    *coalescer[string, dataservice.BroadcastCursor]
	inboxReads     *coalescer[inboxReq, eachResult[[]dataservice.InboxEntry]]
	broadcastReads *coalescer[appBroadcastsReq, eachResult[[]uint64]]
}

var _ dataservice.Client = (*Client)(nil)

// Dial returns a client of the instances in cfg. It does not connect until
// the first call.
func Dial(cfg ClientConfig) (*Client, error) {
	if cfg.Transport == nil {
		cfg.Transport = h2c.NewTransport()
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	c, err := newCaller(cfg.URLs, cfg.Token, cfg.Transport)
	if err != nil {
		return nil, err
	}
	ch, err := cache.New(cfg.Cache)
	if err != nil {
		return nil, err
	}
	f := newFollower(c, ch, cfg.Log)
	store := dataservice.NewCachedStore(&RemoteStore{c: c}, ch, 1, f.Serving)
	cl := &Client{c: c, cache: ch, follower: f, reads: dataservice.New(store)}
	cl.cursorReads = newCoalescer(maxCoalesced, cl.readCursors)
	cl.inboxReads = readEach[inboxReq, []dataservice.InboxEntry](cl, "inbox")
	cl.broadcastReads = readEach[appBroadcastsReq, []uint64](cl, "app_broadcasts")
	return cl, nil
}

// Follower returns the CacheFollower keeping the client's cache exact.
func (c *Client) Follower() *CacheFollower { return c.follower }

// Cache returns the client's cache.
func (c *Client) Cache() cache.Cache { return c.cache }

// Ready reports whether a dataservice instance is ready (GET /readyz:
// its store takes writes): nil if one is, otherwise what each answered.
// For the readiness checks of the processes using the client.
func (c *Client) Ready(ctx context.Context) error { return c.c.ready(ctx) }

// Close stops the client and releases its connections.
func (c *Client) Close() error {
	c.follower.Close()
	c.c.close()
	return c.cache.Close()
}

func (c *Client) read(ctx context.Context, op string, req, resp any) error {
	return c.c.call(ctx, domainPath+op, true, req, resp)
}

func (c *Client) write(ctx context.Context, op string, req, resp any) error {
	return c.c.call(ctx, domainPath+op, false, req, resp)
}

// checkUTF8 fails like the service does on strings that are not UTF-8,
// which JSON would otherwise carry as U+FFFD and make valid.
func checkUTF8(op string, args ...[]string) error {
	for _, list := range args {
		for _, s := range list {
			if !utf8.ValidString(s) {
				return fmt.Errorf("remote: %s: %w: %q is not valid UTF-8", op, dataservice.ErrInvalid, s)
			}
		}
	}
	return nil
}

// strings makes one call answering a list of strings.
func (c *Client) strings(ctx context.Context, op string, write bool, req any, args ...[]string) ([]string, error) {
	if err := checkUTF8(op, args...); err != nil {
		return nil, err
	}
	var out []string
	call := c.read
	if write {
		call = c.write
	}
	if err := call(ctx, op, req, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// messageStrings are the strings of a message the service validates as
// UTF-8, which JSON would otherwise carry as U+FFFD and make valid.
func messageStrings(m *dataservice.Message) []string {
	if m == nil {
		return nil
	}
	return []string{m.AppKey, m.CollapseID}
}
