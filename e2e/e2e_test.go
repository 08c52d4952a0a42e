package e2e

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/heraldpush/herald/node/nodetest"
)

var heraldBin string

func TestMain(m *testing.M) {
	if os.Getenv(cachingProcessEnv) != "" {
		os.Exit(runCachingProcess())
	}
	dir, err := os.MkdirTemp("", "herald-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	heraldBin = filepath.Join(dir, "herald")
	build := exec.Command("go", "build", "-o", heraldBin, "github.com/heraldpush/herald/cmd/herald")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building herald:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// process is a running herald binary.
type process struct {
	t       *testing.T
	cmd     *exec.Cmd
	dataDir string
	http    string // host:port
	device  string
	stdout  *lockedBuffer
	exited  chan error
	h       *nodetest.Herald // REST helpers bound to this process
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var listening = regexp.MustCompile(`(?m)REST API\s+http://(\S+)\n\s+devices\s+tcp://(\S+)`)

// startHerald runs `herald all` on dataDir, on the given addresses (port 0
// picks free ones), and waits until it says where it listens.
func startHerald(t *testing.T, dataDir, httpAddr, deviceAddr string, extra ...string) *process {
	t.Helper()
	return startHeraldWithFiles(t, 0, dataDir, httpAddr, deviceAddr, extra...)
}

// startHeraldWithFiles is startHerald with the process's limit on open
// files set to files (ulimit -n; 0 leaves it).
func startHeraldWithFiles(t *testing.T, files int, dataDir, httpAddr, deviceAddr string, extra ...string) *process {
	t.Helper()
	// Webhooks of the tests listen on loopback too.
	args := append([]string{"all", "--data", dataDir, "--http", httpAddr, "--device", deviceAddr, "--grace", "5s", "--webhook-private-networks",
		"--register-limit-per-address", "off", "--register-limit-per-app", "off"}, extra...)
	cmd := exec.Command(heraldBin, args...)
	if files > 0 {
		cmd = exec.Command("sh", append([]string{"-c", fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, files), heraldBin}, args...)...)
	}
	cmd.Env = append(os.Environ(), "HERALD_ADMIN_TOKEN="+nodetest.AdminToken)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &process{t: t, cmd: cmd, dataDir: dataDir, stdout: &lockedBuffer{}, exited: make(chan error, 1)}
	cmd.Stderr = p.stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := make(chan []string, 1)
	go func() {
		r := bufio.NewReader(out)
		for {
			line, err := r.ReadString('\n')
			p.stdout.Write([]byte(line))
			if m := listening.FindStringSubmatch(p.stdout.String()); m != nil {
				select {
				case found <- m[1:]:
				default:
				}
			}
			if err != nil {
				break
			}
		}
		p.exited <- cmd.Wait()
	}()
	select {
	case addrs := <-found:
		p.http, p.device = addrs[0], addrs[1]
	case err := <-p.exited:
		t.Fatalf("herald exited before listening: %v\n%s", err, p.stdout)
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("herald did not start:\n%s", p.stdout)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-p.exited
		}
	})
	p.h = nodetest.Attach(t, "http://"+p.http)
	return p
}

// stop sends sig and waits for a clean exit.
func (p *process) stop(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		if err != nil {
			p.t.Fatalf("herald exited with %v after %v:\n%s", err, sig, p.stdout)
		}
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		p.t.Fatalf("herald did not stop on %v:\n%s", sig, p.stdout)
	}
	if !strings.Contains(p.stdout.String(), "herald: stopped") {
		p.t.Fatalf("no clean stop message:\n%s", p.stdout)
	}
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestThousandDevicesReceiveEveryUnicastExactlyOnce(t *testing.T) {
	p := startHerald(t, t.TempDir(), "127.0.0.1:0", "127.0.0.1:0")
	app := p.h.CreateApp()
	gateway := "http://" + p.http
	const devices = 1000
	f := startLocalFleet(t, gateway, app, devices)
	f.connect(0, devices)

	// One unicast push per device, from 16 concurrent senders.
	var next atomic.Int64
	var wg sync.WaitGroup
	msgIDs := make([]string, devices)
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= devices {
					return
				}
				msgIDs[i] = p.h.Push(app, nodetest.Push{RegistrationIDs: []string{f.rids[i]}, Content: fmt.Sprint("unicast ", i)})
			}
		}()
	}
	wg.Wait()
	// And one push to all of them at once.
	batch := p.h.Push(app, nodetest.Push{RegistrationIDs: f.rids, Content: "to all"})

	nodetest.Eventually(t, 60*time.Second, func() bool { return f.total() == 2*devices }, func() string {
		return fmt.Sprintf("%d of %d messages received", f.total(), 2*devices)
	})
	f.exactlyOnce(2)
	for i, id := range msgIDs {
		if n, _ := strconv.ParseUint(id, 10, 64); f.has(i, n) != 1 {
			t.Fatalf("device %d did not get its own unicast %s", i, id)
		}
	}
	p.h.WaitReport(app, batch, func(r nodetest.Report) bool {
		return r == nodetest.Report{Targeted: devices, Sent: devices, Delivered: devices}
	})
	for _, id := range msgIDs[:20] {
		p.h.WaitReport(app, id, func(r nodetest.Report) bool {
			return r == nodetest.Report{Targeted: 1, Sent: 1, Delivered: 1}
		})
	}
}

