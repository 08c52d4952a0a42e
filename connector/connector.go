package connector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/heraldpush/herald/actors"
	"github.com/heraldpush/herald/connector/netpoll"
	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/internal/connlimit"
	"github.com/heraldpush/herald/internal/workpool"
	"github.com/heraldpush/herald/protocol"
)

// Config configures a Connector. Zero fields take the defaults of
// DefaultConfig.
type Config struct {
	// Listen is the TCP address devices connect to. Empty means
	// 127.0.0.1:7100.
	Listen string
	// Advertise is the address given to devices by dispatch. Empty means
	// the address actually listened on.
	Advertise string
	// Settings tune the connection and device actors.
	Settings actors.Settings
	// HandshakeTimeout bounds the time from accept to WELCOME. Zero means
	// 10s.
	HandshakeTimeout time.Duration
	// Pollers is the number of event-loop goroutines. Zero means GOMAXPROCS.
	Pollers int
	// Shards is the number of directory shards. Zero means 4×GOMAXPROCS.
	Shards int
	// Workers and WorkerQueue size the pool running store calls. Zero means
	// 64 workers and a queue of 16384.
	Workers, WorkerQueue int
	// MaxWriteBuffer is how much unsent output a connection may pile up
	// before it is closed as too slow. Zero means 256 KiB.
	MaxWriteBuffer int
	// Linger is how long a connection the connector closes may keep
	// sending what it holds (say, pushes a slow device has not read yet,
	// then an ERROR): after it, what is left is dropped. Zero means 5s.
	Linger time.Duration
	// MaxConnections caps the device connections open at once, and
	// MaxConnectionsPerAddress those from one client address (an IPv4
	// address or an IPv6 /64): a connection over a cap is closed as soon
	// as it is accepted, before its handshake, and counted. Zero or
	// negative means no cap; herald's command line sets both from the
	// process's open-file limit.
	MaxConnections, MaxConnectionsPerAddress int
	// MaxUnprocessed is how many received records may wait for their
	// connection actor before the connector stops reading the connection,
	// until the actor has handled them all: flow control, through which
	// TCP slows a fast sender down. Zero means 64.
	MaxUnprocessed int
	// FloodLimit is how many received records may wait for their
	// connection actor before the connection is cut off as flooding
	// (ERROR flooding). One read may bring more records than
	// MaxUnprocessed; a conforming device never has this many on the way.
	// Zero means 1024 (and at least MaxUnprocessed).
	FloodLimit int
	// FloodTimeout is how long flow control may hold back a connection's
	// reading without a break (its actor does not catch up with what the
	// device sent) before the connection is cut off as flooding. The
	// sweeper checks once a second. Zero means 10s.
	FloodTimeout time.Duration
	// TrimAfter is how long connections must stop opening and closing,
	// after a burst of them, before the connector returns the memory the
	// burst freed to the operating system (see trimmer). Zero means 10s;
	// negative never trims.
	TrimAfter time.Duration
	// Log receives the connector's logs. Nil means slog.Default().
	Log *slog.Logger
}

// DefaultConfig returns the configuration with every default filled in.
func DefaultConfig() Config { return Config{}.withDefaults() }

func (c Config) withDefaults() Config {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:7100"
	}
	c.Settings = c.Settings.WithDefaults()
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 10 * time.Second
	}
	procs := runtime.GOMAXPROCS(0)
	if c.Pollers <= 0 {
		c.Pollers = procs
	}
	if c.Shards <= 0 {
		c.Shards = 4 * procs
	}
	if c.Workers <= 0 {
		c.Workers = 64
	}
	if c.WorkerQueue <= 0 {
		c.WorkerQueue = 16384
	}
	if c.MaxWriteBuffer <= 0 {
		c.MaxWriteBuffer = 256 << 10
	}
	if c.Linger <= 0 {
		c.Linger = 5 * time.Second
	}
	if c.MaxUnprocessed <= 0 {
		c.MaxUnprocessed = 64
	}
	if c.FloodLimit <= 0 {
		c.FloodLimit = 1024
	}
	c.FloodLimit = max(c.FloodLimit, c.MaxUnprocessed)
	if c.FloodTimeout <= 0 {
		c.FloodTimeout = 10 * time.Second
	}
	if c.TrimAfter == 0 {
		c.TrimAfter = 10 * time.Second
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return c
}

