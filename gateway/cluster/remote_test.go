package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// registry is an in-memory dataservice.ConnectorRegistry.
type registry struct {
	mu    sync.Mutex
	infos []dataservice.ConnectorInfo
	err   error
}

func (r *registry) set(infos []dataservice.ConnectorInfo, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.infos, r.err = infos, err
}

func (r *registry) PutConnector(context.Context, dataservice.ConnectorInfo, time.Duration) error {
	return errors.ErrUnsupported
}
func (r *registry) RemoveConnector(context.Context, string) error { return errors.ErrUnsupported }
func (r *registry) Connectors(context.Context) ([]dataservice.ConnectorInfo, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.infos), r.err
}

func info(id string, connections int) dataservice.ConnectorInfo {
	return dataservice.ConnectorInfo{ID: id, Device: id + ":7100", Internal: "http://" + id + ":7190", Heartbeat: time.Minute, Connections: connections}
}

func newTestRemote(t *testing.T, reg *registry) *Remote {
	rc := NewRemote(context.Background(), RemoteConfig{Registry: reg, Token: "t", ServerKey: []byte("key"), Refresh: time.Hour, Log: quietLog})
	t.Cleanup(rc.Close)
	return rc
}

func TestRemoteDispatchesOwnerFirstThenEveryOther(t *testing.T) {
	reg := &registry{}
	reg.set([]dataservice.ConnectorInfo{info("a", 0), info("b", 0), info("c", 0)}, nil)
	// Two gateways with the same view answer alike.
	rc, other := newTestRemote(t, reg), newTestRemote(t, reg)
	owners := map[string]int{}
	for _, rid := range []string{"r1", "r2", "r3", "r4", "r5", "r6", "r7", "r8", "r9"} {
		v := rc.view.Load()
		owner := v.infos[v.ring.order(rid)[0]].Device
		d := rc.Dispatch(rid, nil)
		if len(d.Addresses) != 3 || d.Heartbeat != time.Minute || string(d.ServerKey) != "key" {
			t.Fatalf("Dispatch(%s) = %+v", rid, d)
		}
		if d.Addresses[0] != owner {
			t.Fatalf("Dispatch(%s) puts %s first, the ring owner is %s", rid, d.Addresses[0], owner)
		}
		if od := other.Dispatch(rid, nil); !slices.Equal(od.Addresses, d.Addresses) {
			t.Fatalf("two gateways dispatch %s differently: %v and %v", rid, d.Addresses, od.Addresses)
		}
		owners[d.Addresses[0]]++
	}
	if len(owners) < 2 {
		t.Fatalf("nine devices all owned by one connector: %v", owners)
	}
}

// A connector that just joined announces no load for seconds: the gateway
// counts what it sends there meanwhile, so the newcomer does not take every
// new device.
func TestRemoteCountsDevicesSentSinceTheLastAnnouncement(t *testing.T) {
	reg := &registry{}
	reg.set([]dataservice.ConnectorInfo{info("a", 50), info("b", 50), info("c", 0)}, nil)
	rc := newTestRemote(t, reg)
	dispatchAll := func(n int) map[string]int {
		got := map[string]int{}
		for i := range n {
			got[rc.Dispatch(fmt.Sprint("device-", i), nil).Addresses[0]]++
		}
		return got
	}
	got := dispatchAll(150)
	// 250 devices over three: none may go above 1.25 × (250+1)/3.
	if got["c:7100"] > 105 || got["c:7100"] < 50 {
		t.Fatalf("the newcomer took %d of 150 new devices (%v): want its share up to the bound of 105", got["c:7100"], got)
	}

	// A refresh without a new announcement keeps the counts...
	if err := rc.refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := rc.view.Load().ring.load(2); n != int64(got["c:7100"]) {
		t.Fatalf("after a refresh without announcements, c's load is %d, want %d", n, got["c:7100"])
	}
	// ...and a new announcement replaces them.
	c := info("c", 7)
	c.Updated = time.Now()
	reg.set([]dataservice.ConnectorInfo{info("a", 50), info("b", 50), c}, nil)
	if err := rc.refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := rc.view.Load().ring.load(2); n != 7 {
		t.Fatalf("after c announced 7, its load is %d", n)
	}
}

