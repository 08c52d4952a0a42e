package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/fleet"
	"github.com/heraldpush/herald/node/nodetest"
)

// The fleet of TestPushAtScaleOverACluster: pushFleet devices over
// pushLoadProcs load processes. The first pacedDevices carry the tag
// "paced" (the audience of the paced and canceled pushes); the rest are
// the ones taken offline for the broadcast.
const (
	pushFleet     = 10_240
	pushLoadProcs = 4
	pacedDevices  = 10_000
)

// pushSpec is what the app backend says about device i: tags m2, m3 and
// m5 when 2, 3 or 5 divides i, "paced" for the first pacedDevices, and
// the alias a<i/5> on every hundredth block of five devices (a0, a100, …).
func pushSpec(i int) fleet.Spec {
	var s fleet.Spec
	for _, m := range []int{2, 3, 5} {
		if i%m == 0 {
			s.Tags = append(s.Tags, fmt.Sprint("m", m))
		}
	}
	if i < pacedDevices {
		s.Tags = append(s.Tags, "paced")
	}
	if (i/5)%100 == 0 {
		s.Alias = fmt.Sprint("a", i/5)
	}
	return s
}

// startPushCluster runs a dataservice, n connectors and a gateway, as
// startCluster does, with each connector's device listener on its own
// loopback address (127.0.0.201, .202, …) so that the load processes'
// sockets spread over several source and target addresses. Connectors
// announce themselves every second, not every 300ms: a dataservice busy
// with 10,000 devices may take longer than 300ms to answer one.
func startPushCluster(t *testing.T, n int) *pushCluster {
	t.Helper()
	ds := startDataservice(t)
	c := &pushCluster{cluster: &cluster{}, dataservice: ds}
	for k := range n {
		cmd := exec.Command(heraldBin, "connector", "--dataservice", ds, "--device", fmt.Sprintf("127.0.0.%d:0", 201+k), "--http", "127.0.0.1:0",
			"--announce", "1s", "--grace", "5s", "--log-level", "warn")
		cmd.Env = append(os.Environ(), "HERALD_CLUSTER_TOKEN="+clusterToken)
		c.devices = append(c.devices, waitForLine(t, cmd, regexp.MustCompile(`devices\s+tcp://(\S+)`)))
		c.connectors = append(c.connectors, cmd)
	}
	c.gateway = c.startGateway(t, 0)
	c.h = nodetest.Attach(t, c.gateway)
	return c
}

// pushCluster is a cluster that can start more gateways.
type pushCluster struct {
	*cluster
	dataservice string // URL
}

// startGateway starts a gateway with this node number in message ids and
// returns its REST base URL.
func (c *pushCluster) startGateway(t *testing.T, node int) string {
	t.Helper()
	cmd := exec.Command(heraldBin, "gateway", "--dataservice", c.dataservice, "--http", "127.0.0.1:0", "--refresh", "200ms",
		"--node", strconv.Itoa(node), "--log-level", "warn", "--register-limit-per-address", "off", "--register-limit-per-app", "off")
	cmd.Env = append(os.Environ(), "HERALD_CLUSTER_TOKEN="+clusterToken, "HERALD_ADMIN_TOKEN="+nodetest.AdminToken)
	return "http://" + waitForLine(t, cmd, regexp.MustCompile(`REST API\s+http://(\S+)`))
}

// push sends POST /v1/push with body and returns the message id.
func (c *cluster) push(t *testing.T, app nodetest.App, body map[string]any) uint64 {
	t.Helper()
	var out struct {
		MsgID string `json:"msg_id"`
	}
	nodetest.Attach(t, c.gateway).Do(http.MethodPost, "/v1/push", nodetest.Basic(app), body, http.StatusOK, &out)
	id, err := strconv.ParseUint(out.MsgID, 10, 64)
	if err != nil {
		t.Fatalf("POST /v1/push answered msg_id %q", out.MsgID)
	}
	return id
}

// report reads a message's report, withdrawn included.
func (c *cluster) report(t *testing.T, app nodetest.App, id uint64) (r struct {
	nodetest.Report
	Withdrawn int64 `json:"withdrawn"`
}) {
	t.Helper()
	nodetest.Attach(t, c.gateway).Do(http.MethodGet, fmt.Sprint("/v1/messages/", id), nodetest.Basic(app), nil, http.StatusOK, &r)
	return r
}

