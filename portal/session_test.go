package portal

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestLoginAndLogout(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)

	// Without a session, a page sends to the login form and back.
	if status, _ := b.get("/portal/"); status != http.StatusSeeOther || b.location() != "/portal/login?next=%2Fportal%2F" {
		t.Fatalf("GET /portal/ without a session: %d to %q", status, b.location())
	}
	status, page := b.get("/portal/login?next=%2Fportal%2Fapps%2F" + appA + "%2Fmessages")
	if status != http.StatusOK {
		t.Fatalf("login page: %d", status)
	}
	for _, want := range []string{`<label for="f-email">Email</label>`, `<label for="f-password">Password</label>`, `<button type="submit" class="primary">Log in</button>`, `<h1>Log in to Herald</h1>`} {
		if !strings.Contains(page, want) {
			t.Errorf("login page lacks %s", want)
		}
	}
	nonce := b.cookie(loginCookie)
	if nonce == "" || !strings.Contains(page, `name="login_nonce" value="`+nonce+`"`) {
		t.Fatalf("login form does not echo the login cookie %q", nonce)
	}

	// A wrong password: the gateway's words, the email kept.
	status, page = b.postForm("/portal/login", url.Values{"email": {"marketer@example.com"}, "password": {"wrong"}, "login_nonce": {nonce},
		"next": {"/portal/apps/" + appA + "/messages"}})
	if status != http.StatusUnauthorized || topError(page) != "the email or the password is wrong" {
		t.Fatalf("wrong password: %d, error %q", status, topError(page))
	}
	if !strings.Contains(page, `value="marketer@example.com"`) {
		t.Error("the email typed is lost")
	}
	if b.cookie(sessionCookie) != "" {
		t.Fatal("a failed login set a session cookie")
	}

	// The right one: a session cookie, and on to the page asked for.
	status, _ = b.postForm("/portal/login", url.Values{"email": {"marketer@example.com"}, "password": {pass}, "login_nonce": {nonce},
		"next": {"/portal/apps/" + appA + "/messages"}})
	if status != http.StatusSeeOther || b.location() != "/portal/apps/"+appA+"/messages" {
		t.Fatalf("login: %d to %q", status, b.location())
	}
	token := b.cookie(sessionCookie)
	if token == "" {
		t.Fatal("no session cookie")
	}
	if c := e.gw.lastCall(http.MethodGet, "/v1/portal/me"); c.Auth != "" {
		t.Errorf("a call before login carried %q", c.Auth)
	}
	status, page = b.get("/portal/apps/" + appA + "/messages")
	if status != http.StatusOK || !strings.Contains(page, "<h1>Messages</h1>") {
		t.Fatalf("messages after login: %d", status)
	}
	c := e.gw.lastCall(http.MethodGet, "/v1/messages")
	if c.Auth != "Session "+token || c.App != appA {
		t.Errorf("gateway call carried Authorization %q, X-Herald-App %q", c.Auth, c.App)
	}

	// Logout ends the session at the gateway and forgets the cookie.
	status, _ = b.post("/portal/logout", nil)
	if status != http.StatusSeeOther || !strings.HasPrefix(b.location(), "/portal/login") {
		t.Fatalf("logout: %d to %q", status, b.location())
	}
	if len(e.gw.callsTo(http.MethodDelete, "/v1/portal/sessions/current")) != 1 {
		t.Error("logout did not end the session at the gateway")
	}
	if b.cookie(sessionCookie) != "" {
		t.Error("logout kept the session cookie")
	}
	if status, _ := b.get("/portal/"); status != http.StatusSeeOther {
		t.Errorf("GET /portal/ after logout: %d", status)
	}
	// The old token is dead at the gateway too: a page with it logs in anew.
	b2 := e.browser(t)
	u, _ := url.Parse(e.srv.URL + "/portal/")
	b2.c.Jar.SetCookies(u, []*http.Cookie{{Name: sessionCookie, Value: token, Path: "/portal/"}})
	if status, _ := b2.get("/portal/"); status != http.StatusSeeOther || !strings.HasPrefix(b2.location(), "/portal/login") {
		t.Errorf("an ended session still works: %d %q", status, b2.location())
	}
}

func TestCookieAttributes(t *testing.T) {
	for _, tc := range []struct {
		name       string
		secureCfg  bool
		forwarded  string
		wantSecure bool
	}{
		{"plain http", false, "", false},
		{"behind a TLS proxy", false, "https", true},
		{"configured", true, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.SecureCookies = tc.secureCfg })
			b := e.browser(t)
			b.get("/portal/login")
			form := url.Values{"email": {"viewer@example.com"}, "password": {pass}, "login_nonce": {b.cookie(loginCookie)}}
			var h []string
			if tc.forwarded != "" {
				h = []string{"X-Forwarded-Proto", tc.forwarded}
			}
			b.postForm("/portal/login", form, h...)
			var session *http.Cookie
			for _, c := range b.last.Cookies() {
				if c.Name == sessionCookie {
					session = c
				}
			}
			if session == nil {
				t.Fatal("no session cookie set")
			}
			if !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Path != "/portal/" || session.Secure != tc.wantSecure {
				t.Errorf("cookie HttpOnly %v SameSite %v Path %q Secure %v; want HttpOnly, Strict, /portal/, Secure %v",
					session.HttpOnly, session.SameSite, session.Path, session.Secure, tc.wantSecure)
			}
			if session.MaxAge <= 0 || session.MaxAge > 12*3600+5 {
				t.Errorf("cookie Max-Age %d, want the session's 12 h", session.MaxAge)
			}
		})
	}
}

