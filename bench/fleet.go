package bench

import (
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/internal/fleet"
	"github.com/heraldpush/herald/sdk"
)

// countedFleet is a run's devices, held by a fleet.Fleet in this process
// or in worker processes, and the count of what they received: every
// message is stamped (fleet.Stamp) with the device it is for, its sequence
// number and its send time, so each arrival fills a (device, seq) slot and
// a latency. record runs on the SDK's reading goroutines, or on the
// goroutine reading a worker's reports, and touches only atomics and
// memory allocated up front; everything else runs on the goroutine driving
// the scenario (and the workers it starts for a phase).
type countedFleet struct {
	held    fleet.Fleet
	workers *fleet.Workers // held, when worker processes hold the devices
	// creds are the devices' credentials by index (the run's devices are
	// numbered from 0).
	creds []sdk.Credentials
	// messages is how many messages each device expects (seq 0 to
	// messages-1); shared says every message is for every device.
	messages int
	shared   bool

	latency *histogram
	// slots counts the arrivals of each (device, seq): index
	// device*messages + seq.
	slots []atomic.Uint32
	// arrived and lastArrival are, per seq of a shared fleet, the devices
	// that got the message and when the last one did (Unix nanoseconds).
	arrived, lastArrival []atomic.Int64

	received, handlerDuplicates, lastDelivery atomic.Int64
	// webhookInvalid counts the messages at a Steady run's webhook that
	// were not the bench's; firstWebhookInvalid describes the first.
	webhookInvalid      atomic.Int64
	firstWebhookInvalid atomic.Pointer[string]
}

// newCountedFleet returns the count of a fleet of these devices, each
// expecting messages messages, shared or not. Its held fleet is set by
// the caller, with record as its OnArrival.
func newCountedFleet(creds []sdk.Credentials, messages int, shared bool) *countedFleet {
	f := &countedFleet{creds: creds, messages: messages, shared: shared, latency: new(histogram),
		slots: make([]atomic.Uint32, len(creds)*messages)}
	if shared {
		f.arrived = make([]atomic.Int64, messages)
		f.lastArrival = make([]atomic.Int64, messages)
	}
	return f
}

// size returns how many devices the fleet has.
func (f *countedFleet) size() int { return len(f.creds) }

// record counts an arrival: a duplicate if the device had the message
// already. The fleet checked the device and seq (fleet.Config.Stamped).
func (f *countedFleet) record(a fleet.Arrival) {
	if f.slots[a.Device*f.messages+a.Seq].Add(1) > 1 {
		f.handlerDuplicates.Add(1)
		return
	}
	f.latency.record(time.Duration(a.At - a.Sent))
	f.received.Add(1)
	storeMax(&f.lastDelivery, a.At)
	if f.shared {
		storeMax(&f.lastArrival[a.Seq], a.At)
		f.arrived[a.Seq].Add(1)
	}
}

// fleetStats is a snapshot of a fleet's counters and of what was counted.
type fleetStats struct {
	fleet.Stats
	Received          int64 // distinct messages handed to handlers
	HandlerDuplicates int64 // messages handed to a handler again
	LastDelivery      int64 // Unix nanoseconds
}

// stats takes a snapshot. For devices held in this process, summing the
// SDK counters visits every client.
func (f *countedFleet) stats() fleetStats {
	s := fleetStats{
		Stats:             f.held.Stats(),
		Received:          f.received.Load(),
		HandlerDuplicates: f.handlerDuplicates.Load(),
		LastDelivery:      f.lastDelivery.Load(),
	}
	s.Invalid += f.webhookInvalid.Load()
	return s
}

// firstInvalid describes the first message that was not the bench's, or
// is empty.
func (f *countedFleet) firstInvalid() string {
	if m := f.firstWebhookInvalid.Load(); m != nil {
		return *m
	}
	return f.held.FirstInvalid()
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
