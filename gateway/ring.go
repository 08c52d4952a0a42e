package gateway

import (
	"hash/fnv"
	"math"
	"slices"
	"strconv"
)

// ring places connectors on a consistent-hash ring with bounded loads
// (Mirrokni, Thorup, Zadimoghaddam): a device belongs to the first
// connector clockwise from its hash whose load is below (1+epsilon) times
// the average, so adding or removing a connector moves few devices and no
// connector takes much more than its share. It is immutable; the cluster
// view builds a new one when membership or loads change.
type ring struct {
	points []point // ascending hash
	ids    []string
	loads  []int
	total  int
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
	r := &ring{ids: ids, loads: loads}
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
	bound := int(math.Ceil(float64(r.total+1) / float64(n) * (1 + epsilon)))
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
		if owner < 0 && r.loads[node] < bound {
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
