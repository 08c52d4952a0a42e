package dataservice

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// PortalStore holds the people of the portal and what they did: portal
// users (an email and a password hash), their roles on apps, their login
// sessions, the login failures that rate-limit them, and each app's audit
// log.
//
// Emails are the users' keys. Every method normalizes the emails it is
// given to lower case (NormalizeEmail) and fails with ErrInvalid on one
// that breaks its rules; app keys that are empty or hold '/' fail the same
// way, before any effect.
//
// A user's roles live with the apps: each app has one members record
// (email → role), and every change of the app's roles is a
// compare-and-set of that record, so that the rule "an app keeps an
// owner" (SetPortalRole with keepOwner) holds whatever calls race. A user
// record lists the apps it may have a role on; a user has a role on an
// app if and only if the app's members record gives it one and the user
// record lists the app. Both reads (PortalUser and AppMembers) apply that
// rule, so a members entry left behind by a deleted user never reaches a
// new user of the same email.
//
// Sessions are kept under the SHA-256 of their token, never the token,
// and live until they expire or are deleted. Audit entries live
// AuditRetention.
type PortalStore interface {
	// CreatePortalUser stores a new user with Created and Updated set to
	// the service's clock, then gives it the roles of u.Apps (as
	// SetPortalRole without keepOwner would, one app at a time), and
	// returns the user as PortalUser would. ErrExists if the email has a
	// user.
	CreatePortalUser(ctx context.Context, u PortalUser) (PortalUser, error)
	// PortalUser returns a user with its roles and its Generation, or
	// ErrNotFound.
	PortalUser(ctx context.Context, email string) (PortalUser, error)
	// UpdatePortalUser replaces a user's PasswordHash and SessionsSince if
	// its generation is still u.Generation, sets Updated to the service's
	// clock, keeps Created, and returns the user as PortalUser would. The
	// roles are not changed (u.Apps is ignored): that is SetPortalRole.
	// ErrGenerationMismatch if the user changed since it was read (read it
	// again), ErrNotFound if it does not exist, ErrInvalid if u.Generation
	// is 0.
	UpdatePortalUser(ctx context.Context, u PortalUser) (PortalUser, error)
	// DeletePortalUser removes a user and its roles on every app (whatever
	// owners that leaves) and reports whether it existed.
	DeletePortalUser(ctx context.Context, email string) (bool, error)
	// PortalUsers returns up to limit (1 to MaxPage) users with their
	// roles, in ascending byte order of email, starting after the email
	// after (empty: from the first).
	PortalUsers(ctx context.Context, after string, limit int) ([]PortalUser, error)

	// SetPortalRole gives the user email the role on app, or takes its
	// role away if role is "", and returns the role it had ("" for none).
	// With keepOwner, a change that would leave an app that has an owner
	// with none fails with ErrLastOwner. ErrNotFound if role is not "" and
	// the user does not exist; ErrMembersFull if the app has
	// MaxAppMembers members and email is not one of them.
	SetPortalRole(ctx context.Context, app, email string, role Role, keepOwner bool) (Role, error)
	// AppMembers returns the users with a role on app, in ascending byte
	// order of email. An app without members has none (no error).
	AppMembers(ctx context.Context, app string) ([]Member, error)

	// CreatePortalSession stores a session until s.Expires (which must
	// be in the future, at most MaxTTL away), with Created set to the
	// service's clock, and returns it. ErrExists if its TokenHash is taken.
	CreatePortalSession(ctx context.Context, s PortalSession) (PortalSession, error)
	// PortalSession returns the session whose token has SHA-256
	// tokenHash, or ErrNotFound (also once it expired or was deleted).
	PortalSession(ctx context.Context, tokenHash [32]byte) (PortalSession, error)
	// DeletePortalSession deletes a session and reports whether it
	// existed. Once it returns, PortalSession does not find it.
	DeletePortalSession(ctx context.Context, tokenHash [32]byte) (bool, error)

	// AddLoginFailure records a failed login at time at against limiter
	// (any 1 to MaxLimiterLen bytes, such as "account:alice@example.com";
	// kept under its SHA-256) and keeps the newest keep (1 to
	// MaxLoginFailures) of its failures until window (positive, at most
	// MaxTTL) passes without one.
	AddLoginFailure(ctx context.Context, limiter string, at time.Time, keep int, window time.Duration) error
	// LoginFailures returns the failures kept of limiter, oldest first
	// (none for a limiter without any).
	LoginFailures(ctx context.Context, limiter string) ([]time.Time, error)
	// ClearLoginFailures forgets the failures of limiter.
	ClearLoginFailures(ctx context.Context, limiter string) error

	// AddAuditEntry appends an entry to the audit log of e.App, with Time
	// set to the service's clock and a new ID (time-ordered: a later
	// entry has a greater ID), and returns it. It is kept AuditRetention.
	AddAuditEntry(ctx context.Context, e AuditEntry) (AuditEntry, error)
	// AuditEntries returns up to limit (1 to MaxPage) entries of app's
	// audit log, newest first, starting with the newest older than the
	// entry whose ID is before (0: the newest of all).
	AuditEntries(ctx context.Context, app string, before uint64, limit int) ([]AuditEntry, error)
}

