package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/sdk"
)

// fleetConfig configures a fleet.
type fleetConfig struct {
	// Gateway is the REST API base URL devices ask dispatch at.
	Gateway string
	// HTTP makes the devices' dispatch calls.
	HTTP *http.Client
	// Sources opens device sockets, from its source addresses in turn.
	Sources *sourceDialer
	// First is the global index of the fleet's first device: stamps name
	// devices by global index, so that fleets of several workers can share
	// one numbering.
	First int
	// Messages is how many messages each device expects (seq 0 to
	// Messages-1); zero for scenarios that push nothing.
	Messages int
	// Shared says every message is for every device (a broadcast or a tag
	// push): stamps name no device, and the fleet also tracks each
	// message's arrivals across devices.
	Shared bool
	// Heartbeat is the interval devices ask for. Zero means the server's
	// default.
	Heartbeat time.Duration
	// DialTimeout bounds one device's sdk.Dial, retries included.
	DialTimeout time.Duration
	// TimeConnects makes each device's first connection count as the
	// arrival of its message 0, sent when the dial started and arriving
	// at its WELCOME: the latency histogram then holds connect times
	// (storm, with Messages 1).
	TimeConnects bool
	// Sink, if set, receives each valid arrival instead of the fleet
	// counting it: a worker process's fleet forwards arrivals to the
	// parent, whose fleet counts them with record. The fleet then keeps no
	// per-message slots.
	Sink func(device, seq int, sent, at int64)
	// OnUpstreamError, if set, is told why a device's upstream Send
	// failed (Steady).
	OnUpstreamError func(error)
}

// fleet owns a set of simulated devices and counts what they receive. The
// handlers run on the SDK's reading goroutines and touch only atomics and
// preallocated memory; everything else runs on the goroutine driving the
// scenario (and the workers it starts for a phase).
type fleet struct {
	cfg     fleetConfig
	devices []device
	latency *histogram
	// slots counts the arrivals of each (device, seq): index
	// (device-First)*Messages + seq.
	slots []atomic.Uint32
	// arrived and lastArrival are, per seq of a Shared fleet, the devices
	// that got the message and when the last one did (Unix nanoseconds).
	arrived, lastArrival []atomic.Int64

	connected, disconnects, welcomed, dialErrors atomic.Int64
	reconnects, reconnectErrors                  atomic.Int64
	// The SDK counters of clients reconnect closed.
	closedAcked, closedReceived, closedDuplicates atomic.Int64
	received, handlerDuplicates, invalid          atomic.Int64
	upSent, upAcked, upErrors                     atomic.Int64 // upstream Sends (Steady)
	firstDial, lastWelcome, lastDelivery          atomic.Int64 // Unix nanoseconds
	firstInvalid                                  atomic.Pointer[string]

	// remote, if set, holds the fleet's devices in worker processes: the
	// fleet's devices have no clients, record counts the arrivals the
	// workers report, and remoteStats is the sum of their latest counters.
	remote      *workerPool
	remoteStats atomic.Pointer[fleetStats]
}

// device is one simulated device.
type device struct {
	fleet  *fleet
	index  int // global
	cred   sdk.Credentials
	ends   sdk.Endpoints // from dispatch, asked while registering
	client atomic.Pointer[sdk.Client]
	up     atomic.Bool // counted in fleet.connected
}

func newFleet(cfg fleetConfig, creds []sdk.Credentials, ends []sdk.Endpoints) *fleet {
	f := &fleet{cfg: cfg, devices: make([]device, len(creds)), latency: new(histogram)}
	if cfg.Messages > 0 && cfg.Sink == nil {
		f.slots = make([]atomic.Uint32, len(creds)*cfg.Messages)
	}
	if cfg.Shared && cfg.Sink == nil {
		f.arrived = make([]atomic.Int64, cfg.Messages)
		f.lastArrival = make([]atomic.Int64, cfg.Messages)
	}
	for i := range f.devices {
		f.devices[i] = device{fleet: f, index: cfg.First + i, cred: creds[i], ends: ends[i]}
	}
	return f
}

