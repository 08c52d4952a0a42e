package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway/account"
)

// Auth is how a route authenticates its caller.
type Auth int

// Kinds of authentication.
const (
	AuthNone  Auth = iota
	AuthAdmin      // Authorization: Bearer <admin token>
	// AuthApp: an app's backend, Authorization: Basic
	// base64(app_key:master_secret), with every right on its app; or a
	// portal user, Authorization: Session <token> and X-Herald-App:
	// <app_key>, with at least the route's Role on that app.
	AuthApp
	AuthBasic   // Authorization: Basic base64(app_key:master_secret) only (the /v3 face)
	AuthSession // Authorization: Session <token>, no app (the portal's own routes)
)

func (a Auth) String() string {
	switch a {
	case AuthNone:
		return "none"
	case AuthAdmin:
		return "admin"
	case AuthApp:
		return "app"
	case AuthBasic:
		return "basic"
	case AuthSession:
		return "session"
	}
	return "unknown"
}

// A Handler serves one route. app is the authenticated app for AuthApp
// and AuthBasic routes, nil for the others (CallerOf says who called). An
// error it returns is written by the face's ErrorWriter; a handler that
// returns nil has answered.
type Handler func(w http.ResponseWriter, r *http.Request, app *dataservice.App) error

// Route is one row of a route table.
type Route struct {
	Method, Pattern string
	Auth            Auth
	// Role is the least role a portal user needs on the app to call an
	// AuthApp route; an app's backend (Basic) has every role. Empty means
	// owner.
	Role   dataservice.Role
	Handle Handler
}

// role is the role the route needs.
func (rt *Route) role() dataservice.Role {
	if rt.Role == "" {
		return dataservice.RoleOwner
	}
	return rt.Role
}

// audited reports whether calls of rt with a session (session) or with
// Basic go to the app's audit log: the calls that change something (those
// needing more than the viewer role, which only reads) made by people,
// and those needing the owner role made by the app's backend. A push made
// with Basic is not audited: its record is the message itself.
func (rt *Route) audited(session bool) bool {
	if rt.Auth != AuthApp || rt.Method == http.MethodGet || rt.Method == http.MethodHead {
		return false
	}
	switch rt.role() {
	case dataservice.RoleOwner:
		return true
	case dataservice.RoleMarketer:
		return session
	}
	return false
}

// An ErrorWriter writes err as the answer to r.
type ErrorWriter func(w http.ResponseWriter, r *http.Request, err error)

// NewMux returns a handler that serves routes, authenticating each
// request with auth and writing the audited calls (Route.audited) to the
// apps' audit logs. Each path is registered once: wrong methods and
// unknown paths are answered with errors written by writeError, like
// every other error of the API.
func NewMux(routes []Route, auth *Authenticator, writeError ErrorWriter) http.Handler {
	mux := http.NewServeMux()
	byPattern := map[string][]Route{}
	var order []string
	for _, rt := range routes {
		if _, ok := byPattern[rt.Pattern]; !ok {
			order = append(order, rt.Pattern)
		}
		byPattern[rt.Pattern] = append(byPattern[rt.Pattern], rt)
	}
	for _, pattern := range order {
		routes := byPattern[pattern]
		rows := make([]*served, len(routes))
		for i := range routes {
			rows[i] = &served{Route: routes[i], auth: auth, writeError: writeError, wildcards: wildcards(pattern),
				metrics: newRouteMetrics(routes[i].Method + " " + pattern)}
		}
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			var allowed []string
			for _, s := range rows {
				// HEAD is GET without the body (net/http drops it).
				if s.Method == r.Method || (r.Method == http.MethodHead && s.Method == http.MethodGet) {
					s.metrics.serve(w, r, s.serve)
					return
				}
				allowed = append(allowed, s.Method)
			}
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			unmatched.serve(w, r, func(w http.ResponseWriter, r *http.Request) {
				writeError(w, r, Errorf(http.StatusMethodNotAllowed, "method_not_allowed", "%s %s is not supported; use %s", r.Method, r.URL.Path, strings.Join(allowed, " or ")))
			})
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		unmatched.serve(w, r, func(w http.ResponseWriter, r *http.Request) {
			writeError(w, r, Errorf(http.StatusNotFound, "not_found", "no such endpoint: %s %s", r.Method, r.URL.Path))
		})
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The mux would redirect a path with "." or ".." segments or
		// doubled slashes to its clean form, in HTML.
		if err := CheckPath(r.URL.Path); err != nil {
			writeError(w, r, err)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// CheckPath refuses a path that is not in its clean form: one with "."
// or ".." segments or empty ones (doubled slashes). The API's paths are
// all clean; http.ServeMux would redirect such a path to its clean form,
// answering in HTML.
func CheckPath(p string) error {
	clean := "/"
	if p != "" {
		clean = path.Clean(p)
		if p[len(p)-1] == '/' && clean != "/" {
			clean += "/"
		}
	}
	if clean == p {
		return nil
	}
	return Errorf(http.StatusBadRequest, "invalid_path", "the path %q has \".\" or \"..\" segments or doubled slashes; send it in its clean form, %q", Truncate(p, 200), Truncate(clean, 200))
}

// served is a route as the mux serves it.
type served struct {
	Route
	auth       *Authenticator
	writeError ErrorWriter
	wildcards  []string // the names of the pattern's wildcards, for audit targets
	metrics    *routeMetrics
}

func (s *served) serve(w http.ResponseWriter, r *http.Request) {
	var (
		app  *dataservice.App
		info *requestInfo
		err  error
	)
	switch s.Auth {
	case AuthAdmin:
		err = s.auth.CheckAdmin(r)
	case AuthBasic:
		app, err = s.auth.CheckApp(r)
	case AuthApp:
		// An app's backend first: the unicast push's hot path, which
		// reads nothing more.
		app, err = s.auth.CheckApp(r)
		if err == ErrNoAppAuth { // no Basic credentials
			token, ok := sessionToken(r)
			if !ok {
				err = errNoAppOrSessionAuth
				break
			}
			info, err = s.auth.checkSessionOnApp(r, token, &s.Route)
			if info != nil {
				app = info.caller.App
			}
			break
		}
		if err == nil && s.audited(false) {
			info = &requestInfo{caller: Caller{Role: dataservice.RoleOwner, App: app}}
		}
	case AuthSession:
		info, err = s.auth.checkSession(r)
	}
	if info != nil {
		r = r.WithContext(context.WithValue(r.Context(), requestInfoKey{}, info))
		if info.caller.App != nil && s.audited(info.caller.Identity.Session.Email != "") {
			aw := &auditWriter{ResponseWriter: w, record: func(status int) { s.record(r, info, status) }}
			defer aw.finish()
			w = aw
		}
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.Handle(w, r, app); err != nil {
		s.writeError(w, r, err)
	}
}

// Authentication failures, with the challenge each scheme sends.// Authentication failures, with the challenge each scheme sends.
var (
	ErrNoAppAuth = &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Challenge: `Basic realm="herald"`,
		Message: "send Authorization: Basic base64(app_key:master_secret) with the credentials returned by POST /v1/apps"}
	errBadAppAuth = &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Challenge: `Basic realm="herald"`,
		Message: "unknown app_key or wrong master_secret"}
	errNoAdminAuth = &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Challenge: `Bearer realm="herald admin"`,
		Message: "send Authorization: Bearer <admin token> (the token herald printed on first start, or HERALD_ADMIN_TOKEN)"}
	errBadAdminAuth = &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Challenge: `Bearer realm="herald admin", error="invalid_token"`,
		Message: "the admin token is wrong"}
	errNoAppOrSessionAuth = &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Challenge: `Basic realm="herald", Session realm="herald"`,
		Message: "send Authorization: Basic base64(app_key:master_secret) with the credentials returned by POST /v1/apps, or Session <token> (from POST /v1/portal/sessions) with X-Herald-App: <app_key>"}
	errNoSessionAuth = &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Challenge: `Session realm="herald"`,
		Message: "send Authorization: Session <token> with the token POST /v1/portal/sessions returned"}
	errBadSession = &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Challenge: `Session realm="herald"`,
		Message: "the session is unknown, has expired or has ended; log in again with POST /v1/portal/sessions"}
)