func TestLoginNeedsTheFormsNonce(t *testing.T) {
	e := newEnv(t)
	b := e.browser(t)
	// No login cookie (the form was not loaded from the portal).
	status, _ := b.postForm("/portal/login", url.Values{"email": {"viewer@example.com"}, "password": {pass}, "login_nonce": {"forged"}})
	if status != http.StatusForbidden || len(e.gw.callsTo(http.MethodPost, "/v1/portal/sessions")) != 0 {
		t.Errorf("a login without the form's nonce: %d, gateway calls %d", status, len(e.gw.callsTo(http.MethodPost, "/v1/portal/sessions")))
	}
	// From another site.
	b.get("/portal/login")
	status, _ = b.postForm("/portal/login", url.Values{"email": {"viewer@example.com"}, "password": {pass}, "login_nonce": {b.cookie(loginCookie)}},
		"Sec-Fetch-Site", "cross-site")
	if status != http.StatusForbidden {
		t.Errorf("a cross-site login: %d", status)
	}
}

func TestLoginRateLimitedPerAddress(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.LoginFailures = 3 })
	b := e.browser(t)
	b.get("/portal/login")
	try := func(password string) (int, string) {
		return b.postForm("/portal/login", url.Values{"email": {"viewer@example.com"}, "password": {password}, "login_nonce": {b.cookie(loginCookie)}})
	}
	for range 3 {
		if status, _ := try("wrong"); status != http.StatusUnauthorized {
			t.Fatalf("failed login: %d", status)
		}
	}
	status, page := try(pass)
	if status != http.StatusTooManyRequests || !strings.Contains(topError(page), "Too many failed logins") || b.last.Header.Get("Retry-After") == "" {
		t.Fatalf("4th login: %d %q Retry-After %q", status, topError(page), b.last.Header.Get("Retry-After"))
	}
	if n := len(e.gw.callsTo(http.MethodPost, "/v1/portal/sessions")); n != 3 {
		t.Errorf("the gateway saw %d logins, want 3: the portal refuses the 4th itself", n)
	}
	// The gateway's own limit (per account) is shown in its words.
	e2 := newEnv(t)
	b2 := e2.browser(t)
	b2.get("/portal/login")
	status, page = b2.postForm("/portal/login", url.Values{"email": {"limited@example.com"}, "password": {"x"}, "login_nonce": {b2.cookie(loginCookie)}})
	if status != http.StatusTooManyRequests || !strings.Contains(topError(page), "too many failed logins for this account") || b2.last.Header.Get("Retry-After") != "60" {
		t.Errorf("the gateway's 429: %d %q %q", status, topError(page), b2.last.Header.Get("Retry-After"))
	}
}

func TestLoginLimiterWindow(t *testing.T) {
	l := newLoginLimiter(2, time.Minute)
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	l.failed("a")
	l.failed("a")
	if ok, wait := l.allowed("a"); ok || wait != time.Minute {
		t.Fatalf("after 2 failures: allowed %v, wait %v", ok, wait)
	}
	if ok, _ := l.allowed("b"); !ok {
		t.Fatal("another address is limited")
	}
	now = now.Add(time.Minute)
	if ok, _ := l.allowed("a"); !ok {
		t.Fatal("still limited after the window")
	}
	l.failed("a")
	l.succeeded("a")
	l.failed("a")
	if ok, _ := l.allowed("a"); !ok {
		t.Fatal("a success did not forget the failures")
	}
}

func TestCSRF(t *testing.T) {
	e := newEnv(t)
	b := e.login(t, "marketer@example.com")
	path := appURL(appA, "segments")
	good := func() url.Values { return url.Values{"name": {"vip"}, "csrf": {csrfToken(b.cookie(sessionCookie))}} }
	for _, tc := range []struct {
		name   string
		form   url.Values
		header []string
	}{
		{"no token", url.Values{"name": {"vip"}}, nil},
		{"another session's token", url.Values{"name": {"vip"}, "csrf": {csrfToken("another-token")}}, nil},
		{"from another site", good(), []string{"Sec-Fetch-Site", "cross-site"}},
		{"from another origin", good(), []string{"Origin", "https://evil.example"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.gw.callsTo(http.MethodPost, "/v1/segments"))
			status, page := b.postForm(path, tc.form, tc.header...)
			if status != http.StatusForbidden || !strings.Contains(page, "This form has expired or came from another site") {
				t.Errorf("status %d", status)
			}
			if len(e.gw.callsTo(http.MethodPost, "/v1/segments")) != before {
				t.Error("the refused request reached the gateway")
			}
		})
	}
	// The page script sends the token as a header.
	status, _ := b.postForm(appURL(appA, "estimate"), url.Values{"audience": {"all"}}, csrfHeader, csrfToken(b.cookie(sessionCookie)), "Accept", "application/json", "Sec-Fetch-Site", "same-origin")
	if status != http.StatusOK {
		t.Errorf("estimate with the header token: %d", status)
	}
	if status, _ := b.postForm(path, good(), "Sec-Fetch-Site", "same-origin"); status != http.StatusSeeOther {
		t.Errorf("a same-origin form with its token: %d", status)
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/portal/apps/x/messages?state=done": "/portal/apps/x/messages?state=done",
		"":                                   "/portal/",
		"https://evil.example/portal/":       "/portal/",
		"//evil.example/portal/":             "/portal/",
		"/portal/login?next=x":               "/portal/",
		"/portal/\\evil":                     "/portal/",
		"/v1/apps":                           "/portal/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}
