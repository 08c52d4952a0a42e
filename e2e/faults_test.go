package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald/node/nodetest"
)

// Fault tests: a component is killed with SIGKILL in the middle of a run
// of unicasts and started again (same name, same data, same addresses);
// every message accepted reaches its device once (the SDK drops the
// duplicates at-least-once allows), and within 5 seconds of the last
// device getting its last message every report says exactly what the
// devices acknowledged: sent 1, delivered 1, failed 0.

// restartable is a herald process that can be killed and started again
// with the same arguments.
type restartable struct {
	args []string
	env  []string
	re   *regexp.Regexp
	cmd  *exec.Cmd
}

func (p *restartable) start(t *testing.T) string {
	t.Helper()
	p.cmd = exec.Command(heraldBin, p.args...)
	p.cmd.Env = append(os.Environ(), p.env...)
	return waitForLine(t, p.cmd, p.re)
}

func (p *restartable) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
}

// freeAddr returns a loopback address with a port free right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// faultCluster is a dataservice, connectors and a gateway, each
// restartable, on fixed addresses.
type faultCluster struct {
	ds, gw     *restartable
	connectors []*restartable
	gateway    string
	h          *nodetest.Herald
}

func startFaultCluster(t *testing.T, connectors int) *faultCluster {
	t.Helper()
	env := []string{"HERALD_CLUSTER_TOKEN=" + clusterToken}
	c := &faultCluster{}
	c.ds = &restartable{args: []string{"dataservice", "--store", "leveldb:" + t.TempDir(), "--http", freeAddr(t)}, env: env,
		re: regexp.MustCompile(`serving\s+http://(\S+)`)}
	ds := "http://" + c.ds.start(t)
	for k := range connectors {
		p := &restartable{args: []string{"connector", "--id", fmt.Sprint("fc", k), "--dataservice", ds, "--device", "127.0.0.1:0",
			"--http", "127.0.0.1:0", "--announce", "300ms", "--grace", "5s", "--log-level", "warn"}, env: env,
			re: regexp.MustCompile(`devices\s+tcp://(\S+)`)}
		p.start(t)
		c.connectors = append(c.connectors, p)
	}
	c.gw = &restartable{args: []string{"gateway", "--dataservice", ds, "--http", freeAddr(t), "--refresh", "200ms", "--node", "7", "--log-level", "warn",
		"--register-limit-per-address", "off", "--register-limit-per-app", "off"},
		env: append(env, "HERALD_ADMIN_TOKEN="+nodetest.AdminToken), re: regexp.MustCompile(`REST API\s+http://(\S+)`)}
	c.gateway = "http://" + c.gw.start(t)
	c.h = nodetest.Attach(t, c.gateway)
	return c
}

// unicastRun pushes one message to each device per round, from a few
// goroutines, and keeps the ids the gateway accepted. A push that fails
// (the component is down) is not retried: whether it was stored is
// unknown, and it is not checked.
type unicastRun struct {
	mu       sync.Mutex
	accepted map[uint64]int // id → device
	failed   atomic.Int64
}

func runUnicasts(t *testing.T, gateway string, app nodetest.App, rids []string, rounds int, at func(sent int)) *unicastRun {
	t.Helper()
	run := &unicastRun{accepted: map[uint64]int{}}
	type job struct{ n, dev int }
	jobs := make(chan job)
	hc := &http.Client{Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	auth := nodetest.Basic(app)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for j := range jobs {
				id, ok := postPush(hc, gateway, auth, map[string]any{
					"audience": map[string]any{"registration_id": []string{rids[j.dev]}},
					"message":  map[string]any{"title": "fault", "content": fmt.Sprint("unicast ", j.n)},
				})
				if !ok {
					run.failed.Add(1)
					continue
				}
				run.mu.Lock()
				run.accepted[id] = j.dev
				run.mu.Unlock()
			}
		})
	}
	n := 0
	for range rounds {
		for dev := range rids {
			at(n)
			jobs <- job{n, dev}
			n++
		}
	}
	close(jobs)
	wg.Wait()
	return run
}