// appKeyShape is the shape of app keys: JPush's.
var appKeyShape = regexp.MustCompile(`^[0-9a-zA-Z]{24}$`)

// ValidAppKey reports whether s has the shape of an app key: 24 letters
// and digits.
func ValidAppKey(s string) bool { return appKeyShape.MatchString(s) }

// Authenticator checks the credentials of requests: the admin token,
// apps' keys and master secrets (the apps read through a short-lived
// cache), and portal users' sessions; it also writes the audit log.
type Authenticator struct {
	adminTokenHash [32]byte
	apps           *appCache
	accounts       *account.Accounts
	log            *slog.Logger
}

// NewAuthenticator returns an Authenticator of the admin token whose
// SHA-256 is adminTokenHash, of the apps data holds, and of the portal
// sessions of accounts. A change to an app takes effect within 5 s (a
// new master secret within secretRefresh: see CheckApp).
func NewAuthenticator(adminTokenHash [32]byte, data AppReader, accounts *account.Accounts, log *slog.Logger) *Authenticator {
	if log == nil {
		log = slog.Default()
	}
	return &Authenticator{adminTokenHash: adminTokenHash, apps: newAppCache(data, 5*time.Second, 10000), accounts: accounts, log: log}
}

// secretRefresh is how often, at most, a master secret that does not
// match makes the Authenticator read its app again: how long a new secret
// may be refused by a gateway that cached the app before it changed. A
// flood of wrong secrets costs at most that many reads of the app.
const secretRefresh = 250 * time.Millisecond

// ForgetApp drops the app from the cache, so that this gateway sees a
// change to it at once (others within 5 s).
func (a *Authenticator) ForgetApp(key string) { a.apps.forget(key) }

// CheckAdmin authenticates a request as the admin.
func (a *Authenticator) CheckAdmin(r *http.Request) error {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		return errNoAdminAuth
	}
	h := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(h[:], a.adminTokenHash[:]) != 1 {
		return errBadAdminAuth
	}
	return nil
}

// CheckApp authenticates a request as an app and returns it.
func (a *Authenticator) CheckApp(r *http.Request) (*dataservice.App, error) {
	key, secret, ok := r.BasicAuth()
	if !ok || key == "" || secret == "" {
		return nil, ErrNoAppAuth
	}
	if !ValidAppKey(key) {
		return nil, errBadAppAuth
	}
	app, err := a.apps.get(r.Context(), key)
	if err != nil {
		if IsNotFound(err) {
			return nil, errBadAppAuth
		}
		return nil, err
	}
	h := sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(h[:], app.SecretHash[:]) != 1 {
		// The secret may be new (POST /v1/app/secret on another
		// gateway): read the app again, at most every secretRefresh.
		fresh, ok, err := a.apps.refresh(r.Context(), key, secretRefresh)
		if err != nil && !IsNotFound(err) {
			return nil, err
		}
		if !ok || subtle.ConstantTimeCompare(h[:], fresh.SecretHash[:]) != 1 {
			return nil, errBadAppAuth
		}
		app = fresh
	}
	return &app, nil
}
