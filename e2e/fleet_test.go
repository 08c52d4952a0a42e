package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/fleet"
	"github.com/heraldpush/herald/internal/h2c"
	"github.com/heraldpush/herald/node/nodetest"
	"github.com/heraldpush/herald/sdk"
)

// The tests' devices are a fleet of internal/fleet, counted by testFleet:
// every message handed to a device's handler, per device and message id.
// A small fleet lives in the test process (startLocalFleet). A large one is
// held by load processes (startLoadFleet: e2e/loadproc, the fleet's worker
// processes, built without the race detector): a process may open at most
// 20,000 files, and the test process, which runs under the race detector,
// should spend its time checking rather than holding sockets. Devices are
// numbered globally; load process k holds a contiguous range.

var (
	loadprocOnce sync.Once
	loadprocBin  string
	loadprocErr  error
)

// buildLoadproc builds the load process once per test binary, next to the
// herald binary (TestMain removes that directory).
func buildLoadproc(t *testing.T) string {
	t.Helper()
	loadprocOnce.Do(func() {
		loadprocBin = filepath.Join(filepath.Dir(heraldBin), "loadproc")
		out, err := exec.Command("go", "build", "-o", loadprocBin, "github.com/heraldpush/herald/e2e/loadproc").CombinedOutput()
		if err != nil {
			loadprocErr = fmt.Errorf("building loadproc: %v\n%s", err, out)
		}
	})
	if loadprocErr != nil {
		t.Fatal(loadprocErr)
	}
	return loadprocBin
}

// testFleet is a fleet of devices and everything they received.
type testFleet struct {
	fleet.Fleet
	t      *testing.T
	local  *fleet.Local // the Fleet, when this process holds the devices
	size   int
	rids   []string        // by global index
	stderr []*lockedBuffer // of each load process

	mu   sync.Mutex
	got  []map[uint64]int // global index → message id → handler calls
	at   map[uint64][]int64
	errs []string // what the fleet reported
}

// register registers n devices of app, each with the tags and alias spec
// returns (nil: none), and returns a testFleet of them, yet to be given
// its Fleet, and the Config it takes.
func register(t *testing.T, gateway string, app nodetest.App, n int, spec func(int) fleet.Spec) (*testFleet, []sdk.Credentials, fleet.Config) {
	t.Helper()
	f := &testFleet{t: t, size: n, rids: make([]string, n), got: make([]map[uint64]int, n), at: map[uint64][]int64{}}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	hc := &http.Client{Transport: h2c.NewTransport(), Timeout: 30 * time.Second}
	defer hc.CloseIdleConnections()
	creds, _, err := fleet.Register(ctx, fleet.Registration{
		Gateway: gateway, AppKey: app.Key, MasterSecret: app.Secret, Concurrency: 64, Spec: spec, HTTP: hc,
	}, n)
	if err != nil {
		t.Fatalf("registering %d devices: %v", n, err)
	}
	for i, c := range creds {
		f.rids[i] = c.RegistrationID
	}
	cfg := fleet.Config{
		Gateway: gateway, MinBackoff: 100 * time.Millisecond, MaxBackoff: 2 * time.Second,
		OnArrival: f.delivered,
		OnError:   func(op string, err error) { f.recordError(op + ": " + err.Error()) },
	}
	return f, creds, cfg
}

// startLocalFleet registers n devices of app and holds them in this
// process, not yet connected, until the test ends.
func startLocalFleet(t *testing.T, gateway string, app nodetest.App, n int) *testFleet {
	t.Helper()
	f, creds, cfg := register(t, gateway, app, n, nil)
	cfg.Concurrency = 64
	f.local = fleet.NewLocal(cfg, creds, nil)
	f.Fleet = f.local
	t.Cleanup(f.Close)
	return f
}

// startLoadFleet registers len(specs) devices of app, each with the tags
// and alias of its spec, and starts procs load processes holding them, not
// yet connected. Process k opens its device sockets from 127.0.0.(10+40k)
// to 127.0.0.(49+40k).
func startLoadFleet(t *testing.T, gateway string, app nodetest.App, procs int, specs []fleet.Spec) *testFleet {
	t.Helper()
	if procs < 1 || procs > 4 {
		t.Fatalf("startLoadFleet: %d processes; the source address ranges allow 1 to 4", procs)
	}
	bin := buildLoadproc(t)
	f, creds, cfg := register(t, gateway, app, len(specs), func(i int) fleet.Spec { return specs[i] })
	sources, err := fleet.ParseSources(fmt.Sprintf("127.0.0.10-127.0.0.%d", 9+40*procs))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Sources, cfg.Concurrency, cfg.DialTimeout, cfg.Heartbeat = sources, 32, time.Minute, 5*time.Minute
	for range procs {
		f.stderr = append(f.stderr, &lockedBuffer{})
	}
	f.Fleet, err = fleet.StartWorkers(fleet.WorkersConfig{
		Config:  cfg,
		Workers: procs,
		Command: func(k int) *exec.Cmd {
			cmd := exec.Command(bin)
			cmd.Stderr = f.stderr[k]
			return cmd
		},
		Logf: func(format string, args ...any) { f.recordError(fmt.Sprintf(format, args...)) },
	}, creds, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	return f
}

// delivered records a message handed to a device's handler.
func (f *testFleet) delivered(a fleet.Arrival) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.got[a.Device] == nil {
		f.got[a.Device] = map[uint64]int{}
	}
	f.got[a.Device][a.ID]++
	if f.got[a.Device][a.ID] == 1 {
		f.at[a.ID] = append(f.at[a.ID], a.At)
	}
}

