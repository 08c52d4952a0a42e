package dataservice

import (
	"context"
)

// BroadcastStore holds messages to every device of an app, stored once for
// the app rather than once per device, and each device's broadcast
// cursor: how far the device got through its app's broadcasts, which is
// where a connecting device is sent from. Cursors are written by
// compare-and-set, so two connections of one device never move a cursor
// back. The app key of a call follows the rules of DeviceIndex; listings
// take a limit of 1 to MaxPage.
type BroadcastStore interface {
	// SaveBroadcast stores a message to every device of its app: the
	// body (as SaveMessage does), an entry in the app's broadcast list
	// that lives until the message expires (plus AckGrace), and the
	// targeted counter set to targeted. A message with TTL 0 gets no list
	// entry: only online devices get it. m.Broadcast must be set
	// (ErrInvalid otherwise); ErrExists if the message was saved before.
	SaveBroadcast(ctx context.Context, m *Message, targeted int64) error
	// AppBroadcasts returns up to limit ids of the app's unexpired
	// broadcasts with ids above after, ascending.
	AppBroadcasts(ctx context.Context, app string, after uint64, limit int) ([]uint64, error)
	// RemoveBroadcast takes a broadcast off its app's list (a cancel) and
	// reports whether it was there.
	RemoveBroadcast(ctx context.Context, app string, id uint64) (bool, error)
	// BroadcastCursors returns each device's broadcast cursor, in order;
	// for devices without one, the zero cursor (Generation 0) with its
	// RegistrationID set, ready for PutBroadcastCursors.
	BroadcastCursors(ctx context.Context, rids []string) ([]BroadcastCursor, error)
	// PutBroadcastCursors writes cursors by compare-and-set (Generation 0:
	// create only) in one batch and reports per cursor whether it was
	// written; false means another writer changed it since it was read.
	// Cursors never expire.
	PutBroadcastCursors(ctx context.Context, cursors []BroadcastCursor) ([]bool, error)
}

// Record kinds of broadcasts. Key and value layouts are in
// broadcasts_service.go.
const (
	KindBroadcast       Kind = "bcs" // app_key/msg_id → a broadcast devices of the app get on connecting
	KindBroadcastCursor Kind = "bcc" // registration_id → BroadcastCursor
)

// BroadcastCursor is how far a device got through its app's broadcasts.
type BroadcastCursor struct {
	RegistrationID string `json:"registration_id"`
	// Sent is the newest broadcast written to the device, Acked the
	// newest such that it and every older one are acknowledged (or ended
	// otherwise). Broadcasts above Acked are sent on connecting.
	Sent  uint64 `json:"sent,string"`
	Acked uint64 `json:"acked,string"`
	// Generation is the store generation it was read at; 0 for a device
	// without a cursor.
	Generation uint32 `json:"generation"`
}
