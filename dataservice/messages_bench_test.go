package dataservice_test

import (
	"context"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/dataservice/leveldb"
	"github.com/heraldpush/herald/internal/ids"
)

// BenchmarkSaveNewMessage is the store work of a unicast push: a new
// message to one device (its body, targeted counter, the app's index and
// day totals, one inbox copy) on the embedded LevelDB store, and the
// delivered count of its ACK, counted as the writer does: the ACKs of 100
// pushes in one AddCounters. ns/op is per push.
func BenchmarkSaveNewMessage(b *testing.B) {
	store, err := leveldb.Open(leveldb.Config{Dir: b.TempDir(), WriteBufferBytes: 16 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	s := dataservice.New(store)
	gen, _ := ids.NewGenerator(1)
	ctx := context.Background()
	const batch = 100
	deltas := make([]dataservice.CounterDelta, 0, batch)
	b.ReportAllocs()
	for b.Loop() {
		m := &dataservice.Message{ID: gen.Next(), AppKey: "benchapp", Content: "hello", TTL: time.Hour, Created: time.Now()}
		if err := s.SaveNewMessage(ctx, m, []string{"device"}); err != nil {
			b.Fatal(err)
		}
		if deltas = append(deltas, dataservice.CounterDelta{MessageID: m.ID, Counter: dataservice.CounterDelivered, N: 1}); len(deltas) == batch {
			if err := s.AddCounters(ctx, deltas); err != nil {
				b.Fatal(err)
			}
			deltas = deltas[:0]
		}
	}
}
