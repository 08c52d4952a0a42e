package dataservice

import (
	"context"
	"fmt"
	"time"
	"unicode"
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

// MaxUpstreamData is the largest payload of one upstream message, in bytes.
const MaxUpstreamData = 4096

// UpstreamTTL is how long an upstream message waits for its app's webhook
// before it is dropped.
const UpstreamTTL = 24 * time.Hour

// Limits of upstream messages.
const (
	// MaxUpstreamBatch bounds the messages of one EnqueueUpstream call.
	MaxUpstreamBatch = 1000
	// MaxUpstreamPage bounds the limit of PendingUpstreams and the keys
	// of one RemoveUpstreams call.
	MaxUpstreamPage = 1000
	// MaxUpstreamRIDLen bounds the registration id of an upstream
	// message, in bytes: the gateway's bound of registration ids.
	MaxUpstreamRIDLen = 64

	// maxUpstreamAppLen bounds the app key of an upstream message, so
	// that the queue key (three separators, two 20-digit ids, the
	// registration id) stays a valid key.
	maxUpstreamAppLen = MaxKeyLen - 3 - 2*20 - MaxUpstreamRIDLen
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

// UpstreamStore is each app's queue of upstream messages, which connectors
// fill (UpstreamQueue) and gateways drain to the app's webhook
// (WebhookStore). An app's messages are kept in the order they were
// enqueued (one EnqueueUpstream call keeps the order of its slice), each
// for UpstreamTTL, and read oldest first; removal is by key, so a gateway
// removes exactly what it delivered, whatever was enqueued meanwhile.
//
// App keys that are empty or hold '/', and arguments failing the rules
// of the types, fail with ErrInvalid before any effect.
type UpstreamStore interface {
	UpstreamQueue
	// PendingUpstreams returns up to limit (1 to MaxUpstreamPage)
	// unexpired messages of app, oldest first, starting after the
	// message whose Key is after (empty: from the oldest).
	PendingUpstreams(ctx context.Context, app, after string, limit int) ([]PendingUpstream, error)
	// RemoveUpstreams deletes messages of app by Key (at most
	// MaxUpstreamPage) and reports for each whether it still existed.
	// Of concurrent removals of one message exactly one reports true.
	RemoveUpstreams(ctx context.Context, app string, keys []string) ([]bool, error)
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

// UpstreamWatcher is implemented by clients that learn in process of the
// upstream messages enqueued through them (Service): a gateway in the same
// process as the connectors delivers without waiting for its next poll.
// Clients of another process, and writers in other processes, notify
// nothing; the gateway's polls find those messages.
type UpstreamWatcher interface {
	// WatchUpstreams calls fn with the apps of the messages of every
	// successful EnqueueUpstream through this client, until stop is
	// called. fn runs on the enqueuing goroutine: it must not
	// block.
	WatchUpstreams(fn func(app string)) (stop func())
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
