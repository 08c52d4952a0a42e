package actors

import (
	"log/slog"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/internal/workpool"
	"github.com/heraldpush/herald/protocol"
)

// Settings are the tunables of connection and device actors. Zero fields
// take the defaults of DefaultSettings.
type Settings struct {
	// ConnectorID names this connector in sessions and WELCOME.
	ConnectorID string
	// Heartbeat is the interval granted to a device that asks for none.
	// Zero means 180s.
	Heartbeat time.Duration
	// MinHeartbeat and MaxHeartbeat bound what a device may ask for. Zero
	// means 10s and 30m.
	MinHeartbeat, MaxHeartbeat time.Duration
	// MaxRecord is the largest record accepted from a device. Zero means
	// protocol.DefaultMaxRecord.
	MaxRecord int
	// Window is how many messages may await a device's ACK at once. Zero
	// means 32.
	Window int
	// MaxAttempts is how many times one message is sent to a device that
	// never acknowledges it before it is dropped as failed. Zero means 5.
	MaxAttempts int
	// Grace is how long a device actor outlives its connection, so a quick
	// reconnect resumes without reloading from the store. Zero means 30s.
	Grace time.Duration
	// SessionTTL is the lifetime of a session record; devices refresh it
	// while connected. Zero means 1h.
	SessionTTL time.Duration
	// InboxPage is how many stored messages a device actor loads at a time.
	// Zero means 100.
	InboxPage int
	// IdleSlack is added to one and a half heartbeats to give the idle
	// timeout of a connection: a device that sends nothing for that long is
	// disconnected (ERROR idle_timeout). Zero means 10s.
	IdleSlack time.Duration
}

// DefaultSettings returns the settings with every default filled in.
func DefaultSettings() Settings {
	return Settings{}.WithDefaults()
}

// WithDefaults returns s with every zero field set to its default.
func (s Settings) WithDefaults() Settings {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defInt := func(d *int, v int) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&s.Heartbeat, 180*time.Second)
	def(&s.MinHeartbeat, 10*time.Second)
	def(&s.MaxHeartbeat, 30*time.Minute)
	def(&s.Grace, 30*time.Second)
	def(&s.SessionTTL, time.Hour)
	def(&s.IdleSlack, 10*time.Second)
	defInt(&s.MaxRecord, protocol.DefaultMaxRecord)
	defInt(&s.Window, 32)
	defInt(&s.MaxAttempts, 5)
	defInt(&s.InboxPage, 100)
	if s.ConnectorID == "" {
		s.ConnectorID = "local"
	}
	return s
}

// IdleTimeout is how long a connection with heartbeat hb may stay silent.
func (s *Settings) IdleTimeout(hb time.Duration) time.Duration { return hb*3/2 + s.IdleSlack }

// negotiate returns the heartbeat granted for a device's request (seconds).
func (s *Settings) negotiate(requested uint32) time.Duration {
	if requested == 0 {
		return s.Heartbeat
	}
	hb := time.Duration(requested) * time.Second
	return min(max(hb, s.MinHeartbeat), s.MaxHeartbeat)
}

// Store is the data the actors of a connector read and write (Env.Data):
// a connection actor reads its device to authenticate it (DeviceStore); a
// device actor records where its device is connected (SessionStore),
// reads the copies waiting in its inbox and the bodies of what it sends
// (InboxStore, MessageStore), removes the copies its device acknowledged
// and follows its app's broadcasts with the device's cursor
// (BroadcastStore). The connector also reads devices to deliver pushes
// (Devices). A Writer is a Store that batches the dense writes.
type Store interface {
	dataservice.DeviceStore
	dataservice.SessionStore
	dataservice.MessageStore
	dataservice.InboxStore
	dataservice.BroadcastStore
}

// Env is what the actors of one connector share. Every field is set by the
// connector before the first actor starts and is read-only afterwards.
type Env struct {
	System   *actor.ActorSystem
	Settings Settings
	Data     Store
	Workers  *workpool.Pool
	Receipts Receipts
	// Cursors records broadcast deliveries; nil disables that record
	// (tests of other things).
	Cursors Cursors
	// Withdrawn are messages canceled after they were handed over.
	Withdrawn *Withdrawals
	// Upstreams queues the data devices send to their apps (UPSTREAM
	// frames); nil means the connector does not accept them and does not
	// announce protocol.FeatureUpstream.
	Upstreams Upstreams
	Key       protocol.Keypair
	Directory *Directory
	// Mailboxes runs the mailboxes of connection, device and directory
	// actors (see NewMailboxPool). Nil means protoactor's way: a new
	// goroutine per mailbox run.
	Mailboxes *workpool.Pool
	Log       *slog.Logger
	// Now is the clock; tests replace it.
	Now func() time.Time

	// Props shared by every actor of a kind (set by NewDirectory): an actor
	// keeps a reference to its props, so one per actor would cost memory
	// per connection.
	connectionProps, deviceProps *actor.Props
}

// SpawnConnection starts the connection actor of a new socket.
func (env *Env) SpawnConnection(sock Socket) *actor.PID {
	pid := env.System.Root.Spawn(env.connectionProps)
	// The first message the actor gets, before any Inbound of the socket.
	env.System.Root.Send(pid, &connectionInit{sock: sock})
	return pid
}
