package dataservice

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Upstream messages are data a device sends to its app's backend (UPSTREAM
// frames, docs/protocol.md). A connector stores them with EnqueueUpstream
// before it acknowledges them to the device; gateways deliver them to the
// app's webhook and remove them once the webhook accepted them.
//
// Delivery is at least once: a device that resends after a lost
// acknowledgement, or a gateway that stops between the webhook's answer
// and the removal, delivers a message twice. RegistrationID and ID
// together identify a message, so the app can drop the repeat.

// KindUpstream holds the queued upstream messages of each app, in the
// order they were enqueued:
// "<app_key>/<queue id, 20 digits>/<registration_id>/<msg id, 20 digits>"
// → version, received at (unix ms, 8 bytes big endian), data. Queue ids
// are time-ordered (internal/ids), so byte order of an app's keys is the
// order of enqueueing; the device and message id make keys unique across
// dataservice instances.
const KindUpstream Kind = "ups"

// KindWebhook holds the apps' webhooks: "hook/<app_key>" → Webhook (JSON,
// without the key's fields). Scan of the group lists every app with one.
const KindWebhook Kind = "whk"

// MaxUpstreamData is the largest payload of one upstream message, in bytes.
const MaxUpstreamData = 4096

// UpstreamTTL is how long an upstream message waits for its app's webhook
// before it is dropped.
const UpstreamTTL = 24 * time.Hour

// Limits of upstream messages and webhooks.
const (
	// MaxUpstreamBatch bounds the messages of one EnqueueUpstream call.
	MaxUpstreamBatch = 1000
	// MaxUpstreamPage bounds the limit of PendingUpstreams and the keys
	// of one RemoveUpstreams call.
	MaxUpstreamPage = 1000
	// MaxUpstreamRIDLen bounds the registration id of an upstream
	// message, in bytes: the gateway's bound of registration ids.
	MaxUpstreamRIDLen = 64
	// MaxWebhookURLLen bounds a webhook's URL, in bytes.
	MaxWebhookURLLen = 2048
	// MinWebhookSecretLen and MaxWebhookSecretLen bound a webhook's
	// signing secret, in bytes.
	MinWebhookSecretLen = 16
	MaxWebhookSecretLen = 64

	// maxUpstreamAppLen bounds the app key of an upstream message, so
	// that the queue key (three separators, two 20-digit ids, the
	// registration id) stays a valid key.
	maxUpstreamAppLen = MaxKeyLen - 3 - 2*20 - MaxUpstreamRIDLen
	webhookGroup      = "hook/"
)

// UpstreamMessage is one message a device sent to its app's backend.
type UpstreamMessage struct {
	// AppKey is the app of the device that sent it.
	AppKey string `json:"app"`
	// RegistrationID is the device that sent it.
	RegistrationID string `json:"rid"`
	// ID is chosen by the device, nonzero and unique per device; with
	// RegistrationID it identifies the message to the app.
	ID uint64 `json:"id"`
	// Data is the payload, 1 to MaxUpstreamData bytes, opaque to Herald.
	Data []byte `json:"data"`
	// At is when the connector received it. Zero means when the
	// dataservice stores it. It is kept to the millisecond.
	At time.Time `json:"at"`
}

// UpstreamQueue is what a connector needs of the upstream queue.
type UpstreamQueue interface {
	// EnqueueUpstream stores messages until their app's webhook takes them
	// (or UpstreamTTL passes) and returns once they are durable. Messages
	// that are not valid (see CheckUpstream) fail the whole call with
	// ErrInvalid before any is stored.
	EnqueueUpstream(ctx context.Context, msgs []UpstreamMessage) error
}

// PendingUpstream is a queued upstream message as PendingUpstreams reads
// it.
type PendingUpstream struct {
	UpstreamMessage
	// Key names the message in its app's queue: pass it to
	// RemoveUpstreams once the webhook took the message, or as after to
	// PendingUpstreams to read on.
	Key string `json:"key"`
}

