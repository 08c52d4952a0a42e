package actors

import (
	"fmt"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

func TestCompactRegistryKeepsSystemProcessesAndServesActors(t *testing.T) {
	s := testSystem(t)
	before := len(s.ProcessRegistry.LocalPIDs.LocalPIDs)
	CompactRegistry(s)
	if got := len(s.ProcessRegistry.LocalPIDs.LocalPIDs); got != 1 || before == 1 {
		t.Fatalf("buckets: %d before, %d after; want many, then 1", before, got)
	}
	for _, id := range []string{"eventstream", "deadletter"} {
		if _, ok := s.ProcessRegistry.GetLocal(id); !ok {
			t.Errorf("%s is not registered after compaction", id)
		}
	}

	// Actors spawned afterwards, named and not, answer requests and leave
	// the registry when stopped.
	const n = 200
	pids := make([]*actor.PID, 0, n)
	for i := range n {
		props := actor.PropsFromFunc(func(ctx actor.Context) {
			if m, ok := ctx.Message().(int); ok {
				ctx.Respond(m * 2)
			}
		}, actor.WithMailbox(newMailbox))
		var pid *actor.PID
		if i%2 == 0 {
			pid = s.Root.Spawn(props)
		} else {
			var err error
			if pid, err = s.Root.SpawnNamed(props, fmt.Sprintf("named-%d", i)); err != nil {
				t.Fatal(err)
			}
		}
		pids = append(pids, pid)
	}
	if _, err := s.Root.SpawnNamed(actor.PropsFromFunc(func(actor.Context) {}), "named-1"); err == nil {
		t.Error("a second actor took the name named-1")
	}
	for i, pid := range pids {
		got, err := s.Root.RequestFuture(pid, i, 5*time.Second).Result()
		if err != nil || got != i*2 {
			t.Fatalf("actor %d answered %v, %v", i, got, err)
		}
	}
	for _, pid := range pids {
		if err := s.Root.StopFuture(pid).Wait(); err != nil {
			t.Fatal(err)
		}
		if _, ok := s.ProcessRegistry.GetLocal(pid.Id); ok {
			t.Fatalf("%s is still registered after it stopped", pid.Id)
		}
	}
}