// Connector serves device connections.
type Connector struct {
	cfg   Config
	env   *actors.Env
	loop  *netpoll.Loop // holds every socket, indexed by descriptor
	conns *connlimit.Limiter
	clock atomic.Int64 // seconds since start, advanced by the sweeper
	trim  *trimmer

	addr      net.Addr
	stop      chan struct{}
	sweepDone chan struct{}
	closeOnce sync.Once
}

// New prepares a connector; Start begins serving. The connector sends
// receipts to receipts, and proves itself to devices with key. It accepts
// upstream data from devices (protocol.FeatureUpstream) if receipts
// batches it: an actors.Writer over a dataservice.UpstreamQueue. data is
// what the connector's actors read and write (devices, sessions,
// messages, inboxes, broadcasts), usually that same Writer.
func New(cfg Config, system *actor.ActorSystem, data actors.Store, receipts actors.Receipts, key protocol.Keypair) *Connector {
	cfg = cfg.withDefaults()
	c := &Connector{
		cfg:       cfg,
		stop:      make(chan struct{}),
		sweepDone: make(chan struct{}),
		trim:      newTrimmer(int64(cfg.TrimAfter / time.Second)),
	}
	// Broadcast deliveries go to the receipts' writer when it batches
	// them (actors.Writer does), else straight to data.
	cursors, ok := receipts.(actors.Cursors)
	if !ok {
		cursors = actors.DirectCursors{Data: data, Receipts: receipts}
	}
	c.env = &actors.Env{
		System:    system,
		Settings:  cfg.Settings,
		Data:      data,
		Workers:   workpool.New(cfg.Workers, cfg.WorkerQueue),
		Receipts:  receipts,
		Cursors:   cursors,
		Withdrawn: &actors.Withdrawals{},
		Key:       key,
		Mailboxes: actors.NewMailboxPool(),
		Log:       cfg.Log,
		Now:       time.Now,
	}
	if w, ok := receipts.(interface{ Upstreams() actors.Upstreams }); ok {
		c.env.Upstreams = w.Upstreams()
	}
	c.env.Directory = actors.NewDirectory(c.env, cfg.Shards)
	return c
}

// Start listens and serves until Shutdown.
func (c *Connector) Start() error {
	ln, err := net.Listen("tcp", c.cfg.Listen)
	if err != nil {
		return fmt.Errorf("connector: listen on %s: %w", c.cfg.Listen, err)
	}
	c.conns = connlimit.New(connlimit.Config{Name: "device", Total: c.cfg.MaxConnections, PerAddress: c.cfg.MaxConnectionsPerAddress, Log: c.cfg.Log})
	c.loop, err = netpoll.Start(ln, netpoll.Config{
		Conns:          c.conns,
		Pollers:        c.cfg.Pollers,
		ReadBufferSize: readBufferSize,
		MaxWriteBuffer: c.cfg.MaxWriteBuffer,
		Linger:         c.cfg.Linger,
		OnOpen:         c.onOpen,
		OnData:         c.onData,
		OnClose:        c.onClose,
	})
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("connector: event loop on %s: %w", c.cfg.Listen, err)
	}
	c.addr = ln.Addr()
	go c.sweep()
	return nil
}

// Addr returns the address the connector listens on.
func (c *Connector) Addr() net.Addr { return c.addr }

// Advertised returns the address devices should dial.
func (c *Connector) Advertised() string {
	if c.cfg.Advertise != "" {
		return c.cfg.Advertise
	}
	return c.addr.String()
}

