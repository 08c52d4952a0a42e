package gateway

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway/account"
	"github.com/heraldpush/herald/gateway/api"
)

// The portal's own endpoints: logging in and out (POST, DELETE
// /v1/portal/sessions…), who is logged in (GET /v1/portal/me), and the
// admin's management of portal users (/v1/admin/portal-users…). The
// users themselves, their passwords and sessions are package account's.

// portalApp is one app of a portal user, as the portal shows it.
type portalApp struct {
	AppKey string           `json:"app_key"`
	Name   string           `json:"name"`
	Role   dataservice.Role `json:"role"`
}

// meView is a logged-in user: its email and its apps, by app key.
type meView struct {
	Email string      `json:"email"`
	Apps  []portalApp `json:"apps"`
}

// viewMe reads the names of the user's apps; apps that are gone are left
// out.
func (g *Gateway) viewMe(ctx context.Context, u dataservice.PortalUser) (meView, error) {
	v := meView{Email: u.Email, Apps: make([]portalApp, 0, len(u.Apps))}
	for _, key := range slices.Sorted(maps.Keys(u.Apps)) {
		app, err := g.data.App(ctx, key)
		if api.IsNotFound(err) {
			continue
		}
		if err != nil {
			return meView{}, err
		}
		v.Apps = append(v.Apps, portalApp{AppKey: key, Name: app.Name, Role: u.Apps[key]})
	}
	return v, nil
}

type loginRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

type sessionView struct {
	Token   string    `json:"token"`
	Expires time.Time `json:"expires"`
	User    meView    `json:"user"`
}

var errInvalidCredentials = &api.Error{Status: http.StatusUnauthorized, Code: "invalid_credentials", Challenge: `Session realm="herald"`,
	Message: "wrong email or password"}

// login starts a portal session.
func (g *Gateway) login(w http.ResponseWriter, r *http.Request, _ *dataservice.App) error {
	var req loginRequest
	if err := api.DecodeBody(w, r, g.cfg.MaxBody, &req); err != nil {
		return err
	}
	if req.Email == "" || req.Password == "" {
		return api.Errorf(http.StatusBadRequest, "missing_field", `send "email" and "password"`)
	}
	ctx := r.Context()
	s, err := g.accounts.Login(ctx, req.Email, req.Password, g.accounts.ClientAddress(r))
	var limited *account.RateLimitedError
	switch {
	case errors.As(err, &limited):
		return &api.Error{Status: http.StatusTooManyRequests, Code: "rate_limited", RetryAfter: limited.RetryAfterSeconds(),
			Message: fmt.Sprintf("too many failed logins from this %s; retry in %d seconds", limited.Limit, limited.RetryAfterSeconds())}
	case errors.Is(err, account.ErrInvalidCredentials):
		return errInvalidCredentials
	case err != nil:
		return err
	}
	me, err := g.viewMe(ctx, s.User)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusCreated, sessionView{Token: s.Token, Expires: s.Session.Expires.UTC(), User: me})
	return nil
}

// logout ends the caller's session, on every gateway at once.
func (g *Gateway) logout(w http.ResponseWriter, r *http.Request, _ *dataservice.App) error {
	if err := g.accounts.Logout(r.Context(), api.CallerOf(r).Identity); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// me says who the caller is and which apps it has roles on.
func (g *Gateway) me(w http.ResponseWriter, r *http.Request, _ *dataservice.App) error {
	v, err := g.viewMe(r.Context(), api.CallerOf(r).Identity.User)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, v)
	return nil
}

// portalUserView is a portal user as the admin sees it: never its
// password.
type portalUserView struct {
	Email   string                      `json:"email"`
	Apps    map[string]dataservice.Role `json:"apps"`
	Created time.Time                   `json:"created"`
	Updated time.Time                   `json:"updated"`
}

func viewPortalUser(u dataservice.PortalUser) portalUserView {
	apps := u.Apps
	if apps == nil {
		apps = map[string]dataservice.Role{}
	}
	return portalUserView{Email: u.Email, Apps: apps, Created: u.Created.UTC(), Updated: u.Updated.UTC()}
}

type createPortalUserRequest struct {
	Email    string                      `json:"email"`
	Password string                      `json:"password"`
	Apps     map[string]dataservice.Role `json:"apps"`
}

type replacePortalUserRequest struct {
	Password *string                     `json:"password"`
	Apps     map[string]dataservice.Role `json:"apps"`
}

