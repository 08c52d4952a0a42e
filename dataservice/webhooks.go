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

// WebhookStore holds the apps' webhooks, one per app: where a gateway
// delivers the app's upstream messages (UpstreamStore), and the lease
// that lets one gateway at a time deliver them.
//
// Every write of a webhook is a compare-and-set of its record, like
// schedules: the gateway that holds the lease renews it with
// UpdateWebhook, and an API update racing with a renewal makes one of
// them read the webhook again; gateways racing to take an expired lease
// never both win.
//
// App keys that are empty or hold '/', and arguments failing the rules
// of Webhook, fail with ErrInvalid before any effect.
type WebhookStore interface {
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

// KindWebhook holds the apps' webhooks: "hook/<app_key>" → Webhook (JSON,
// without the key's fields). Scan of the group lists every app with one.
const KindWebhook Kind = "whk"

// Limits of webhooks.
const (
	// MaxWebhookURLLen bounds a webhook's URL, in bytes.
	MaxWebhookURLLen = 2048
	// MinWebhookSecretLen and MaxWebhookSecretLen bound a webhook's
	// signing secret, in bytes.
	MinWebhookSecretLen = 16
	MaxWebhookSecretLen = 64

	webhookGroup = "hook/"
)

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