// handle is every device's sdk.Handler. Returning nil acknowledges the
// message, also when it is not one of the bench's: the bench must not make
// the server redeliver.
func (d *device) handle(m *sdk.Message) error {
	now := time.Now()
	f := d.fleet
	st, ok := parseStamp(m.Extras)
	if !ok || (!f.cfg.Shared && st.device != d.index) || st.seq >= f.cfg.Messages {
		f.invalid.Add(1)
		msg := fmt.Sprintf("device %d got message %d with extras %s", d.index, m.ID, m.Extras)
		f.firstInvalid.CompareAndSwap(nil, &msg)
		return nil
	}
	if f.cfg.Sink != nil {
		f.cfg.Sink(d.index, st.seq, st.sent, now.UnixNano())
		return nil
	}
	f.record(d.index, st.seq, st.sent, now.UnixNano())
	return nil
}

// record counts the arrival at time at (Unix nanoseconds) of message seq,
// sent at sent, at the device with global index device: a duplicate if the
// device had it already. Callers checked device and seq.
func (f *fleet) record(device, seq int, sent, at int64) {
	if f.slots[(device-f.cfg.First)*f.cfg.Messages+seq].Add(1) > 1 {
		f.handlerDuplicates.Add(1)
		return
	}
	f.latency.record(time.Duration(at - sent))
	f.received.Add(1)
	storeMax(&f.lastDelivery, at)
	if f.cfg.Shared {
		storeMax(&f.lastArrival[seq], at)
		f.arrived[seq].Add(1)
	}
}

// onState keeps fleet.connected current. It runs on the client's
// goroutine.
func (d *device) onState(s sdk.State, err error) {
	f := d.fleet
	switch s {
	case sdk.StateConnected:
		if !d.up.Swap(true) {
			f.connected.Add(1)
		}
	case sdk.StateDisconnected, sdk.StateClosed:
		if d.up.Swap(false) {
			f.connected.Add(-1)
		}
		if s == sdk.StateDisconnected || !errors.Is(err, sdk.ErrClosed) {
			f.disconnects.Add(1)
		}
	}
}

