package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway/api"
	"github.com/heraldpush/herald/gateway/lease"
	"github.com/heraldpush/herald/internal/ids"
	"github.com/heraldpush/herald/internal/metrics"
)

// Delivery delivers the upstream messages of devices to their apps'
// webhooks (docs/webhooks.md; docs/design.md, "Upstream data to a
// webhook").
//
// Every gateway runs one. Each Scan it lists the webhooks and, on each
// webhook's record, renews the leases it holds and takes those that
// expired — the compare-and-set claim of schedules, so only one gateway
// drains an app at a time, and another takes over within Lease +
// Scan of one that died. For each app it holds, a drain goroutine reads
// the head of the app's queue (one small range read each Poll while idle,
// or at once when an enqueue in this process wakes it), posts it to the
// webhook, signed, and removes it on a 2xx; otherwise it retries the same
// head with exponential backoff. The queue is only ever read from its
// head and only what was delivered is removed, so nothing is lost or
// reordered within an app; each app has its own goroutine, so a slow
// webhook holds up no other app.

// Config configures the delivery of upstream messages to the apps'
// webhooks. Zero fields take the defaults.
type Config struct {
	// Poll is how often the queue of an idle app is read: the latency of
	// a message enqueued by another process. Enqueues in this process
	// (herald all) wake the delivery at once. Zero means 100ms.
	Poll time.Duration
	// Scan is how often the gateway lists the webhooks, renews its leases
	// and takes over expired ones. Zero means 1s.
	Scan time.Duration
	// Lease is how long an app stays this gateway's without renewal;
	// leases are renewed every Lease/3. Zero means 6s.
	Lease time.Duration
	// Timeout bounds one webhook call. Zero means 10s.
	Timeout time.Duration
	// MinBackoff and MaxBackoff bound the wait before retrying a failed
	// delivery: it doubles from MinBackoff to MaxBackoff, with jitter.
	// Zero means 1s and 5 minutes.
	MinBackoff, MaxBackoff time.Duration
	// Batch is the most messages one webhook call carries, 1 to 100.
	// Zero means 100.
	Batch int
	// MaxApps bounds the apps one gateway delivers for at once; the
	// others are left to other gateways. Zero means 10000.
	MaxApps int
	// Transport carries the webhook calls. Nil means a transport of the
	// delivery's own (proxy from the environment, HTTP/2 when the
	// webhook offers it) that connects only to public addresses unless
	// PrivateDestinations is set.
	Transport http.RoundTripper
	// PrivateDestinations lets webhooks be loopback, private or link-local
	// addresses (destinations.go): for a gateway whose apps are the
	// operator's own, or whose webhook calls leave through a proxy on
	// such an address.
	PrivateDestinations bool
}

// maxWebhookBatch is the most messages one webhook call carries.
const maxWebhookBatch = 100

func (c Config) withDefaults() Config {
	if c.Poll <= 0 {
		c.Poll = 100 * time.Millisecond
	}
	if c.Scan <= 0 {
		c.Scan = time.Second
	}
	if c.Lease <= 0 {
		c.Lease = 6 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 5 * time.Minute
	}
	c.MaxBackoff = max(c.MaxBackoff, c.MinBackoff)
	if c.Batch <= 0 || c.Batch > maxWebhookBatch {
		c.Batch = maxWebhookBatch
	}
	if c.MaxApps <= 0 {
		c.MaxApps = 10000
	}
	if c.Transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 4
		if !c.PrivateDestinations {
			t.DialContext = publicDialer().DialContext
		}
		c.Transport = t
	}
	return c
}

// Delivery tuning.
const (
	webhookPage = 100 // webhooks read per call of a scan
	// maxWebhookAnswer bounds what is read of a webhook's answer (the
	// rest is dropped with the connection).
	maxWebhookAnswer = 64 << 10
	// removeAttempts bounds the tries to remove a delivered batch; one
	// left in the queue is delivered again.
	removeAttempts = 3
)

// Store is what the delivery reads and writes: the webhooks, whose
// records carry the leases, and the apps' upstream queues. If it is also
// a dataservice.UpstreamWatcher (herald all), enqueues wake the delivery
// at once instead of at its next Poll.
type Store interface {
	Webhooks(ctx context.Context, after string, limit int) ([]dataservice.Webhook, error)
	UpdateWebhook(ctx context.Context, w dataservice.Webhook) (dataservice.Webhook, error)
	PendingUpstreams(ctx context.Context, app, after string, limit int) ([]dataservice.PendingUpstream, error)
	RemoveUpstreams(ctx context.Context, app string, keys []string) ([]bool, error)
}

