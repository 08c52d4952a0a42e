package remote

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

// BenchmarkTagMembers resolves a tag of 100,000 devices page by page
// through the HTTP/2 client, as a task running in a gateway does (compare
// dataservice's BenchmarkTagMembers, in process).
func BenchmarkTagMembers(b *testing.B) {
	const (
		members = 100_000
		page    = 1000
		app     = "3abdab7debf1dc3aee6377fa"
	)
	store := openLevelDB(b)
	ctx := context.Background()
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
	in := serve(b, store, nil)
	c, err := Dial(ClientConfig{URLs: []string{in.URL}, Token: testToken, Log: quiet})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	b.Run(fmt.Sprintf("members=%d/page=%d", members, page), func(b *testing.B) {
		b.ReportAllocs()
		start := time.Now()
		resolved := 0
		for b.Loop() {
			after := ""
			for {
				rids, err := c.TagMembers(ctx, app, "vip", after, page)
				if err != nil {
					b.Fatal(err)
				}
				resolved += len(rids)
				if len(rids) < page {
					break
				}
				after = rids[len(rids)-1]
			}
		}
		b.ReportMetric(float64(resolved)/time.Since(start).Seconds(), "devices/s")
	})
}
