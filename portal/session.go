package portal

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Cookies of the portal. Both are HttpOnly and SameSite=Strict, scoped to
// /portal/, and Secure when served over https (Config.SecureCookies).
const (
	// sessionCookie holds the gateway's session token.
	sessionCookie = "herald_session"
	// loginCookie holds the random value the login form echoes, so that a
	// login cannot be forged from another site (login CSRF).
	loginCookie = "herald_login"
	cookiePath  = "/portal/"
)

// session is a signed-in request: the user's token, what the gateway says
// of the user, and for app pages the app and the user's role on it.
type session struct {
	token string
	csrf  string
	user  me
	app   *appRole // nil outside app pages
	api   *apiClient
	// clientAddr is the browser's address.
	clientAddr string
}

// Email returns the signed-in user's email.
func (s *session) Email() string { return s.user.Email }

// can reports whether the user's role on the current app is role or above.
// The gateway checks every call; this only decides what the page offers.
func (s *session) can(role string) bool {
	return s.app != nil && roleRank(s.app.Role) >= roleRank(role)
}

// csrfToken returns the CSRF token of a session: an HMAC of a fixed label
// keyed by the session token. Only a page of the session can know it (the
// token is in an HttpOnly cookie no other site can read), it needs no
// state, and it is the same in every portal process.
func csrfToken(sessionToken string) string {
	m := hmac.New(sha256.New, []byte(sessionToken))
	m.Write([]byte("herald portal csrf v1"))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// csrfHeader carries the CSRF token on the page script's fetches.
const csrfHeader = "X-CSRF-Token"

// checkCSRF reports whether a state-changing request r can be from a page
// of the session with token: same origin by the browser's say
// (Sec-Fetch-Site, Origin), and carrying the session's CSRF token in the
// form or in the X-CSRF-Token header.
func (p *Portal) checkCSRF(r *http.Request, token string) bool {
	if p.origin.Check(r) != nil {
		return false
	}
	got := r.Header.Get(csrfHeader)
	if got == "" {
		got = r.PostFormValue("csrf")
	}
	want := csrfToken(token)
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// maxForm bounds a form body.
const maxForm = 1 << 20

// signedIn runs h for a request with a live session; others are sent to
// the login page (pages) or refused (actions and the page script's
// calls). State-changing requests must pass checkCSRF.
func (p *Portal) signedIn(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(sessionCookie)
		if err != nil || c.Value == "" {
			p.toLogin(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			if err := r.ParseForm(); err != nil {
				p.fail(w, r, nil, &apiError{Status: http.StatusBadRequest, Code: "invalid_form", Message: "The form could not be read: " + err.Error()})
				return
			}
			if !p.checkCSRF(r, c.Value) {
				p.fail(w, r, nil, &apiError{Status: http.StatusForbidden, Code: "csrf",
					Message: "This form has expired or came from another site. Reload the page and try again."})
				return
			}
		}
		s := &session{token: c.Value, csrf: csrfToken(c.Value), clientAddr: r.RemoteAddr}
		s.api = p.client(s.token, "", s.clientAddr)
		if err := s.api.get(r.Context(), "/v1/portal/me", nil, &s.user); err != nil {
			if isStatus(err, http.StatusUnauthorized) {
				p.clearCookie(w, r, sessionCookie)
				p.toLogin(w, r)
				return
			}
			p.fail(w, r, s, err)
			return
		}
		h(w, r, s)
	}
}

// inApp runs h for the app of the path, which the user must have a role
// on; an app the user has no role on and one that does not exist look the
// same, as at the gateway.
func (p *Portal) inApp(h func(http.ResponseWriter, *http.Request, *session)) func(http.ResponseWriter, *http.Request, *session) {
	return func(w http.ResponseWriter, r *http.Request, s *session) {
		key := r.PathValue("app")
		for i := range s.user.Apps {
			if s.user.Apps[i].AppKey == key {
				s.app = &s.user.Apps[i]
				s.api.app = key
				h(w, r, s)
				return
			}
		}
		p.fail(w, r, s, &apiError{Status: http.StatusForbidden, Code: "forbidden",
			Message: s.user.Email + " has no role on this app"})
	}
}

// client returns a client of the gateway for a request.
func (p *Portal) client(token, app, clientAddr string) *apiClient {
	return &apiClient{base: p.cfg.Gateway, transport: p.cfg.Transport, timeout: p.cfg.Timeout,
		token: token, app: app, client: clientAddr}
}

// toLogin sends a request without a session to the login page, and back
// to the page it asked for after login; a script's call or an action gets
// 401.
func (p *Portal) toLogin(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || isScriptCall(r) {
		p.fail(w, r, nil, &apiError{Status: http.StatusUnauthorized, Code: "unauthorized",
			Message: "Your session has ended. Log in again."})
		return
	}
	http.Redirect(w, r, "/portal/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
}

// isScriptCall reports whether r is a call of the page script (which
// wants JSON or an event stream, not a page).
func isScriptCall(r *http.Request) bool {
	a := r.Header.Get("Accept")
	return strings.Contains(a, "application/json") || strings.Contains(a, "text/event-stream")
}

// secure reports whether the portal's cookies must be Secure for r.
func (p *Portal) secure(r *http.Request) bool {
	return p.cfg.SecureCookies || r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

func (p *Portal) setCookie(w http.ResponseWriter, r *http.Request, name, value string, expires time.Time) {
	c := &http.Cookie{Name: name, Value: value, Path: cookiePath, HttpOnly: true,
		Secure: p.secure(r), SameSite: http.SameSiteStrictMode}
	if !expires.IsZero() {
		c.Expires = expires.UTC()
		c.MaxAge = max(int(time.Until(expires).Seconds()), 1)
	}
	http.SetCookie(w, c)
}

func (p *Portal) clearCookie(w http.ResponseWriter, r *http.Request, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: cookiePath, HttpOnly: true,
		Secure: p.secure(r), SameSite: http.SameSiteStrictMode, MaxAge: -1})
}

// loginView is the login page's data.
type loginView struct {
	Form  *form
	Next  string
	Nonce string // echoes loginCookie
}

// loginForm shows the login form.
func (p *Portal) loginForm(w http.ResponseWriter, r *http.Request) {
	p.renderLogin(w, r, http.StatusOK, newForm(url.Values{"email": {r.URL.Query().Get("email")}}))
}

func (p *Portal) renderLogin(w http.ResponseWriter, r *http.Request, status int, f *form) {
	nonce := ""
	if c, err := r.Cookie(loginCookie); err == nil && len(c.Value) == 43 {
		nonce = c.Value
	} else {
		nonce = rand.Text() + rand.Text()[:17]
		p.setCookie(w, r, loginCookie, nonce, time.Now().Add(12*time.Hour))
	}
	next := safeNext(r.FormValue("next"))
	p.render(w, r, status, "login", &view{Title: "Log in", Notice: notice(r), Data: &loginView{Form: f, Next: next, Nonce: nonce}})
}

// safeNext returns next if it is a portal path, else the portal's home: a
// login never sends the browser elsewhere.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/portal/") || strings.HasPrefix(next, "/portal/login") || strings.ContainsAny(next, "\\\r\n") {
		return "/portal/"
	}
	if u, err := url.Parse(next); err != nil || u.Host != "" || u.Scheme != "" {
		return "/portal/"
	}
	return next
}

