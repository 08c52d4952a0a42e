package actors

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/protocol"
)

var internalError = &protocol.Error{Code: protocol.CodeInternalError, Message: "internal error", RetryAfter: 5 * time.Second}

// Directory routes to the device actors of one connector. It is sharded by
// registration id; each shard is an actor that owns its part of the map, so
// spawning, routing and retiring a device are serialized per device without
// locks.
//
// Retirement protocol: a device actor may stop only when the shard has
// forwarded it nothing it has not processed. It asks with the number of
// forwarded messages it processed; the shard grants only if that equals the
// number it forwarded. So an Attach or Deliver can never land in the
// mailbox of a device actor that is stopping.
type Directory struct {
	env    *Env
	seed   maphash.Seed
	shards []*actor.PID
	alive  atomic.Int64 // device actors started and not yet terminated
	apps   sync.Map     // app key → the one copy of it entries hold
	// listed counts, by app key (*atomic.Int64), the device actors the
	// shards list: a shard adds one when it lists a device and takes it
	// back when it unlists it.
	listed sync.Map
}

// Messages to directory shards.
type (
	attachRequest struct {
		rid     string
		app     string
		created time.Time
		conn    *actor.PID
	}
	broadcastRequest struct {
		out   *Outgoing
		app   string
		reply chan int
	}
	deliverRequest struct {
		out  *Outgoing
		rids []string
	}
	retireRequest struct {
		rid       string
		device    *actor.PID
		processed uint64
	}
	retireGranted   struct{}
	retireRefused   struct{}
	shutdownRequest struct{}
)

// deviceEntry is a shard's record of one device actor, held by value in
// the shard's map (one allocation fewer per device).
type deviceEntry struct {
	pid       *actor.PID
	forwarded uint64
	app       string // interned: entries of one app share the bytes
}

// NewDirectory starts the shards of a directory and prepares the props
// that connection and device actors of env are spawned with. env.Directory
// must be set to the result before any connection actor runs.
func NewDirectory(env *Env, shards int) *Directory {
	mailbox, runs := actor.WithMailbox(newMailbox), onPool(env.Mailboxes)
	env.connectionProps = actor.PropsFromProducer(func() actor.Actor { return newConnection(env) }, mailbox, runs)
	// Device actors are spawned from the root, not as children of their
	// shard, so no shard keeps a set of children; they report their own
	// end with deviceStopped. A failing one is stopped, not restarted with
	// empty state: it tells its connection to reconnect.
	env.deviceProps = actor.PropsFromProducer(func() actor.Actor { return newDevice(env) }, mailbox, runs, actor.WithGuardian(stopOnFailure))
	d := &Directory{env: env, seed: maphash.MakeSeed(), shards: make([]*actor.PID, shards)}
	for i := range d.shards {
		// On the connection actors' pool too: protoactor starts a goroutine
		// whenever an idle mailbox gets a message, and every delivery
		// passes through a shard.
		d.shards[i] = env.System.Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
			return &directoryShard{dir: d, devices: make(map[string]deviceEntry)}
		}, mailbox, runs))
	}
	return d
}

var stopOnFailure = actor.NewOneForOneStrategy(0, 0, func(any) actor.Directive { return actor.StopDirective })

func (d *Directory) shard(rid string) *actor.PID {
	return d.shards[maphash.String(d.seed, rid)%uint64(len(d.shards))]
}

// Attach hands an authenticated connection of device dev to its actor,
// spawning the actor if the device has none. The device actor answers conn
// with Attached.
func (d *Directory) Attach(ctx actor.SenderContext, dev dataservice.Device, conn *actor.PID) {
	app, _ := d.apps.LoadOrStore(dev.AppKey, dev.AppKey)
	ctx.Send(d.shard(dev.RegistrationID), &attachRequest{rid: dev.RegistrationID, app: app.(string), created: dev.Created, conn: conn})
}

// Broadcast asks the device actors of every device of app on this
// connector to send out, and returns how many there were.
func (d *Directory) Broadcast(ctx context.Context, out *Outgoing, app string) (int, error) {
	reply := make(chan int, len(d.shards))
	for _, s := range d.shards {
		d.env.System.Root.Send(s, &broadcastRequest{out: out, app: app, reply: reply})
	}
	total := 0
	for range d.shards {
		select {
		case n := <-reply:
			total += n
		case <-ctx.Done():
			return total, ctx.Err()
		}
	}
	return total, nil
}