// storeMax raises a to v if v is larger.
func storeMax(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

// storeMin lowers a to v if a is zero or larger.
func storeMin(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if (cur != 0 && cur <= v) || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

var discardLogger = slog.New(slog.DiscardHandler)

// connect connects every device, at most concurrency dials in flight, and
// returns the number that failed to connect. onError is called with each
// device's failure.
func (f *fleet) connect(ctx context.Context, concurrency int, onError func(error)) int {
	if f.remote != nil {
		return f.remote.connect(ctx, onError)
	}
	var (
		next    atomic.Int64
		failing atomic.Int64 // dials that failed since the last success
		gaveUp  atomic.Bool
		wg      sync.WaitGroup
	)
	giveUpAfter := int64(max(2*concurrency, minGiveUpAfter))
	for range min(concurrency, len(f.devices)) {
		wg.Go(func() {
			for ctx.Err() == nil && !gaveUp.Load() {
				i := int(next.Add(1) - 1)
				if i >= len(f.devices) {
					return
				}
				err := f.dial(ctx, &f.devices[i])
				if err == nil {
					failing.Store(0)
					continue
				}
				f.dialErrors.Add(1)
				onError(fmt.Errorf("device %d (%s): %w", f.devices[i].index, f.devices[i].cred.RegistrationID, err))
				if n := failing.Add(1); n == giveUpAfter {
					gaveUp.Store(true)
					onError(fmt.Errorf("%d connections in a row failed: the server takes no more (at its limit of open files?); the devices not dialed yet are given up", n))
				}
			}
		})
	}
	wg.Wait()
	if undialed := int64(len(f.devices)) - min(next.Load(), int64(len(f.devices))); undialed > 0 {
		f.dialErrors.Add(undialed)
	}
	return len(f.devices) - int(f.welcomed.Load())
}

// minGiveUpAfter is the fewest failed dials in a row after which connect
// gives up on the devices it has not dialed yet (it is twice the dials in
// flight when those are more). Without it a fleet larger than the server
// can take waits out DialTimeout for every device beyond: 10,000 devices
// too many took ten minutes to fail.
const minGiveUpAfter = 100

func (f *fleet) dial(ctx context.Context, d *device) error {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.DialTimeout)
	defer cancel()
	began := time.Now().UnixNano()
	storeMin(&f.firstDial, began)
	c, err := sdk.Dial(ctx, f.sdkConfig(d))
	if err != nil {
		return err
	}
	at := time.Now().UnixNano()
	storeMax(&f.lastWelcome, at)
	f.welcomed.Add(1)
	d.client.Store(c)
	if f.cfg.TimeConnects {
		if f.cfg.Sink != nil {
			f.cfg.Sink(d.index, 0, began, at)
		} else {
			f.record(d.index, 0, began, at)
		}
	}
	return nil
}

// reconnect closes device d's connection, if it has one, and dials it
// again: the server keeps what is pushed to it meanwhile and delivers it
// on the new connection.
func (f *fleet) reconnect(ctx context.Context, d *device) error {
	if c := d.client.Swap(nil); c != nil {
		c.Close()
		cs := c.Stats()
		f.closedAcked.Add(cs.Acked)
		f.closedReceived.Add(cs.Received)
		f.closedDuplicates.Add(cs.Duplicates)
	}
	ctx, cancel := context.WithTimeout(ctx, f.cfg.DialTimeout)
	defer cancel()
	c, err := sdk.Dial(ctx, f.sdkConfig(d))
	if err != nil {
		f.reconnectErrors.Add(1)
		return err
	}
	f.reconnects.Add(1)
	d.client.Store(c)
	return nil
}

// churn reconnects n devices picked at random, at most concurrency at
// once, and returns when all have reconnected or failed to. onError is
// called with each failure. A fleet held by worker processes has each
// worker churn its share and returns at once.
func (f *fleet) churn(ctx context.Context, n, concurrency int, onError func(error)) {
	if f.remote != nil {
		f.remote.churn(n)
		return
	}
	n = min(n, len(f.devices))
	picked := rand.Perm(len(f.devices))[:n]
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(concurrency, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				k := int(next.Add(1) - 1)
				if k >= n {
					return
				}
				d := &f.devices[picked[k]]
				if err := f.reconnect(ctx, d); err != nil && ctx.Err() == nil {
					onError(fmt.Errorf("reconnecting device %d (%s): %w", d.index, d.cred.RegistrationID, err))
				}
			}
		})
	}
	wg.Wait()
}

// sdkConfig returns the configuration device d connects with.
func (f *fleet) sdkConfig(d *device) sdk.Config {
	return sdk.Config{
		Gateway:     f.cfg.Gateway,
		Credentials: d.cred,
		Endpoints:   &d.ends,
		Handler:     d.handle,
		Heartbeat:   f.cfg.Heartbeat,
		HTTPClient:  f.cfg.HTTP,
		Dial:        f.cfg.Sources.DialContext,
		// The server retries unacknowledged messages only after a
		// reconnect; remembering every message of the run suffices, and
		// keeps 18,000 clients from holding the default 4096-entry map each.
		DedupeWindow: f.cfg.Messages + 16,
		OnState:      d.onState,
		Logger:       discardLogger,
	}
}

// close disconnects every device.
func (f *fleet) close() {
	if f.remote != nil {
		f.remote.close()
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(f.devices) {
					return
				}
				if c := f.devices[i].client.Swap(nil); c != nil {
					c.Close()
				}
			}
		})
	}
	wg.Wait()
}