// Delivery delivers this gateway's share of the upstream queues. Its
// scan loop runs in its own goroutine and alone starts and stops drains;
// mu guards drains for the wake-ups, which come from enqueuing goroutines.
type Delivery struct {
	data    Store
	owner   lease.Owner
	log     *slog.Logger
	cfg     Config
	client  *http.Client
	ctx     context.Context // canceled by close
	cancel  context.CancelFunc
	done    chan struct{}
	kicked  chan struct{} // capacity 1: scan now (a webhook was set here)
	unwatch func()

	mu     sync.Mutex
	drains map[string]*drain
}

// drain delivers one app's queue. Its loop runs in its own goroutine; the
// scan loop hands it the webhook as last read and how long its lease runs.
type drain struct {
	app   string
	hook  atomic.Pointer[dataservice.Webhook]
	until atomic.Int64  // unix nanoseconds: the lease's end as last written
	wake  chan struct{} // capacity 1: a message may be waiting
	// changed (capacity 1) says the webhook's URL or secret changed: a
	// delivery backing off tries again at once.
	changed chan struct{}
	cancel  context.CancelFunc
	done    chan struct{}
}

// New returns a delivery for the gateway run named owner; Start starts
// it.
func New(cfg Config, data Store, owner lease.Owner, log *slog.Logger) *Delivery {
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Delivery{
		data: data, owner: owner, log: log, cfg: cfg, ctx: ctx, cancel: cancel, done: make(chan struct{}), kicked: make(chan struct{}, 1), drains: map[string]*drain{},
		client: &http.Client{
			Transport: cfg.Transport,
			// A redirect is an answer that is not 2xx: the message is
			// retried, and never posted where the app did not say.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

// Start begins the scans: at once, then every Scan.
func (c *Delivery) Start() {
	if w, ok := c.data.(dataservice.UpstreamWatcher); ok {
		c.unwatch = w.WatchUpstreams(c.wakeApp)
	}
	go func() {
		defer close(c.done)
		t := time.NewTicker(c.cfg.Scan)
		defer t.Stop()
		for {
			c.scan()
			select {
			case <-c.ctx.Done():
				return
			case <-t.C:
			case <-c.kicked:
			}
		}
	}()
}

// Close stops the scans and the drains (a delivery under way is cut off
// and made again by whoever drains the app next), then gives up this
// gateway's leases so that another gateway takes the apps over at its
// next scan.
func (c *Delivery) Close() {
	if c.unwatch != nil {
		c.unwatch()
	}
	c.cancel()
	<-c.done
	c.mu.Lock()
	drains := c.drains
	c.drains = map[string]*drain{}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	for _, d := range drains {
		d.stop()
		if h := d.hook.Load(); h != nil {
			release := *h
			release.Owner, release.LeaseUntil = "", time.Time{}
			_, _ = c.data.UpdateWebhook(ctx, release) // best effort: the lease runs out otherwise
		}
	}
}

// Kick makes the next scan start now rather than at its tick: a webhook
// set through this gateway starts delivering at once. It does not block.
func (c *Delivery) Kick() {
	select {
	case c.kicked <- struct{}{}:
	default:
	}
}

// wakeApp tells the drain of app, if this gateway has one, that a message
// was enqueued. It does not block.
func (c *Delivery) wakeApp(app string) {
	c.mu.Lock()
	d := c.drains[app]
	c.mu.Unlock()
	if d != nil {
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
}

// scan walks every webhook: renews this gateway's leases, takes the free
// and expired ones, and stops the drains of apps it lost or whose webhook
// was deleted.
func (c *Delivery) scan() {
	seen := map[string]bool{}
	after := ""
	for {
		ctx, cancel := context.WithTimeout(c.ctx, c.cfg.Lease/3)
		page, err := c.data.Webhooks(ctx, after, webhookPage)
		cancel()
		if err != nil {
			if c.ctx.Err() == nil {
				c.log.Warn("listing webhooks failed", "err", err)
			}
			return // drains keep their leases until these run out
		}
		for _, w := range page {
			seen[w.AppKey] = true
			c.tend(w)
		}
		if len(page) < webhookPage {
			break
		}
		after = page[len(page)-1].AppKey
	}
	c.mu.Lock()
	var gone []*drain
	for app, d := range c.drains {
		if !seen[app] {
			gone = append(gone, d)
			delete(c.drains, app)
		}
	}
	c.mu.Unlock()
	for _, d := range gone {
		d.stop()
	}
}

// tend decides about one webhook as listed.
func (c *Delivery) tend(w dataservice.Webhook) {
	now := time.Now()
	c.mu.Lock()
	d := c.drains[w.AppKey]
	full := len(c.drains) >= c.cfg.MaxApps
	c.mu.Unlock()
	ours := c.owner.Holds(w.Owner) || c.owner.SameNode(w.Owner)
	switch {
	case ours && d != nil && w.LeaseUntil.Sub(now) > 2*c.cfg.Lease/3:
		d.set(w) // fresh: no renewal yet
		return
	case !ours && w.Owner != "" && now.Before(w.LeaseUntil):
		if d != nil { // another gateway took it: our lease had run out
			c.forget(w.AppKey, d)
		}
		return
	case d == nil && full:
		return
	}
	// Renew, or take a free or expired lease.
	claim := w
	claim.Owner, claim.LeaseUntil = c.owner.String(), now.Add(c.cfg.Lease)
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.Lease/3)
	got, err := c.data.UpdateWebhook(ctx, claim)
	cancel()
	if err != nil {
		if !errors.Is(err, dataservice.ErrGenerationMismatch) && !api.IsNotFound(err) && c.ctx.Err() == nil {
			c.log.Warn("renewing a webhook lease failed", "app", w.AppKey, "err", err)
		}
		return // changed meanwhile: the next scan reads it again
	}
	if d != nil {
		d.set(got)
		return
	}
	d = c.startDrain(got)
	c.log.Info("delivering upstream messages", "app", w.AppKey, "owner", c.owner.String())
	d.poke()
}

// forget stops the drain of an app this gateway no longer holds.
func (c *Delivery) forget(app string, d *drain) {
	c.mu.Lock()
	if c.drains[app] == d {
		delete(c.drains, app)
	}
	c.mu.Unlock()
	d.stop()
}

func (c *Delivery) startDrain(w dataservice.Webhook) *drain {
	ctx, cancel := context.WithCancel(c.ctx)
	d := &drain{app: w.AppKey, wake: make(chan struct{}, 1), changed: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{})}
	d.set(w)
	c.mu.Lock()
	c.drains[w.AppKey] = d
	c.mu.Unlock()
	go func() {
		defer close(d.done)
		c.run(ctx, d)
	}()
	return d
}

func (d *drain) set(w dataservice.Webhook) {
	if old := d.hook.Swap(&w); old != nil && (old.URL != w.URL || old.Secret != w.Secret) {
		select {
		case d.changed <- struct{}{}:
		default:
		}
	}
	d.until.Store(w.LeaseUntil.UnixNano())
}

func (d *drain) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *drain) stop() {
	d.cancel()
	<-d.done
}

// held reports whether the lease, as last written, still runs.
func (d *drain) held(now time.Time) bool { return now.UnixNano() < d.until.Load() }

// run delivers the app's queue until ctx ends.
func (c *Delivery) run(ctx context.Context, d *drain) {
	log := c.log.With("app", d.app)
	timer := time.NewTimer(0)
	defer timer.Stop()
	failures := 0
	defer func() {
		if failures > 0 {
			failing.Add(-1)
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-d.wake:
		}
		n, err := c.deliverHead(ctx, d)
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, errLeaseLapsed):
			// The scan renews the lease or stops this drain.
			timer.Reset(c.cfg.Poll)
		case err != nil && !errors.As(err, new(*webhookError)):
			// The store failed, not the webhook: try again soon, without
			// backing off the webhook.
			log.Warn("reading or clearing the upstream queue failed; will retry", "err", err)
			storeFailures.Inc()
			timer.Reset(c.cfg.MinBackoff)
		case err != nil:
			if failures++; failures == 1 {
				failing.Add(1)
			}
			wait := c.backoff(failures)
			log.Warn("delivering upstream messages to the webhook failed; will retry", "attempt", failures, "retry_in", wait.Round(time.Millisecond), "err", err)
			// Enqueues do not cut the wait short; a new URL or secret
			// does.
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			case <-d.changed:
			}
			timer.Reset(0)
		case n > 0:
			failures = recovered(failures)
			timer.Reset(0) // more may wait: read on at once
		default:
			failures = recovered(failures)
			timer.Reset(c.cfg.Poll)
		}
	}
}

