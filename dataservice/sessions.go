package dataservice

import (
	"context"
	"time"
)

// SessionStore records which connector holds each online device's
// connection, for routing pushes: hints with a TTL, written by the device
// actors of connectors and refreshed well before they run out, so that a
// session outlives its connector by at most its TTL. The connector itself
// is the authority on whether a device is online. Sessions are cached by
// the processes that route (KindSession is one of CachedKinds).
//
// Writing and deleting sessions also keeps each device's last-active time
// (DeviceIndex.LastActive).
type SessionStore interface {
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
}

// Session says which connector holds a device's connection. It is a routing
// hint with a TTL: the connector itself is the authority on whether the
// device is online.
type Session struct {
	RegistrationID string    `json:"registration_id"`
	Connector      string    `json:"connector"`
	Since          time.Time `json:"since"`
	// Generation is the store generation of the session record, used to
	// delete it only if no newer session replaced it.
	Generation uint32 `json:"generation,omitempty"`
}

// Exists reports whether s is a session rather than a miss in a batch.
func (s Session) Exists() bool { return s.Generation != 0 }
