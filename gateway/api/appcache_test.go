package api

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/dataservice/leveldb"
)

// countingData counts App reads.
type countingData struct {
	dataservice.Client
	reads int
}

func (c *countingData) App(ctx context.Context, key string) (dataservice.App, error) {
	c.reads++
	return c.Client.App(ctx, key)
}

func TestAppCacheServesWithinTTLAndRereadsAfter(t *testing.T) {
	store, err := leveldb.Open(leveldb.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	data := &countingData{Client: dataservice.New(store)}
	ctx := context.Background()
	if err := data.CreateApp(ctx, dataservice.App{Key: "a"}); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1000, 0)
	c := newAppCache(data, 5*time.Second, 2)
	c.now = func() time.Time { return now }
	for range 3 {
		if _, err := c.get(ctx, "a"); err != nil {
			t.Fatal(err)
		}
	}
	if data.reads != 1 {
		t.Fatalf("%d store reads within the TTL, want 1", data.reads)
	}
	now = now.Add(5 * time.Second)
	if _, err := c.get(ctx, "a"); err != nil || data.reads != 2 {
		t.Fatalf("after the TTL: %d reads, %v", data.reads, err)
	}
	if _, err := c.get(ctx, "missing"); !errors.Is(err, dataservice.ErrNotFound) {
		t.Fatalf("missing app: %v", err)
	}
	// The bound holds: fresh entries of a burst of apps are dropped.
	for _, k := range []string{"b", "c", "d"} {
		_ = data.CreateApp(ctx, dataservice.App{Key: k})
		if _, err := c.get(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if len(c.m) > 2 {
		t.Fatalf("cache holds %d apps, bound is 2", len(c.m))
	}
}

func TestAppCacheRefreshAndForget(t *testing.T) {
	store, err := leveldb.Open(leveldb.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	data := &countingData{Client: dataservice.New(store)}
	ctx := context.Background()
	if err := data.CreateApp(ctx, dataservice.App{Key: "a"}); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1000, 0)
	c := newAppCache(data, 5*time.Second, 10)
	c.now = func() time.Time { return now }
	if _, err := c.get(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	// Read a moment ago: no second read yet.
	if _, ok, err := c.refresh(ctx, "a", time.Second); ok || err != nil || data.reads != 1 {
		t.Fatalf("refresh right after a read: %v, %v, %d reads", ok, err, data.reads)
	}
	now = now.Add(time.Second)
	if _, ok, err := c.refresh(ctx, "a", time.Second); !ok || err != nil || data.reads != 2 {
		t.Fatalf("refresh a second later: %v, %v, %d reads", ok, err, data.reads)
	}
	c.forget("a")
	if _, err := c.get(ctx, "a"); err != nil || data.reads != 3 {
		t.Fatalf("get after forget: %v, %d reads", err, data.reads)
	}
}
