package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/dataservice/remote"
)

// A caching process is this test binary run with cachingProcessEnv set to
// the URL of a dataservice: it caches through remote.Client and serves
// reads and writes of sessions over HTTP, so the test can drive two
// caching processes.
const cachingProcessEnv = "HERALD_E2E_CACHING_PROCESS"

const clusterToken = "e2e-cluster-token"

// runCachingProcess is the main function of a caching process.
func runCachingProcess() int {
	c, err := remote.Dial(remote.ClientConfig{
		URLs: []string{os.Getenv(cachingProcessEnv)}, Token: clusterToken,
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, r *http.Request) {
		if !c.Follower().Serving() {
			http.Error(w, "not serving", http.StatusServiceUnavailable)
		}
	})
	mux.HandleFunc("POST /session", func(w http.ResponseWriter, r *http.Request) {
		s := dataservice.Session{RegistrationID: r.FormValue("rid"), Connector: r.FormValue("connector"), Since: time.Now()}
		start := time.Now()
		if _, err := c.PutSessions(r.Context(), []dataservice.Session{s}, time.Hour); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, time.Since(start).Microseconds())
	})
	mux.HandleFunc("GET /session", func(w http.ResponseWriter, r *http.Request) {
		ss, err := c.Sessions(r.Context(), []string{r.FormValue("rid")})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, ss[0].Connector)
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(c.Cache().Stats())
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("caching process listening", ln.Addr())
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); os.Exit(0) }() // the test ended
	_ = http.Serve(ln, mux)
	return 0
}

// startDataservice runs `herald dataservice` on a LevelDB store and
// returns its URL.
func startDataservice(t *testing.T) string {
	t.Helper()
	return startDataserviceOn(t, "leveldb:"+t.TempDir())
}

// startDataserviceOn runs `herald dataservice` on store and returns its
// URL.
func startDataserviceOn(t *testing.T, store string) string {
	t.Helper()
	cmd := exec.Command(heraldBin, "dataservice", "--store", store, "--http", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "HERALD_CLUSTER_TOKEN="+clusterToken)
	addr := waitForLine(t, cmd, regexp.MustCompile(`serving\s+http://(\S+)`))
	return "http://" + addr
}

// startCachingProcess runs a caching process of dataservice and returns
// its URL.
func startCachingProcess(t *testing.T, dataservice string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), cachingProcessEnv+"="+dataservice)
	addr := waitForLine(t, cmd, regexp.MustCompile(`caching process listening (\S+)`))
	u := "http://" + addr
	deadline := time.Now().Add(15 * time.Second)
	for {
		res, err := http.Get(u + "/ready")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return u
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("caching process at %s never served from its cache", u)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitForLine starts cmd and returns the first submatch of re in its
// output; the process is killed when the test ends.
func waitForLine(t *testing.T, cmd *exec.Cmd, re *regexp.Regexp) string {
	t.Helper()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case s := <-found:
		return s
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not start", cmd.Path)
		return ""
	}
}

func call(t *testing.T, method, u string) string {
	t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %d %s", method, u, res.StatusCode, b)
	}
	return strings.TrimSpace(string(b))
}

// Two processes cache records read from a dataservice process. A write
// through one is never read stale through the other, and the write
// returns only after the other dropped the key: its latency is the time
// an invalidation takes to be seen by another process.
func TestWriteThroughOneCachingProcessIsNeverReadStaleThroughAnother(t *testing.T) {
	ds := startDataservice(t)
	a, b := startCachingProcess(t, ds), startCachingProcess(t, ds)
	const devices, rounds = 4, 100
	var (
		mu        sync.Mutex
		latencies []int64
		wg        sync.WaitGroup
	)
	for d := range devices {
		wg.Go(func() {
			rid := fmt.Sprint("dev", d)
			for round := range rounds {
				conn := fmt.Sprint("c", round)
				us := call(t, "POST", a+"/session?"+url.Values{"rid": {rid}, "connector": {conn}}.Encode())
				var lat int64
				fmt.Sscan(us, &lat)
				mu.Lock()
				latencies = append(latencies, lat)
				mu.Unlock()
				if got := call(t, "GET", b+"/session?"+url.Values{"rid": {rid}}.Encode()); got != conn {
					t.Errorf("device %s round %d: process b read %q after process a wrote %q", rid, round, got, conn)
					return
				}
			}
		})
	}
	wg.Wait()
	var stats struct{ Hits, Invalidations uint64 }
	_ = json.Unmarshal([]byte(call(t, "GET", b+"/stats")), &stats)
	if stats.Invalidations == 0 {
		t.Fatalf("process b's cache was never invalidated (%+v): the test did not exercise the invalidation stream", stats)
	}
	slices.Sort(latencies)
	p99 := latencies[len(latencies)*99/100]
	t.Logf("write until the other process dropped the key: p50 %dµs, p99 %dµs, max %dµs over %d writes (b's cache: %+v)",
		latencies[len(latencies)/2], p99, latencies[len(latencies)-1], len(latencies), stats)
}