// Webhook is where an app receives its devices' upstream messages, and
// which gateway delivers them.
type Webhook struct {
	AppKey string `json:"app_key"`
	// URL is an absolute http or https URL (CheckWebhookURL).
	URL string `json:"url"`
	// Secret signs the deliveries (CheckWebhookSecret).
	Secret string `json:"secret"`
	// Created is set by the service; Updated is the caller's (the
	// gateway sets it when URL or Secret change).
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	// Owner is the gateway delivering the app's queue until LeaseUntil,
	// after which another may take it over: the claim of schedules
	// (Schedule.Owner), on the webhook's record.
	Owner      string    `json:"owner,omitempty"`
	LeaseUntil time.Time `json:"lease_until"`
	// Generation is the store generation the webhook was read at, for
	// UpdateWebhook.
	Generation uint32 `json:"-"`
}

// Upstreams is the part of the data API behind upstream messages: each
// app's queue, which connectors fill and gateways drain, the apps'
// webhooks, and the leases that let one gateway at a time drain an app.
//
// Queues: an app's messages are kept in the order they were enqueued
// (one EnqueueUpstream call keeps the order of its slice), each for
// UpstreamTTL, and read oldest first; removal is by key, so a gateway
// removes exactly what it delivered, whatever was enqueued meanwhile.
//
// Webhooks: one per app. Every write of a webhook is a compare-and-set
// of its record, like schedules: the gateway that holds the lease renews
// it with UpdateWebhook, and an API update racing with a renewal makes
// one of them read the webhook again; gateways racing to take an expired
// lease never both win.
//
// App keys that are empty or hold '/', and arguments failing the rules
// of the types, fail with ErrInvalid before any effect.
type Upstreams interface {
	UpstreamQueue
	// PendingUpstreams returns up to limit (1 to MaxUpstreamPage)
	// unexpired messages of app, oldest first, starting after the
	// message whose Key is after (empty: from the oldest).
	PendingUpstreams(ctx context.Context, app, after string, limit int) ([]PendingUpstream, error)
	// RemoveUpstreams deletes messages of app by Key (at most
	// MaxUpstreamPage) and reports for each whether it still existed.
	// Of concurrent removals of one message exactly one reports true.
	RemoveUpstreams(ctx context.Context, app string, keys []string) ([]bool, error)

	// CreateWebhook stores the webhook of w.AppKey, with Created and
	// Updated set to the service's clock (the values passed are
	// ignored), and returns it as stored, with its Generation. ErrExists
	// if the app has one.
	CreateWebhook(ctx context.Context, w Webhook) (Webhook, error)
	// Webhook returns the webhook of app with its Generation, or
	// ErrNotFound.
	Webhook(ctx context.Context, app string) (Webhook, error)
	// UpdateWebhook replaces a webhook if its generation is still
	// w.Generation and returns it as stored, with its new Generation. It
	// keeps the stored Created; Updated is the caller's.
	// ErrGenerationMismatch if the webhook changed since it was read
	// (read it again), ErrNotFound if it does not exist, ErrInvalid if
	// w.Generation is 0.
	UpdateWebhook(ctx context.Context, w Webhook) (Webhook, error)
	// DeleteWebhook deletes the webhook of app and reports whether it
	// existed. Its queue stays (until UpstreamTTL), for a webhook set
	// later.
	DeleteWebhook(ctx context.Context, app string) (bool, error)
	// Webhooks returns up to limit (1 to MaxPage) webhooks, of every app,
	// in ascending byte order of app key, starting after the app after
	// (empty: from the first), each with its Generation.
	Webhooks(ctx context.Context, after string, limit int) ([]Webhook, error)
}

