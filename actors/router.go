package actors

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/internal/workpool"
)

// The router (docs/design.md, "Components") hands messages to the
// connectors that hold their devices. Task actors and the API send it
// Route (a page of devices: their sessions say which connector holds
// each), Fanout (a broadcast: every connector sends to its online devices
// of the app) and Withdraw (a cancel). It runs at most
// RouterConfig.Parallel jobs at once, high-priority messages first, and
// answers each request when its job is done, so senders pace themselves
// on the answers.

// Connector is the router's handle on one connector: connector.Client
// in process, or its HTTP/2 client.
type Connector interface {
	// Deliver hands a message to the connector's device actors of rids.
	Deliver(ctx context.Context, m *dataservice.Message, rids []string) error
	// Broadcast hands a message to every online device of its app on the
	// connector and returns how many there were.
	Broadcast(ctx context.Context, m *dataservice.Message) (int, error)
	// Withdraw drops the unsent copies of a message from the connector's
	// device actors, and keeps it from sending the message again.
	Withdraw(ctx context.Context, id uint64, expires time.Time) error
	// Online returns how many devices of app the connector holds: those
	// connected, and those in their grace period (as Broadcast counts
	// them). It reads a counter: no device actor is asked.
	Online(ctx context.Context, app string) (int, error)
}

// Routes is the router's view of the cluster.
type Routes interface {
	// Connector returns the connector with this id, if it is a member
	// or may still hold devices (it left the membership moments ago).
	Connector(id string) (Connector, bool)
	// Connectors returns every connector that may hold devices: the
	// members, and those that left moments ago.
	Connectors() []Connector
}

// Requests to the router, each answered to its sender.
type (
	// Route sends a message to devices; Routed answers.
	Route struct {
		Msg  *dataservice.Message
		RIDs []string
		// Replay marks a page sent a second time (a task resumed after a
		// restart): devices found offline are not counted again.
		Replay bool
	}
	// Routed says how many devices were handed to a connector and how
	// many were offline (or on a connector that failed: their copies wait
	// in the inbox). Err is the first connector failure.
	Routed struct {
		Online, Offline int
		Err             error
	}
	// Fanout broadcasts a message to the online devices of its app on
	// every connector; FannedOut answers.
	Fanout struct{ Msg *dataservice.Message }
	// FannedOut says how many online devices the connectors had, and how
	// many connectors failed (their devices get the broadcast when they
	// connect again). Err is the first failure.
	FannedOut struct {
		Online, Failed int
		Err            error
	}
	// Withdraw tells every connector to drop a message; Withdrawn answers.
	Withdraw struct {
		ID      uint64
		Expires time.Time
	}
	// Withdrawn answers Withdraw; Err is the first connector failure.
	Withdrawn struct{ Err error }
)

// RouterConfig configures the router.
type RouterConfig struct {
	// Data gives the sessions of devices: where to route.
	Data dataservice.SessionStore
	// Routes are the connectors.
	Routes Routes
	// Receipts counts devices found offline.
	Receipts Receipts
	// Parallel bounds the jobs running at once. Zero means 64.
	Parallel int
	// MaxQueue bounds the jobs waiting; beyond it requests are answered
	// at once with ErrRouterBusy. Zero means 65536.
	MaxQueue int
	// Timeout bounds one job. Zero means 30s.
	Timeout time.Duration
	// Mailboxes runs the router's mailbox (see NewMailboxPoolForOne); nil
	// means protoactor's way, a goroutine for every run (two per unicast
	// push).
	Mailboxes *workpool.Pool
	Log       *slog.Logger
}

// router is the actor. Its fields are owned by Receive.
type router struct {
	cfg     RouterConfig
	queue   []*routeJob // waiting, by priority then arrival
	running int
	seq     uint64
	// Jobs run on workers that stay, started as running first exceeds
	// their number: a unicast push is one job, and a goroutine started
	// for each would grow its stack anew every time. jobs holds at most
	// Parallel, the most ever running, so handing one over never blocks.
	jobs    chan *routeJob
	workers int
}

type routeJob struct {
	req      any
	sender   *actor.PID
	priority dataservice.Priority
	seq      uint64
}

// routeDone is a finished job, sent by the job to the router.
type routeDone struct{}

// SpawnRouter starts the router.
func SpawnRouter(system *actor.ActorSystem, cfg RouterConfig) *actor.PID {
	if cfg.Parallel <= 0 {
		cfg.Parallel = 64
	}
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = 65536
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return system.Root.Spawn(actor.PropsFromProducer(func() actor.Actor {
		return &router{cfg: cfg, jobs: make(chan *routeJob, cfg.Parallel)}
	}, onPool(cfg.Mailboxes)))
}

func (r *router) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *Route:
		r.enqueue(ctx, m, m.Msg.Priority)
	case *Fanout:
		r.enqueue(ctx, m, m.Msg.Priority)
	case *Withdraw:
		r.enqueue(ctx, m, dataservice.PriorityHigh)
	case *routeDone:
		r.running--
	case *actor.Stopped, *actor.Restarting:
		close(r.jobs) // workers finish their jobs and end; a restart makes new ones
		return
	}
	r.start(ctx)
}