// cancel calls DELETE /v1/messages/{id} and returns the state it answers.
func (c *cluster) cancel(t *testing.T, app nodetest.App, id uint64) string {
	t.Helper()
	var out struct {
		State string `json:"state"`
	}
	nodetest.Attach(t, c.gateway).Do(http.MethodDelete, fmt.Sprint("/v1/messages/", id), nodetest.Basic(app), nil, http.StatusAccepted, &out)
	return out.State
}

// connections returns how many devices the connectors hold in all.
func (c *cluster) connections(t *testing.T) int {
	n := 0
	for _, v := range c.loads(t) {
		n += v
	}
	return n
}

func message(content string) map[string]any {
	return map[string]any{"title": "e2e", "content": content}
}

// A dataservice, a gateway and three connectors as separate processes,
// and 10,240 devices held by four load processes: pushes to tags, tag
// combinations and aliases reach exactly their devices; a broadcast
// reaches every online device, and the offline ones when they come back;
// a paced push spreads over the time its rate says; a cancel stops a push
// in the middle and takes back what was not delivered; a broadcast
// survives the SIGKILL of a connector, every device's app seeing it once;
// and a schedule fires once with two gateways running. The scenarios
// share the cluster and the fleet, in order.
func TestPushAtScaleOverACluster(t *testing.T) {
	if testing.Short() {
		t.Skip("10,240 devices over five processes: not in -short")
	}
	start := time.Now()
	c := startPushCluster(t, 3)
	app := c.h.CreateApp()
	specs := make([]fleet.Spec, pushFleet)
	for i := range specs {
		specs[i] = pushSpec(i)
	}
	f := startLoadFleet(t, c.gateway, app, pushLoadProcs, specs)
	registered := time.Now()
	f.connect(0, pushFleet)
	nodetest.Eventually(t, 30*time.Second, func() bool {
		l := c.loads(t)
		for _, d := range c.devices {
			if l[d] == 0 {
				return false
			}
		}
		return c.connections(t) == pushFleet
	}, func() string {
		return fmt.Sprintf("connector loads %v, want %d devices over all three", c.loads(t), pushFleet)
	})
	t.Logf("%d devices registered and described in %v, connected in %v; loads %v",
		pushFleet, registered.Sub(start).Round(time.Millisecond), time.Since(registered).Round(time.Millisecond), c.loads(t))

	// sent is every message of the test and who it is for: at the end,
	// each reached exactly those devices, once each, whatever came in
	// between (a killed connector, reconnections).
	type sent struct {
		name string
		id   uint64
		want func(int) bool
	}
	var all []sent
	everyone := func(int) bool { return true }

	t.Run("audiences", func(t *testing.T) {
		cases := []struct {
			name     string
			audience map[string]any
			want     func(int) bool
		}{
			{"tag", map[string]any{"tag": []string{"m3", "m5"}}, func(i int) bool { return i%3 == 0 || i%5 == 0 }},
			{"tag_and", map[string]any{"tag_and": []string{"m2", "m3"}}, func(i int) bool { return i%6 == 0 }},
			{"tag_not", map[string]any{"tag_not": []string{"m2"}}, func(i int) bool { return i%2 != 0 }},
			{"tag and tag_not", map[string]any{"tag": []string{"m5"}, "tag_not": []string{"m2", "m3"}}, func(i int) bool { return i%5 == 0 && i%2 != 0 && i%3 != 0 }},
			{"alias", map[string]any{"alias": []string{"a0", "a700", "a1500", "nobody"}}, func(i int) bool { return i < 5 || i/5 == 700 || i/5 == 1500 }},
		}
		// All at once: five task actors share the gateway.
		ids := make([]uint64, len(cases))
		for k, tc := range cases {
			ids[k] = c.push(t, app, map[string]any{"audience": tc.audience, "message": message(tc.name)})
		}
		for k, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				f.waitFor(ids[k], tc.want, 60*time.Second)
				n := f.count(ids[k])
				// Its report says the task targeted exactly these.
				nodetest.Eventually(t, 20*time.Second, func() bool {
					r := c.report(t, app, ids[k])
					return r.Targeted == int64(n) && r.Delivered == int64(n)
				}, func() string {
					return fmt.Sprintf("report %+v, want %d targeted and delivered", c.report(t, app, ids[k]), n)
				})
				f.exactly(ids[k], tc.want)
			})
			all = append(all, sent{tc.name, ids[k], tc.want})
		}
	})

	offline := func(i int) bool { return i >= pacedDevices }
	t.Run("broadcast reaches online devices now and offline ones on reconnect", func(t *testing.T) {
		f.disconnect(pacedDevices, pushFleet)
		nodetest.Eventually(t, 20*time.Second, func() bool { return c.connections(t) == pacedDevices }, func() string {
			return fmt.Sprintf("the connectors hold %d devices, want %d after %d went away", c.connections(t), pacedDevices, pushFleet-pacedDevices)
		})
		id := c.push(t, app, map[string]any{"audience": "all", "message": message("broadcast")})
		all = append(all, sent{"broadcast", id, everyone})
		f.waitFor(id, func(i int) bool { return !offline(i) }, 60*time.Second)
		for i := pacedDevices; i < pushFleet; i++ {
			if f.has(i, id) != 0 {
				t.Fatalf("offline device %d got the broadcast", i)
			}
		}
		f.connect(pacedDevices, pushFleet)
		f.waitFor(id, everyone, 60*time.Second)
		f.exactly(id, everyone)
		nodetest.Eventually(t, 20*time.Second, func() bool { return c.report(t, app, id).Delivered == pushFleet }, func() string {
			return fmt.Sprintf("report %+v, want %d delivered", c.report(t, app, id), pushFleet)
		})
	})

	paced := func(i int) bool { return i < pacedDevices }
	t.Run("rate 1000 spreads 10000 devices over about ten seconds", func(t *testing.T) {
		id := c.push(t, app, map[string]any{"audience": map[string]any{"tag": []string{"paced"}}, "message": message("paced"), "options": map[string]any{"rate": 1000}})
		all = append(all, sent{"paced", id, paced})
		f.waitFor(id, paced, 90*time.Second)
		f.exactly(id, paced)
		ts := f.times(id)
		spread := time.Duration(ts[len(ts)-1] - ts[0])
		t.Logf("first to last delivery: %v", spread.Round(time.Millisecond))
		// Behaviour, not performance: 10,000 at 1,000/s is ten seconds;
		// far less means no pacing, far more a stall.
		if spread < 6*time.Second || spread > 30*time.Second {
			t.Errorf("10,000 deliveries at rate 1000 spread over %v, want about 10s (6s to 30s)", spread)
		}
	})

	t.Run("cancel stops a push in the middle", func(t *testing.T) {
		// Some devices of the audience are offline: their copies wait in
		// the inbox until the cancel takes them back.
		const away = 200
		awayFrom := pacedDevices - away
		f.disconnect(awayFrom, pacedDevices)
		nodetest.Eventually(t, 20*time.Second, func() bool { return c.connections(t) == pushFleet-away }, func() string {
			return fmt.Sprintf("the connectors hold %d devices, want %d", c.connections(t), pushFleet-away)
		})
		id := c.push(t, app, map[string]any{"audience": map[string]any{"tag": []string{"paced"}}, "message": message("canceled"), "options": map[string]any{"rate": 1000}})
		nodetest.Eventually(t, 60*time.Second, func() bool { return f.count(id) >= 1000 }, func() string {
			return fmt.Sprintf("the paced push reached %d devices", f.count(id))
		})
		state := c.cancel(t, app, id)
		atCancel := f.count(id)
		if state != "canceling" && state != "canceled" {
			t.Fatalf("DELETE answered state %q", state)
		}
		nodetest.Eventually(t, 60*time.Second, func() bool { return c.cancel(t, app, id) == "canceled" }, func() string {
			return fmt.Sprintf("the cancel did not end; report %+v", c.report(t, app, id))
		})
		// A barrier: a push to the same devices after the cancel reaches
		// each of them after anything sent before it.
		barrier := c.push(t, app, map[string]any{"audience": map[string]any{"tag": []string{"paced"}}, "message": message("after the cancel")})
		f.waitFor(barrier, func(i int) bool { return i < awayFrom }, 60*time.Second)
		f.connect(awayFrom, pacedDevices)
		f.waitFor(barrier, paced, 60*time.Second)
		all = append(all, sent{"after the cancel", barrier, paced})

		final := f.count(id)
		r := c.report(t, app, id)
		t.Logf("canceled push: %d devices had it when DELETE returned, %d in the end; report %+v", atCancel, final, r)
		// Pages in flight when the cancel came may still be delivered:
		// at most two pages of at most a second's rate each.
		if final > atCancel+2000 || final >= pacedDevices-away {
			t.Errorf("the canceled push reached %d devices, %d when the cancel returned: it did not stop", final, atCancel)
		}
		for i := awayFrom; i < pacedDevices; i++ {
			if f.has(i, id) != 0 {
				t.Errorf("device %d was offline during the cancel and got the canceled message when it came back", i)
			}
		}
		if r.Withdrawn == 0 {
			t.Errorf("report %+v: nothing withdrawn, though offline devices had copies waiting", r)
		}
		for i := range pushFleet {
			if f.has(i, id) > 1 {
				t.Errorf("device %d got the canceled message %d times", i, f.has(i, id))
			}
			if !paced(i) && f.has(i, id) != 0 {
				t.Errorf("device %d is not in the audience and got the canceled message", i)
			}
		}
	})

	t.Run("broadcast survives kill -9 of a connector", func(t *testing.T) {
		nodetest.Eventually(t, 20*time.Second, func() bool { return c.connections(t) == pushFleet }, func() string {
			return fmt.Sprintf("the connectors hold %d devices, want all %d", c.connections(t), pushFleet)
		})
		victim := c.connectors[0]
		id := c.push(t, app, map[string]any{"audience": "all", "message": message("survivor")})
		// Kill one connector once the first devices have the broadcast:
		// the connectors are fanning it out in parallel.
		deadline := time.Now().Add(30 * time.Second)
		for f.count(id) < pushFleet/50 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		if err := victim.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		atKill := f.count(id)
		all = append(all, sent{"survivor", id, everyone})
		f.waitFor(id, everyone, 90*time.Second)
		ts := f.times(id)
		t.Logf("%d devices had the broadcast when a connector was killed; %v from its first to its last delivery",
			atKill, time.Duration(ts[len(ts)-1]-ts[0]).Round(time.Millisecond))
		f.exactly(id, everyone)
		nodetest.Eventually(t, 30*time.Second, func() bool { return f.online() == pushFleet }, func() string {
			return fmt.Sprintf("%d of %d devices online after the kill", f.online(), pushFleet)
		})
		nodetest.Eventually(t, 20*time.Second, func() bool {
			_, ok := c.loads(t)[c.devices[0]]
			return !ok && c.connections(t) == pushFleet
		}, func() string {
			return fmt.Sprintf("after the kill the connectors hold %v, want all %d devices on the two left", c.loads(t), pushFleet)
		})
	})

	t.Run("a schedule fires once with two gateways", func(t *testing.T) {
		second := nodetest.Attach(t, c.startGateway(t, 1))
		before := f.messages()
		m5 := func(i int) bool { return i%5 == 0 }
		at := time.Now().UTC().Add(3 * time.Second).Format("2006-01-02 15:04:05")
		var sched struct {
			ScheduleID string `json:"schedule_id"`
		}
		c.h.Do(http.MethodPost, "/v1/schedules", nodetest.Basic(app), map[string]any{
			"name":    "e2e once",
			"trigger": map[string]any{"single": map[string]any{"time": at}},
			"push":    map[string]any{"audience": map[string]any{"tag": []string{"m5"}}, "message": message("scheduled")},
		}, http.StatusCreated, &sched)
		// Both gateways look for due schedules every second; one fires
		// it, once.
		var view struct {
			NextFire *time.Time `json:"next_fire"`
			Firings  []struct {
				MsgID string `json:"msg_id"`
				Error string `json:"error"`
			} `json:"firings"`
		}
		nodetest.Eventually(t, 30*time.Second, func() bool {
			second.Do(http.MethodGet, "/v1/schedules/"+sched.ScheduleID, nodetest.Basic(app), nil, http.StatusOK, &view)
			return len(view.Firings) > 0 && view.NextFire == nil
		}, func() string { return fmt.Sprintf("schedule for %s UTC: %+v", at, view) })
		if len(view.Firings) != 1 || view.Firings[0].MsgID == "" {
			t.Fatalf("the single schedule fired %+v, want once with a message", view.Firings)
		}
		id, err := strconv.ParseUint(view.Firings[0].MsgID, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, sent{"scheduled", id, m5})
		f.waitFor(id, m5, 60*time.Second)
		f.exactly(id, m5)
		for got := range f.messages() {
			if !before[got] && got != id {
				t.Errorf("devices got message %d besides the schedule's %d", got, id)
			}
		}
	})

	// Whatever happened in between, every message reached its devices
	// exactly once at the app level.
	for _, s := range all {
		f.exactly(s.id, s.want)
	}
	if errs := f.errors(); len(errs) > 0 {
		t.Errorf("load processes reported: %v", errs)
	}
	names := make([]string, len(all))
	for i, s := range all {
		names[i] = s.name
	}
	t.Logf("%d messages checked (%v) in %v", len(all), slices.Clip(names), time.Since(start).Round(time.Millisecond))
}