// clientHost returns the host of a "host:port" address.
func clientHost(addr string) string {
	if h, _, err := net.SplitHostPort(addr); err == nil {
		return h
	}
	return addr
}

// login checks the form's email and password with the gateway and, if
// they are right, sets the session cookie.
func (p *Portal) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		p.fail(w, r, nil, &apiError{Status: http.StatusBadRequest, Code: "invalid_form", Message: "The form could not be read."})
		return
	}
	f := newForm(url.Values{"email": {strings.TrimSpace(r.PostFormValue("email"))}})
	c, err := r.Cookie(loginCookie)
	nonce := r.PostFormValue("login_nonce")
	if p.origin.Check(r) != nil || err != nil || nonce == "" || subtle.ConstantTimeCompare([]byte(c.Value), []byte(nonce)) != 1 {
		f.Top = "This form has expired or came from another site. Try again."
		p.renderLogin(w, r, http.StatusForbidden, f)
		return
	}
	addr := clientHost(r.RemoteAddr)
	if ok, wait := p.limiter.allowed(addr); !ok {
		w.Header().Set("Retry-After", retryAfter(wait))
		f.Top = "Too many failed logins from your address. Try again in " + wait.Round(time.Minute).String() + "."
		p.renderLogin(w, r, http.StatusTooManyRequests, f)
		return
	}
	email, password := f.Get("email"), r.PostFormValue("password")
	switch {
	case email == "":
		f.E["email"] = "Enter your email."
	case password == "":
		f.E["password"] = "Enter your password."
	}
	if len(f.E) > 0 {
		p.renderLogin(w, r, http.StatusBadRequest, f)
		return
	}
	var created sessionCreated
	api := p.client("", "", r.RemoteAddr)
	err = api.call(r.Context(), http.MethodPost, "/v1/portal/sessions", nil, map[string]string{"email": email, "password": password}, &created)
	if err != nil {
		ae := asAPIError(err)
		switch ae.Status {
		case http.StatusUnauthorized:
			p.limiter.failed(addr)
		case http.StatusTooManyRequests:
			if ae.RetryAfter != "" {
				w.Header().Set("Retry-After", ae.RetryAfter)
			}
		}
		f.setError(ae, loginFields)
		p.renderLogin(w, r, ae.Status, f)
		return
	}
	p.limiter.succeeded(addr)
	expires := created.Expires
	if expires.IsZero() {
		expires = time.Now().Add(12 * time.Hour)
	}
	p.setCookie(w, r, sessionCookie, created.Token, expires)
	p.clearCookie(w, r, loginCookie)
	http.Redirect(w, r, safeNext(r.PostFormValue("next")), http.StatusSeeOther)
}

// loginFields maps the gateway's messages about a login to the form.
var loginFields = fieldMap{"email": "email", "password": "password"}

// retryAfter formats a wait as Retry-After seconds.
func retryAfter(d time.Duration) string {
	return strconv.FormatInt(max(int64(math.Ceil(d.Seconds())), 1), 10)
}

// logout ends the session at the gateway and forgets its cookie.
func (p *Portal) logout(w http.ResponseWriter, r *http.Request, s *session) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), p.cfg.Timeout)
	defer cancel()
	if err := s.api.call(ctx, http.MethodDelete, "/v1/portal/sessions/current", nil, nil, nil); err != nil && !isStatus(err, http.StatusUnauthorized) {
		p.log.Warn("portal: logout at the gateway failed", "err", err)
	}
	p.clearCookie(w, r, sessionCookie)
	http.Redirect(w, r, "/portal/login?ok=logged_out", http.StatusSeeOther)
}
