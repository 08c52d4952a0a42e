package dataservice

import (
	"context"
	"time"
)

// Client is the data API of Herald's components. Service implements it in
// process; every implementation behaves identically, so a component cannot
// tell which one it has.
type Client interface {
	Cluster
	Nodes
	DeviceIndex
	PushData
	Segments
	Reports
	Schedules
	Upstreams

	// CreateApp stores a new app; ErrExists if the key is taken.
	CreateApp(ctx context.Context, app App) error
	// App returns an app, or ErrNotFound.
	App(ctx context.Context, key string) (App, error)

	// CreateDevice stores a new device; ErrExists if the id is taken.
	CreateDevice(ctx context.Context, d Device) error
	// Device returns a device, or ErrNotFound.
	Device(ctx context.Context, rid string) (Device, error)
	// Devices returns one Device per id, in order; a zero Device for ids
	// that do not exist.
	Devices(ctx context.Context, rids []string) ([]Device, error)

	// PutSessions records where devices are connected, for ttl, and
	// returns each session's generation, in order.
	PutSessions(ctx context.Context, sessions []Session, ttl time.Duration) ([]uint32, error)
	// Sessions returns one Session per id, in order; a zero Session for
	// devices with none.
	Sessions(ctx context.Context, rids []string) ([]Session, error)
	// DeleteSession deletes a device's session if its generation is still
	// generation; a newer session (another connection took over) is kept
	// and no error is returned.
	DeleteSession(ctx context.Context, rid string, generation uint32) error

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

	// AddCounters applies counter increments; callers batch them.
	AddCounters(ctx context.Context, deltas []CounterDelta) error
	// Report returns a message's delivery report, or ErrNotFound.
	Report(ctx context.Context, id uint64) (Report, error)

	// EnsureConfig stores value under name unless a value is there already,
	// and returns the value that is stored: the way cluster-wide settings
	// (such as the Noise static key) are created once and shared.
	EnsureConfig(ctx context.Context, name string, value []byte) ([]byte, error)
}
