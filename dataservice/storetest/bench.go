package storetest

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

// Sizes of the benchmarks' data.
const (
	benchRecords   = 1024 // records Get, Put and Incr cycle through
	benchValueSize = 256  // bytes per value, about a Device or Session
	benchBatch     = 100  // writes per PutMany
	benchGroup     = 100  // records in the scanned group
	benchListLen   = 100  // MaxLen of the appended lists
)

// benchKeys returns n distinct keys.
func benchKeys(n int, format string) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf(format, i)
	}
	return keys
}

func benchValue() []byte {
	v := make([]byte, benchValueSize)
	for i := range v {
		v[i] = byte('a' + i%26)
	}
	return v
}

// Bench measures the hot paths of the stores made by newStore, with the
// same factory contract as Run:
//
//	Get               a hit on one of 1024 records of 256 bytes
//	Put               an unconditional overwrite of one of 1024 records
//	PutMany/batch=100 100 new records per op (ns/write is per record)
//	Incr              two counters of one of 1024 counter records
//	Scan/group=100    a whole 100-record group in one page
//	ListAppend/maxlen=100
//	                  one 16-byte item to one of 1024 lists kept at 100 items
//
// Each runs on GOMAXPROCS goroutines (b.RunParallel).
func Bench(b *testing.B, newStore func(testing.TB) dataservice.Store) {
	bg := context.Background()
	value := benchValue()
	keys := benchKeys(benchRecords, "device-%06d")

	b.Run("Get", func(b *testing.B) {
		s := open(b, newStore)
		fill(b, s, kindValues, keys, value)
		var next atomic.Uint64
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := next.Add(7919) // spread the goroutines over the keys
			for pb.Next() {
				i++
				if _, err := s.Get(bg, kindValues, keys[i%benchRecords]); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})

	b.Run("Put", func(b *testing.B) {
		s := open(b, newStore)
		fill(b, s, kindValues, keys, value)
		var next atomic.Uint64
		b.ReportAllocs()
		b.SetBytes(benchValueSize)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := next.Add(7919)
			for pb.Next() {
				i++
				if _, err := s.Put(bg, kindValues, keys[i%benchRecords], value, dataservice.WriteOptions{}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})

	// Records under keys never written before, as a push writes its inbox
	// copies, with and without telling the store so (WriteOptions.Fresh).
	for _, fresh := range []bool{false, true} {
		b.Run(fmt.Sprintf("PutNew/fresh=%v", fresh), func(b *testing.B) {
			s := open(b, newStore)
			fill(b, s, kindValues, keys, value)
			var next atomic.Uint64
			b.ReportAllocs()
			b.SetBytes(benchValueSize)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					key := "new/" + strconv.FormatUint(next.Add(1), 10)
					if _, err := s.Put(bg, kindValues, key, value, dataservice.WriteOptions{TTL: time.Hour, Fresh: fresh}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}

	b.Run(fmt.Sprintf("PutMany/batch=%d", benchBatch), func(b *testing.B) {
		s := open(b, newStore)
		var next atomic.Int64
		b.ReportAllocs()
		b.SetBytes(benchBatch * benchValueSize)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			id := next.Add(1)
			writes := make([]dataservice.Write, benchBatch)
			batchKeys := benchKeys(benchBatch*16, fmt.Sprintf("g%d/%%06d", id))
			for i := 0; pb.Next(); i++ {
				for j := range writes {
					writes[j] = dataservice.Write{Kind: kindGroups, Key: batchKeys[(i*benchBatch+j)%len(batchKeys)], Value: value}
				}
				if err := s.PutMany(bg, writes); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchBatch), "ns/write")
	})

	b.Run("Incr", func(b *testing.B) {
		s := open(b, newStore)
		var next atomic.Uint64
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			deltas := []dataservice.Delta{{Name: "sent", Delta: 1}, {Name: "acked", Delta: 1}}
			i := next.Add(7919)
			for pb.Next() {
				i++
				if _, err := s.Incr(bg, kindCounters, keys[i%benchRecords], deltas, 0); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})

	b.Run(fmt.Sprintf("Scan/group=%d", benchGroup), func(b *testing.B) {
		s := open(b, newStore)
		fill(b, s, kindGroups, benchKeys(benchGroup, "rid-1/msg-%06d"), value)
		fill(b, s, kindGroups, benchKeys(benchGroup, "rid-2/msg-%06d"), value)
		b.ReportAllocs()
		b.SetBytes(benchGroup * benchValueSize)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				got, err := s.Scan(bg, kindGroups, "rid-1/", "", benchGroup)
				if err != nil || len(got) != benchGroup {
					b.Errorf("Scan = %d records, %v; want %d", len(got), err, benchGroup)
					return
				}
			}
		})
	})

	b.Run(fmt.Sprintf("ListAppend/maxlen=%d", benchListLen), func(b *testing.B) {
		s := open(b, newStore)
		item := [][]byte{value[:16]}
		opts := dataservice.ListOptions{MaxLen: benchListLen}
		var next atomic.Uint64
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			i := next.Add(7919)
			for pb.Next() {
				i++
				if _, err := s.ListAppend(bg, kindLists, keys[i%benchRecords], item, opts); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// fill writes value under every key.
func fill(b testing.TB, s dataservice.Store, kind dataservice.Kind, keys []string, value []byte) {
	b.Helper()
	writes := make([]dataservice.Write, 0, len(keys))
	for _, k := range keys {
		writes = append(writes, dataservice.Write{Kind: kind, Key: k, Value: value})
	}
	if err := s.PutMany(context.Background(), writes); err != nil {
		b.Fatal(err)
	}
}