// postPush sends a push and returns its id, or false if it was not
// accepted (the component is down).
func postPush(hc *http.Client, gateway, auth string, push map[string]any) (uint64, bool) {
	body, _ := json.Marshal(push)
	req, _ := http.NewRequest(http.MethodPost, gateway+"/v1/push", bytes.NewReader(body))
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	var out struct {
		MsgID string `json:"msg_id"`
	}
	err = json.NewDecoder(resp.Body).Decode(&out)
	id, perr := strconv.ParseUint(out.MsgID, 10, 64)
	return id, err == nil && perr == nil && resp.StatusCode == http.StatusOK
}

// check waits until every accepted message reached its device, checks
// that each device's app saw it once, then that every report comes to
// what the devices acknowledged within 5 seconds.
func (run *unicastRun) check(t *testing.T, h *nodetest.Herald, app nodetest.App, f *testFleet) {
	t.Helper()
	if len(run.accepted) == 0 {
		t.Fatal("no push was accepted")
	}
	missing := func() []uint64 {
		var out []uint64
		for id, dev := range run.accepted {
			if f.has(dev, id) == 0 {
				out = append(out, id)
			}
		}
		return out
	}
	nodetest.Eventually(t, 90*time.Second, func() bool { return len(missing()) == 0 }, func() string {
		m := missing()
		return fmt.Sprintf("%d of %d accepted messages never reached their device (lost), e.g. %v; fleet errors %v", len(m), len(run.accepted), m[:min(5, len(m))], f.errors())
	})
	for id, dev := range run.accepted {
		if got := f.has(dev, id); got != 1 {
			t.Errorf("device %d's app got message %d %d times, want once", dev, id, got)
		}
	}
	wrong := func() []string {
		var out []string
		for id := range run.accepted {
			r := h.Report(app, strconv.FormatUint(id, 10))
			if r.Targeted != 1 || r.Sent != 1 || r.Delivered != 1 || r.Failed != 0 || r.Expired != 0 {
				out = append(out, fmt.Sprintf("%d: %+v", id, r))
			}
		}
		return out
	}
	nodetest.Eventually(t, 5*time.Second, func() bool { return len(wrong()) == 0 }, func() string {
		w := wrong()
		return fmt.Sprintf("%d of %d reports differ from what the devices acknowledged, e.g. %v", len(w), len(run.accepted), w[:min(5, len(w))])
	})
	t.Logf("%d unicasts accepted, %d refused while the component was down; reports exact", len(run.accepted), run.failed.Load())
}

const faultDevices, faultRounds = 200, 8

// killAt returns a hook for runUnicasts: it kills the process when a
// third of the pushes went out and starts it again (kill and start both
// as stop and start do) at half, at least a second later; the pushes in
// between meet the component down.
func killAt(total int, stop, start func()) func(int) {
	var killed time.Time
	return func(n int) {
		switch n {
		case total / 3:
			stop()
			killed = time.Now()
		case total / 2:
			time.Sleep(time.Until(killed.Add(time.Second)))
			start()
		}
	}
}

func TestKillHeraldAllMidUnicastsKeepsReportsExact(t *testing.T) {
	dir := t.TempDir()
	p := startHerald(t, dir, "127.0.0.1:0", "127.0.0.1:0")
	app := p.h.CreateApp()
	gateway := "http://" + p.http
	f := startLocalFleet(t, gateway, app, faultDevices)
	f.connect(0, faultDevices)
	var again *process
	run := runUnicasts(t, gateway, app, f.rids, faultRounds, killAt(faultDevices*faultRounds, func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
	}, func() { again = startHerald(t, dir, p.http, p.device) }))
	run.check(t, again.h, app, f)
}

// runBroadcasts sends broadcasts 250ms apart, calling at before each, and
// returns the ids accepted.
func runBroadcasts(t *testing.T, gateway string, app nodetest.App, n int, at func(sent int)) []uint64 {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second}
	defer hc.CloseIdleConnections()
	var ids []uint64
	for k := range n {
		at(k)
		if id, ok := postPush(hc, gateway, nodetest.Basic(app), map[string]any{"audience": "all", "message": message(fmt.Sprint("broadcast ", k))}); ok {
			ids = append(ids, id)
		}
		time.Sleep(250 * time.Millisecond)
	}
	return ids
}