// accountError turns what package account refuses into the API's words.
func accountError(err error) error {
	var (
		field   *account.FieldError
		unknown *account.UnknownAppError
	)
	switch {
	case errors.As(err, &field):
		return api.Errorf(http.StatusBadRequest, "invalid_field", "%s: %s", field.Field, field.Message)
	case errors.As(err, &unknown):
		return api.Errorf(http.StatusBadRequest, "unknown_app_key", "no app has app_key %s", api.Truncate(unknown.Key, 64))
	case errors.Is(err, dataservice.ErrLastOwner):
		return api.Errorf(http.StatusConflict, "last_owner", "the app would be left without an owner: make another member owner first")
	case errors.Is(err, dataservice.ErrMembersFull):
		return api.Errorf(http.StatusConflict, "too_many_members", "the app has %d members, the most it may have", dataservice.MaxAppMembers)
	case errors.Is(err, account.ErrNotMember):
		return api.Errorf(http.StatusNotFound, "not_member", "this user has no role on the app")
	}
	return err
}

var errUnknownUser = api.Errorf(http.StatusNotFound, "unknown_user", "no portal user has this email")

// auditAdmin records, in the audit log of each app whose roles the admin
// changed, what it did.
func (g *Gateway) auditAdmin(r *http.Request, status int, email string, changes []account.RoleChange) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	for _, c := range changes {
		target := "email=" + email + " role=" + string(c.To)
		if c.To == "" {
			target = "email=" + email + " role=none"
		}
		e := dataservice.AuditEntry{App: c.App, Actor: account.ActorAdmin, Action: r.Method + " " + r.Pattern, Target: target, Status: status}
		if err := g.accounts.Record(ctx, e); err != nil {
			g.log.Error("audit entry not written", "app", c.App, "action", e.Action, "target", target, "err", err)
		}
	}
}

// createPortalUser makes a portal user (the first one of an app is made
// this way, with the admin token).
func (g *Gateway) createPortalUser(w http.ResponseWriter, r *http.Request, _ *dataservice.App) error {
	var req createPortalUserRequest
	if err := api.DecodeBody(w, r, g.cfg.MaxBody, &req); err != nil {
		return err
	}
	if req.Email == "" || req.Password == "" {
		return api.Errorf(http.StatusBadRequest, "missing_field", `send "email", "password" and "apps" ({"APP_KEY": "owner", …})`)
	}
	u, err := g.accounts.CreateUser(r.Context(), req.Email, req.Password, req.Apps)
	if errors.Is(err, account.ErrUserExists) {
		return api.Errorf(http.StatusConflict, "user_exists", "a portal user has this email; change it with PUT /v1/admin/portal-users/{email}")
	}
	if err != nil {
		return accountError(err)
	}
	var changes []account.RoleChange
	for _, app := range slices.Sorted(maps.Keys(u.Apps)) {
		changes = append(changes, account.RoleChange{App: app, To: u.Apps[app]})
	}
	g.auditAdmin(r, http.StatusCreated, u.Email, changes)
	api.WriteJSON(w, http.StatusCreated, viewPortalUser(u))
	return nil
}