// CheckUpstream validates an upstream message: an app key that can key a
// queue (nonempty, without '/', at most 149 bytes of UTF-8), a
// registration id of 1 to MaxUpstreamRIDLen bytes of UTF-8 without '/'
// or control characters, a nonzero ID, and 1 to MaxUpstreamData bytes of
// Data.
func CheckUpstream(m UpstreamMessage) error {
	if err := checkAppKey(m.AppKey); err != nil {
		return err
	}
	switch {
	case len(m.AppKey) > maxUpstreamAppLen:
		return fmt.Errorf("%w: app key of %d bytes; at most %d are allowed for upstream messages", ErrInvalid, len(m.AppKey), maxUpstreamAppLen)
	case m.ID == 0:
		return fmt.Errorf("%w: upstream message of %s without an id", ErrInvalid, m.RegistrationID)
	case len(m.Data) == 0:
		return fmt.Errorf("%w: upstream message %d without data", ErrInvalid, m.ID)
	case len(m.Data) > MaxUpstreamData:
		return fmt.Errorf("%w: upstream message %d has %d bytes of data; at most %d are allowed", ErrInvalid, m.ID, len(m.Data), MaxUpstreamData)
	}
	return checkToken("registration id", m.RegistrationID, MaxUpstreamRIDLen, unicode.IsControl)
}

// CheckWebhookURL validates a webhook's URL: an absolute http or https URL
// with a host, of at most MaxWebhookURLLen bytes of UTF-8 without spaces
// or control characters.
func CheckWebhookURL(raw string) error {
	switch {
	case raw == "":
		return fmt.Errorf("%w: empty webhook URL", ErrInvalid)
	case len(raw) > MaxWebhookURLLen:
		return fmt.Errorf("%w: webhook URL of %d bytes; at most %d are allowed", ErrInvalid, len(raw), MaxWebhookURLLen)
	case !utf8.ValidString(raw):
		return fmt.Errorf("%w: webhook URL is not valid UTF-8", ErrInvalid)
	case strings.IndexFunc(raw, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return fmt.Errorf("%w: webhook URL contains a space or a control character", ErrInvalid)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%w: webhook URL %q does not parse: %v", ErrInvalid, raw, err)
	}
	switch {
	case !strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https"):
		return fmt.Errorf("%w: webhook URL %q is not an absolute http or https URL", ErrInvalid, raw)
	case u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("%w: webhook URL %q has no host", ErrInvalid, raw)
	case u.Opaque != "":
		return fmt.Errorf("%w: webhook URL %q is not hierarchical (write %s://host/path)", ErrInvalid, raw, u.Scheme)
	}
	return nil
}

// CheckWebhookSecret validates a webhook's signing secret:
// MinWebhookSecretLen to MaxWebhookSecretLen ASCII letters and digits.
func CheckWebhookSecret(secret string) error {
	if len(secret) < MinWebhookSecretLen || len(secret) > MaxWebhookSecretLen {
		return fmt.Errorf("%w: webhook secret of %d bytes; %d to %d are allowed", ErrInvalid, len(secret), MinWebhookSecretLen, MaxWebhookSecretLen)
	}
	for i := 0; i < len(secret); i++ {
		if c := secret[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return fmt.Errorf("%w: webhook secret holds %q; only ASCII letters and digits are allowed", ErrInvalid, c)
		}
	}
	return nil
}

// checkWebhook validates a webhook and returns it with its times at
// millisecond precision in UTC.
func checkWebhook(w Webhook) (Webhook, error) {
	if err := checkAppKey(w.AppKey); err != nil {
		return w, err
	}
	if len(webhookGroup)+len(w.AppKey) > MaxKeyLen {
		return w, fmt.Errorf("%w: app key of %d bytes; at most %d are allowed for webhooks", ErrInvalid, len(w.AppKey), MaxKeyLen-len(webhookGroup))
	}
	if err := CheckWebhookURL(w.URL); err != nil {
		return w, err
	}
	if err := CheckWebhookSecret(w.Secret); err != nil {
		return w, err
	}
	if len(w.Owner) > MaxKeyLen || !utf8.ValidString(w.Owner) {
		return w, fmt.Errorf("%w: owner must be at most %d bytes of UTF-8", ErrInvalid, MaxKeyLen)
	}
	w.Created, w.Updated, w.LeaseUntil = milli(w.Created), milli(w.Updated), milli(w.LeaseUntil)
	return w, nil
}
