package dataservice

import (
	"context"
	"encoding/json"
	"time"
	"unicode"
)

// MessageStore holds message bodies, stored once however many devices a
// message targets, and the idempotency keys that make a retried push get
// the id of the message its first attempt saved. A message is created
// once and never changed; its body is kept for ReportRetention after it
// expires. Processes cache bodies (KindMessage is one of CachedKinds).
type MessageStore interface {
	// SaveMessage stores a message before any copy is sent: its body, its
	// targeted counter, and — when it has a TTL — one inbox copy per
	// recipient, which lives until acknowledged or expired.
	// It is create-only: a message saved again (a retried push, a
	// schedule's firing taken over) gets ErrExists and changes nothing.
	SaveMessage(ctx context.Context, m *Message, recipients []string) error
	// SaveNewMessage is SaveMessage for a message whose id was generated
	// for this call, so that nothing can be stored under it: it skips the
	// reads that make saving again harmless. Saving an id twice this way
	// is the caller's bug: the second save may replace what the first
	// stored, or add to its counters.
	SaveNewMessage(ctx context.Context, m *Message, recipients []string) error
	// Message returns a stored message, or ErrNotFound. Bodies are kept
	// for ReportRetention after the message expires.
	Message(ctx context.Context, id uint64) (Message, error)
	// Messages returns one Message per id, in order; a zero Message (ID 0)
	// for ids not found.
	Messages(ctx context.Context, ids []uint64) ([]Message, error)

	// ReserveCID binds an app's idempotency key to a message id for ttl,
	// unless the key is bound already; it returns the id bound to the key
	// and whether this call bound it (a retry of the call that bound it
	// gets its id and false). Of concurrent calls for one key exactly one
	// binds it. The app key follows the rules of DeviceIndex, the key
	// CheckCID; id must be nonzero and ttl positive (ErrInvalid
	// otherwise).
	ReserveCID(ctx context.Context, app, cid string, id uint64, ttl time.Duration) (uint64, bool, error)
}

// InboxStore holds the undelivered copies of messages with a TTL, one per
// message and device: each device's inbox, which it is sent on
// connecting. A copy lives until the device acknowledges it (RemoveInbox)
// or its message expires (plus AckGrace). SaveMessage stores the copies
// of a message to a list of devices; SaveCopies those of a task's pages.
type InboxStore interface {
	// Inbox returns up to limit undelivered, unexpired copies for a device,
	// oldest first, with message ids above after.
	Inbox(ctx context.Context, rid string, after uint64, limit int) ([]InboxEntry, error)
	// RemoveInbox deletes inbox copies, of any devices, and reports for
	// each whether it still existed. Of concurrent removals of one copy
	// exactly one reports true, which makes "delivered" countable exactly
	// once.
	RemoveInbox(ctx context.Context, copies []InboxCopy) ([]bool, error)
	// UpdateInbox stores new attempt counts for inbox copies. A copy removed
	// or changed since it was read (generation mismatch) is left alone.
	UpdateInbox(ctx context.Context, rid string, entries []InboxEntry) error

	// SaveCopies stores inbox copies of a message saved before (with
	// SaveMessage and no recipients) for a page of a task's audience. It
	// does not count them (the task's Targeted does) and leaves copies
	// that exist as they are, so a page committed twice has one copy per
	// device. Copies live until the message expires (plus AckGrace), so
	// m.Created must be set; a message with TTL 0, or expired, gets no
	// copies. A collapse id acts as in SaveMessage (see Message.CollapseID
	// and CheckCollapseID).
	SaveCopies(ctx context.Context, m *Message, rids []string) error
}

// Message is the body of a push, stored once however many devices it
// targets.
type Message struct {
	ID      uint64          `json:"id,string"`
	AppKey  string          `json:"app"`
	Title   string          `json:"title,omitempty"`
	Content string          `json:"content"`
	Extras  json.RawMessage `json:"extras,omitempty"`
	// TTL is how long undelivered copies wait for offline devices. Zero
	// means online only: no copy is stored and nothing is acknowledged.
	TTL     time.Duration `json:"ttl"`
	Created time.Time     `json:"created"`
	// Broadcast marks a message to every device of the app: it is stored
	// once for the app, not once per device.
	Broadcast bool `json:"broadcast,omitempty"`
	// Priority orders sending: high-priority tasks go before normal ones.
	Priority Priority `json:"priority,omitempty"`
	// CollapseID, if set, makes the message replace an undelivered older
	// one of the same app and collapse id on each device.
	CollapseID string `json:"collapse_id,omitempty"`
	// Audience is the audience the message was pushed to, as the gateway
	// stored it (canonical JSON): what a cancel resolves again.
	Audience json.RawMessage `json:"audience,omitempty"`
}

// Priority is a message's sending priority.
type Priority uint8

// Priorities.
const (
	PriorityNormal Priority = 0
	PriorityHigh   Priority = 1
)

// Expires returns when undelivered copies of m expire.
func (m *Message) Expires() time.Time { return m.Created.Add(m.TTL) }

// InboxEntry is an undelivered copy of a message for one device.
type InboxEntry struct {
	MessageID uint64 `json:"message_id,string"`
	// Attempts counts how many times the copy was written to a connection.
	Attempts uint8     `json:"attempts"`
	Expires  time.Time `json:"expires"`
	// Generation of the inbox record, so updates never resurrect a copy
	// that was acknowledged in the meantime.
	Generation uint32 `json:"generation"`
}

// InboxCopy names one device's copy of one message.
type InboxCopy struct {
	RegistrationID string `json:"registration_id"`
	MessageID      uint64 `json:"message_id,string"`
}

// Record kinds of messages beside KindMessage and KindInbox (store.go).
const (
	KindCID      Kind = "cid" // app_key/cid → message id, for 24 h: idempotent pushes
	KindCollapse Kind = "clp" // registration_id/collapse_id → id of the newest message with it
)

// Limits of messages.
const (
	// MaxCollapseIDLen bounds a collapse id, in bytes: what APNs accepts
	// as apns-collapse-id, so that the id can be passed on to the bridges.
	MaxCollapseIDLen = 64
	// MaxCIDLen bounds an idempotency key, in bytes (JPush's cid is a
	// 36-byte UUID, usually after a prefix).
	MaxCIDLen = 64
)

// CheckCollapseID validates a message's collapse id: 1 to
// MaxCollapseIDLen bytes of UTF-8 without '/' (the group separator of the
// collapse keys) and without control characters, the rules of tags with
// APNs's length.
func CheckCollapseID(id string) error {
	return checkToken("collapse id", id, MaxCollapseIDLen, unicode.IsControl)
}

// CheckCID validates an idempotency key: 1 to MaxCIDLen bytes of printable
// UTF-8 (unicode.IsPrint: letters, marks, numbers, punctuation, symbols
// and the ASCII space) without '/'.
func CheckCID(cid string) error {
	return checkToken("cid", cid, MaxCIDLen, func(r rune) bool { return !unicode.IsPrint(r) })
}