func (f *testFleet) recordError(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.errs) < 20 {
		f.errs = append(f.errs, s)
	}
}

// errors returns the first problems the fleet reported, and what its load
// processes wrote to stderr.
func (f *testFleet) errors() []string {
	f.mu.Lock()
	errs := slices.Clone(f.errs)
	f.mu.Unlock()
	for k, b := range f.stderr {
		if s := b.String(); s != "" {
			errs = append(errs, fmt.Sprintf("load process %d: %s", k, s))
		}
	}
	return errs
}

// connect connects the devices of [from, to) and fails the test if any
// could not.
func (f *testFleet) connect(from, to int) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(f.t.Context(), 3*time.Minute)
	defer cancel()
	if failed := f.Connect(ctx, from, to); failed != 0 {
		f.t.Fatalf("connecting devices %d..%d: %d failed; %v", from, to-1, failed, f.errors())
	}
}

// disconnect closes the devices of [from, to).
func (f *testFleet) disconnect(from, to int) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(f.t.Context(), time.Minute)
	defer cancel()
	f.Disconnect(ctx, from, to)
}

// online returns how many devices are connected, as their clients see it.
func (f *testFleet) online() int {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(f.t.Context(), time.Minute)
	defer cancel()
	f.Sync(ctx)
	return int(f.Connected())
}

// count returns how many devices got message id at least once.
func (f *testFleet) count(id uint64) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.at[id])
}

// messages returns the ids of every message any device got.
func (f *testFleet) messages() map[uint64]bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := make(map[uint64]bool, len(f.at))
	for id := range f.at {
		ids[id] = true
	}
	return ids
}

// has reports how many times device i's handler got message id.
func (f *testFleet) has(i int, id uint64) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.got[i][id]
}

// times returns when each device first got message id, in Unix
// nanoseconds, sorted.
func (f *testFleet) times(id uint64) []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	ts := slices.Clone(f.at[id])
	slices.Sort(ts)
	return ts
}

// waitFor polls until every device that want accepts got message id, or
// fails the test after timeout saying which are missing.
func (f *testFleet) waitFor(id uint64, want func(int) bool, timeout time.Duration) {
	f.t.Helper()
	n := 0
	for i := range f.size {
		if want(i) {
			n++
		}
	}
	nodetest.Eventually(f.t, timeout, func() bool {
		if f.count(id) < n {
			return false
		}
		for i := range f.size {
			if want(i) && f.has(i, id) == 0 {
				return false
			}
		}
		return true
	}, func() string {
		var missing []int
		for i := range f.size {
			if want(i) && f.has(i, id) == 0 {
				missing = append(missing, i)
			}
		}
		return fmt.Sprintf("message %d reached %d devices; %d of the %d it is for are missing, such as %v; the fleet reported %v",
			id, f.count(id), len(missing), n, missing[:min(len(missing), 10)], f.errors())
	})
}

// exactly fails the test unless message id reached exactly the devices
// want accepts, each handler once.
func (f *testFleet) exactly(id uint64, want func(int) bool) {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	var wrong []string
	for i := range f.size {
		got := f.got[i][id]
		switch {
		case want(i) && got != 1:
			wrong = append(wrong, fmt.Sprintf("device %d (%s) got it %d times, want once", i, f.rids[i], got))
		case !want(i) && got != 0:
			wrong = append(wrong, fmt.Sprintf("device %d (%s) is not in the audience and got it %d times", i, f.rids[i], got))
		}
	}
	if len(wrong) > 0 {
		f.t.Errorf("message %d: %d devices wrong: %s", id, len(wrong), strings.Join(wrong[:min(len(wrong), 10)], "; "))
	}
}

// client returns device i's client, for what the fleet does not do itself;
// only for a fleet in this process.
func (f *testFleet) client(i int) *sdk.Client {
	f.t.Helper()
	if f.local == nil {
		f.t.Fatal("client: the devices are in load processes")
	}
	return f.local.Client(i)
}

// received returns how many distinct messages device i got.
func (f *testFleet) received(i int) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.got[i])
}

// total returns how many distinct messages the devices got, in all.
func (f *testFleet) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, m := range f.got {
		n += len(m)
	}
	return n
}

// exactlyOnce checks every device got want distinct messages, each handed
// over exactly once.
func (f *testFleet) exactlyOnce(want int) {
	f.t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, got := range f.got {
		if len(got) != want {
			f.t.Fatalf("device %d (%s) got %d distinct messages, want %d", i, f.rids[i], len(got), want)
		}
		for id, n := range got {
			if n != 1 {
				f.t.Fatalf("device %d (%s) got message %d %d times", i, f.rids[i], id, n)
			}
		}
	}
}