// fleetStats is a snapshot of a fleet's counters. Snapshots of several
// fleets add up with add.
type fleetStats struct {
	Devices           int
	Connected         int64
	Welcomed          int64 // devices whose first connection succeeded
	Unconnected       int64 // devices whose first connection failed
	Disconnects       int64
	Reconnects        int64 // churned devices that connected again
	ReconnectErrors   int64 // churned devices that could not
	DialFailures      int64
	Received          int64 // distinct messages handed to handlers
	HandlerDuplicates int64 // messages handed to a handler again
	SDKDuplicates     int64 // duplicates the SDK dropped before the handler
	SDKReceived       int64
	Acked             int64
	Invalid           int64
	FirstDial         int64 // Unix nanoseconds; zero if none
	LastWelcome       int64
	LastDelivery      int64
	UpSent            int64 // upstream Sends started (Steady)
	UpAcked           int64 // upstream Sends the server acknowledged
	UpErrors          int64 // upstream Sends that failed
}

// acked returns the ACKs the devices sent, visiting every client.
func (f *fleet) acked() int64 {
	n := f.closedAcked.Load()
	for i := range f.devices {
		if c := f.devices[i].client.Load(); c != nil {
			n += c.Stats().Acked
		}
	}
	if rs := f.remoteStats.Load(); rs != nil {
		n += rs.Acked
	}
	return n
}

// stats takes a snapshot. Summing the SDK counters visits every client.
func (f *fleet) stats() fleetStats {
	s := fleetStats{
		Devices:           len(f.devices),
		Connected:         f.connected.Load(),
		Welcomed:          f.welcomed.Load(),
		Unconnected:       f.dialErrors.Load(),
		Disconnects:       f.disconnects.Load(),
		Reconnects:        f.reconnects.Load(),
		ReconnectErrors:   f.reconnectErrors.Load(),
		Received:          f.received.Load(),
		HandlerDuplicates: f.handlerDuplicates.Load(),
		Invalid:           f.invalid.Load(),
		FirstDial:         f.firstDial.Load(),
		LastWelcome:       f.lastWelcome.Load(),
		LastDelivery:      f.lastDelivery.Load(),
		Acked:             f.closedAcked.Load(),
		SDKReceived:       f.closedReceived.Load(),
		SDKDuplicates:     f.closedDuplicates.Load(),
		UpSent:            f.upSent.Load(),
		UpAcked:           f.upAcked.Load(),
		UpErrors:          f.upErrors.Load(),
	}
	if f.cfg.Sources != nil {
		s.DialFailures = f.cfg.Sources.failures.Load()
	}
	for i := range f.devices {
		if c := f.devices[i].client.Load(); c != nil {
			cs := c.Stats()
			s.SDKDuplicates += cs.Duplicates
			s.SDKReceived += cs.Received
			s.Acked += cs.Acked
		}
	}
	if rs := f.remoteStats.Load(); rs != nil {
		s.DialFailures += rs.DialFailures
		s.SDKDuplicates += rs.SDKDuplicates
		s.SDKReceived += rs.SDKReceived
		s.Acked += rs.Acked
	}
	return s
}

// sync makes the fleet's counters current: for a fleet held by worker
// processes, it waits until every worker has reported everything its
// devices received so far. A local fleet is always current.
func (f *fleet) sync(ctx context.Context) {
	if f.remote != nil {
		f.remote.sync(ctx)
	}
}

// add adds o's counters to s.
func (s *fleetStats) add(o fleetStats) {
	s.Devices += o.Devices
	s.Connected += o.Connected
	s.Welcomed += o.Welcomed
	s.Unconnected += o.Unconnected
	s.Disconnects += o.Disconnects
	s.Reconnects += o.Reconnects
	s.ReconnectErrors += o.ReconnectErrors
	s.DialFailures += o.DialFailures
	s.Received += o.Received
	s.HandlerDuplicates += o.HandlerDuplicates
	s.SDKDuplicates += o.SDKDuplicates
	s.SDKReceived += o.SDKReceived
	s.Acked += o.Acked
	s.Invalid += o.Invalid
	s.UpSent += o.UpSent
	s.UpAcked += o.UpAcked
	s.UpErrors += o.UpErrors
	if o.FirstDial != 0 && (s.FirstDial == 0 || o.FirstDial < s.FirstDial) {
		s.FirstDial = o.FirstDial
	}
	s.LastWelcome = max(s.LastWelcome, o.LastWelcome)
	s.LastDelivery = max(s.LastDelivery, o.LastDelivery)
}
