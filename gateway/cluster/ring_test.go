package cluster

import (
	"fmt"
	"testing"
)

func owners(r *ring, keys int) map[string]int {
	counts := map[string]int{}
	for k := range keys {
		counts[r.ids[r.order(fmt.Sprint("device-", k))[0]]]++
	}
	return counts
}

func TestRingSpreadsDevicesEvenly(t *testing.T) {
	r := newRing([]string{"a", "b", "c"}, []int{0, 0, 0})
	counts := owners(r, 30000)
	for id, n := range counts {
		if n < 8000 || n > 12000 {
			t.Fatalf("connector %s owns %d of 30000 devices: %v", id, n, counts)
		}
	}
}

func TestRingOrderListsEveryConnectorOnceOwnerFirst(t *testing.T) {
	r := newRing([]string{"a", "b", "c", "d"}, []int{1, 1, 1, 1})
	for k := range 100 {
		o := r.order(fmt.Sprint(k))
		seen := map[int]bool{}
		for _, i := range o {
			if seen[i] {
				t.Fatalf("order %v repeats a connector", o)
			}
			seen[i] = true
		}
		if len(o) != 4 {
			t.Fatalf("order %v does not list every connector", o)
		}
	}
}

func TestRingMovesFewDevicesWhenAConnectorJoins(t *testing.T) {
	before := newRing([]string{"a", "b", "c"}, []int{0, 0, 0})
	after := newRing([]string{"a", "b", "c", "d"}, []int{0, 0, 0, 0})
	moved := 0
	const keys = 20000
	for k := range keys {
		key := fmt.Sprint("device-", k)
		was, is := before.ids[before.order(key)[0]], after.ids[after.order(key)[0]]
		if was != is && is != "d" {
			moved++
		}
	}
	if moved > keys/50 {
		t.Fatalf("%d of %d devices moved between the old connectors when one joined", moved, keys)
	}
}

func TestRingBoundsTheLoadOfAConnector(t *testing.T) {
	// c is overloaded: the devices it would own go to the next connector.
	r := newRing([]string{"a", "b", "c"}, []int{100, 100, 1000})
	counts := owners(r, 9000)
	if counts["c"] != 0 {
		t.Fatalf("an overloaded connector still owns %d devices: %v", counts["c"], counts)
	}
}

func TestEmptyRing(t *testing.T) {
	if o := newRing(nil, nil).order("x"); o != nil {
		t.Fatalf("order on an empty ring: %v", o)
	}
}

func BenchmarkRingOrder(b *testing.B) {
	r := newRing([]string{"a", "b", "c", "d", "e", "f"}, []int{1, 2, 3, 4, 5, 6})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.order("device-" + fmt.Sprint(i))
	}
}
