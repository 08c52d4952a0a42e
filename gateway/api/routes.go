package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

// Auth is how a route authenticates its caller.
type Auth int

// Kinds of authentication.
const (
	AuthNone  Auth = iota
	AuthAdmin      // Authorization: Bearer <admin token>
	AuthApp        // Authorization: Basic base64(app_key:master_secret)
)

func (a Auth) String() string {
	switch a {
	case AuthNone:
		return "none"
	case AuthAdmin:
		return "admin"
	case AuthApp:
		return "app"
	}
	return "unknown"
}

// A Handler serves one route. app is the authenticated app for AuthApp
// routes, nil for the others. An error it returns is written by the
// face's ErrorWriter; a handler that returns nil has answered.
type Handler func(w http.ResponseWriter, r *http.Request, app *dataservice.App) error

// Route is one row of a route table.
type Route struct {
	Method, Pattern string
	Auth            Auth
	Handle          Handler
}

// An ErrorWriter writes err as the answer to r.
type ErrorWriter func(w http.ResponseWriter, r *http.Request, err error)

// NewMux returns a handler that serves routes, authenticating each
// request with auth. Each path is registered once: wrong methods and
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
	serve := func(w http.ResponseWriter, r *http.Request, rt Route) {
		var app *dataservice.App
		switch rt.Auth {
		case AuthAdmin:
			if err := auth.CheckAdmin(r); err != nil {
				writeError(w, r, err)
				return
			}
		case AuthApp:
			a, err := auth.CheckApp(r)
			if err != nil {
				writeError(w, r, err)
				return
			}
			app = a
		}
		if err := rt.Handle(w, r, app); err != nil {
			writeError(w, r, err)
		}
	}
	for _, pattern := range order {
		routes := byPattern[pattern]
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			var allowed []string
			for _, rt := range routes {
				// HEAD is GET without the body (net/http drops it).
				if rt.Method == r.Method || (r.Method == http.MethodHead && rt.Method == http.MethodGet) {
					serve(w, r, rt)
					return
				}
				allowed = append(allowed, rt.Method)
			}
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			writeError(w, r, Errorf(http.StatusMethodNotAllowed, "method_not_allowed", "%s %s is not supported; use %s", r.Method, r.URL.Path, strings.Join(allowed, " or ")))
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, Errorf(http.StatusNotFound, "not_found", "no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	return mux
}

// Authentication failures, with the challenge each scheme sends.
var (
	ErrNoAppAuth = &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Challenge: `Basic realm="herald"`,
		Message: "send Authorization: Basic base64(app_key:master_secret) with the credentials returned by POST /v1/apps"}
	errBadAppAuth = &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Challenge: `Basic realm="herald"`,
		Message: "unknown app_key or wrong master_secret"}
	errNoAdminAuth = &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Challenge: `Bearer realm="herald admin"`,
		Message: "send Authorization: Bearer <admin token> (the token herald printed on first start, or HERALD_ADMIN_TOKEN)"}
	errBadAdminAuth = &Error{Status: http.StatusUnauthorized, Code: "unauthorized", Challenge: `Bearer realm="herald admin", error="invalid_token"`,
		Message: "the admin token is wrong"}
)

// appKeyShape is the shape of app keys: JPush's.
var appKeyShape = regexp.MustCompile(`^[0-9a-zA-Z]{24}$`)

// ValidAppKey reports whether s has the shape of an app key: 24 letters
// and digits.
func ValidAppKey(s string) bool { return appKeyShape.MatchString(s) }

// Authenticator checks the credentials of requests: the admin token, and
// apps' keys and master secrets (the apps read through a short-lived
// cache).
type Authenticator struct {
	adminTokenHash [32]byte
	apps           *appCache
}

// NewAuthenticator returns an Authenticator of the admin token whose
// SHA-256 is adminTokenHash and of the apps data holds. A change to an
// app takes effect within 5 s.
func NewAuthenticator(adminTokenHash [32]byte, data AppReader) *Authenticator {
	return &Authenticator{adminTokenHash: adminTokenHash, apps: newAppCache(data, 5*time.Second, 10000)}
}

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
		return nil, errBadAppAuth
	}
	return &app, nil
}