// ID returns the connector's id, as sessions name it.
func (c *Connector) ID() string { return c.cfg.Settings.ConnectorID }

// Heartbeat returns the heartbeat granted to devices that ask for none.
func (c *Connector) Heartbeat() time.Duration { return c.cfg.Settings.Heartbeat }

// Stats are a connector's current figures.
type Stats struct {
	Connections int `json:"connections"`
	Devices     int `json:"devices"`
	// Listener counts the device listener's connections against its caps,
	// and those it refused.
	Listener connlimit.Stats `json:"listener"`
}

// Stats returns the current figures.
func (c *Connector) Stats() Stats {
	s := Stats{Connections: c.connections(), Devices: c.env.Directory.Devices()}
	if c.conns != nil {
		s.Listener = c.conns.Stats()
	}
	return s
}

// Deliver sends m to those of rids that are online here. It does not wait
// for the writes; their outcome arrives as receipts. Devices that are not
// online here are counted stored_offline (or expired, for online-only
// messages).
func (c *Connector) Deliver(ctx context.Context, m *dataservice.Message, rids []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.env.Directory.Deliver(actors.NewOutgoing(m), rids)
	return nil
}

// connections returns the number of open sockets.
func (c *Connector) connections() int {
	if c.loop == nil {
		return 0
	}
	return c.loop.Len()
}

// eachSocket calls f for every open socket, with the event loop's table
// locked: f must not block.
func (c *Connector) eachSocket(f func(*socket)) {
	if c.loop == nil {
		return
	}
	c.loop.Each(func(nc *netpoll.Conn) {
		if sc, ok := nc.Value().(*socket); ok {
			f(sc)
		}
	})
}

// onOpen runs on the loop's accepting goroutine, before the connection is
// watched: what it sets is visible to onData, onClose and the sweeper.
func (c *Connector) onOpen(nc *netpoll.Conn) {
	now := c.clock.Load()
	sc := &socket{nc: nc}
	sc.lastSeen.Store(int32(now))
	sc.deadline.Store(int32(now + int64((c.cfg.HandshakeTimeout+time.Second-1)/time.Second)))
	sc.pid = c.env.SpawnConnection(sc)
	nc.SetValue(sc)
	connectionsOpened.Inc()
	c.trim.changed()
}

// readBufferSize is the size of the event loop's reads: the most one
// onData call gets.
const readBufferSize = 32 << 10

// floodRetryAfter is how long a device cut off as flooding is asked to
// wait before it connects again.
const floodRetryAfter = 30 * time.Second

// onData splits what a connection received into records for its actor.
// It stops reading the connection (socket.hold) while MaxUnprocessed
// records wait for the actor, and cuts off a device with more than
// FloodLimit waiting. Runs on the connection's poller.
func (c *Connector) onData(nc *netpoll.Conn, data []byte) {
	sc, ok := nc.Value().(*socket)
	if !ok || sc.broken {
		return
	}
	sc.lastSeen.Store(int32(c.clock.Load()))
	buf := data
	if len(sc.partial) > 0 {
		sc.partial = append(sc.partial, data...)
		buf = sc.partial
	}
	if !sc.greeted && c.refuseRecord1(sc, buf) {
		return
	}
	root := c.env.System.Root
	for {
		body, rest, err := protocol.SplitRecord(buf, c.cfg.Settings.MaxRecord)
		if err != nil {
			code := protocol.CodeMalformedFrame
			if errors.Is(err, protocol.ErrRecordTooLarge) {
				code = protocol.CodeFrameTooLarge
			}
			c.kick(sc, &protocol.Error{Code: code, Message: err.Error()})
			cutMalformed.Inc()
			return
		}
		if body == nil {
			break
		}
		sc.greeted = true
		if int(sc.unprocessed.Add(1)) > c.cfg.FloodLimit {
			c.cfg.Log.Warn("device connection flooding; closing", "remote", nc.RemoteAddr(), "records", c.cfg.FloodLimit)
			nc.PauseReading() // for good: the count never drops to zero again
			c.kick(sc, &protocol.Error{Code: protocol.CodeFlooding,
				Message: "more than " + strconv.Itoa(c.cfg.FloodLimit) + " frames sent ahead of the server", RetryAfter: floodRetryAfter})
			cutFlooding.Inc()
			return
		}
		root.Send(sc.pid, &actors.Inbound{Record: append([]byte(nil), body...)})
		buf = rest
	}
	switch {
	case len(buf) == 0:
		sc.partial = nil
	case len(sc.partial) == 0:
		sc.partial = append([]byte(nil), buf...) // data is the loop's read buffer
	default:
		sc.partial = append(sc.partial[:0], buf...) // buf aliases partial; copy is safe forwards
	}
	if int(sc.unprocessed.Load()) >= c.cfg.MaxUnprocessed {
		sc.hold()
	}
}