// Record kinds of the portal. Key and value layouts are in
// portal_service.go.
const (
	// KindUser (declared with the kinds of store.go): "u/<email>" → the
	// user, and the apps it may have a role on.
	KindPortalMembers Kind = "pmb" // app_key → the app's members: email → role
	KindPortalSession Kind = "pss" // hex SHA-256 of a session token → the session, until it expires
	KindLoginFailure  Kind = "plf" // hex SHA-256 of a limiter → its latest failed logins (list record)
	KindAudit         Kind = "aud" // app_key/inverted entry id → an audit entry, newest first
)

// Role is what a portal user may do on an app. Each role can do
// everything the roles below it can.
type Role string

// The roles, highest first.
const (
	// RoleOwner: everything, including the webhook, the master secret and
	// the members.
	RoleOwner Role = "owner"
	// RoleMarketer: compose, send, schedule and cancel pushes, edit
	// segments and devices' tags and aliases.
	RoleMarketer Role = "marketer"
	// RoleViewer: read only.
	RoleViewer Role = "viewer"
)

// rank orders the roles; 0 is no role.
func (r Role) rank() int {
	switch r {
	case RoleOwner:
		return 3
	case RoleMarketer:
		return 2
	case RoleViewer:
		return 1
	}
	return 0
}

// Valid reports whether r is one of the roles.
func (r Role) Valid() bool { return r.rank() > 0 }

// Covers reports whether a user with role r may do what needs role need:
// r is need or above it. No role covers nothing.
func (r Role) Covers(need Role) bool { return r.Valid() && r.rank() >= need.rank() }

// Limits of the portal's records.
const (
	// MaxEmailLen bounds an email, in bytes.
	MaxEmailLen = 254
	// MaxPasswordHashLen bounds a stored password hash.
	MaxPasswordHashLen = 512
	// MaxAppMembers bounds the members of one app.
	MaxAppMembers = 1000
	// MaxUserApps bounds the apps one user may have roles on.
	MaxUserApps = 1000
	// MaxLimiterLen bounds the name of a login limiter.
	MaxLimiterLen = 1024
	// MaxLoginFailures bounds the failures kept of one limiter.
	MaxLoginFailures = 1000
	// MaxAuditField bounds an audit entry's actor and action, in bytes;
	// MaxAuditTarget its target.
	MaxAuditField  = 256
	MaxAuditTarget = 1024
	// AuditRetention is how long audit entries are kept.
	AuditRetention = 90 * 24 * time.Hour
)

// Errors of the portal's roles. Both wrap ErrInvalid.
var (
	// ErrLastOwner: the change would leave an app without an owner.
	ErrLastOwner = fmt.Errorf("%w: an app keeps at least one owner", ErrInvalid)
	// ErrMembersFull: the app has MaxAppMembers members.
	ErrMembersFull = fmt.Errorf("%w: the app has %d members", ErrInvalid, MaxAppMembers)
)

// PortalUser is a person who logs in to the portal.
type PortalUser struct {
	// Email is the user's key, in lower case (NormalizeEmail).
	Email string `json:"email"`
	// PasswordHash is the password in a form that cannot be reversed (the
	// gateway's PHC string of argon2id): 1 to MaxPasswordHashLen bytes of
	// printable ASCII. The store does not read it.
	PasswordHash string `json:"password_hash"`
	// Apps are the user's roles, by app key. Reads fill it; only
	// CreatePortalUser writes it (SetPortalRole changes roles).
	Apps map[string]Role `json:"apps,omitempty"`
	// SessionsSince is the caller's: sessions created before it are no
	// longer valid (set it when the password changes). Zero means all
	// are.
	SessionsSince time.Time `json:"sessions_since"`
	// Created and Updated are set by the service.
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
	// Generation is the store generation the user was read at, for
	// UpdatePortalUser.
	Generation uint32 `json:"generation"`
}

