package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/sdk"
)

// Local is a fleet whose devices are SDK clients in this process. The
// handlers run on the SDK's reading goroutines and touch only atomics and
// Config.OnArrival; everything else runs on the goroutines calling its
// methods (and the workers those start for one call).
type Local struct {
	cfg     Config
	dialer  *sourceDialer
	devices []device

	connected, disconnects, welcomed, unconnected atomic.Int64
	reconnects, reconnectErrors                   atomic.Int64
	// The SDK counters of clients that were closed.
	closedAcked, closedReceived, closedDuplicates atomic.Int64
	invalid                                       atomic.Int64
	firstInvalid                                  atomic.Pointer[string]
	upSent, upAcked, upErrors                     atomic.Int64
	firstDial, lastWelcome                        atomic.Int64 // Unix nanoseconds
}

// device is one simulated device.
type device struct {
	fleet  *Local
	index  int // global
	cred   sdk.Credentials
	ends   sdk.Endpoints // from dispatch, if asked while registering
	client atomic.Pointer[sdk.Client]
	up     atomic.Bool // counted in Local.connected
}

// NewLocal returns a fleet of the devices with these credentials and, if
// ends is not nil, these endpoints (what dispatch answered: the devices
// then connect without asking it first). Device i has the global index
// cfg.First+i. No device is connected yet.
func NewLocal(cfg Config, creds []sdk.Credentials, ends []sdk.Endpoints) *Local {
	cfg = cfg.withDefaults()
	f := &Local{cfg: cfg, dialer: newSourceDialer(cfg.Sources, 10*time.Second), devices: make([]device, len(creds))}
	for i := range f.devices {
		f.devices[i] = device{fleet: f, index: cfg.First + i, cred: creds[i]}
		if ends != nil {
			f.devices[i].ends = ends[i]
		}
	}
	return f
}

// handle is every device's sdk.Handler. Returning nil acknowledges the
// message, also when it is not the fleet's: the server must not redeliver
// it.
func (d *device) handle(m *sdk.Message) error {
	f := d.fleet
	a := Arrival{Device: d.index, ID: m.ID, At: time.Now().UnixNano()}
	if f.cfg.Stamped {
		st, ok := ParseStamp(m.Extras)
		if !ok || (!f.cfg.Shared && st.Device != d.index) || st.Seq >= f.cfg.Messages {
			f.invalid.Add(1)
			if f.firstInvalid.Load() == nil {
				msg := fmt.Sprintf("device %d got message %d with extras %s", d.index, m.ID, m.Extras)
				f.firstInvalid.CompareAndSwap(nil, &msg)
			}
			return nil
		}
		a.Seq, a.Sent = st.Seq, st.Sent
	}
	if f.cfg.OnArrival != nil {
		f.cfg.OnArrival(a)
	}
	return nil
}

// onState keeps Local.connected current. It runs on the client's
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

// span returns the local indexes of the fleet's devices in the global
// range [from, to).
func (f *Local) span(from, to int) (lo, hi int) {
	lo = min(max(from-f.cfg.First, 0), len(f.devices))
	hi = min(max(to-f.cfg.First, lo), len(f.devices))
	return lo, hi
}

// parallel runs do for every index of [lo, hi), n at a time, while ctx
// lasts and do returns true. It returns the first index not started.
func parallel(ctx context.Context, lo, hi, n int, do func(i int) bool) int {
	var (
		next    atomic.Int64
		stopped atomic.Bool
		wg      sync.WaitGroup
	)
	next.Store(int64(lo))
	for range min(n, hi-lo) {
		wg.Go(func() {
			for ctx.Err() == nil && !stopped.Load() {
				i := int(next.Add(1) - 1)
				if i >= hi {
					return
				}
				if !do(i) {
					stopped.Store(true)
				}
			}
		})
	}
	wg.Wait()
	return min(int(next.Load()), hi)
}

// Connect implements Fleet.
func (f *Local) Connect(ctx context.Context, from, to int) int {
	lo, hi := f.span(from, to)
	var (
		failed  atomic.Int64
		failing atomic.Int64 // dials that failed since the last success
	)
	giveUpAfter := int64(max(2*f.cfg.Concurrency, GiveUpAfter))
	next := parallel(ctx, lo, hi, f.cfg.Concurrency, func(i int) bool {
		d := &f.devices[i]
		if d.client.Load() != nil {
			return true
		}
		err := f.dial(ctx, d)
		if err == nil {
			failing.Store(0)
			return true
		}
		failed.Add(1)
		f.unconnected.Add(1)
		f.cfg.onError("connect", fmt.Errorf("device %d (%s): %w", d.index, d.cred.RegistrationID, err))
		if n := failing.Add(1); n == giveUpAfter {
			f.cfg.onError("connect", fmt.Errorf("%d connections in a row failed: the server takes no more (at its limit of open files?); the devices not dialed yet are given up", n))
			return false
		}
		return true
	})
	undialed := int64(hi - next)
	f.unconnected.Add(undialed)
	return int(failed.Load() + undialed)
}

