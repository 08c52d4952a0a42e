package node_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/node"
	"github.com/heraldpush/herald/node/nodetest"
)

// noRedirects is a client with cookies that shows redirects as they are.
func noRedirects() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func getPage(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	res, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// tryLogin loads the login form at base and posts it; the answer comes
// from the gateway the portal calls (whatever it says of the account).
func tryLogin(t *testing.T, c *http.Client, base string) (*http.Response, string) {
	t.Helper()
	res, page := getPage(t, c, base+"/portal/login")
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Security-Policy") == "" || !strings.Contains(page, "Log in to Herald") {
		t.Fatalf("login page: %d %q", res.StatusCode, res.Header.Get("Content-Security-Policy"))
	}
	nonce := regexp.MustCompile(`name="login_nonce" value="([^"]+)"`).FindStringSubmatch(page)
	if nonce == nil {
		t.Fatal("no nonce in the login form")
	}
	res, err := c.PostForm(base+"/portal/login", url.Values{"email": {"nobody@example.com"}, "password": {"not the password"}, "login_nonce": {nonce[1]}})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// `herald all` serves the portal at /portal/ on the REST port, calling its
// gateway in process; the REST API is as it was.
func TestAllServesThePortal(t *testing.T) {
	h := nodetest.Start(t)
	c := noRedirects()
	res, _ := getPage(t, c, h.URL+"/portal")
	if res.StatusCode != http.StatusMovedPermanently || res.Header.Get("Location") != "/portal/" {
		t.Errorf("/portal: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	res, _ = getPage(t, c, h.URL+"/portal/")
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/portal/login") {
		t.Errorf("/portal/ without a session: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	res, page := tryLogin(t, c, h.URL)
	if res.StatusCode < 400 || res.StatusCode == http.StatusBadGateway || !strings.Contains(page, "Log in to Herald") {
		t.Errorf("a login through the in-process gateway: %d", res.StatusCode)
	}
	if res, body := getPage(t, c, h.URL+"/healthz"); res.StatusCode != http.StatusOK || !strings.Contains(body, "ok") {
		t.Errorf("/healthz: %d %s", res.StatusCode, body)
	}
	if res, _ := getPage(t, c, h.URL+"/v1/portalx"); res.Header.Get("Content-Security-Policy") != "" {
		t.Error("a gateway path got the portal's headers")
	}
}

// `herald portal` serves the portal in a process of its own, calling the
// gateway over cleartext HTTP/2.
func TestStartPortal(t *testing.T) {
	h := nodetest.Start(t)
	n, err := node.StartPortal(node.PortalConfig{Gateway: h.URL, HTTP: "127.0.0.1:0", Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := n.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	base := "http://" + n.HTTPAddr().String()
	c := noRedirects()
	res, _ := getPage(t, c, base+"/")
	if res.StatusCode != http.StatusFound || res.Header.Get("Location") != "/portal/" {
		t.Errorf("/: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	if res, _ := getPage(t, c, base+"/healthz"); res.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %d", res.StatusCode)
	}
	res, page := tryLogin(t, c, base)
	if res.StatusCode < 400 || res.StatusCode == http.StatusBadGateway || !strings.Contains(page, "Log in to Herald") {
		t.Errorf("a login through the gateway over HTTP/2: %d", res.StatusCode)
	}
	if _, err := node.StartPortal(node.PortalConfig{Gateway: "127.0.0.1:8080", HTTP: "127.0.0.1:0"}); err == nil {
		t.Error("StartPortal took a gateway that is not a URL")
	}
}

func TestPortalCommandHelp(t *testing.T) {
	var out, errOut strings.Builder
	if code := node.Main([]string{"portal", "-h"}, &out, &errOut); code != 0 {
		t.Fatalf("herald portal -h: exit %d: %s", code, errOut.String())
	}
	for _, flag := range []string{"-gateway", "-http", "-secure-cookies", "HERALD_GATEWAY"} {
		if !strings.Contains(errOut.String(), flag) {
			t.Errorf("herald portal -h does not mention %s", flag)
		}
	}
	out.Reset()
	node.Main([]string{"help"}, &out, &errOut)
	if !strings.Contains(out.String(), "herald portal [flags]") {
		t.Error("herald help does not list the portal")
	}
}