func TestRemoteDispatchSkipsFailedAddresses(t *testing.T) {
	reg := &registry{}
	reg.set([]dataservice.ConnectorInfo{info("a", 0), info("b", 0), info("c", 0)}, nil)
	rc := newTestRemote(t, reg)
	all := rc.Dispatch("rid", nil).Addresses
	d := rc.Dispatch("rid", []string{all[0]})
	if !slices.Equal(d.Addresses, all[1:]) {
		t.Fatalf("with the owner failed: %v, want %v", d.Addresses, all[1:])
	}
	// When every connector failed for the device, it gets them all again
	// to retry after its backoff, rather than nothing.
	if d := rc.Dispatch("rid", all); !slices.Equal(d.Addresses, all) {
		t.Fatalf("with every connector failed: %v, want %v", d.Addresses, all)
	}
}

func TestRemoteFollowsTheRegistry(t *testing.T) {
	reg := &registry{}
	rc := newTestRemote(t, reg)
	if d := rc.Dispatch("rid", nil); len(d.Addresses) != 0 {
		t.Fatalf("no connector registered, yet dispatch answers %v", d.Addresses)
	}
	if _, ok := rc.Connector("a"); ok {
		t.Fatal("unknown connector found")
	}

	reg.set([]dataservice.ConnectorInfo{info("a", 0), info("b", 0)}, nil)
	if err := rc.refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	a, ok := rc.Connector("a")
	if !ok {
		t.Fatal("registered connector a not found")
	}

	// A failed reading keeps the last view.
	reg.set(nil, errors.New("dataservice down"))
	if err := rc.refresh(context.Background()); err == nil {
		t.Fatal("refresh hid the registry's error")
	}
	if _, ok := rc.Connector("a"); !ok {
		t.Fatal("a failed registry reading dropped the connectors")
	}

	// A connector that stays keeps its client; one that left gets no
	// device from dispatch, but broadcasts, withdrawals and messages for
	// its sessions still reach it for Linger: it may hold devices (its
	// announcements may have been late), and calls to a dead one fail.
	now := time.Now()
	rc.now = func() time.Time { return now }
	b, _ := rc.Connector("b")
	reg.set([]dataservice.ConnectorInfo{info("a", 3)}, nil)
	if err := rc.refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if again, _ := rc.Connector("a"); again != a {
		t.Fatal("the client of a connector that stayed was replaced")
	}
	if got := rc.Members(); len(got) != 1 || got[0].Connections != 3 {
		t.Fatalf("Members() = %+v", got)
	}
	if d := rc.Dispatch("rid", nil); !slices.Equal(d.Addresses, []string{"a:7100"}) {
		t.Fatalf("dispatch to %v, want only a", d.Addresses)
	}
	if got, ok := rc.Connector("b"); !ok || got != b {
		t.Fatal("connector b is not reachable moments after it left the registry")
	}
	if got := rc.Connectors(); len(got) != 2 || got[0] != a || got[1] != b {
		t.Fatalf("Connectors() = %v, want a then the lingering b", got)
	}
	// Back within Linger: the same client, a member again.
	reg.set([]dataservice.ConnectorInfo{info("a", 3), info("b", 1)}, nil)
	if err := rc.refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, _ := rc.Connector("b"); got != b || len(rc.Connectors()) != 2 || len(rc.Members()) != 2 {
		t.Fatal("connector b came back but is not a member with its client")
	}
	// Gone for longer than Linger: not called any more.
	reg.set([]dataservice.ConnectorInfo{info("a", 3)}, nil)
	if err := rc.refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	now = now.Add(31 * time.Second)
	if err := rc.refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, ok := rc.Connector("b"); ok || len(rc.Connectors()) != 1 {
		t.Fatal("connector b is still called 31s after it left the registry")
	}
}

func TestRemoteRefreshesByItself(t *testing.T) {
	reg := &registry{}
	rc := NewRemote(context.Background(), RemoteConfig{Registry: reg, Refresh: 10 * time.Millisecond, Log: quietLog})
	defer rc.Close()
	reg.set([]dataservice.ConnectorInfo{info("a", 0)}, nil)
	deadline := time.Now().Add(10 * time.Second)
	for len(rc.Dispatch("rid", nil).Addresses) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a connector that registered is not dispatched to")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
