package remote

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/heraldpush/herald/dataservice"
)

func TestEachRouteAnswersEveryQueryOnItsOwn(t *testing.T) {
	in := serve(t, openLevelDB(t), nil)
	c, err := Dial(ClientConfig{URLs: []string{in.URL}, Token: testToken, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()

	// One call, a good query between two bad ones: the good one is
	// answered, each bad one fails alone with its sentinel error.
	var out []eachResult[[]uint64]
	qs := []appBroadcastsReq{{App: "", Limit: 10}, {App: "app1", Limit: 10}, {App: "app1", Limit: 0}}
	if err := c.read(ctx, "app_broadcasts_each", qs, &out); err != nil {
		t.Fatal(err)
	}
	if len(out) != len(qs) {
		t.Fatalf("%d answers to %d queries", len(out), len(qs))
	}
	for i, wantErr := range []bool{true, false, true} {
		_, err := out[i].result("app_broadcasts")
		if gotErr := err != nil; gotErr != wantErr || (wantErr && !errors.Is(err, dataservice.ErrInvalid)) {
			t.Errorf("query %d: err %v, want an error wrapping ErrInvalid: %v", i, err, wantErr)
		}
	}

	// Too many queries in one call is refused as a whole.
	many := make([]inboxReq, maxEach+1)
	for i := range many {
		many[i] = inboxReq{RID: fmt.Sprint("rid", i), Limit: 1}
	}
	var ignored []eachResult[[]dataservice.InboxEntry]
	if err := c.read(ctx, "inbox_each", many, &ignored); !errors.Is(err, dataservice.ErrInvalid) {
		t.Errorf("%d queries in one call: %v, want ErrInvalid", len(many), err)
	}

	// Concurrent Inbox reads through the client, coalesced or not, each
	// get their own answer; a bad one among them fails alone.
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			limit := 10
			if i == 7 {
				limit = -1
			}
			es, err := c.Inbox(ctx, fmt.Sprint("rid", i), 0, limit)
			switch {
			case i == 7 && !errors.Is(err, dataservice.ErrInvalid):
				t.Errorf("inbox with limit -1: %v, want ErrInvalid", err)
			case i != 7 && (err != nil || len(es) != 0):
				t.Errorf("inbox %d: %v, %v; want empty", i, es, err)
			}
		})
	}
	wg.Wait()
}