// checkBroadcasts waits until every device got every accepted broadcast,
// checks each app saw each once, then that every report comes to what
// the devices acknowledged within 5 seconds.
func checkBroadcasts(t *testing.T, h *nodetest.Herald, app nodetest.App, f *testFleet, ids []uint64) {
	t.Helper()
	if len(ids) < 2 {
		t.Fatalf("%d broadcasts accepted", len(ids))
	}
	missing := func() (n int) {
		for _, id := range ids {
			n += faultDevices - f.count(id)
		}
		return n
	}
	nodetest.Eventually(t, 90*time.Second, func() bool { return missing() == 0 }, func() string {
		return fmt.Sprintf("%d deliveries of %d broadcasts to %d devices never happened (lost); fleet errors %v", missing(), len(ids), faultDevices, f.errors())
	})
	for _, id := range ids {
		for dev := range faultDevices {
			if got := f.has(dev, id); got != 1 {
				t.Errorf("device %d's app got broadcast %d %d times, want once", dev, id, got)
			}
		}
	}
	wrong := func() []string {
		var out []string
		for _, id := range ids {
			r := h.Report(app, strconv.FormatUint(id, 10))
			if r.Sent != faultDevices || r.Delivered != faultDevices || r.Failed != 0 {
				out = append(out, fmt.Sprintf("%d: %+v", id, r))
			}
		}
		return out
	}
	nodetest.Eventually(t, 5*time.Second, func() bool { return len(wrong()) == 0 }, func() string {
		return fmt.Sprintf("reports differ from what the %d devices acknowledged: %v", faultDevices, wrong())
	})
	t.Logf("%d broadcasts accepted to %d devices; reports exact", len(ids), faultDevices)
}

const faultBroadcasts = 8

func TestKillHeraldAllMidBroadcastsKeepsReportsExact(t *testing.T) {
	dir := t.TempDir()
	p := startHerald(t, dir, "127.0.0.1:0", "127.0.0.1:0")
	app := p.h.CreateApp()
	gateway := "http://" + p.http
	f := startLocalFleet(t, gateway, app, faultDevices)
	f.connect(0, faultDevices)
	var again *process
	ids := runBroadcasts(t, gateway, app, faultBroadcasts, killAt(faultBroadcasts*3/2, func() {
		_ = p.cmd.Process.Kill()
		<-p.exited
	}, func() { again = startHerald(t, dir, p.http, p.device) }))
	checkBroadcasts(t, again.h, app, f, ids)
}

// clusterVictims are the components of a cluster the fault tests kill.
var clusterVictims = []struct {
	name string
	pick func(*faultCluster) *restartable
}{
	{"connector", func(c *faultCluster) *restartable { return c.connectors[0] }},
	{"gateway", func(c *faultCluster) *restartable { return c.gw }},
	{"dataservice", func(c *faultCluster) *restartable { return c.ds }},
}

// TestKillAClusterComponentMidUnicastsKeepsReportsExact kills a connector,
// the gateway or the dataservice in the middle of unicasts.
func TestKillAClusterComponentMidUnicastsKeepsReportsExact(t *testing.T) {
	for _, v := range clusterVictims {
		t.Run(v.name, func(t *testing.T) {
			c := startFaultCluster(t, 2)
			app := c.h.CreateApp()
			f := startLocalFleet(t, c.gateway, app, faultDevices)
			f.connect(0, faultDevices)
			p := v.pick(c)
			run := runUnicasts(t, c.gateway, app, f.rids, faultRounds, killAt(faultDevices*faultRounds, func() { p.kill(t) }, func() { p.start(t) }))
			run.check(t, c.h, app, f)
		})
	}
}

// TestKillAClusterComponentMidBroadcastsKeepsReportsExact kills a
// connector, the gateway or the dataservice in the middle of broadcasts.
func TestKillAClusterComponentMidBroadcastsKeepsReportsExact(t *testing.T) {
	for _, v := range clusterVictims {
		t.Run(v.name, func(t *testing.T) {
			c := startFaultCluster(t, 2)
			app := c.h.CreateApp()
			f := startLocalFleet(t, c.gateway, app, faultDevices)
			f.connect(0, faultDevices)
			p := v.pick(c)
			ids := runBroadcasts(t, c.gateway, app, faultBroadcasts, killAt(faultBroadcasts*3/2, func() { p.kill(t) }, func() { p.start(t) }))
			checkBroadcasts(t, c.h, app, f, ids)
		})
	}
}
