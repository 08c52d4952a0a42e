package aerospike

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

// BenchmarkTagMembers resolves a tag page by page, as a push to the tag
// does, on Aerospike; dataservice's BenchmarkTagMembers is the same on
// LevelDB. The sizes are HERALD_BENCH_TAG_MEMBERS (comma-separated,
// default 10000,100000); the target (issue 18) is 200,000 devices/s at
// 1,000,000:
//
//	HERALD_TEST_AEROSPIKE=127.0.0.1:3100 HERALD_BENCH_TAG_MEMBERS=10000,100000,1000000 \
//	  go test -run '^$' -bench TagMembers -benchtime 3x ./dataservice/aerospike
func BenchmarkTagMembers(b *testing.B) {
	testConfig(b)
	sizes := []int{10_000, 100_000}
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
	const (
		page = 1000
		app  = "3abdab7debf1dc3aee6377fa"
	)
	for _, members := range sizes {
		b.Run(fmt.Sprintf("members=%d/page=%d", members, page), func(b *testing.B) {
			store := newTestStore(b).(*Store)
			defer store.Close()
			ctx := context.Background()
			writes := make([]dataservice.Write, 0, page)
			for i := range members {
				writes = append(writes, dataservice.Write{Kind: dataservice.KindTag, Key: fmt.Sprintf("%s/vip/%020x", app, i*7919), Value: []byte{}})
				if len(writes) == cap(writes) || i == members-1 {
					if err := store.PutMany(ctx, writes); err != nil {
						b.Fatal(err)
					}
					writes = writes[:0]
				}
			}
			defer func() {
				if aerr := store.client.Truncate(nil, store.namespace, store.set(dataservice.KindTag), nil); aerr != nil {
					b.Logf("truncating the tag set: %v", aerr)
				}
			}()
			data := dataservice.New(store)
			b.ReportAllocs()
			b.ResetTimer()
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
}
