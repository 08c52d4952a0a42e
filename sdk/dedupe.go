package sdk

// dedupe remembers the last n message ids handled, so a message sent again
// after a reconnect is not handed to the app twice. Owned by the reading
// goroutine.
type dedupe struct {
	seen map[uint64]struct{}
	ring []uint64
	next int
}

func newDedupe(n int) *dedupe {
	return &dedupe{seen: make(map[uint64]struct{}, n), ring: make([]uint64, n)}
}

func (d *dedupe) has(id uint64) bool {
	_, ok := d.seen[id]
	return ok
}

func (d *dedupe) add(id uint64) {
	if old := d.ring[d.next]; old != 0 {
		delete(d.seen, old)
	}
	d.ring[d.next] = id
	d.seen[id] = struct{}{}
	d.next = (d.next + 1) % len(d.ring)
}