// ErrRouterBusy answers requests that found the router's queue full. The
// devices of a Route turned away count offline, as for a failed connector.
var ErrRouterBusy = errors.New("actors: router busy")

func (r *router) enqueue(ctx actor.Context, req any, p dataservice.Priority) {
	if len(r.queue) >= r.cfg.MaxQueue {
		routerBusy.Inc()
		if m, ok := req.(*Route); ok {
			// Turned away: like devices of a failed connector, they wait
			// in the inbox (or, online-only, are lost).
			r.countOffline(m, len(m.RIDs))
		}
		if s := ctx.Sender(); s != nil {
			ctx.Send(s, busyAnswer(req))
		}
		return
	}
	r.seq++
	j := &routeJob{req: req, sender: ctx.Sender(), priority: p, seq: r.seq}
	i, _ := slices.BinarySearchFunc(r.queue, j, func(a, b *routeJob) int {
		if c := cmp.Compare(b.priority, a.priority); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	r.queue = slices.Insert(r.queue, i, j)
}

func busyAnswer(req any) any {
	switch m := req.(type) {
	case *Route:
		return &Routed{Offline: len(m.RIDs), Err: ErrRouterBusy}
	case *Fanout:
		return &FannedOut{Err: ErrRouterBusy}
	default:
		return &Withdrawn{Err: ErrRouterBusy}
	}
}

// start runs queued jobs while fewer than Parallel run.
func (r *router) start(ctx actor.Context) {
	for r.running < r.cfg.Parallel && len(r.queue) > 0 {
		j := r.queue[0]
		r.queue[0] = nil
		r.queue = r.queue[1:]
		r.running++
		if r.running > r.workers {
			r.workers++
			go r.work(ctx.Self(), ctx.ActorSystem().Root)
		}
		r.jobs <- j
	}
}

// work runs jobs until the router stops. It reads only cfg and jobs.
func (r *router) work(self *actor.PID, root *actor.RootContext) {
	for j := range r.jobs {
		answer := r.run(j.req)
		if j.sender != nil {
			root.Send(j.sender, answer)
		}
		root.Send(self, &routeDone{})
	}
}

// run does one job on a worker.
func (r *router) run(req any) any {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Timeout)
	defer cancel()
	switch m := req.(type) {
	case *Route:
		routerRoute.Inc()
		return r.route(ctx, m)
	case *Fanout:
		routerFanout.Inc()
		return r.fanout(ctx, m)
	case *Withdraw:
		routerWithdraw.Inc()
		var errs []error
		for _, c := range r.cfg.Routes.Connectors() {
			errs = append(errs, c.Withdraw(ctx, m.ID, m.Expires))
		}
		return &Withdrawn{Err: errors.Join(errs...)}
	}
	return nil
}

// route groups the devices by the connector their session names and hands
// each group over; the groups go out in parallel.
func (r *router) route(ctx context.Context, m *Route) *Routed {
	sessions, err := r.cfg.Data.Sessions(ctx, m.RIDs)
	if err != nil {
		r.countOffline(m, len(m.RIDs))
		return &Routed{Offline: len(m.RIDs), Err: err}
	}
	groups := make(map[string][]string)
	offline := 0
	for i, s := range sessions {
		if !s.Exists() {
			offline++
			continue
		}
		groups[s.Connector] = append(groups[s.Connector], m.RIDs[i])
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		online   int
	)
	send := func(id string, group []string) {
		c, ok := r.cfg.Routes.Connector(id)
		var err error
		if ok {
			err = c.Deliver(ctx, m.Msg, group)
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case !ok: // its connector is gone: the device reconnects elsewhere
			offline += len(group)
		case err != nil:
			offline += len(group)
			if firstErr == nil {
				firstErr = err
			}
		default:
			online += len(group)
		}
	}
	for id, group := range groups {
		if len(groups) == 1 { // a unicast, most often: no goroutine
			send(id, group)
			break
		}
		wg.Go(func() { send(id, group) })
	}
	wg.Wait()
	r.countOffline(m, offline)
	return &Routed{Online: online, Offline: offline, Err: firstErr}
}

// countOffline records devices found offline: their copies wait in the
// inbox, or, for online-only messages, expire.
func (r *router) countOffline(m *Route, n int) {
	if n == 0 || m.Replay {
		return
	}
	c := dataservice.CounterStoredOffline
	if m.Msg.TTL == 0 {
		c = dataservice.CounterExpired
	}
	r.cfg.Receipts.Add(m.Msg.ID, c, int64(n))
}

func (r *router) fanout(ctx context.Context, m *Fanout) *FannedOut {
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		out FannedOut
	)
	for _, c := range r.cfg.Routes.Connectors() {
		wg.Go(func() {
			n, err := c.Broadcast(ctx, m.Msg)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				out.Failed++
				if out.Err == nil {
					out.Err = err
				}
				return
			}
			out.Online += n
		})
	}
	wg.Wait()
	return &out
}
