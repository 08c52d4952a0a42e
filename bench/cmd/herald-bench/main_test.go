package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/heraldpush/herald/node/nodetest"
)

// TestMain lets the tests run this binary as herald-bench: a child started
// with HERALD_BENCH_RUN_MAIN=1 runs main instead of the tests.
func TestMain(m *testing.M) {
	if os.Getenv("HERALD_BENCH_RUN_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// run runs herald-bench as a separate process and returns its exit status,
// stdout and stderr.
func run(t *testing.T, token string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), os.Args[0], args...)
	cmd.Env = append(os.Environ(), "HERALD_BENCH_RUN_MAIN=1", "HERALD_ADMIN_TOKEN="+token)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return ee.ExitCode(), stdout.String(), stderr.String()
	case err != nil:
		t.Fatal(err)
	}
	return 0, stdout.String(), stderr.String()
}

func TestExitStatus(t *testing.T) {
	h := nodetest.Start(t)
	tests := []struct {
		name   string
		token  string
		args   []string
		status int
		stderr string
	}{
		{"help", "", []string{"help"}, 0, "Usage:"},
		{"no scenario", "x", nil, 2, "name a scenario"},
		{"bad flag", "x", []string{"hold", "--devices", "many"}, 2, "invalid value"},
		{"too many devices for one worker", "x", []string{"hold", "--devices", "18001", "--workers", "1", "--duration", "1s"}, 2, "18000"},
		{"broadcast without pushes", "x", []string{"broadcast", "--devices", "10"}, 2, "messages 1 to 1000"},
		{"tagpush unreachable", "x", []string{"tagpush", "--target", "http://127.0.0.1:1", "--devices", "1", "--messages", "1"}, 1, "setup failed"},
		{"no token", "", []string{"hold", "--devices", "1", "--duration", "1s"}, 2, "HERALD_ADMIN_TOKEN"},
		{"unreachable", "x", []string{"hold", "--target", "http://127.0.0.1:1", "--devices", "1", "--duration", "1s"}, 1, "setup failed"},
		{"wrong token", "wrong", []string{"hold", "--target", h.URL, "--devices", "1", "--duration", "1s"}, 1, "admin token was rejected"},
		{"storm with a rate", "x", []string{"storm", "--devices", "10", "--rate", "100"}, 2, "rate applies to unicast, churn and steady"},
		{"broadcast with a duration", "x", []string{"broadcast", "--devices", "10", "--messages", "1", "--duration", "5s"}, 2, "duration applies to hold, unicast, churn and steady"},
		{"churn without a rate", "x", []string{"churn", "--devices", "10", "--duration", "5s"}, 2, "churn needs a positive rate and duration"},
		{"churn without a duration", "x", []string{"churn", "--devices", "10", "--rate", "100"}, 2, "churn needs a positive rate and duration"},
		{"churn share above 1", "x", []string{"churn", "--devices", "10", "--rate", "100", "--duration", "5s", "--churn", "1.5"}, 2, "churn share must be above 0"},
		{"churn share zero", "x", []string{"churn", "--devices", "10", "--rate", "100", "--duration", "5s", "--churn", "0"}, 2, "--churn must be above 0"},
		{"churn online only", "x", []string{"churn", "--devices", "10", "--rate", "100", "--duration", "5s", "--ttl", "0"}, 2, "ttl of at least one second"},
		{"unicast messages and duration", "x", []string{"unicast", "--devices", "10", "--messages", "1", "--rate", "10", "--duration", "5s"}, 2, "not both"},
		{"unicast duration without rate", "x", []string{"unicast", "--devices", "10", "--duration", "5s"}, 2, "needs a rate"},
		{"negative rate", "x", []string{"unicast", "--devices", "10", "--messages", "1", "--rate", "-1"}, 2, "rate must be 0 to"},
		{"storm unreachable", "x", []string{"storm", "--target", "http://127.0.0.1:1", "--devices", "1"}, 1, "setup failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, stdout, stderr := run(t, tt.token, tt.args...)
			if status != tt.status || !strings.Contains(stderr, tt.stderr) || stdout != "" {
				t.Fatalf("status %d (want %d), stdout %q, stderr %q (want it to mention %q)", status, tt.status, stdout, stderr, tt.stderr)
			}
		})
	}
}

func TestHoldPrintsOneJSONLine(t *testing.T) {
	h := nodetest.Start(t)
	status, stdout, stderr := run(t, nodetest.AdminToken, "hold", "--target", h.URL, "--devices", "10", "--duration", "1500ms", "--settle-timeout", "2s")
	if status != 0 {
		t.Fatalf("status %d, stderr %s", status, stderr)
	}
	if !strings.Contains(stderr, "connected=10") {
		t.Errorf("no progress line on stderr: %q", stderr)
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	var res map[string]any
	if len(lines) != 1 || json.Unmarshal([]byte(lines[0]), &res) != nil {
		t.Fatalf("stdout is not one JSON line: %q", stdout)
	}
	if res["scenario"] != "hold" || res["connected"] != 10.0 || res["rss_per_conn_bytes"] == nil {
		t.Fatalf("result %s", stdout)
	}
}

// --workers 2: the binary re-executes itself twice to hold the devices and
// prints one result for them all.
func TestUnicastWithWorkers(t *testing.T) {
	h := nodetest.Start(t)
	status, stdout, stderr := run(t, nodetest.AdminToken, "unicast", "--target", h.URL, "--devices", "200", "--messages", "1", "--workers", "2")
	if status != 0 {
		t.Fatalf("status %d, stderr %s", status, stderr)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(stdout), &res); err != nil {
		t.Fatalf("stdout is not one JSON line: %q", stdout)
	}
	if res["delivered"] != 200.0 || res["connected"] != 200.0 || res["lost"] != 0.0 || res["errors"] != 0.0 || res["acked"] != 200.0 {
		t.Fatalf("result %s\nstderr %s", stdout, stderr)
	}
}
