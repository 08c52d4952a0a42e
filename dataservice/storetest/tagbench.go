package storetest

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

// TagMemberSizes returns the tag sizes of BenchTagMembers:
// HERALD_BENCH_TAG_MEMBERS (comma-separated) if set, else def.
func TagMemberSizes(b *testing.B, def ...int) []int {
	env := os.Getenv("HERALD_BENCH_TAG_MEMBERS")
	if env == "" {
		return def
	}
	var sizes []int
	for _, f := range strings.Split(env, ",") {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			b.Fatalf("HERALD_BENCH_TAG_MEMBERS: %q is not a number of devices", f)
		}
		sizes = append(sizes, n)
	}
	return sizes
}

// BenchTagMembers writes a tag of members devices into store and resolves
// it page by page (1,000 a page) through dataservice.TagMembers, as a push
// to the tag does, reporting devices/s. The index is written as UpdateTags
// leaves it, directly: setting a tag on 100,000 devices one call each
// would take most of the run.
func BenchTagMembers(b *testing.B, store dataservice.Store, members int) {
	const (
		page = 1000
		app  = "3abdab7debf1dc3aee6377fa"
	)
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