// backoff is the wait before the attempt after failures failed ones:
// MinBackoff doubled per failure up to MaxBackoff, with jitter (the upper
// half of the range drawn uniformly), so that webhooks that come back are
// not hit by every gateway at once.
func (c *Delivery) backoff(failures int) time.Duration {
	d := c.cfg.MaxBackoff
	if failures < 32 {
		d = min(c.cfg.MaxBackoff, c.cfg.MinBackoff<<(failures-1))
	}
	return d/2 + rand.N(d/2+1)
}

// webhookError is a failed webhook call: the webhook's failure, which
// the drain backs off from, rather than the store's.
type webhookError struct{ err error }

func (e *webhookError) Error() string { return e.err.Error() }
func (e *webhookError) Unwrap() error { return e.err }

// errLeaseLapsed stops a delivery whose lease may have run out: another
// gateway may be delivering the same messages.
var errLeaseLapsed = errors.New("webhook: the lease of the app's queue lapsed")

// deliverHead posts the oldest messages of the app's queue to its webhook
// and removes them once it accepted them. It returns how many it
// delivered.
func (c *Delivery) deliverHead(ctx context.Context, d *drain) (int, error) {
	if !d.held(time.Now()) {
		return 0, errLeaseLapsed
	}
	readCtx, cancel := context.WithTimeout(ctx, c.cfg.Lease/3)
	msgs, err := c.data.PendingUpstreams(readCtx, d.app, "", c.cfg.Batch)
	cancel()
	if err != nil || len(msgs) == 0 {
		return 0, err
	}
	hook := d.hook.Load()
	if err := c.post(ctx, hook, msgs); err != nil {
		return 0, &webhookError{err}
	}
	countDelivered(msgs)
	keys := make([]string, len(msgs))
	for i, m := range msgs {
		keys[i] = m.Key
	}
	for attempt := 1; ; attempt++ {
		rmCtx, cancel := context.WithTimeout(ctx, c.cfg.Lease/3)
		_, err = c.data.RemoveUpstreams(rmCtx, d.app, keys)
		cancel()
		if err == nil || attempt == removeAttempts || ctx.Err() != nil {
			break
		}
	}
	if err != nil {
		// Delivered, but still queued: it is delivered again.
		return 0, fmt.Errorf("removing %d delivered messages: %w", len(keys), err)
	}
	return len(msgs), nil
}

