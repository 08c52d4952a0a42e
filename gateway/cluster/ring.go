package cluster

import (
	"hash/fnv"
	"math"
	"slices"
	"strconv"
	"sync/atomic"
)

// ring places connectors on a consistent-hash ring with bounded loads
// (Mirrokni, Thorup, Zadimoghaddam): a device belongs to the first
// connector clockwise from its hash whose load is below (1+epsilon) times
// the average, so adding or removing a connector moves few devices and no
// connector takes much more than its share. Its membership and announced
// loads are fixed; the cluster view builds a new one when they change.
//
// Announced loads lag behind: a connector that just joined announces 0 for
// seconds while devices pour in. So the ring also counts the devices it
// sent to each connector since that announcement (dispatched), and the
// bound applies to the sum.
type ring struct {
	points     []point // ascending hash
	ids        []string
	loads      []int
	total      int
	dispatched []atomic.Int64
	sent       atomic.Int64 // sum of dispatched
}

type point struct {
	hash uint64
	node int
}

// vnodes is how many points each connector has on the ring.
const vnodes = 128

// epsilon is how far above the average load a connector may go.
const epsilon = 0.25

func newRing(ids []string, loads []int) *ring {
	r := &ring{ids: ids, loads: loads, dispatched: make([]atomic.Int64, len(ids))}
	for i, id := range ids {
		r.total += loads[i]
		for v := range vnodes {
			r.points = append(r.points, point{hash: hashOf(id + "#" + strconv.Itoa(v)), node: i})
		}
	}
	slices.SortFunc(r.points, func(a, b point) int {
		switch {
		case a.hash < b.hash:
			return -1
		case a.hash > b.hash:
			return 1
		}
		return 0
	})
	return r
}

// hashOf is FNV-1a with a 64-bit finalizer: deterministic across
// processes (every gateway must place a device alike) and well spread.
func hashOf(s string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(s))
	x := h.Sum64()
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// order returns the connectors for key, as indexes into ids: the owner
// first (the first clockwise whose load is within the bound), then every
// other connector in ring order.
func (r *ring) order(key string) []int {
	n := len(r.ids)
	if n == 0 {
		return nil
	}
	bound := int64(math.Ceil(float64(int64(r.total)+r.sent.Load()+1) / float64(n) * (1 + epsilon)))
	start, _ := slices.BinarySearchFunc(r.points, hashOf(key), func(p point, h uint64) int {
		switch {
		case p.hash < h:
			return -1
		case p.hash > h:
			return 1
		}
		return 0
	})
	out := make([]int, 0, n)
	seen := make([]bool, n)
	owner := -1
	for i := range r.points {
		node := r.points[(start+i)%len(r.points)].node
		if seen[node] {
			continue
		}
		seen[node] = true
		out = append(out, node)
		if owner < 0 && r.load(node) < bound {
			owner = len(out) - 1
		}
		if len(out) == n {
			break
		}
	}
	if owner > 0 {
		o := out[owner]
		copy(out[1:owner+1], out[:owner])
		out[0] = o
	}
	return out
}

// load is a connector's announced load plus what was sent to it since.
func (r *ring) load(node int) int64 {
	return int64(r.loads[node]) + r.dispatched[node].Load()
}

// dispatch records that a device was sent to node.
func (r *ring) dispatch(node int) {
	r.dispatched[node].Add(1)
	r.sent.Add(1)
}

// carry copies the dispatched count of old's node i to node j of r, for a
// connector that has not announced itself since.
func (r *ring) carry(j int, old *ring, i int) {
	n := old.dispatched[i].Load()
	r.dispatched[j].Store(n)
	r.sent.Add(n)
}
