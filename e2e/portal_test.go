package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/fleet"
	"github.com/heraldpush/herald/internal/ids"
	"github.com/heraldpush/herald/node/nodetest"
)

// browserTestsEnv, when set (CI sets it), makes missing browser test
// dependencies a failure instead of a skip.
const browserTestsEnv = "HERALD_BROWSER_TESTS"

// browserDeps returns the Chromium binary and the directory of the browser
// tests, or skips (fails with HERALD_BROWSER_TESTS set) when either is
// missing: Debian's chromium and `npm ci` in e2e/browser, which .ci/run
// installs.
func browserDeps(t *testing.T) (chromium, dir string) {
	t.Helper()
	missing := func(what string) {
		msg := "portal browser tests need " + what + "; .ci/run installs it (apt-get install chromium; cd e2e/browser && npm ci)"
		if os.Getenv(browserTestsEnv) != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	chromium = os.Getenv("CHROMIUM")
	if chromium == "" {
		chromium = "/usr/bin/chromium"
	}
	if _, err := os.Stat(chromium); err != nil {
		missing("Chromium at " + chromium)
	}
	if _, err := exec.LookPath("node"); err != nil {
		missing("Node.js")
	}
	dir, err := filepath.Abs("browser")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core")); err != nil {
		missing("playwright-core in e2e/browser/node_modules")
	}
	return chromium, dir
}

// artifactsDir is where test artifacts (screenshots) go: $HERALD_ARTIFACTS,
// or artifacts/ at the top of the repository.
func artifactsDir(t *testing.T, name string) string {
	t.Helper()
	root := os.Getenv("HERALD_ARTIFACTS")
	if root == "" {
		abs, err := filepath.Abs(filepath.Join("..", "artifacts"))
		if err != nil {
			t.Fatal(err)
		}
		root = abs
	}
	dir := filepath.Join(root, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// The portal in headless Chromium against the herald binary, with real SDK
// devices connected: log in; compose a tag push and watch the funnel reach
// delivered = the tagged devices; schedule a push for a device-local time
// and see its next firing; cancel a slow push mid-send and see the
// withdrawn count; create a segment and see its estimate; a viewer cannot
// send; log out (e2e/browser/portal.mjs). Screenshots of every page are
// written to artifacts/portal.
func TestPortalInABrowser(t *testing.T) {
	chromium, dir := browserDeps(t)
	p := startHerald(t, t.TempDir(), "127.0.0.1:0", "127.0.0.1:0")
	gateway := "http://" + p.http
	app := p.h.CreateApp()

	// Devices 0 to 11 are tagged vip, 24 to 29 away; those away never
	// connect, so a push to them waits in their inboxes.
	const devices, tagged, away, password = 30, 12, 6, "correct horse battery staple"
	users := map[string]string{"owner": "owner@example.com", "marketer": "marketer@example.com", "viewer": "viewer@example.com"}
	for role, email := range users {
		p.h.Do(http.MethodPost, "/v1/admin/portal-users", "Bearer "+nodetest.AdminToken,
			map[string]any{"email": email, "password": password, "apps": map[string]string{app.Key: role}}, http.StatusCreated, nil)
	}
	f, creds, cfg := register(t, gateway, app, devices, func(i int) fleet.Spec {
		switch {
		case i < tagged:
			return fleet.Spec{Tags: []string{"vip"}}
		case i >= devices-away:
			return fleet.Spec{Tags: []string{"away"}}
		}
		return fleet.Spec{}
	})
	cfg.Concurrency = 16
	f.local = fleet.NewLocal(cfg, creds, nil)
	f.Fleet = f.local
	t.Cleanup(f.Close)
	f.connect(0, devices-away)

	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "portal.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(),
		"BASE="+gateway, "APP="+app.Key, "PASSWORD="+password, "CHROMIUM="+chromium,
		"OWNER="+users["owner"], "MARKETER="+users["marketer"], "VIEWER="+users["viewer"],
		"TAGGED="+strconv.Itoa(tagged), "AWAY="+strconv.Itoa(away), "SHOTS="+artifactsDir(t, "portal"))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	results := map[string]string{}
	var log strings.Builder
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(&log, line)
		if rest, ok := strings.CutPrefix(line, "result "); ok {
			name, value, _ := strings.Cut(rest, " ")
			results[name] = value
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("the browser run failed (%v):\n%s%s", err, log.String(), stderr.String())
	}
	t.Logf("browser run:\n%s", log.String())

	// What the page showed, the devices confirm: every tagged device got
	// the tag push once, and no other device did.
	tagPush, err := ids.ParseMessageID(results["tag_push"])
	if err != nil {
		t.Fatalf("tag push id %q: %v", results["tag_push"], err)
	}
	f.exactly(tagPush, func(i int) bool { return i < tagged })
	// The canceled push: the report's withdrawn is what the page showed,
	// and no copy is counted twice.
	var r struct {
		Targeted, Delivered, Withdrawn, Expired, Failed int64
	}
	p.h.Do(http.MethodGet, "/v1/messages/"+results["slow_push"], nodetest.Basic(app), nil, http.StatusOK, &r)
	shown, _ := strconv.ParseInt(results["slow_withdrawn"], 10, 64)
	if r.Withdrawn != shown || r.Withdrawn > r.Targeted || r.Targeted > away || r.Delivered != 0 {
		t.Errorf("canceled push report %+v; the page showed %d withdrawn, of %d devices away", r, shown, away)
	}
}
