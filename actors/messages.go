package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/protocol"
)

// Messages from a connector's event loop to a connection actor.
type (
	// Inbound carries one record body read from the socket. The actor owns
	// Record and may decrypt it in place.
	Inbound struct{ Record []byte }
	// SocketClosed says the socket is closed; the actor detaches and stops.
	SocketClosed struct{ Err error }
	// DeadlinePassed says the connection stayed silent past its idle timeout,
	// or did not finish its handshake in time.
	DeadlinePassed struct{}
	// Drain asks the connection to tell its device that the connector is
	// shutting down (ERROR shutting_down) and close.
	Drain struct{}
)

// Messages between a connection actor and a device actor.
type (
	// Attach is forwarded by the directory to the device actor when a
	// connection of the device has authenticated. The device answers the
	// connection with Attached.
	Attach struct {
		Conn *actor.PID
		// App and Created are the device's: which broadcasts it gets.
		App     string
		Created time.Time
	}
	// Attached tells the connection which device actor serves it; the
	// connection answers the device with WELCOME before anything else.
	Attached struct {
		Device *actor.PID
	}
	// Detach tells the device its connection is gone.
	Detach struct{ Conn *actor.PID }
	// Acked carries message ids the device acknowledged.
	Acked struct{ IDs []uint64 }
	// Heartbeat tells the device its connection is alive (a PING arrived).
	Heartbeat struct{}
	// Send asks the connection to write PUSH frames, in order.
	Send struct{ Pushes []*Outgoing }
	// Kick asks the connection to send an ERROR and close.
	Kick struct{ Err *protocol.Error }
)

// Deliver asks a device actor to send one message. The directory forwards it.
type Deliver struct{ Out *Outgoing }

// Outgoing is a message ready to be written to any connection: the PUSH
// frame is encoded once and shared by every device it goes to.
type Outgoing struct {
	ID uint64
	// Frame is the plaintext PUSH frame with sequence number zero; a
	// connection copies it and sets its own sequence number.
	Frame []byte
	// AckRequested is set for messages with a TTL: the device must ACK, and
	// the message stays in flight until it does.
	AckRequested bool
	// Expires is when the message may no longer be sent; zero for
	// online-only messages, which are sent at most once.
	Expires time.Time
	// Broadcast marks a message to every device of an app: its delivery
	// is recorded in the device's broadcast cursor, not in an inbox copy.
	Broadcast bool
}

// NewOutgoing encodes m as a PUSH frame.
func NewOutgoing(m *dataservice.Message) *Outgoing {
	p := protocol.Push{
		MessageID: m.ID,
		AppKey:    []byte(m.AppKey),
		Title:     []byte(m.Title),
		Content:   []byte(m.Content),
		Extras:    m.Extras,
	}
	out := &Outgoing{ID: m.ID, Broadcast: m.Broadcast}
	var flags protocol.Flags
	if m.TTL > 0 {
		out.AckRequested = true
		out.Expires = m.Expires()
		p.ExpiresAt = out.Expires.UnixMilli()
		flags = protocol.FlagAckRequested
	}
	out.Frame = protocol.AppendPush(nil, 0, flags, &p)
	return out
}

// Receipts receives delivery receipts: counter increments of one message.
// Implementations must not block.
type Receipts interface {
	Add(messageID uint64, c dataservice.Counter, n int64)
}