// refuseRecord1 refuses, as soon as its length and version byte arrived, a
// first record that cannot be record 1 of the handshake (exactly
// protocol.Record1Len bytes), with the code the handshake would refuse it
// with once read whole: a half-open connection so never holds more than
// record 1's bytes. It reports whether it refused. Lengths that no record
// may have are left to SplitRecord.
func (c *Connector) refuseRecord1(sc *socket, buf []byte) bool {
	if len(buf) < protocol.RecordHeaderLen+1 {
		return false
	}
	n := int(buf[0])<<8 | int(buf[1])
	if n == protocol.Record1Len || n == 0 || n > c.cfg.Settings.MaxRecord {
		return false
	}
	e := &protocol.Error{Code: protocol.CodeHandshakeFailed, Message: "record 1 must be " + strconv.Itoa(protocol.Record1Len) + " bytes"}
	if buf[protocol.RecordHeaderLen] != protocol.Version {
		e = &protocol.Error{Code: protocol.CodeUnsupportedVersion, Message: "unsupported protocol version; this server speaks version " + strconv.Itoa(protocol.Version)}
	}
	c.kick(sc, e)
	cutMalformed.Inc()
	return true
}

// kick has the connection's actor send e and close; input that follows is
// ignored. Runs on the connection's poller.
func (c *Connector) kick(sc *socket, e *protocol.Error) {
	sc.broken, sc.partial = true, nil
	c.env.System.Root.Send(sc.pid, &actors.Kick{Err: e})
}

func (c *Connector) onClose(nc *netpoll.Conn, err error) {
	sc, ok := nc.Value().(*socket)
	if !ok {
		return
	}
	c.env.System.Root.Send(sc.pid, &actors.SocketClosed{Err: err})
	c.trim.changed()
}

// sweep advances the coarse clock and enforces handshake, idle and flood
// deadlines, once a second, for every connection, and trims memory after
// a burst of connections.
func (c *Connector) sweep() {
	defer close(c.sweepDone)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	floodSweeps := uint32(min((c.cfg.FloodTimeout+time.Second-1)/time.Second, time.Duration(floodSweepsMask>>floodSweepsShift)))
	for {
		select {
		case <-c.stop:
			return
		case <-tick.C:
		}
		now := c.clock.Add(1)
		c.env.Withdrawn.Prune(time.Now())
		c.trim.tick(now, c.connections())
		c.eachSocket(func(sc *socket) { c.sweepSocket(sc, now, floodSweeps) })
	}
}

