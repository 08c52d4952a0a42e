package dataservice_test

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/dataservice/leveldb"
)

// BenchmarkTagMembers resolves a tag of 100,000 devices page by page, as
// a push to the tag does, from the index on LevelDB. The target (issue 4)
// is 200,000 devices/s. HERALD_BENCH_TAG_MEMBERS (comma-separated) sets
// other sizes, as for dataservice/aerospike's BenchmarkTagMembers:
//
//	HERALD_BENCH_TAG_MEMBERS=10000,100000,1000000 go test -run '^$' -bench TagMembers -benchtime 3x ./dataservice
func BenchmarkTagMembers(b *testing.B) {
	sizes := []int{100_000}
	if env := os.Getenv("HERALD_BENCH_TAG_MEMBERS"); env != "" {
		sizes = nil
		for _, f := range strings.Split(env, ",") {
			n, err := strconv.Atoi(f)
			if err != nil {
				b.Fatalf("HERALD_BENCH_TAG_MEMBERS: %v", err)
			}
			sizes = append(sizes, n)
		}
	}
	for _, members := range sizes {
		benchTagMembers(b, members)
	}
}

func benchTagMembers(b *testing.B, members int) {
	const (
		page = 1000
		app  = "3abdab7debf1dc3aee6377fa"
	)
	store, err := leveldb.Open(leveldb.Config{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { store.Close() })
	ctx := context.Background()
	// The index as UpdateTags leaves it, written directly: setting a tag
	// on 100,000 devices one call each would take most of the run.
	writes := make([]dataservice.Write, 0, page)
	for i := range members {
		writes = append(writes, dataservice.Write{Kind: dataservice.KindTag, Key: fmt.Sprintf("%s/vip/%020x", app, i*7919), Value: []byte{}})
		if len(writes) == cap(writes) {
			if err := store.PutMany(ctx, writes); err != nil {
				b.Fatal(err)
			}
			writes = writes[:0]
		}
	}
	data := dataservice.New(store)
	b.Run(fmt.Sprintf("members=%d/page=%d", members, page), func(b *testing.B) {
		b.ReportAllocs()
		start := time.Now()
		resolved := 0
		for b.Loop() {
			n, after := 0, ""
			for {
				rids, err := data.TagMembers(ctx, app, "vip", after, page)
				if err != nil {
					b.Fatal(err)
				}
				n += len(rids)
				if len(rids) < page {
					break
				}
				after = rids[len(rids)-1]
			}
			if n != members {
				b.Fatalf("resolved %d devices, want %d", n, members)
			}
			resolved += n
		}
		b.ReportMetric(float64(resolved)/time.Since(start).Seconds(), "devices/s")
	})
}
