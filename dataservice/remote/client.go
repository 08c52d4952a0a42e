package remote

import (
	"context"
	"log/slog"
	"net/http"
	"time"

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
// cached kinds are served from a local cache while the holder keeps it
// exact (see Holder); every other call is one HTTP/2 request.
type Client struct {
	c      *caller
	cache  *cache.Tiered
	holder *Holder
	reads  *dataservice.Service // over the cached store: App, Device(s), Sessions, Message(s)
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
	h := newHolder(c, ch, cfg.Log)
	store := dataservice.NewCachedStore(&RemoteStore{c: c}, ch, 1, h.Serving)
	cl := &Client{c: c, cache: ch, holder: h, reads: dataservice.New(store)}
	cl.cursorReads = newCoalescer(maxCoalesced, cl.readCursors)
	cl.inboxReads = readEach[inboxReq, []dataservice.InboxEntry](cl, "inbox")
	cl.broadcastReads = readEach[appBroadcastsReq, []uint64](cl, "app_broadcasts")
	return cl, nil
}

// Holder returns the holder keeping the client's cache exact.
func (c *Client) Holder() *Holder { return c.holder }

// Cache returns the client's cache.
func (c *Client) Cache() cache.Cache { return c.cache }

// Close stops the client and releases its connections.
func (c *Client) Close() error {
	c.holder.Close()
	c.c.close()
	return c.cache.Close()
}

func (c *Client) read(ctx context.Context, op string, req, resp any) error {
	return c.c.call(ctx, domainPath+op, true, req, resp)
}

func (c *Client) write(ctx context.Context, op string, req, resp any) error {
	return c.c.call(ctx, domainPath+op, false, req, resp)
}

// CreateApp implements dataservice.Client.
func (c *Client) CreateApp(ctx context.Context, app dataservice.App) error {
	return c.write(ctx, "create_app", appReq{App: app}, &empty{})
}

// App implements dataservice.Client.
func (c *Client) App(ctx context.Context, key string) (dataservice.App, error) {
	return c.reads.App(ctx, key)
}

// CreateDevice implements dataservice.Client.
func (c *Client) CreateDevice(ctx context.Context, d dataservice.Device) error {
	return c.write(ctx, "create_device", deviceReq{Device: d}, &empty{})
}

// Device implements dataservice.Client.
func (c *Client) Device(ctx context.Context, rid string) (dataservice.Device, error) {
	return c.reads.Device(ctx, rid)
}

// Devices implements dataservice.Client.
func (c *Client) Devices(ctx context.Context, rids []string) ([]dataservice.Device, error) {
	return c.reads.Devices(ctx, rids)
}

// PutSessions implements dataservice.Client.
func (c *Client) PutSessions(ctx context.Context, ss []dataservice.Session, ttl time.Duration) ([]uint32, error) {
	var gens []uint32
	if err := c.write(ctx, "put_sessions", putSessionsReq{Sessions: ss, TTL: ttl}, &gens); err != nil {
		return nil, err
	}
	return gens, nil
}

// Sessions implements dataservice.Client.
func (c *Client) Sessions(ctx context.Context, rids []string) ([]dataservice.Session, error) {
	return c.reads.Sessions(ctx, rids)
}

// DeleteSession implements dataservice.Client.
func (c *Client) DeleteSession(ctx context.Context, rid string, generation uint32) error {
	return c.write(ctx, "delete_session", deleteSessionReq{RID: rid, Generation: generation}, &empty{})
}

// SaveMessage implements dataservice.Client.
func (c *Client) SaveMessage(ctx context.Context, m *dataservice.Message, recipients []string) error {
	return c.saveMessage(ctx, saveMessageReq{Message: m, Recipients: recipients})
}

// SaveNewMessage implements dataservice.Client.
func (c *Client) SaveNewMessage(ctx context.Context, m *dataservice.Message, recipients []string) error {
	return c.saveMessage(ctx, saveMessageReq{Message: m, Recipients: recipients, New: true})
}

func (c *Client) saveMessage(ctx context.Context, q saveMessageReq) error {
	if err := checkUTF8("save_message", []string{q.Message.CollapseID}); err != nil {
		return err
	}
	return c.write(ctx, "save_message", q, &empty{})
}

// Message implements dataservice.Client.
func (c *Client) Message(ctx context.Context, id uint64) (dataservice.Message, error) {
	return c.reads.Message(ctx, id)
}

// Messages implements dataservice.Client.
func (c *Client) Messages(ctx context.Context, ids []uint64) ([]dataservice.Message, error) {
	return c.reads.Messages(ctx, ids)
}

// Inbox implements dataservice.Client.
func (c *Client) Inbox(ctx context.Context, rid string, after uint64, limit int) ([]dataservice.InboxEntry, error) {
	// Each connecting device reads its inbox; concurrent reads go out
	// together.
	return callEach(ctx, c.inboxReads, "inbox", inboxReq{RID: rid, After: after, Limit: limit})
}

// RemoveInbox implements dataservice.Client.
func (c *Client) RemoveInbox(ctx context.Context, copies []dataservice.InboxCopy) ([]bool, error) {
	var existed []bool
	if err := c.write(ctx, "remove_inbox", removeInboxReq{Copies: copies}, &existed); err != nil {
		return nil, err
	}
	return existed, nil
}

// UpdateInbox implements dataservice.Client.
func (c *Client) UpdateInbox(ctx context.Context, rid string, entries []dataservice.InboxEntry) error {
	return c.write(ctx, "update_inbox", updateInboxReq{RID: rid, Entries: entries}, &empty{})
}

// AddCounters implements dataservice.Client.
func (c *Client) AddCounters(ctx context.Context, deltas []dataservice.CounterDelta) error {
	return c.write(ctx, "add_counters", addCountersReq{Deltas: deltas}, &empty{})
}

// Report implements dataservice.Client.
func (c *Client) Report(ctx context.Context, id uint64) (dataservice.Report, error) {
	var r dataservice.Report
	err := c.read(ctx, "report", idReq{ID: id}, &r)
	return r, err
}

// EnsureConfig implements dataservice.Client.
func (c *Client) EnsureConfig(ctx context.Context, name string, value []byte) ([]byte, error) {
	var v []byte
	err := c.write(ctx, "ensure_config", configReq{Name: name, Value: value}, &v)
	return v, err
}
