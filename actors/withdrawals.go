package actors

import (
	"sync"
	"sync/atomic"
	"time"
)

// Withdrawals are the messages a connector must no longer send: a cancel
// withdrew them. Device actors drop their copies when they would send them,
// deliver them, or load them from the inbox. Entries go when their message
// expires. Safe for concurrent use; Has costs one atomic load while
// nothing is withdrawn.
type Withdrawals struct {
	ids sync.Map // message id → expiry
	n   atomic.Int64
}

// Add withdraws message id until expires.
func (w *Withdrawals) Add(id uint64, expires time.Time) {
	if _, loaded := w.ids.LoadOrStore(id, expires); !loaded {
		w.n.Add(1)
	}
}

// Has reports whether message id is withdrawn.
func (w *Withdrawals) Has(id uint64) bool {
	if w == nil || w.n.Load() == 0 {
		return false
	}
	_, ok := w.ids.Load(id)
	return ok
}

// Prune forgets withdrawals of messages expired by now: no copy of them
// can be sent any more anyway.
func (w *Withdrawals) Prune(now time.Time) {
	if w.n.Load() == 0 {
		return
	}
	w.ids.Range(func(k, v any) bool {
		if exp := v.(time.Time); !exp.IsZero() && now.After(exp.Add(time.Minute)) {
			if _, deleted := w.ids.LoadAndDelete(k); deleted {
				w.n.Add(-1)
			}
		}
		return true
	})
}
