package node_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/node"
	"github.com/heraldpush/herald/node/nodetest"
)

// probe GETs a health path and returns the status and the body.
func probe(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("GET %s: Content-Type %q", url, ct)
	}
	return res.StatusCode, string(body)
}

// readiness is a /readyz body.
type readiness struct {
	Status string `json:"status"`
	Checks map[string]struct {
		Status string `json:"status"`
		Error  string `json:"error"`
	} `json:"checks"`
}

// waitReady polls /readyz at base until its status and checks are what
// want says.
func waitReady(t *testing.T, base string, want func(status int, r readiness) bool) readiness {
	t.Helper()
	var (
		r    readiness
		code int
		body string
	)
	nodetest.Eventually(t, 10*time.Second, func() bool {
		code, body = probe(t, base+"/readyz")
		r = readiness{}
		return json.Unmarshal([]byte(body), &r) == nil && want(code, r)
	}, func() string { return base + "/readyz: " + body })
	return r
}

func checksAre(r readiness, names ...string) bool {
	if len(r.Checks) != len(names) {
		return false
	}
	for _, n := range names {
		if _, ok := r.Checks[n]; !ok {
			return false
		}
	}
	return true
}

// Every process answers /healthz and /readyz without a token, and its
// readiness names what it needs: its store, its dataservice, connectors,
// its gateway; a missing one turns it not ready, saying why.
func TestEveryProcessAnswersHealthAndReadiness(t *testing.T) {
	c := startCluster(t, 1)
	p, err := node.StartPortal(node.PortalConfig{Gateway: "http://" + c.gw.HTTPAddr().String(), HTTP: "127.0.0.1:0", Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(context.Background()) })
	all := nodetest.Start(t)

	for _, proc := range []struct {
		name, base string
		checks     []string
	}{
		{"herald all", all.URL, []string{"store"}},
		{"dataservice", "http://" + c.ds.Addr().String(), []string{"store"}},
		{"connector", "http://" + c.connectors[0].InternalAddr().String(), []string{"dataservice", "registry"}},
		{"gateway", "http://" + c.gw.HTTPAddr().String(), []string{"dataservice", "connectors"}},
		{"portal", "http://" + p.HTTPAddr().String(), []string{"gateway"}},
	} {
		t.Run(proc.name, func(t *testing.T) {
			if code, body := probe(t, proc.base+"/healthz"); code != http.StatusOK || !strings.Contains(body, `"status":"ok"`) {
				t.Fatalf("/healthz = %d %s", code, body)
			}
			waitReady(t, proc.base, func(code int, r readiness) bool {
				return code == http.StatusOK && r.Status == "ready" && checksAre(r, proc.checks...)
			})
		})
	}

	// Without connectors a gateway cannot reach devices.
	c.connectors[0].Close(context.Background())
	r := waitReady(t, "http://"+c.gw.HTTPAddr().String(), func(code int, r readiness) bool {
		return code == http.StatusServiceUnavailable && r.Status == "not_ready" && r.Checks["connectors"].Status == "failing"
	})
	if !strings.Contains(r.Checks["connectors"].Error, "no connector is registered") || r.Checks["dataservice"].Status != "ok" {
		t.Fatalf("gateway without connectors: %+v", r)
	}

	// Without its dataservice, neither can it.
	c.ds.Close(context.Background())
	waitReady(t, "http://"+c.gw.HTTPAddr().String(), func(code int, r readiness) bool {
		return code == http.StatusServiceUnavailable && r.Checks["dataservice"].Status == "failing" &&
			strings.Contains(r.Checks["dataservice"].Error, "no dataservice instance is ready")
	})

	// A portal without its gateway cannot serve pages.
	c.gw.Close(context.Background())
	waitReady(t, "http://"+p.HTTPAddr().String(), func(code int, r readiness) bool {
		return code == http.StatusServiceUnavailable && strings.Contains(r.Checks["gateway"].Error, "unreachable")
	})
}