func TestOfflineDevicesGetTheirMessagesAcrossARestart(t *testing.T) {
	dataDir := t.TempDir()
	p := startHerald(t, dataDir, "127.0.0.1:0", "127.0.0.1:0")
	app := p.h.CreateApp()
	gateway := "http://" + p.http
	f := startLocalFleet(t, gateway, app, 20)
	const online = 10 // devices 0..9; the others are offline
	f.connect(0, online)

	var offlineIDs []string
	for _, rid := range f.rids[online:] {
		offlineIDs = append(offlineIDs, p.h.Push(app, nodetest.Push{RegistrationIDs: []string{rid}, Content: "while you were away"}))
	}
	for _, id := range offlineIDs {
		p.h.WaitReport(app, id, func(r nodetest.Report) bool { return r.StoredOffline == 1 })
	}

	// Restart herald on the same store and ports. The online devices are
	// told to go away, and come back by themselves.
	p.stop(syscall.SIGTERM)
	p = startHerald(t, dataDir, p.http, p.device)
	f.waitReconnected(online)

	f.connect(online, f.size)
	p.h.Push(app, nodetest.Push{RegistrationIDs: f.rids, Content: "after restart"})
	nodetest.Eventually(t, 30*time.Second, func() bool {
		for i := range f.size {
			want := 1
			if i >= online {
				want = 2
			}
			if f.received(i) != want {
				return false
			}
		}
		return true
	}, func() string { return fmt.Sprintf("received %d in all", f.total()) })
	for _, id := range offlineIDs {
		p.h.WaitReport(app, id, func(r nodetest.Report) bool {
			return r == nodetest.Report{Targeted: 1, StoredOffline: 1, Sent: 1, Delivered: 1}
		})
	}
	p.stop(os.Interrupt)
}

// waitReconnected waits until devices 0 to n-1, connected before a
// restart of the server, have connected again by themselves.
func (f *testFleet) waitReconnected(n int) {
	f.t.Helper()
	nodetest.Eventually(f.t, 30*time.Second, func() bool {
		for i := range n {
			if f.client(i).Stats().Connects < 2 {
				return false
			}
		}
		return true
	}, func() string { return "online devices did not reconnect after the restart" })
}

func TestGarbageClientIsCutOffWhileOthersKeepReceiving(t *testing.T) {
	p := startHerald(t, t.TempDir(), "127.0.0.1:0", "127.0.0.1:0")
	app := p.h.CreateApp()
	gateway := "http://" + p.http
	f := startLocalFleet(t, gateway, app, 50)
	f.connect(0, f.size)

	// A client that sends a valid-looking record 1 and then garbage must
	// be disconnected.
	nc, err := net.Dial("tcp", p.device)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	garbage := make([]byte, 2+49)
	garbage[1], garbage[2] = 49, 1
	if _, err := nc.Write(garbage); err != nil {
		t.Fatal(err)
	}
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(nc); err != nil {
		t.Fatalf("garbage client was not disconnected: %v", err)
	}

	const rounds = 3
	for r := range rounds {
		p.h.Push(app, nodetest.Push{RegistrationIDs: f.rids, Content: fmt.Sprint("round ", r)})
	}
	nodetest.Eventually(t, 30*time.Second, func() bool { return f.total() == rounds*f.size }, func() string {
		return fmt.Sprintf("%d of %d received", f.total(), rounds*f.size)
	})
	f.exactlyOnce(rounds)
	if !strings.Contains(p.stdout.String(), "herald") {
		t.Fatal("no output")
	}
}