// webhookDelivery is the body of a webhook call.
type webhookDelivery struct {
	AppKey   string           `json:"app_key"`
	Messages []webhookMessage `json:"messages"`
}

// webhookMessage is one upstream message in a webhook call. The id is a
// decimal string, like msg_id everywhere in the API: JavaScript numbers
// lose precision above 2^53.
type webhookMessage struct {
	RegistrationID string    `json:"registration_id"`
	ID             string    `json:"id"`
	Data           []byte    `json:"data"` // base64, standard alphabet with padding
	ReceivedAt     time.Time `json:"received_at"`
}

// encodeDelivery returns the body of a webhook call carrying msgs.
func encodeDelivery(app string, msgs []dataservice.PendingUpstream) ([]byte, error) {
	body := webhookDelivery{AppKey: app, Messages: make([]webhookMessage, len(msgs))}
	for i, m := range msgs {
		body.Messages[i] = webhookMessage{RegistrationID: m.RegistrationID, ID: ids.FormatMessageID(m.ID), Data: m.Data, ReceivedAt: m.At.UTC()}
	}
	return json.Marshal(body)
}

// post makes one webhook call: the messages, signed, within Timeout. Any
// answer but a 2xx is an error.
func (c *Delivery) post(ctx context.Context, hook *dataservice.Webhook, msgs []dataservice.PendingUpstream) error {
	body, err := encodeDelivery(hook.AppKey, msgs)
	if err != nil {
		return fmt.Errorf("encoding the delivery: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook %s: %w", hook.URL, err)
	}
	ts := time.Now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Herald-Webhook/1")
	req.Header.Set(TimestampHeader, strconv.FormatInt(ts, 10))
	req.Header.Set(SignatureHeader, Sign(hook.Secret, ts, body))
	start := metrics.Now()
	resp, err := c.client.Do(req)
	if err != nil {
		postsFailed.Inc()
		return fmt.Errorf("webhook %s: %w", hook.URL, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxWebhookAnswer)) // lets the connection be reused
	resp.Body.Close()
	postSeconds.Since(start)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		postsRejected.Inc()
		return fmt.Errorf("webhook %s answered %s", hook.URL, resp.Status)
	}
	postsDelivered.Inc()
	return nil
}
