package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/node/nodetest"
)

// A load fleet is a fleet of SDK devices held by several load processes
// (e2e/loadproc, built without the race detector): a process may open at
// most 20,000 files, and the test process, which runs under the race
// detector, should spend its time checking rather than holding sockets.
// Each process registers its share of the devices, gives them the tags
// and alias of their spec, connects them from its own range of 127.0.0.x
// source addresses, and reports every message handed to a device's
// handler. Devices are numbered globally: process k holds a contiguous
// range.

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

// deviceSpec is what the app backend says about one device: the shape of
// loadproc's spec entries.
type deviceSpec struct {
	Tags  []string `json:"tags,omitempty"`
	Alias string   `json:"alias,omitempty"`
}

// loadFleet is the parent's view of the load processes and of everything
// their devices received.
type loadFleet struct {
	t     *testing.T
	procs []*loadProc
	size  int
	rids  []string // by global index; written before ready, read-only after

	mu   sync.Mutex
	got  []map[uint64]int // global index → message id → handler calls
	at   map[uint64][]int64
	errs []string // "error" lines of the processes
}

// loadProc is one load process.
type loadProc struct {
	first, n int
	cmd      *exec.Cmd
	stdin    io.WriteCloser
	stderr   *lockedBuffer
	replies  chan string
	ready    chan struct{}
	exited   chan struct{}
}

// startLoadFleet starts procs load processes holding len(specs) devices
// of app, and waits until every device is registered and described. Process
// k opens its device sockets from 127.0.0.(10+40k) to 127.0.0.(49+40k).
func startLoadFleet(t *testing.T, gateway string, app nodetest.App, procs int, specs []deviceSpec) *loadFleet {
	t.Helper()
	if procs < 1 || procs > 4 {
		t.Fatalf("startLoadFleet: %d processes; the source address ranges allow 1 to 4", procs)
	}
	bin := buildLoadproc(t)
	f := &loadFleet{t: t, size: len(specs), rids: make([]string, len(specs)), got: make([]map[uint64]int, len(specs)), at: map[uint64][]int64{}}
	dir := t.TempDir()
	per := (len(specs) + procs - 1) / procs
	for k := range procs {
		first := k * per
		n := min(per, len(specs)-first)
		spec, _ := json.Marshal(map[string]any{
			"gateway": gateway, "app_key": app.Key, "master_secret": app.Secret, "devices": specs[first : first+n],
		})
		path := filepath.Join(dir, fmt.Sprintf("spec%d.json", k))
		if err := os.WriteFile(path, spec, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "--spec", path, "--sources", fmt.Sprintf("127.0.0.%d-127.0.0.%d", 10+40*k, 49+40*k))
		p := &loadProc{first: first, n: n, cmd: cmd, stderr: &lockedBuffer{},
			replies: make(chan string, 1), ready: make(chan struct{}), exited: make(chan struct{})}
		cmd.Stderr = p.stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if p.stdin, err = cmd.StdinPipe(); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go f.read(p, stdout)
		f.procs = append(f.procs, p)
	}
	t.Cleanup(f.stop)
	deadline := time.After(2 * time.Minute)
	for _, p := range f.procs {
		select {
		case <-p.ready:
		case <-p.exited:
			t.Fatalf("load process of devices %d..%d exited while registering:\n%s", p.first, p.first+p.n-1, p.stderr)
		case <-deadline:
			t.Fatalf("load process of devices %d..%d did not register them within 2 minutes:\n%s", p.first, p.first+p.n-1, p.stderr)
		}
	}
	return f
}

// read consumes a load process's output until it exits.
func (f *loadFleet) read(p *loadProc, stdout io.Reader) {
	defer close(p.exited)
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		line := sc.Text()
		kind, rest, _ := strings.Cut(line, " ")
		switch kind {
		case "delivered":
			var i int
			var id uint64
			var at int64
			if _, err := fmt.Sscan(rest, &i, &id, &at); err != nil {
				f.recordError(fmt.Sprintf("unreadable line %q", line))
				continue
			}
			f.delivered(p.first+i, id, at)
		case "registered":
			i, rid, _ := strings.Cut(rest, " ")
			n, err := strconv.Atoi(i)
			if err != nil || n < 0 || n >= p.n {
				f.recordError(fmt.Sprintf("unreadable line %q", line))
				continue
			}
			f.rids[p.first+n] = rid
		case "ready":
			close(p.ready)
		case "error":
			f.recordError(fmt.Sprintf("devices %d..: %s", p.first, rest))
		default: // the answer to a command
			p.replies <- line
		}
	}
	_ = p.cmd.Wait()
}

