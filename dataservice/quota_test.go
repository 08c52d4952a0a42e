package dataservice_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/dataservice/leveldb"
)

// A count left too high (a crash between taking a place and creating the
// record) is corrected by counting the records again, at most once a
// minute, when the app seems to reach its limit.
func TestLimitPerAppRecountsACountTooHigh(t *testing.T) {
	store, err := leveldb.Open(leveldb.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	s := dataservice.New(store)
	now := time.Now()
	s.SetClock(func() time.Time { return now })
	ctx := context.Background()
	create := func(id string) error {
		return s.CreateSegment(ctx, dataservice.Segment{ID: id, AppKey: "app", Name: "n", AppLimit: 3})
	}
	if err := create("a"); err != nil {
		t.Fatal(err)
	}
	// Two places taken by creations that crashed.
	if _, err := store.Incr(ctx, dataservice.KindAppUsage, "app/segments", []dataservice.Delta{{Name: "n", Delta: 2}}, 0); err != nil {
		t.Fatal(err)
	}
	if err := create("b"); !errors.Is(err, dataservice.ErrLimit) {
		t.Fatalf("create with the count at the limit: %v, want ErrLimit (counted within the minute)", err)
	}
	now = now.Add(time.Minute + time.Second)
	for i, want := range []error{nil, nil, dataservice.ErrLimit} {
		if err := create(fmt.Sprint("c", i)); !errors.Is(err, want) {
			t.Fatalf("create %d a minute later: %v, want %v", i, err, want)
		}
	}
	segs, err := s.Segments(ctx, "app", "", 10)
	if err != nil || len(segs) != 3 {
		t.Fatalf("Segments = %d, %v; want 3", len(segs), err)
	}
}
