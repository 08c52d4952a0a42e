package portal

import (
	"compress/gzip"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Apps and users of the tests' fake gateway.
const (
	appA = "aaaaaaaaaaaaaaaaaaaaaaaa"
	appB = "bbbbbbbbbbbbbbbbbbbbbbbb"
	pass = "correct horse battery"
)

// env is a portal serving on a test server, calling a fake gateway.
type env struct {
	gw     *fakeGateway
	portal *Portal
	srv    *httptest.Server
}

// newEnv starts a portal over a fake gateway holding apps A and B, with
// owner@, marketer@ and viewer@example.com on A, and other@ on B.
func newEnv(t testing.TB, adjust ...func(*Config)) *env {
	t.Helper()
	gw := newFakeGateway(t)
	gw.addApp(appA, "Shop")
	gw.addApp(appB, "Bank")
	for _, role := range []string{roleOwner, roleMarketer, roleViewer} {
		gw.addUser(role+"@example.com", pass, map[string]string{appA: role})
	}
	gw.addUser("other@example.com", pass, map[string]string{appB: roleOwner})
	cfg := Config{
		Gateway:   gw.URL,
		Transport: gw.Client().Transport,
		Poll:      20 * time.Millisecond,
		Log:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, f := range adjust {
		f(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return &env{gw: gw, portal: p, srv: srv}
}

// browser is a client with cookies that does not follow redirects.
type browser struct {
	t    testing.TB
	e    *env
	c    *http.Client
	last *http.Response
}

func (e *env) browser(t testing.TB) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, e: e, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// login logs in as email and returns the browser.
func (e *env) login(t testing.TB, email string) *browser {
	t.Helper()
	b := e.browser(t)
	b.get("/portal/login")
	status, _ := b.postForm("/portal/login", url.Values{"email": {email}, "password": {pass}, "login_nonce": {b.cookie(loginCookie)}})
	if status != http.StatusSeeOther {
		t.Fatalf("login as %s: status %d", email, status)
	}
	return b
}

// do sends a request and returns the status and the (decoded) body.
func (b *browser) do(req *http.Request) (int, string) {
	b.t.Helper()
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	var r io.Reader = res.Body
	if res.Header.Get("Content-Encoding") == "gzip" {
		z, err := gzip.NewReader(res.Body)
		if err != nil {
			b.t.Fatal(err)
		}
		r = z
	}
	data, err := io.ReadAll(r)
	if err != nil {
		b.t.Fatal(err)
	}
	b.last = res
	return res.StatusCode, string(data)
}

func (b *browser) get(path string) (int, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.e.srv.URL+path, nil)
	return b.do(req)
}

// postForm posts form as is (add "csrf" for actions: see post).
func (b *browser) postForm(path string, form url.Values, header ...string) (int, string) {
	b.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.e.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return b.do(req)
}

// post posts an action's form with the session's CSRF token.
func (b *browser) post(path string, form url.Values) (int, string) {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("csrf", csrfToken(b.cookie(sessionCookie)))
	return b.postForm(path, form)
}

// cookie returns the value of the browser's cookie name for the portal.
func (b *browser) cookie(name string) string {
	u, _ := url.Parse(b.e.srv.URL + "/portal/")
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

// location is where the last answer redirected.
func (b *browser) location() string { return b.last.Header.Get("Location") }

// errorOf returns the error shown next to input name of a page.
func errorOf(page, name string) string {
	re := regexp.MustCompile(`<p class="error" id="f-` + regexp.QuoteMeta(name) + `-error"[^>]*>([^<]*)</p>`)
	m := re.FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return unescape(m[1])
}

// topError returns the error shown above a page's form.
func topError(page string) string {
	m := regexp.MustCompile(`<p class="error form-error" role="alert">([^<]*)</p>`).FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return unescape(m[1])
}

func unescape(s string) string {
	return strings.NewReplacer("&#34;", `"`, "&#39;", "'", "&amp;", "&", "&lt;", "<", "&gt;", ">", "&quot;", `"`).Replace(s)
}

func appURL(app, rel string) string { return "/portal/apps/" + app + "/" + rel }