func (f *loadFleet) delivered(i int, id uint64, at int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.got[i] == nil {
		f.got[i] = map[uint64]int{}
	}
	f.got[i][id]++
	if f.got[i][id] == 1 {
		f.at[id] = append(f.at[id], at)
	}
}

func (f *loadFleet) recordError(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.errs) < 20 {
		f.errs = append(f.errs, s)
	}
}

// errors returns the first problems the load processes reported.
func (f *loadFleet) errors() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.errs)
}

// stop ends the load processes: end of stdin closes their devices.
func (f *loadFleet) stop() {
	for _, p := range f.procs {
		p.stdin.Close()
	}
	for _, p := range f.procs {
		select {
		case <-p.exited:
		case <-time.After(20 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	}
}

// command sends a command about the global range [from, to) to every
// process holding part of it, in parallel, and returns their answers'
// fields after the first word, summed.
func (f *loadFleet) command(verb string, from, to int, timeout time.Duration) []int {
	f.t.Helper()
	type answer struct {
		fields []int
		err    error
	}
	var answers []chan answer
	for _, p := range f.procs {
		lo, hi := max(from, p.first)-p.first, min(to, p.first+p.n)-p.first
		if verb != "stats" && lo >= hi {
			continue
		}
		ch := make(chan answer, 1)
		answers = append(answers, ch)
		go func() {
			cmd := verb
			if verb != "stats" {
				cmd = fmt.Sprintf("%s %d %d", verb, lo, hi)
			}
			if _, err := fmt.Fprintln(p.stdin, cmd); err != nil {
				ch <- answer{err: err}
				return
			}
			select {
			case line := <-p.replies:
				fields := strings.Fields(line)
				var nums []int
				for _, s := range fields[1:] {
					n, err := strconv.Atoi(s)
					if err != nil {
						ch <- answer{err: fmt.Errorf("answer %q", line)}
						return
					}
					nums = append(nums, n)
				}
				ch <- answer{fields: nums}
			case <-p.exited:
				ch <- answer{err: fmt.Errorf("load process of devices %d.. exited:\n%s", p.first, p.stderr)}
			case <-time.After(timeout):
				ch <- answer{err: fmt.Errorf("load process of devices %d.. did not answer %q within %v", p.first, cmd, timeout)}
			}
		}()
	}
	var sum []int
	for _, ch := range answers {
		a := <-ch
		if a.err != nil {
			f.t.Fatal(a.err)
		}
		for len(sum) < len(a.fields) {
			sum = append(sum, 0)
		}
		for i, n := range a.fields {
			sum[i] += n
		}
	}
	return sum
}

// connect connects the devices of [from, to) and fails the test if any
// could not.
func (f *loadFleet) connect(from, to int) {
	f.t.Helper()
	if r := f.command("connect", from, to, 3*time.Minute); len(r) != 2 || r[1] != 0 {
		f.t.Fatalf("connecting devices %d..%d: %v connected/failed; %v", from, to-1, r, f.errors())
	}
}

// disconnect closes the devices of [from, to).
func (f *loadFleet) disconnect(from, to int) {
	f.t.Helper()
	f.command("disconnect", from, to, time.Minute)
}

// online returns how many devices are connected, as their clients see it.
func (f *loadFleet) online() int {
	f.t.Helper()
	return f.command("stats", 0, 0, time.Minute)[0]
}

// count returns how many devices got message id at least once.
func (f *loadFleet) count(id uint64) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.at[id])
}

// messages returns the ids of every message any device got.
func (f *loadFleet) messages() map[uint64]bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := make(map[uint64]bool, len(f.at))
	for id := range f.at {
		ids[id] = true
	}
	return ids
}

// has reports how many times device i's handler got message id.
func (f *loadFleet) has(i int, id uint64) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.got[i][id]
}

// times returns when each device first got message id, in Unix
// nanoseconds, sorted.
func (f *loadFleet) times(id uint64) []int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	ts := slices.Clone(f.at[id])
	slices.Sort(ts)
	return ts
}

// waitFor polls until every device that want accepts got message id, or
// fails the test after timeout saying which are missing.
func (f *loadFleet) waitFor(id uint64, want func(int) bool, timeout time.Duration) {
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
		return fmt.Sprintf("message %d reached %d devices; %d of the %d it is for are missing, such as %v; load processes reported %v",
			id, f.count(id), len(missing), n, missing[:min(len(missing), 10)], f.errors())
	})
}

// exactly fails the test unless message id reached exactly the devices
// want accepts, each handler once.
func (f *loadFleet) exactly(id uint64, want func(int) bool) {
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
