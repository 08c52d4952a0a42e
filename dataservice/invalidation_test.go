package dataservice_test

import (
	"context"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/dataservice/leveldb"
)

// A session written for a device that has none is created, and a create
// publishes no invalidation (no cache can hold a record that did not
// exist); replacing it does, and waits for the follower.
func TestSessionCreatesPublishNothingReplacementsDo(t *testing.T) {
	store, err := leveldb.Open(leveldb.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	src := dataservice.NewSource(store, dataservice.InvalidationConfig{Lease: 5 * time.Second})
	sub := src.Subscribe()
	defer sub.Close()
	svc := dataservice.New(src)
	ctx := context.Background()

	// Acknowledge whatever comes, and count it.
	got := make(chan []dataservice.Invalidation, 16)
	go func() {
		for inv := range sub.C {
			got <- inv
			sub.Ack(inv[len(inv)-1].Seq)
		}
	}()

	sessions := []dataservice.Session{
		{RegistrationID: "r1", Connector: "c1", Since: time.Now()},
		{RegistrationID: "r2", Connector: "c1", Since: time.Now()},
	}
	gens, err := svc.PutSessions(ctx, sessions, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if gens[0] != 1 || gens[1] != 1 {
		t.Fatalf("new sessions have generations %v, want 1 and 1", gens)
	}
	select {
	case inv := <-got:
		t.Fatalf("creating sessions published %v", inv)
	case <-time.After(100 * time.Millisecond):
	}

	sessions[0].Connector = "c2"
	gens, err = svc.PutSessions(ctx, sessions[:1], time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if gens[0] != 2 {
		t.Fatalf("the replaced session has generation %d, want 2", gens[0])
	}
	select {
	case inv := <-got:
		if len(inv) != 1 || inv[0].Kind != dataservice.KindSession || inv[0].Key != "r1" {
			t.Fatalf("replacing r1's session published %+v", inv)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("replacing a session published no invalidation")
	}
	ss, err := svc.Sessions(ctx, []string{"r1", "r2"})
	if err != nil {
		t.Fatal(err)
	}
	if ss[0].Connector != "c2" || ss[1].Connector != "c1" {
		t.Fatalf("sessions read back as %+v", ss)
	}
}