// Member is one user's role on an app.
type Member struct {
	Email string `json:"email"`
	Role  Role   `json:"role"`
}

// PortalSession is a logged-in user: the gateway gives the user a random
// token and the store keeps its SHA-256.
type PortalSession struct {
	TokenHash [32]byte  `json:"token_hash"`
	Email     string    `json:"email"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
}

// AuditEntry is one action recorded in an app's audit log.
type AuditEntry struct {
	// ID orders the entries of an app; set by AddAuditEntry.
	ID  uint64 `json:"id,string"`
	App string `json:"app"`
	// Time is set by AddAuditEntry.
	Time time.Time `json:"time"`
	// Actor is who acted: a user's email, "api" for the app's backend,
	// "admin" for the admin token. 1 to MaxAuditField bytes.
	Actor string `json:"actor"`
	// Action is what was asked, such as "POST /v1/push": 1 to
	// MaxAuditField bytes.
	Action string `json:"action"`
	// Target names what it was done to, such as "msg_id=123": at most
	// MaxAuditTarget bytes.
	Target string `json:"target,omitempty"`
	// Status is the HTTP status of the answer, 0 to 999.
	Status int `json:"status"`
}

// NormalizeEmail returns email in lower case if it can be a portal user's
// key: at most MaxEmailLen bytes of UTF-8, exactly one '@' with text on
// both sides, no space, control character or '/'.
func NormalizeEmail(email string) (string, error) {
	switch {
	case email == "":
		return "", fmt.Errorf("%w: empty email", ErrInvalid)
	case len(email) > MaxEmailLen:
		return "", fmt.Errorf("%w: email of %d bytes; at most %d are allowed", ErrInvalid, len(email), MaxEmailLen)
	case !utf8.ValidString(email):
		return "", fmt.Errorf("%w: email is not valid UTF-8", ErrInvalid)
	case strings.IndexFunc(email, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) || r == GroupSeparator }) >= 0:
		return "", fmt.Errorf("%w: email %q holds a space, a control character or '/'", ErrInvalid, email)
	}
	local, domain, ok := strings.Cut(email, "@")
	if !ok || local == "" || domain == "" || strings.Contains(domain, "@") {
		return "", fmt.Errorf("%w: email %q must have exactly one '@' with text on both sides", ErrInvalid, email)
	}
	lower := strings.ToLower(email)
	if len(lower) > MaxEmailLen {
		return "", fmt.Errorf("%w: email of %d bytes in lower case; at most %d are allowed", ErrInvalid, len(lower), MaxEmailLen)
	}
	return lower, nil
}

// checkPasswordHash validates a stored password hash.
func checkPasswordHash(h string) error {
	if h == "" || len(h) > MaxPasswordHashLen {
		return fmt.Errorf("%w: password hash of %d bytes; 1 to %d are allowed", ErrInvalid, len(h), MaxPasswordHashLen)
	}
	for i := 0; i < len(h); i++ {
		if h[i] < '!' || h[i] > '~' {
			return fmt.Errorf("%w: a password hash is printable ASCII without spaces", ErrInvalid)
		}
	}
	return nil
}

// checkAuditEntry validates an entry to append.
func checkAuditEntry(e *AuditEntry) error {
	if err := checkAppKey(e.App); err != nil {
		return err
	}
	for _, f := range []struct {
		name, value string
		min, max    int
	}{
		{"actor", e.Actor, 1, MaxAuditField},
		{"action", e.Action, 1, MaxAuditField},
		{"target", e.Target, 0, MaxAuditTarget},
	} {
		if len(f.value) < f.min || len(f.value) > f.max || !utf8.ValidString(f.value) {
			return fmt.Errorf("%w: audit %s must be %d to %d bytes of UTF-8", ErrInvalid, f.name, f.min, f.max)
		}
	}
	if e.Status < 0 || e.Status > 999 {
		return fmt.Errorf("%w: audit status %d outside 0..999", ErrInvalid, e.Status)
	}
	return nil
}

// checkLimiter validates the name of a login limiter.
func checkLimiter(limiter string) error {
	if limiter == "" || len(limiter) > MaxLimiterLen {
		return fmt.Errorf("%w: limiter of %d bytes; 1 to %d are allowed", ErrInvalid, len(limiter), MaxLimiterLen)
	}
	return nil
}
