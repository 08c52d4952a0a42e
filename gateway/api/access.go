package api

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway/account"
)

// Caller is who made a request with a portal session, or, on the routes
// whose calls are audited, with an app's master secret.
type Caller struct {
	// Identity is the session's user and session; zero for an app's
	// backend.
	Identity account.Identity
	// App is the app of the request (X-Herald-App, or the Basic
	// credentials), nil on routes without one.
	App *dataservice.App
	// Role is the caller's role on App: owner for an app's backend.
	Role dataservice.Role
}

// Actor names the caller in audit logs: the user's email, or "api".
func (c *Caller) Actor() string {
	if c.Identity.Session.Email != "" {
		return c.Identity.Session.Email
	}
	return account.ActorAPI
}

// requestInfo is what the mux learned of a request, for its handler and
// its audit entry. Only requests with a session, or audited ones, carry
// one: the others pay nothing for it.
type requestInfo struct {
	caller Caller

	mu      sync.Mutex
	targets []string // noted by the handler
}

type requestInfoKey struct{}

func infoOf(r *http.Request) *requestInfo {
	info, _ := r.Context().Value(requestInfoKey{}).(*requestInfo)
	return info
}

// CallerOf returns who made r, if it came with a portal session (or was a
// call of an app's backend that is audited); nil otherwise.
func CallerOf(r *http.Request) *Caller {
	if info := infoOf(r); info != nil {
		return &info.caller
	}
	return nil
}

// NoteTarget adds "name=value" to the target of r's audit entry, if r is
// audited: what the call made or changed that its path does not name (the
// msg_id of a push, the schedule_id of a new schedule). Handlers call it
// before they answer.
func NoteTarget(r *http.Request, name, value string) {
	if info := infoOf(r); info != nil {
		info.mu.Lock()
		info.targets = append(info.targets, name+"="+value)
		info.mu.Unlock()
	}
}

// sessionToken returns the token of an Authorization: Session header.
func sessionToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Session") {
		return "", false
	}
	return strings.TrimSpace(token), true
}

// AppHeader names the app of a call made with a portal session.
const AppHeader = "X-Herald-App"

// checkSession authenticates a request with a portal session, for a
// route without an app.
func (a *Authenticator) checkSession(r *http.Request) (*requestInfo, error) {
	token, ok := sessionToken(r)
	if !ok {
		return nil, errNoSessionAuth
	}
	return a.session(r.Context(), token)
}

func (a *Authenticator) session(ctx context.Context, token string) (*requestInfo, error) {
	if a.accounts == nil {
		return nil, errBadSession
	}
	id, err := a.accounts.Authenticate(ctx, token)
	if errors.Is(err, account.ErrNoSession) {
		return nil, errBadSession
	}
	if err != nil {
		return nil, err
	}
	return &requestInfo{caller: Caller{Identity: id}}, nil
}

// checkSessionOnApp authenticates a request with a portal session on the
// app X-Herald-App names, and checks the user's role there against rt's.
// When the user has a role on the app, the request info comes back even
// with the error of a role too low, so that the refusal is audited.
func (a *Authenticator) checkSessionOnApp(r *http.Request, token string, rt *Route) (*requestInfo, error) {
	info, err := a.session(r.Context(), token)
	if err != nil {
		return nil, err
	}
	c := &info.caller
	key := r.Header.Get(AppHeader)
	role := c.Identity.User.Apps[key]
	if key == "" || !role.Valid() {
		return nil, noRole(c.Actor())
	}
	app, err := a.apps.get(r.Context(), key)
	if IsNotFound(err) || errors.Is(err, dataservice.ErrInvalid) {
		return nil, noRole(c.Actor()) // as for any app the user is not on
	}
	if err != nil {
		return nil, err
	}
	c.App, c.Role = &app, role
	if need := rt.role(); !role.Covers(need) {
		return info, Errorf(http.StatusForbidden, "forbidden", "%s %s needs the %s role; you are %s", rt.Method, rt.Pattern, need, role)
	}
	return info, nil
}

func noRole(who string) error {
	return Errorf(http.StatusForbidden, "forbidden", "%s has no role on this app (send %s: <app_key> of an app you are a member of)", who, AppHeader)
}

// auditWriter records the request's audit entry when its answer starts,
// so that the entry is stored before the caller learns the outcome.
type auditWriter struct {
	http.ResponseWriter
	record func(status int)
	done   bool
}

func (w *auditWriter) WriteHeader(status int) {
	if !w.done {
		w.done = true
		w.record(status)
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *auditWriter) Write(b []byte) (int, error) {
	if !w.done {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *auditWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// finish records a handler that answered nothing (200).
func (w *auditWriter) finish() {
	if !w.done {
		w.done = true
		w.record(http.StatusOK)
	}
}

// auditTimeout bounds the write of one audit entry.
const auditTimeout = 5 * time.Second

// record writes the audit entry of r, answered with status.
func (s *served) record(r *http.Request, info *requestInfo, status int) {
	targets := make([]string, 0, len(s.wildcards)+1)
	for _, name := range s.wildcards {
		targets = append(targets, name+"="+r.PathValue(name))
	}
	info.mu.Lock()
	targets = append(targets, info.targets...)
	info.mu.Unlock()
	e := dataservice.AuditEntry{App: info.caller.App.Key, Actor: info.caller.Actor(), Action: s.Method + " " + s.Pattern,
		Target: strings.Join(targets, " "), Status: status}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), auditTimeout)
	defer cancel()
	if s.auth.accounts == nil {
		return
	}
	if err := s.auth.accounts.Record(ctx, e); err != nil {
		s.auth.log.Error("audit entry not written", "app", e.App, "actor", e.Actor, "action", e.Action, "target", e.Target, "status", status, "err", err)
	}
}

var wildcardName = regexp.MustCompile(`\{([^{}.$]+)(\.\.\.)?\}`)

// wildcards returns the names of the wildcards of a ServeMux pattern.
func wildcards(pattern string) []string {
	var out []string
	for _, m := range wildcardName.FindAllStringSubmatch(pattern, -1) {
		out = append(out, m[1])
	}
	return out
}
