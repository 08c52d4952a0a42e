package cache

// entryHeap is a 4-ary min-heap of entries. A shard has two: one ordered
// by the policy score (which = byScore) and one, for policies other than
// TTL, of the entries that have an expiry, ordered by it (which =
// byExpiry). Each entry records its position in each heap, so removal and
// repair are O(log n).
//
// Hand-rolled rather than container/heap, for speed on a shard of tens of
// thousands of entries: the keys sit in the heap array beside the
// pointers, so comparisons read no entry (four children share a cache
// line), and four children per node halve the depth of a binary heap.
type entryHeap struct {
	items []heapItem
	which int
}

type heapItem struct {
	key uint64 // the entry's score or expiry when pushed or last fixed
	e   *entry
}

const (
	byScore  = 0
	byExpiry = 1
)

func (h *entryHeap) len() int { return len(h.items) }

// top returns the entry with the least key and that key.
func (h *entryHeap) top() (*entry, uint64) { return h.items[0].e, h.items[0].key }

func (h *entryHeap) push(e *entry, key uint64) {
	h.items = append(h.items, heapItem{key, e})
	i := len(h.items) - 1
	e.index[h.which] = int32(i)
	h.up(i)
}

// remove takes e out of the heap; e must be in it.
func (h *entryHeap) remove(e *entry) {
	i := int(e.index[h.which])
	last := len(h.items) - 1
	e.index[h.which] = -1
	if i != last {
		h.items[i] = h.items[last]
		h.items[i].e.index[h.which] = int32(i)
	}
	h.items[last] = heapItem{}
	h.items = h.items[:last]
	if i != last {
		h.fix(i)
	}
}

// rekeyTop changes the key of the top entry and restores the heap.
func (h *entryHeap) rekeyTop(key uint64) {
	h.items[0].key = key
	h.down(0)
}

// fix restores the heap after the item at i changed.
func (h *entryHeap) fix(i int) {
	if !h.down(i) {
		h.up(i)
	}
}

func (h *entryHeap) up(i int) {
	item := h.items[i]
	for i > 0 {
		parent := (i - 1) / 4
		if h.items[parent].key <= item.key {
			break
		}
		h.items[i] = h.items[parent]
		h.items[i].e.index[h.which] = int32(i)
		i = parent
	}
	h.items[i] = item
	item.e.index[h.which] = int32(i)
}

// down sifts the item at i down and reports whether it moved.
func (h *entryHeap) down(i int) bool {
	start, n := i, len(h.items)
	item := h.items[i]
	for {
		first := 4*i + 1
		if first >= n || first < 0 {
			break
		}
		least := first
		for c := first + 1; c < first+4 && c < n; c++ {
			if h.items[c].key < h.items[least].key {
				least = c
			}
		}
		if h.items[least].key >= item.key {
			break
		}
		h.items[i] = h.items[least]
		h.items[i].e.index[h.which] = int32(i)
		i = least
	}
	h.items[i] = item
	item.e.index[h.which] = int32(i)
	return i > start
}