// Deliver asks the device actors of rids to send out. Devices without an
// actor here are offline: their copy waits in the inbox (stored_offline),
// or, for an online-only message, expires.
func (d *Directory) Deliver(out *Outgoing, rids []string) {
	if len(d.shards) == 1 {
		d.env.System.Root.Send(d.shards[0], &deliverRequest{out: out, rids: rids})
		return
	}
	byShard := make(map[*actor.PID][]string)
	for _, rid := range rids {
		s := d.shard(rid)
		byShard[s] = append(byShard[s], rid)
	}
	for s, group := range byShard {
		d.env.System.Root.Send(s, &deliverRequest{out: out, rids: group})
	}
}

// Online returns how many devices of app have an actor here: connected,
// or in their grace period.
func (d *Directory) Online(app string) int {
	if n, ok := d.listed.Load(app); ok {
		return int(n.(*atomic.Int64).Load())
	}
	return 0
}

// count adds delta to the devices of app listed here. Called by shards.
func (d *Directory) count(app string, delta int64) {
	n, ok := d.listed.Load(app)
	if !ok {
		n, _ = d.listed.LoadOrStore(app, new(atomic.Int64))
	}
	n.(*atomic.Int64).Add(delta)
}

// Devices returns the number of device actors alive.
func (d *Directory) Devices() int { return int(d.alive.Load()) }

// Shutdown tells every device actor to save its state and stop, refuses new
// attachments, and waits until every device actor stopped or ctx is done.
func (d *Directory) Shutdown(ctx context.Context) error {
	for _, s := range d.shards {
		d.env.System.Root.Send(s, &shutdownRequest{})
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for d.alive.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// directoryShard is one shard actor. Its fields are owned by its Receive.
type directoryShard struct {
	dir      *Directory
	devices  map[string]deviceEntry
	spawned  uint64
	stopping bool
}

func (s *directoryShard) Receive(ctx actor.Context) {
	env := s.dir.env
	switch m := ctx.Message().(type) {
	case *attachRequest:
		rid := m.rid
		e, ok := s.devices[rid]
		if !ok {
			if s.stopping {
				ctx.Send(m.conn, &Drain{})
				return
			}
			s.spawned++
			name := deviceName(rid, s.spawned)
			pid, err := env.System.Root.SpawnNamed(env.deviceProps, name)
			if err != nil {
				env.Log.Error("spawn device actor", "rid", rid, "err", err)
				ctx.Send(m.conn, &Kick{Err: internalError})
				return
			}
			e = deviceEntry{pid: pid}
			s.dir.alive.Add(1)
			s.dir.count(m.app, 1)
			// The entry's key shares the actor name's bytes, so the
			// registration id is kept once per device, not twice.
			rid = name[:len(rid)]
		}
		e.forwarded++
		e.app = m.app
		s.devices[rid] = e
		ctx.Send(e.pid, &Attach{Conn: m.conn, App: m.app, Created: m.created})
	case *deliverRequest:
		var offline int64
		for _, rid := range m.rids {
			if e, ok := s.devices[rid]; ok {
				e.forwarded++
				s.devices[rid] = e
				ctx.Send(e.pid, &Deliver{Out: m.out})
			} else {
				offline++
			}
		}
		if offline > 0 {
			c := dataservice.CounterStoredOffline
			if !m.out.AckRequested {
				c = dataservice.CounterExpired
			}
			env.Receipts.Add(m.out.ID, c, offline)
		}
	case *broadcastRequest:
		n := 0
		for rid, e := range s.devices {
			if e.app == m.app {
				e.forwarded++
				s.devices[rid] = e
				ctx.Send(e.pid, &Deliver{Out: m.out})
				n++
			}
		}
		m.reply <- n
	case *retireRequest:
		if e, ok := s.devices[m.rid]; ok && e.pid.Equal(m.device) && e.forwarded == m.processed {
			delete(s.devices, m.rid)
			s.dir.count(e.app, -1)
			ctx.Send(m.device, &retireGranted{})
		} else {
			ctx.Send(m.device, &retireRefused{})
		}
	case *deviceStopped:
		s.dir.alive.Add(-1)
		// A retired device actor was unlisted when its retirement was
		// granted; one that failed is still listed and is removed here.
		if e, ok := s.devices[m.rid]; ok && e.pid.Equal(m.device) {
			delete(s.devices, m.rid)
			s.dir.count(e.app, -1)
		}
	case *shutdownRequest:
		s.stopping = true
		for _, e := range s.devices {
			ctx.Send(e.pid, stopNow)
		}
	}
}

var replaced = &protocol.Error{Code: protocol.CodeReplaced, Message: "another connection of this device took over"}
