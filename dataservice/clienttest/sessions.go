package clienttest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

// sessionTests are the cases of SessionStore.
var sessionTests = []test{
	{"Sessions", sessions},
	{"ReadYourWrites", readYourWrites},
}

func putSession(t *testing.T, c dataservice.Client, s dataservice.Session) uint32 {
	t.Helper()
	gens, err := c.PutSessions(context.Background(), []dataservice.Session{s}, time.Hour)
	if err != nil || len(gens) != 1 || gens[0] == 0 {
		t.Fatalf("PutSessions: %v, %v", gens, err)
	}
	return gens[0]
}

func sessions(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	since := time.UnixMilli(1_700_000_000_000)
	g1 := putSession(t, c, dataservice.Session{RegistrationID: "r1", Connector: "c1", Since: since})
	gens, err := c.PutSessions(ctx, []dataservice.Session{
		{RegistrationID: "m1", Connector: "c1", Since: since}, {RegistrationID: "m2", Connector: "c2", Since: since},
	}, time.Hour)
	if err != nil || len(gens) != 2 || gens[0] == 0 || gens[1] == 0 {
		t.Fatalf("PutSessions of two: %v, %v", gens, err)
	}
	if ss, _ := c.Sessions(ctx, []string{"m2", "m1"}); ss[0].Connector != "c2" || ss[1].Connector != "c1" {
		t.Fatalf("sessions written in one call: %+v", ss)
	}
	ss, err := c.Sessions(ctx, []string{"r1", "r2"})
	if err != nil || len(ss) != 2 || ss[0].Connector != "c1" || ss[0].Generation != g1 || !ss[0].Since.Equal(since) || ss[0].RegistrationID != "r1" || ss[1].Exists() {
		t.Fatalf("Sessions() = %+v, %v", ss, err)
	}
	// Another connection took over: deleting the old session keeps the new.
	g2 := putSession(t, c, dataservice.Session{RegistrationID: "r1", Connector: "c2", Since: since})
	if g2 == g1 {
		t.Fatalf("second PutSession kept generation %d", g2)
	}
	if err := c.DeleteSession(ctx, "r1", g1); err != nil {
		t.Fatalf("DeleteSession of a replaced session: %v", err)
	}
	if ss, _ := c.Sessions(ctx, []string{"r1"}); ss[0].Connector != "c2" {
		t.Fatalf("the newer session was deleted: %+v", ss)
	}
	if err := c.DeleteSession(ctx, "r1", g2); err != nil {
		t.Fatal(err)
	}
	if ss, _ := c.Sessions(ctx, []string{"r1"}); ss[0].Exists() {
		t.Fatalf("session not deleted: %+v", ss)
	}
}

// readYourWrites checks that a read after a write sees it, for every
// cached record kind, also when the old value was read (and cached) first.
func readYourWrites(t *testing.T, c dataservice.Client) {
	ctx := context.Background()
	for i := range 20 {
		rid := fmt.Sprint("ryw", i)
		putSession(t, c, dataservice.Session{RegistrationID: rid, Connector: "old", Since: time.Now()})
		if ss, _ := c.Sessions(ctx, []string{rid}); ss[0].Connector != "old" {
			t.Fatalf("read %+v", ss)
		}
		putSession(t, c, dataservice.Session{RegistrationID: rid, Connector: "new", Since: time.Now()})
		if ss, _ := c.Sessions(ctx, []string{rid}); ss[0].Connector != "new" {
			t.Fatalf("read after write returned %+v", ss)
		}
		ss, _ := c.Sessions(ctx, []string{rid})
		if err := c.DeleteSession(ctx, rid, ss[0].Generation); err != nil {
			t.Fatal(err)
		}
		if ss, _ := c.Sessions(ctx, []string{rid}); ss[0].Exists() {
			t.Fatalf("read after delete returned %+v", ss)
		}
	}
}