func (f *Local) dial(ctx context.Context, d *device) error {
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
	if f.cfg.TimeConnects && f.cfg.OnArrival != nil {
		f.cfg.OnArrival(Arrival{Device: d.index, Sent: began, At: at})
	}
	return nil
}

var discardLogger = slog.New(slog.DiscardHandler)

// sdkConfig returns the configuration device d connects with.
func (f *Local) sdkConfig(d *device) sdk.Config {
	return sdk.Config{
		Gateway:      f.cfg.Gateway,
		Credentials:  d.cred,
		Endpoints:    &d.ends,
		Handler:      d.handle,
		Heartbeat:    f.cfg.Heartbeat,
		HTTPClient:   f.cfg.HTTP,
		Dial:         f.dialer.DialContext,
		MinBackoff:   f.cfg.MinBackoff,
		MaxBackoff:   f.cfg.MaxBackoff,
		DedupeWindow: f.cfg.DedupeWindow,
		OnState:      d.onState,
		Logger:       discardLogger,
	}
}

// close closes device d's connection, if it has one, keeping its client's
// counters, and reports whether it had one.
func (f *Local) close(d *device) bool {
	c := d.client.Swap(nil)
	if c == nil {
		return false
	}
	c.Close()
	cs := c.Stats()
	f.closedAcked.Add(cs.Acked)
	f.closedReceived.Add(cs.Received)
	f.closedDuplicates.Add(cs.Duplicates)
	return true
}

// Disconnect implements Fleet.
func (f *Local) Disconnect(_ context.Context, from, to int) int {
	lo, hi := f.span(from, to)
	var n atomic.Int64
	parallel(context.Background(), lo, hi, f.cfg.Concurrency, func(i int) bool {
		if f.close(&f.devices[i]) {
			n.Add(1)
		}
		return true
	})
	return int(n.Load())
}

// Close implements Fleet.
func (f *Local) Close() { f.Disconnect(context.Background(), f.cfg.First, f.cfg.First+len(f.devices)) }

// reconnect closes device d's connection, if it has one, and dials it
// again: the server keeps what is pushed to it meanwhile and delivers it
// on the new connection.
func (f *Local) reconnect(ctx context.Context, d *device) error {
	f.close(d)
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

// Churn implements Fleet.
func (f *Local) Churn(ctx context.Context, n int) {
	n = min(n, len(f.devices))
	picked := rand.Perm(len(f.devices))[:n]
	parallel(ctx, 0, n, f.cfg.Concurrency, func(k int) bool {
		d := &f.devices[picked[k]]
		if err := f.reconnect(ctx, d); err != nil && ctx.Err() == nil {
			f.cfg.onError("reconnect", fmt.Errorf("reconnecting device %d (%s): %w", d.index, d.cred.RegistrationID, err))
		}
		return true
	})
}

// Client returns the client of the device with global index i, or nil if
// it is not connected (or not the fleet's), for what the fleet does not
// do itself: Send, Click, its own Stats.
func (f *Local) Client(i int) *sdk.Client {
	if i -= f.cfg.First; i < 0 || i >= len(f.devices) {
		return nil
	}
	return f.devices[i].client.Load()
}

// Sync implements Fleet: a Local fleet is always current.
func (f *Local) Sync(context.Context) {}

// Connected implements Fleet.
func (f *Local) Connected() int64 { return f.connected.Load() }

// FirstInvalid implements Fleet.
func (f *Local) FirstInvalid() string {
	if m := f.firstInvalid.Load(); m != nil {
		return *m
	}
	return ""
}

// Acked implements Fleet; it visits every client.
func (f *Local) Acked() int64 {
	n := f.closedAcked.Load()
	for i := range f.devices {
		if c := f.devices[i].client.Load(); c != nil {
			n += c.Stats().Acked
		}
	}
	return n
}

// Stats implements Fleet; summing the SDK counters visits every client.
func (f *Local) Stats() Stats {
	s := Stats{
		Devices:         len(f.devices),
		Connected:       f.connected.Load(),
		Welcomed:        f.welcomed.Load(),
		Unconnected:     f.unconnected.Load(),
		Disconnects:     f.disconnects.Load(),
		Reconnects:      f.reconnects.Load(),
		ReconnectErrors: f.reconnectErrors.Load(),
		DialFailures:    f.dialer.failures.Load(),
		Invalid:         f.invalid.Load(),
		FirstDial:       f.firstDial.Load(),
		LastWelcome:     f.lastWelcome.Load(),
		Acked:           f.closedAcked.Load(),
		SDKReceived:     f.closedReceived.Load(),
		SDKDuplicates:   f.closedDuplicates.Load(),
		UpSent:          f.upSent.Load(),
		UpAcked:         f.upAcked.Load(),
		UpErrors:        f.upErrors.Load(),
	}
	for i := range f.devices {
		if c := f.devices[i].client.Load(); c != nil {
			cs := c.Stats()
			s.SDKDuplicates += cs.Duplicates
			s.SDKReceived += cs.Received
			s.Acked += cs.Acked
		}
	}
	return s
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
