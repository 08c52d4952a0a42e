//go:build linux

package e2e

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/tmpfstest"
	"github.com/heraldpush/herald/node/nodetest"
)

// Herald on a data directory that fills up, or is read-only: a tmpfs of
// the test's own, which needs root (CI runs as root); without it these
// tests skip and say so. dataservice/leveldb tests the store's recovery
// with injected faults on every machine.

// fill writes a file into dir until the file system refuses more.
func fill(t *testing.T, dir string) string {
	t.Helper()
	name := filepath.Join(dir, "ballast")
	f, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling %s: %v", dir, err)
			}
			return name
		}
	}
}

// call makes a REST call and returns the status and body, or 0 if no
// answer came.
func restCall(method, url, auth string, body any) (int, string) {
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, r)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// The reproduction: `--data` on a tmpfs that fills up. Pushes and
// registrations get 503 and /readyz says the disk is full; once space is
// back they work again within seconds, by themselves; every device gets
// what was accepted and the reports count it, across a SIGTERM and a
// restart. Before, every push and registration kept getting 503 until
// Herald restarted, and /healthz said ok all along.
func TestFullDiskThatFreesUp(t *testing.T) {
	dir := tmpfstest.Mount(t, "size=64m")
	data := filepath.Join(dir, "data")
	p := startHerald(t, data, "127.0.0.1:0", "127.0.0.1:0")
	app := p.h.CreateApp()
	gateway := "http://" + p.http
	f := startLocalFleet(t, gateway, app, 20)
	f.connect(0, f.size)
	nodetest.Eventually(t, 30*time.Second, func() bool { return f.online() == f.size },
		func() string { return fmt.Sprintf("%d of %d devices online", f.online(), f.size) })
	before := p.h.Push(app, nodetest.Push{RegistrationIDs: f.rids, Content: "before"})

	ballast := fill(t, dir)
	push := map[string]any{"audience": map[string]any{"registration_id": f.rids}, "message": map[string]any{"content": "during"}}
	register := map[string]any{"app_key": app.Key, "platform": "android"}
	var status int
	var body string
	var accepted []string // pushes the store still took while the disk filled (its write buffer)
	nodetest.Eventually(t, 15*time.Second, func() bool {
		status, body = restCall("POST", gateway+"/v1/push", nodetest.Basic(app), push)
		if status == http.StatusOK {
			var out struct {
				MsgID string `json:"msg_id"`
			}
			_ = json.Unmarshal([]byte(body), &out)
			accepted = append(accepted, out.MsgID)
		}
		return status == http.StatusServiceUnavailable
	}, func() string { return fmt.Sprintf("push on a full disk: %d %s", status, body) })
	if status, body = restCall("POST", gateway+"/v1/devices", "", register); status != http.StatusServiceUnavailable {
		t.Fatalf("registration on a full disk: %d %s; want 503", status, body)
	}
	nodetest.Eventually(t, 15*time.Second, func() bool {
		status, body = restCall("GET", gateway+"/readyz", "", nil)
		return status == http.StatusServiceUnavailable && strings.Contains(body, "disk is full")
	}, func() string { return fmt.Sprintf("/readyz on a full disk: %d %s", status, body) })
	if status, body = restCall("GET", gateway+"/healthz", "", nil); status != http.StatusOK {
		t.Fatalf("/healthz on a full disk: %d %s; the process is alive", status, body)
	}

	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var after string
	nodetest.Eventually(t, 15*time.Second, func() bool {
		status, body = restCall("POST", gateway+"/v1/push", nodetest.Basic(app), push)
		if status == http.StatusOK {
			var out struct {
				MsgID string `json:"msg_id"`
			}
			_ = json.Unmarshal([]byte(body), &out)
			after = out.MsgID
		}
		return status == http.StatusOK
	}, func() string { return fmt.Sprintf("push once space is back: %d %s", status, body) })
	t.Logf("pushes accepted again %v after space came back", time.Since(start).Round(time.Millisecond))
	if status, body = restCall("POST", gateway+"/v1/devices", "", register); status != http.StatusCreated {
		t.Fatalf("registration once space is back: %d %s", status, body)
	}
	nodetest.Eventually(t, 5*time.Second, func() bool { // checks are a second old at most
		status, body = restCall("GET", gateway+"/readyz", "", nil)
		return status == http.StatusOK
	}, func() string { return fmt.Sprintf("/readyz once space is back: %d %s", status, body) })

	all := nodetest.Report{Targeted: int64(f.size), Sent: int64(f.size), Delivered: int64(f.size)}
	ids := append([]string{before, after}, accepted...)
	for _, id := range ids {
		p.h.WaitReport(app, id, func(r nodetest.Report) bool { return r == all })
	}
	p.stop(syscall.SIGTERM)
	p = startHerald(t, data, p.http, p.device)
	for _, id := range ids {
		p.h.WaitReport(app, id, func(r nodetest.Report) bool { return r == all })
	}
	f.exactlyOnce(len(ids))
	p.stop(syscall.SIGTERM)
}

// A data directory on a read-only file system: herald does not start,
// and says why.
func TestReadOnlyDataDirectory(t *testing.T) {
	dir := tmpfstest.Mount(t, "size=8m,ro")
	cmd := exec.Command(heraldBin, "all", "--data", filepath.Join(dir, "data"), "--http", "127.0.0.1:0", "--device", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "HERALD_ADMIN_TOKEN="+nodetest.AdminToken)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("herald on a read-only data directory: %v; want exit code 1\n%s", err, out)
	}
	if !strings.Contains(string(out), "read-only file system") {
		t.Fatalf("herald on a read-only data directory does not say it is read-only:\n%s", out)
	}
}