// listPortalUsers lists the portal users by email, paged.
func (g *Gateway) listPortalUsers(w http.ResponseWriter, r *http.Request, _ *dataservice.App) error {
	after, limit, err := api.Page(r, func(s string) bool { _, err := dataservice.NormalizeEmail(s); return err == nil })
	if err != nil {
		return err
	}
	users, err := g.accounts.Users(r.Context(), after, limit+1)
	if err != nil {
		return err
	}
	out := struct {
		Users []portalUserView `json:"users"`
		Next  *string          `json:"next,omitempty"`
	}{Users: make([]portalUserView, 0, len(users))}
	if len(users) > limit {
		users = users[:limit]
		out.Next = &users[limit-1].Email
	}
	for _, u := range users {
		out.Users = append(out.Users, viewPortalUser(u))
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (g *Gateway) portalUser(w http.ResponseWriter, r *http.Request, _ *dataservice.App) error {
	u, err := g.accounts.User(r.Context(), r.PathValue("email"))
	if api.IsNotFound(err) {
		return errUnknownUser
	}
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, viewPortalUser(u))
	return nil
}

// replacePortalUser sets a user's roles to exactly those of apps, and its
// password if one is given (its sessions then end).
func (g *Gateway) replacePortalUser(w http.ResponseWriter, r *http.Request, _ *dataservice.App) error {
	var req replacePortalUserRequest
	if err := api.DecodeBody(w, r, g.cfg.MaxBody, &req); err != nil {
		return err
	}
	if req.Apps == nil {
		return api.Errorf(http.StatusBadRequest, "missing_field", `send "apps": every role the user keeps ({} for none), and "password" to change it`)
	}
	u, changes, err := g.accounts.ReplaceUser(r.Context(), r.PathValue("email"), req.Password, req.Apps)
	if api.IsNotFound(err) {
		return errUnknownUser
	}
	if err != nil {
		return accountError(err)
	}
	g.auditAdmin(r, http.StatusOK, u.Email, changes)
	api.WriteJSON(w, http.StatusOK, viewPortalUser(u))
	return nil
}

// deletePortalUser removes a user and its roles; its sessions stop
// working at once.
func (g *Gateway) deletePortalUser(w http.ResponseWriter, r *http.Request, _ *dataservice.App) error {
	u, err := g.accounts.DeleteUser(r.Context(), r.PathValue("email"))
	if api.IsNotFound(err) {
		return errUnknownUser
	}
	if err != nil {
		return err
	}
	var changes []account.RoleChange
	for _, app := range slices.Sorted(maps.Keys(u.Apps)) {
		changes = append(changes, account.RoleChange{App: app, From: u.Apps[app]})
	}
	g.auditAdmin(r, http.StatusNoContent, u.Email, changes)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// memberView is one member of an app.
type memberView struct {
	Email string           `json:"email"`
	Role  dataservice.Role `json:"role"`
}

type putMemberRequest struct {
	Role     dataservice.Role `json:"role"`
	Password *string          `json:"password"`
}

func (g *Gateway) listMembers(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	members, err := g.accounts.Members(r.Context(), app.Key)
	if err != nil {
		return err
	}
	out := struct {
		Members []memberView `json:"members"`
	}{Members: make([]memberView, len(members))}
	for i, m := range members {
		out.Members[i] = memberView(m)
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

// putMember gives a user a role on the app, making the portal user (with
// the password sent) if there is none.
func (g *Gateway) putMember(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	var req putMemberRequest
	if err := api.DecodeBody(w, r, g.cfg.MaxBody, &req); err != nil {
		return err
	}
	if req.Role == "" {
		return api.Errorf(http.StatusBadRequest, "missing_field", `send "role": owner, marketer or viewer`)
	}
	api.NoteTarget(r, "role", string(req.Role))
	m, _, _, err := g.accounts.SetMember(r.Context(), app.Key, r.PathValue("email"), req.Role, req.Password)
	if errors.Is(err, account.ErrUserExists) {
		return api.Errorf(http.StatusConflict, "user_exists", "%s has a portal user already, with its own password: send the role without a password", m.Email)
	}
	if err != nil {
		return accountError(err)
	}
	api.WriteJSON(w, http.StatusOK, memberView(m))
	return nil
}

// deleteMember takes a user's role on the app away.
func (g *Gateway) deleteMember(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	if _, err := g.accounts.RemoveMember(r.Context(), app.Key, r.PathValue("email")); err != nil {
		return accountError(err)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// auditView is one entry of an app's audit log.
type auditView struct {
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Target string    `json:"target"`
	Status int       `json:"status"`
}

// listAudit lists the app's audit log, newest first: before (the next of
// the previous page) continues a listing.
func (g *Gateway) listAudit(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	q := r.URL.Query()
	var before uint64
	if s := q.Get("before"); s != "" {
		if _, err := fmt.Sscan(s, &before); err != nil || before == 0 || strings.TrimLeft(s, "0123456789") != "" {
			return api.Errorf(http.StatusBadRequest, "invalid_parameter", "before must be the next value of the previous page")
		}
	}
	_, limit, err := api.Page(r, func(string) bool { return true })
	if err != nil {
		return err
	}
	entries, err := g.accounts.Audit(r.Context(), app.Key, before, limit+1)
	if err != nil {
		return err
	}
	out := struct {
		Entries []auditView `json:"entries"`
		Next    string      `json:"next,omitempty"`
	}{Entries: make([]auditView, 0, len(entries))}
	if len(entries) > limit {
		entries = entries[:limit]
		out.Next = fmt.Sprint(entries[limit-1].ID)
	}
	for _, e := range entries {
		out.Entries = append(out.Entries, auditView{Time: e.Time.UTC(), Actor: e.Actor, Action: e.Action, Target: e.Target, Status: e.Status})
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}
