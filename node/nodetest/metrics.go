package nodetest

import (
	"bytes"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// CheckMetrics runs `promtool check metrics` on a /metrics answer (the
// Prometheus text format): it fails the test on any problem promtool
// reports, and skips (saying so) when promtool is not on PATH. Debian's
// prometheus package provides it; .ci/run installs it.
func CheckMetrics(t *testing.T, exposition []byte) {
	t.Helper()
	t.Run("promtool check metrics", func(t *testing.T) {
		promtool := Promtool(t)
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = bytes.NewReader(exposition)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("promtool check metrics: %v\n%s", err, out)
		}
	})
}

// Promtool returns the path of promtool, or skips the test without it.
func Promtool(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not on PATH: the Prometheus checks are skipped (install Debian's prometheus package; .ci/run does)")
	}
	return path
}

// Sample returns the value of the sample of exposition (the Prometheus
// text format) whose name and labels are series exactly (`name` or
// `name{label="value",…}` with labels in the order exposed), and whether
// there is one.
func Sample(exposition []byte, series string) (float64, bool) {
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`)
	m := re.FindSubmatch(exposition)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	return v, err == nil
}

// MetricNames returns the metric family names of exposition (from its
// TYPE lines).
func MetricNames(exposition []byte) map[string]bool {
	out := map[string]bool{}
	for _, line := range strings.Split(string(exposition), "\n") {
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			if name, _, ok := strings.Cut(rest, " "); ok {
				out[name] = true
			}
		}
	}
	return out
}

// Scrape GETs url with the bearer token (none if empty) and returns the
// status and body.
func Scrape(t testing.TB, url, token string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}
