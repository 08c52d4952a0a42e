package connector

import (
	"runtime/debug"
	"sync/atomic"
)

// minTrimChurn is the fewest connections opened or closed since the last
// trim that make another one worth its collection.
const minTrimChurn = 1000

// trimmer gives memory back to the operating system once a burst of
// connections is over.
//
// Connecting a device makes garbage (the handshake, the store calls), so
// during a burst the heap grows to twice what it keeps, as the collector
// is tuned (GOGC=100), and the process stays that large: the runtime
// returns memory only above its heap goal. An idle connector then holds
// about twice the resident memory its connections need. Once connections
// have stopped opening and closing for a while, the trimmer runs
// debug.FreeOSMemory: one collection, and the freed pages go back. A burst
// must be worth it, at least minTrimChurn connections and a tenth of those
// open, so that a trickle of reconnects does not make a large connector
// collect every few seconds.
type trimmer struct {
	after int64 // seconds without churn before a trim
	free  func()

	churn atomic.Int64 // connections opened or closed, ever

	// Owned by the sweeper, which calls tick.
	seen    int64 // churn at the previous tick
	quietAt int64 // clock of the last tick that saw churn
	trimmed int64 // churn at the last trim

	running atomic.Bool
}

func newTrimmer(afterSeconds int64) *trimmer {
	return &trimmer{after: afterSeconds, free: debug.FreeOSMemory}
}

// changed counts a connection opened or closed.
func (t *trimmer) changed() { t.churn.Add(1) }

// tick is called by the sweeper every second with its clock and the number
// of open connections; it starts a trim when one is due and reports
// whether it did.
func (t *trimmer) tick(now int64, open int) bool {
	if t.after <= 0 {
		return false
	}
	c := t.churn.Load()
	if c != t.seen {
		t.seen, t.quietAt = c, now
		return false
	}
	if burst := c - t.trimmed; burst < max(minTrimChurn, int64(open)/10) || now-t.quietAt < t.after {
		return false
	}
	if !t.running.CompareAndSwap(false, true) {
		return false
	}
	t.trimmed = c
	go func() {
		defer t.running.Store(false)
		t.free()
	}()
	return true
}
