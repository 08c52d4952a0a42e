package remote

import (
	"context"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

var _ dataservice.PortalStore = (*Client)(nil)

// Request bodies of the dataservice.PortalStore endpoints. Nothing of the
// portal is cached: sessions must stop working the moment they are
// deleted, and every read of a user is followed by a decision on its
// roles.
type (
	portalUserReq  struct{ User dataservice.PortalUser }
	emailReq       struct{ Email string }
	portalUsersReq struct {
		After string
		Limit int
	}
	portalRoleReq struct {
		App, Email string
		Role       dataservice.Role
		KeepOwner  bool
	}
	appKeyReq     struct{ App string }
	portalSessReq struct{ Session dataservice.PortalSession }
	tokenHashReq  struct{ TokenHash [32]byte }
	loginFailReq  struct {
		Limiter string
		At      time.Time
		Keep    int
		Window  time.Duration
	}
	limiterReq struct{ Limiter string }
	auditReq   struct{ Entry dataservice.AuditEntry }
	auditsReq  struct {
		App    string
		Before uint64
		Limit  int
	}
)

// routePortal serves the dataservice.PortalStore methods.
func (s *Server) routePortal() {
	d := s.data
	handle(s, domainPath+"create_portal_user", func(ctx context.Context, q *portalUserReq) (dataservice.PortalUser, error) {
		return d.CreatePortalUser(ctx, q.User)
	})
	handle(s, domainPath+"portal_user", func(ctx context.Context, q *emailReq) (dataservice.PortalUser, error) {
		return d.PortalUser(ctx, q.Email)
	})
	handle(s, domainPath+"update_portal_user", func(ctx context.Context, q *portalUserReq) (dataservice.PortalUser, error) {
		return d.UpdatePortalUser(ctx, q.User)
	})
	handle(s, domainPath+"delete_portal_user", func(ctx context.Context, q *emailReq) (bool, error) {
		return d.DeletePortalUser(ctx, q.Email)
	})
	handle(s, domainPath+"portal_users", func(ctx context.Context, q *portalUsersReq) ([]dataservice.PortalUser, error) {
		return d.PortalUsers(ctx, q.After, q.Limit)
	})
	handle(s, domainPath+"set_portal_role", func(ctx context.Context, q *portalRoleReq) (dataservice.Role, error) {
		return d.SetPortalRole(ctx, q.App, q.Email, q.Role, q.KeepOwner)
	})
	handle(s, domainPath+"app_members", func(ctx context.Context, q *appKeyReq) ([]dataservice.Member, error) {
		return d.AppMembers(ctx, q.App)
	})
	handle(s, domainPath+"create_portal_session", func(ctx context.Context, q *portalSessReq) (dataservice.PortalSession, error) {
		return d.CreatePortalSession(ctx, q.Session)
	})
	handle(s, domainPath+"portal_session", func(ctx context.Context, q *tokenHashReq) (dataservice.PortalSession, error) {
		return d.PortalSession(ctx, q.TokenHash)
	})
	handle(s, domainPath+"delete_portal_session", func(ctx context.Context, q *tokenHashReq) (bool, error) {
		return d.DeletePortalSession(ctx, q.TokenHash)
	})
	handle(s, domainPath+"add_login_failure", func(ctx context.Context, q *loginFailReq) (empty, error) {
		return empty{}, d.AddLoginFailure(ctx, q.Limiter, q.At, q.Keep, q.Window)
	})
	handle(s, domainPath+"login_failures", func(ctx context.Context, q *limiterReq) ([]time.Time, error) {
		return d.LoginFailures(ctx, q.Limiter)
	})
	handle(s, domainPath+"clear_login_failures", func(ctx context.Context, q *limiterReq) (empty, error) {
		return empty{}, d.ClearLoginFailures(ctx, q.Limiter)
	})
	handle(s, domainPath+"add_audit_entry", func(ctx context.Context, q *auditReq) (dataservice.AuditEntry, error) {
		return d.AddAuditEntry(ctx, q.Entry)
	})
	handle(s, domainPath+"audit_entries", func(ctx context.Context, q *auditsReq) ([]dataservice.AuditEntry, error) {
		return d.AuditEntries(ctx, q.App, q.Before, q.Limit)
	})
}

// userStrings are the strings of a user the service validates as UTF-8.
func userStrings(u *dataservice.PortalUser) []string {
	out := []string{u.Email, u.PasswordHash}
	for app := range u.Apps {
		out = append(out, app)
	}
	return out
}

// CreatePortalUser implements dataservice.PortalStore.
func (c *Client) CreatePortalUser(ctx context.Context, u dataservice.PortalUser) (dataservice.PortalUser, error) {
	if err := checkUTF8("create_portal_user", userStrings(&u)); err != nil {
		return dataservice.PortalUser{}, err
	}
	var out dataservice.PortalUser
	err := c.write(ctx, "create_portal_user", portalUserReq{User: u}, &out)
	return out, err
}

// PortalUser implements dataservice.PortalStore.
func (c *Client) PortalUser(ctx context.Context, email string) (dataservice.PortalUser, error) {
	if err := checkUTF8("portal_user", []string{email}); err != nil {
		return dataservice.PortalUser{}, err
	}
	var out dataservice.PortalUser
	err := c.read(ctx, "portal_user", emailReq{Email: email}, &out)
	return out, err
}

// UpdatePortalUser implements dataservice.PortalStore.
func (c *Client) UpdatePortalUser(ctx context.Context, u dataservice.PortalUser) (dataservice.PortalUser, error) {
	if err := checkUTF8("update_portal_user", userStrings(&u)); err != nil {
		return dataservice.PortalUser{}, err
	}
	var out dataservice.PortalUser
	err := c.write(ctx, "update_portal_user", portalUserReq{User: u}, &out)
	return out, err
}

// DeletePortalUser implements dataservice.PortalStore.
func (c *Client) DeletePortalUser(ctx context.Context, email string) (bool, error) {
	if err := checkUTF8("delete_portal_user", []string{email}); err != nil {
		return false, err
	}
	var existed bool
	err := c.write(ctx, "delete_portal_user", emailReq{Email: email}, &existed)
	return existed, err
}

// PortalUsers implements dataservice.PortalStore.
func (c *Client) PortalUsers(ctx context.Context, after string, limit int) ([]dataservice.PortalUser, error) {
	if err := checkUTF8("portal_users", []string{after}); err != nil {
		return nil, err
	}
	var out []dataservice.PortalUser
	err := c.read(ctx, "portal_users", portalUsersReq{After: after, Limit: limit}, &out)
	return out, err
}

// SetPortalRole implements dataservice.PortalStore.
func (c *Client) SetPortalRole(ctx context.Context, app, email string, role dataservice.Role, keepOwner bool) (dataservice.Role, error) {
	if err := checkUTF8("set_portal_role", []string{app, email, string(role)}); err != nil {
		return "", err
	}
	var prev dataservice.Role
	err := c.write(ctx, "set_portal_role", portalRoleReq{App: app, Email: email, Role: role, KeepOwner: keepOwner}, &prev)
	return prev, err
}

// AppMembers implements dataservice.PortalStore.
func (c *Client) AppMembers(ctx context.Context, app string) ([]dataservice.Member, error) {
	if err := checkUTF8("app_members", []string{app}); err != nil {
		return nil, err
	}
	var out []dataservice.Member
	err := c.read(ctx, "app_members", appKeyReq{App: app}, &out)
	return out, err
}

// CreatePortalSession implements dataservice.PortalStore.
func (c *Client) CreatePortalSession(ctx context.Context, s dataservice.PortalSession) (dataservice.PortalSession, error) {
	if err := checkUTF8("create_portal_session", []string{s.Email}); err != nil {
		return dataservice.PortalSession{}, err
	}
	var out dataservice.PortalSession
	err := c.write(ctx, "create_portal_session", portalSessReq{Session: s}, &out)
	return out, err
}

// PortalSession implements dataservice.PortalStore.
func (c *Client) PortalSession(ctx context.Context, tokenHash [32]byte) (dataservice.PortalSession, error) {
	var out dataservice.PortalSession
	err := c.read(ctx, "portal_session", tokenHashReq{TokenHash: tokenHash}, &out)
	return out, err
}

// DeletePortalSession implements dataservice.PortalStore.
func (c *Client) DeletePortalSession(ctx context.Context, tokenHash [32]byte) (bool, error) {
	var existed bool
	err := c.write(ctx, "delete_portal_session", tokenHashReq{TokenHash: tokenHash}, &existed)
	return existed, err
}

// AddLoginFailure implements dataservice.PortalStore.
func (c *Client) AddLoginFailure(ctx context.Context, limiter string, at time.Time, keep int, window time.Duration) error {
	if err := checkUTF8("add_login_failure", []string{limiter}); err != nil {
		return err
	}
	return c.write(ctx, "add_login_failure", loginFailReq{Limiter: limiter, At: at, Keep: keep, Window: window}, &empty{})
}

// LoginFailures implements dataservice.PortalStore.
func (c *Client) LoginFailures(ctx context.Context, limiter string) ([]time.Time, error) {
	if err := checkUTF8("login_failures", []string{limiter}); err != nil {
		return nil, err
	}
	var out []time.Time
	err := c.read(ctx, "login_failures", limiterReq{Limiter: limiter}, &out)
	return out, err
}

// ClearLoginFailures implements dataservice.PortalStore.
func (c *Client) ClearLoginFailures(ctx context.Context, limiter string) error {
	if err := checkUTF8("clear_login_failures", []string{limiter}); err != nil {
		return err
	}
	return c.write(ctx, "clear_login_failures", limiterReq{Limiter: limiter}, &empty{})
}

// AddAuditEntry implements dataservice.PortalStore.
func (c *Client) AddAuditEntry(ctx context.Context, e dataservice.AuditEntry) (dataservice.AuditEntry, error) {
	if err := checkUTF8("add_audit_entry", []string{e.App, e.Actor, e.Action, e.Target}); err != nil {
		return dataservice.AuditEntry{}, err
	}
	var out dataservice.AuditEntry
	err := c.write(ctx, "add_audit_entry", auditReq{Entry: e}, &out)
	return out, err
}

// AuditEntries implements dataservice.PortalStore.
func (c *Client) AuditEntries(ctx context.Context, app string, before uint64, limit int) ([]dataservice.AuditEntry, error) {
	if err := checkUTF8("audit_entries", []string{app}); err != nil {
		return nil, err
	}
	var out []dataservice.AuditEntry
	err := c.read(ctx, "audit_entries", auditsReq{App: app, Before: before, Limit: limit}, &out)
	return out, err
}
