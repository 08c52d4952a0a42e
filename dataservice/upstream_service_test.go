package dataservice_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/dataservice/leveldb"
)

func TestWatchUpstreams(t *testing.T) {
	s, err := leveldb.Open(leveldb.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	svc := dataservice.New(s)
	other := dataservice.New(s) // another Service: its watchers hear nothing of svc

	var mu sync.Mutex
	var heard, heardOther []string
	stop := svc.WatchUpstreams(func(app string) {
		mu.Lock()
		heard = append(heard, app)
		mu.Unlock()
	})
	stopOther := other.WatchUpstreams(func(app string) {
		mu.Lock()
		heardOther = append(heardOther, app)
		mu.Unlock()
	})
	defer stopOther()
	msg := func(app string, id uint64) dataservice.UpstreamMessage {
		return dataservice.UpstreamMessage{AppKey: app, RegistrationID: "r1", ID: id, Data: []byte("x"), At: time.Now()}
	}
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		msgs []dataservice.UpstreamMessage
		want []string
	}{
		{"one app", []dataservice.UpstreamMessage{msg("a", 1), msg("a", 2)}, []string{"a"}},
		{"two apps", []dataservice.UpstreamMessage{msg("b", 1), msg("c", 1)}, []string{"b", "c"}},
		{"invalid: nothing stored, nobody woken", []dataservice.UpstreamMessage{msg("d", 1), msg("d", 0)}, nil},
		{"nothing", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mu.Lock()
			heard = nil
			mu.Unlock()
			_ = svc.EnqueueUpstream(ctx, tc.msgs)
			mu.Lock()
			defer mu.Unlock()
			if !slices.Equal(heard, tc.want) {
				t.Fatalf("watcher heard %v, want %v", heard, tc.want)
			}
		})
	}
	stop()
	stop() // twice is fine
	if err := svc.EnqueueUpstream(ctx, []dataservice.UpstreamMessage{msg("e", 1)}); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if slices.Contains(heard, "e") {
		t.Fatal("a stopped watcher was called")
	}
	if len(heardOther) != 0 {
		t.Fatalf("the watcher of another Service heard %v", heardOther)
	}
}
