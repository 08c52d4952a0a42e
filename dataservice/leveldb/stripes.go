package leveldb

import (
	"math/bits"
	"sync"
)

// stripeCount is the number of mutexes that serialize read-modify-write
// operations. Two records share a stripe with probability 1/stripeCount.
const stripeCount = 256

// stripe is one mutex, padded to a cache line so that neighbours do not
// contend.
type stripe struct {
	mu sync.Mutex
	_  [64 - 8]byte
}

// stripes serializes read-modify-write operations per record.
type stripes [stripeCount]stripe

// stripeIndex hashes kind and key (FNV-1a) to a stripe. It takes strings or
// byte slices so that the sweeper, which sees raw keys, picks the same stripe
// as the methods, which see strings. The tag is not hashed: the value and the
// counter record of a kind and key share a stripe.
func stripeIndex[K, S ~string | ~[]byte](kind K, key S) uint8 {
	const (
		offset = 2166136261
		prime  = 16777619
	)
	h := uint32(offset)
	for i := 0; i < len(kind); i++ {
		h = (h ^ uint32(kind[i])) * prime
	}
	h = (h ^ 0) * prime
	for i := 0; i < len(key); i++ {
		h = (h ^ uint32(key[i])) * prime
	}
	return uint8(h ^ h>>8 ^ h>>16 ^ h>>24)
}

// stripeSet is a set of stripes, locked and unlocked together in ascending
// order.
type stripeSet [stripeCount / 64]uint64

func (s *stripeSet) add(i uint8) { s[i/64] |= 1 << (i % 64) }

// lock locks the stripes of set in ascending order.
func (l *stripes) lock(set *stripeSet) {
	for w, word := range set {
		for word != 0 {
			b := bits.TrailingZeros64(word)
			word &^= 1 << b
			l[w*64+b].mu.Lock()
		}
	}
}

// unlock unlocks the stripes of set.
func (l *stripes) unlock(set *stripeSet) {
	for w, word := range set {
		for word != 0 {
			b := bits.TrailingZeros64(word)
			word &^= 1 << b
			l[w*64+b].mu.Unlock()
		}
	}
}

// dupFinder finds, for each item of a multi-key operation, the latest
// earlier item with the same kind and key, without allocating: items are
// chained per stripe, and only items of the same stripe can be equal.
type dupFinder struct {
	head [stripeCount]int32 // last item of each stripe, -1: none
	next []int32            // previous item of the same stripe, -1: none
}

func (d *dupFinder) reset() {
	for i := range d.head {
		d.head[i] = -1
	}
	d.next = d.next[:0]
}

// add registers the next item, in stripe st, and returns the latest earlier
// item for which same returns true, or -1.
func (d *dupFinder) add(st uint8, same func(j int) bool) int {
	prev := -1
	for j := d.head[st]; j >= 0; j = d.next[j] {
		if same(int(j)) {
			prev = int(j)
			break
		}
	}
	d.next = append(d.next, d.head[st])
	d.head[st] = int32(len(d.next) - 1)
	return prev
}
