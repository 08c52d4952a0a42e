package clienttest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/heraldpush/herald/dataservice"
)

// limitTests are the cases of the limits per app on schedules and
// segments (AppLimit of CreateSchedule and CreateSegment).
var limitTests = []test{
	{"ScheduleLimit", func(t *testing.T, c dataservice.Client) { limitPerApp(t, c, scheduleLimited(c)) }},
	{"SegmentLimit", func(t *testing.T, c dataservice.Client) { limitPerApp(t, c, segmentLimited(c)) }},
}

// limited is one thing limits per app bound: create one of app with an
// AppLimit, delete one.
type limited struct {
	create func(ctx context.Context, app, id string, limit int) error
	delete func(ctx context.Context, app, id string) (bool, error)
}

func scheduleLimited(c dataservice.Client) limited {
	return limited{
		create: func(ctx context.Context, app, id string, limit int) error {
			s := newSchedule(app, id, nil)
			s.AppLimit = limit
			_, err := c.CreateSchedule(ctx, s)
			return err
		},
		delete: c.DeleteSchedule,
	}
}

func segmentLimited(c dataservice.Client) limited {
	return limited{
		create: func(ctx context.Context, app, id string, limit int) error {
			return c.CreateSegment(ctx, dataservice.Segment{ID: id, AppKey: app, Name: "n", AppLimit: limit})
		},
		delete: c.DeleteSegment,
	}
}

// limitPerApp: creations beyond the limit fail with ErrLimit, for that app
// only; a deletion frees a place, a failed creation takes none;
// concurrent creations never pass the limit; apps that had some before
// any limit are counted.
func limitPerApp(t *testing.T, c dataservice.Client, l limited) {
	ctx := context.Background()
	const limit = 4
	// Two created without a limit are counted when the first limit applies.
	for i := range 2 {
		if err := l.create(ctx, "app", fmt.Sprintf("old%d", i), 0); err != nil {
			t.Fatalf("create without a limit: %v", err)
		}
	}
	for i := range 2 {
		if err := l.create(ctx, "app", fmt.Sprintf("new%d", i), limit); err != nil {
			t.Fatalf("create %d of %d: %v", 3+i, limit, err)
		}
	}
	err := l.create(ctx, "app", "over", limit)
	wantErr(t, err, dataservice.ErrLimit, "create beyond the limit")
	// A taken id fails as it did, and takes no place.
	if err := l.create(ctx, "other", "x", limit); err != nil {
		t.Fatalf("create in another app: %v", err)
	}
	wantErr(t, l.create(ctx, "other", "x", limit), dataservice.ErrExists, "create with a taken id")
	for i := range limit - 1 {
		if err := l.create(ctx, "other", fmt.Sprintf("y%d", i), limit); err != nil {
			t.Fatalf("another app's creation %d: %v", i, err)
		}
	}
	if existed, err := l.delete(ctx, "app", "old0"); err != nil || !existed {
		t.Fatalf("delete = %v, %v", existed, err)
	}
	if existed, err := l.delete(ctx, "app", "old0"); err != nil || existed {
		t.Fatalf("delete again = %v, %v; want false", existed, err)
	}
	if err := l.create(ctx, "app", "again", limit); err != nil {
		t.Fatalf("create after a deletion: %v", err)
	}
	wantErr(t, l.create(ctx, "app", "over", limit), dataservice.ErrLimit, "create beyond the limit after a deletion")
	// A higher limit lets more in.
	if err := l.create(ctx, "app", "more", limit+1); err != nil {
		t.Fatalf("create under a higher limit: %v", err)
	}

	// Concurrent creations in a fresh app: exactly limit succeed.
	var wg sync.WaitGroup
	errs := make([]error, 3*limit)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = l.create(ctx, "race", fmt.Sprintf("r%02d", i), limit)
		}()
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, dataservice.ErrLimit):
			t.Fatalf("concurrent create: %v", err)
		}
	}
	if ok != limit {
		t.Fatalf("%d concurrent creations succeeded under a limit of %d", ok, limit)
	}
}