// sweepSocket sends DeadlinePassed to a connection past its handshake
// deadline or silent past its idle timeout, and ERROR flooding to one
// whose reading was held back, without a break, at floodSweeps sweeps in
// a row. A held connection is not idle: its device sent what waits
// unread.
func (c *Connector) sweepSocket(sc *socket, now int64, floodSweeps uint32) {
	f := sc.flags.And(^resumed)
	if f&expired != 0 {
		return
	}
	d := int64(sc.deadline.Load())
	late := d != 0 && now > d
	if idle := int64(sc.idle.Load()); d == 0 && idle > 0 && f&held == 0 && now-int64(sc.lastSeen.Load()) > idle {
		late = true
	}
	if late {
		sc.flags.Or(expired)
		c.env.System.Root.Send(sc.pid, &actors.DeadlinePassed{})
		cutTimeout.Inc()
		return
	}
	sweeps := (f & floodSweepsMask) >> floodSweepsShift
	switch {
	case f&held != 0 && f&resumed == 0:
		sweeps++
	case sweeps == 0:
		return
	default:
		sweeps = 0
	}
	if sweeps >= floodSweeps {
		sc.flags.Or(expired)
		c.cfg.Log.Warn("device connection held back for too long; closing", "remote", sc.nc.RemoteAddr(), "seconds", sweeps)
		cutFlooding.Inc()
		c.env.System.Root.Send(sc.pid, &actors.Kick{Err: &protocol.Error{Code: protocol.CodeFlooding,
			Message: "frames sent faster than the server handles them for " + strconv.Itoa(int(sweeps)) + "s", RetryAfter: floodRetryAfter}})
		return
	}
	for { // the sweeper alone writes these bits; others may change flags
		old := sc.flags.Load()
		if sc.flags.CompareAndSwap(old, old&^floodSweepsMask|sweeps<<floodSweepsShift) {
			return
		}
	}
}

// Shutdown stops accepting, tells every device to reconnect elsewhere
// (ERROR shutting_down), lets device actors save their state, and releases
// everything. It waits for the connections to close until ctx is done, then
// closes what is left.
func (c *Connector) Shutdown(ctx context.Context) error {
	var err error
	c.closeOnce.Do(func() {
		if c.loop != nil {
			c.loop.StopAccepting()
		}
		root := c.env.System.Root
		c.eachSocket(func(sc *socket) { root.Send(sc.pid, &actors.Drain{}) })
		for c.connections() > 0 && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		err = c.env.Directory.Shutdown(ctx)
		close(c.stop)
		<-c.sweepDone
		if c.loop != nil {
			c.stopLoop()
		}
		c.env.Workers.Close()
		c.env.Mailboxes.Close()
	})
	return err
}

// stopLoop closes the connections left and stops the event loop, within
// a bound, so a shutdown can never hang on a stuck callback.
func (c *Connector) stopLoop() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.loop.Shutdown(ctx); err != nil {
		c.cfg.Log.Warn("event loop did not stop in time; abandoning its pollers", "err", err)
	}
}

// Client is how the gateway reaches a connector: in process (a *Connector)
// or, in the distributed form, over HTTP/2 (a *Remote). It is what the
// gateway's router needs.
type Client = actors.Connector

var _ Client = (*Connector)(nil)

// Broadcast sends m to every device of its app connected here (or in its
// grace period) and returns how many there were. Devices that were
// offline get it from their app's broadcasts when they connect.
func (c *Connector) Broadcast(ctx context.Context, m *dataservice.Message) (int, error) {
	if !m.Broadcast {
		return 0, fmt.Errorf("connector: broadcast of message %d, which is not a broadcast: %w", m.ID, dataservice.ErrInvalid)
	}
	return c.env.Directory.Broadcast(ctx, actors.NewOutgoing(m), m.AppKey)
}

// Online returns how many devices of app are connected here (or in their
// grace period): the directory's count, nothing is asked of the device
// actors.
func (c *Connector) Online(_ context.Context, app string) (int, error) {
	return c.env.Directory.Online(app), nil
}

// Withdraw stops the connector from sending message id: copies waiting in
// device actors are dropped, and copies delivered, loaded or broadcast
// later are ignored, until the message expires.
func (c *Connector) Withdraw(_ context.Context, id uint64, expires time.Time) error {
	c.env.Withdrawn.Add(id, expires)
	return nil
}
