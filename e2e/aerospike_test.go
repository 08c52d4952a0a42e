package e2e

import (
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	as "github.com/aerospike/aerospike-client-go/v7"

	"github.com/heraldpush/herald/node/nodetest"
)

// The Aerospike tests run herald on a real Aerospike server, named as for
// the store's conformance suite (dataservice/aerospike):
//
//	HERALD_TEST_AEROSPIKE=127.0.0.1:3000 [HERALD_TEST_AEROSPIKE_NS=test] go test ./e2e -run Aerospike
//
// .ci/run starts one from ../shared/aerospike. Every test uses the sets
// "e2e_*", emptied before it starts: the tests of one server run one after
// another.
const aerospikeSetPrefix = "e2e_"

// aerospikeStore returns the store spec of the test server, with the e2e
// sets emptied, or skips t.
func aerospikeStore(t *testing.T) string {
	t.Helper()
	addr := os.Getenv("HERALD_TEST_AEROSPIKE")
	if addr == "" {
		t.Skip("HERALD_TEST_AEROSPIKE not set: set it to host:port of an Aerospike server (.ci/run starts ../shared/aerospike) to run herald on Aerospike")
	}
	ns := os.Getenv("HERALD_TEST_AEROSPIKE_NS")
	if ns == "" {
		ns = "test"
	}
	host, portText, _ := strings.Cut(strings.Split(addr, ",")[0], ":")
	port, err := strconv.Atoi(portText)
	if err != nil {
		t.Fatalf("HERALD_TEST_AEROSPIKE=%q: want host:port", addr)
	}
	client, aerr := as.NewClient(host, port)
	if aerr != nil {
		t.Fatalf("connecting to the Aerospike test server: %v", aerr)
	}
	defer client.Close()
	info, aerr := client.GetNodes()[0].RequestInfo(as.NewInfoPolicy(), "sets/"+ns)
	if aerr != nil {
		t.Fatalf("listing the sets of %s: %v", ns, aerr)
	}
	for _, entry := range strings.Split(info["sets/"+ns], ";") {
		for _, field := range strings.Split(entry, ":") {
			if set, ok := strings.CutPrefix(field, "set="); ok && strings.HasPrefix(set, aerospikeSetPrefix) {
				if aerr := client.Truncate(nil, ns, set, nil); aerr != nil {
					t.Fatalf("emptying %s: %v", set, aerr)
				}
			}
		}
	}
	return fmt.Sprintf("aerospike://%s/%s?set-prefix=%s", addr, ns, aerospikeSetPrefix)
}

// herald all on Aerospike: register, pushes to online and offline devices,
// a broadcast, a schedule, a restart on the same store, reports.
func TestAllOnAerospike(t *testing.T) {
	store := aerospikeStore(t)
	p := startHerald(t, t.TempDir(), "127.0.0.1:0", "127.0.0.1:0", "--store", store)
	aerospikeScenario(t, p.h, "http://"+p.http, func() *nodetest.Herald {
		p.stop(syscall.SIGTERM)
		p = startHerald(t, t.TempDir(), p.http, p.device, "--store", store)
		return p.h
	})
	checkAckAndClick(t, p.h, "http://"+p.http)
	p.stop(os.Interrupt)
}

// The distributed form on Aerospike: a dataservice on the store, two
// connectors and a gateway; the same scenario without the restart (which
// TestAllOnAerospike covers: the state is all in the store).
func TestClusterOnAerospike(t *testing.T) {
	store := aerospikeStore(t)
	c := startClusterOn(t, 2, startDataserviceOn(t, store))
	aerospikeScenario(t, c.h, c.gateway, nil)
	checkAckAndClick(t, c.h, c.gateway)
}

// aerospikeScenario registers 20 devices and connects 10; pushes to the
// online ones and to each offline one; broadcasts; schedules a push; then
// restarts herald if restart is not nil (the online devices come back by
// themselves) and connects the offline devices, which get their copies
// and the broadcast. Each message reaches its devices exactly once.
func aerospikeScenario(t *testing.T, h *nodetest.Herald, gateway string, restart func() *nodetest.Herald) {
	app := h.CreateApp()
	f := startLocalFleet(t, gateway, app, 20)
	const online = 10
	isOnline := func(i int) bool { return i < online }
	everyone := func(int) bool { return true }
	f.connect(0, online)
	msgID := func(s string) uint64 {
		id, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("msg_id %q", s)
		}
		return id
	}

	unicast := msgID(h.Push(app, nodetest.Push{RegistrationIDs: f.rids[:online], Content: "online"}))
	f.waitFor(unicast, isOnline, 30*time.Second)

	offline := make([]string, 0, f.size-online)
	for _, rid := range f.rids[online:] {
		offline = append(offline, h.Push(app, nodetest.Push{RegistrationIDs: []string{rid}, Content: "while you were away"}))
	}
	for _, id := range offline {
		h.WaitReport(app, id, func(r nodetest.Report) bool { return r.StoredOffline == 1 })
	}

	var out struct {
		MsgID string `json:"msg_id"`
	}
	h.Do(http.MethodPost, "/v1/push", nodetest.Basic(app), map[string]any{"audience": "all", "message": message("broadcast")}, http.StatusOK, &out)
	broadcast := msgID(out.MsgID)
	f.waitFor(broadcast, isOnline, 30*time.Second)

	at := time.Now().UTC().Add(2 * time.Second).Format("2006-01-02 15:04:05")
	var sched struct {
		ScheduleID string `json:"schedule_id"`
	}
	h.Do(http.MethodPost, "/v1/schedules", nodetest.Basic(app), map[string]any{
		"name":    "e2e on aerospike",
		"trigger": map[string]any{"single": map[string]any{"time": at}},
		"push":    map[string]any{"audience": map[string]any{"registration_id": f.rids[:online]}, "message": message("scheduled")},
	}, http.StatusCreated, &sched)
	var view struct {
		Firings []struct {
			MsgID string `json:"msg_id"`
		} `json:"firings"`
	}
	nodetest.Eventually(t, 30*time.Second, func() bool {
		h.Do(http.MethodGet, "/v1/schedules/"+sched.ScheduleID, nodetest.Basic(app), nil, http.StatusOK, &view)
		return len(view.Firings) > 0 && view.Firings[0].MsgID != ""
	}, func() string { return fmt.Sprintf("the schedule for %s UTC has not fired: %+v", at, view) })
	scheduled := msgID(view.Firings[0].MsgID)
	f.waitFor(scheduled, isOnline, 30*time.Second)

	if restart != nil {
		h = restart()
		f.waitReconnected(online)
	}

	f.connect(online, f.size)
	f.waitFor(broadcast, everyone, 30*time.Second)
	for i, id := range offline {
		got := msgID(id)
		f.waitFor(got, func(j int) bool { return j == online+i }, 30*time.Second)
		f.exactly(got, func(j int) bool { return j == online+i })
		h.WaitReport(app, id, func(r nodetest.Report) bool {
			return r == nodetest.Report{Targeted: 1, StoredOffline: 1, Sent: 1, Delivered: 1}
		})
	}
	f.exactly(unicast, isOnline)
	f.exactly(broadcast, everyone)
	f.exactly(scheduled, isOnline)
}
