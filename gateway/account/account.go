package account

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

// Config configures an Accounts. Zero fields take the defaults of
// DefaultConfig.
type Config struct {
	// SessionTTL is how long a session lasts after its login. Zero means
	// 12 hours.
	SessionTTL time.Duration
	// AccountFailures is how many failed logins of one account within
	// FailureWindow make its next logins wait. Zero means 5.
	AccountFailures int
	// AddressFailures is the same for one client address. Zero means 20.
	AddressFailures int
	// FailureWindow is how long a failed login counts. Zero means 15
	// minutes.
	FailureWindow time.Duration
	// TrustedProxies are the addresses (the portal's servers, a reverse
	// proxy) whose X-Forwarded-For header names the client of a login.
	// Empty, the default, trusts none: the client is the peer.
	TrustedProxies []netip.Prefix
	// Hashes bounds the password hashes computed at once. Zero means the
	// number of CPUs, at most 4.
	Hashes int
	// Log receives what goes wrong in the background. Nil means
	// slog.Default().
	Log *slog.Logger
	// Now reads the clock that ages failures and sessions. Nil means
	// time.Now.
	Now func() time.Time
}

// DefaultConfig returns the configuration with every default filled in.
func DefaultConfig() Config { return Config{}.withDefaults() }

func (c Config) withDefaults() Config {
	if c.SessionTTL <= 0 {
		c.SessionTTL = 12 * time.Hour
	}
	if c.AccountFailures <= 0 {
		c.AccountFailures = 5
	}
	if c.AddressFailures <= 0 {
		c.AddressFailures = 20
	}
	if c.FailureWindow <= 0 {
		c.FailureWindow = 15 * time.Minute
	}
	if c.Hashes <= 0 {
		c.Hashes = min(runtime.GOMAXPROCS(0), 4)
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// Store is what accounts are kept in: the portal's records, and the apps
// roles are given on.
type Store interface {
	dataservice.PortalStore
	App(ctx context.Context, key string) (dataservice.App, error)
}

// Accounts manages the portal's users, sessions, roles and audit logs.
type Accounts struct {
	cfg    Config
	store  Store
	hasher *hasher
	now    func() time.Time
	// dummy is the hash unknown emails are checked against, so that they
	// take as long as wrong passwords.
	dummy func() (string, error)
	// logins serializes the logins of one account (by a hash of its
	// email) on this gateway: each reads the failures the one before it
	// recorded.
	logins [64]sync.Mutex
	seed   maphash.Seed
}

// New returns the accounts kept in store.
func New(cfg Config, store Store) *Accounts {
	cfg = cfg.withDefaults()
	a := &Accounts{cfg: cfg, store: store, hasher: newHasher(cfg.Hashes), now: cfg.Now, seed: maphash.MakeSeed()}
	a.dummy = sync.OnceValues(func() (string, error) {
		pw, _, err := newToken()
		if err != nil {
			return "", err
		}
		return hashPassword(pw)
	})
	return a
}

// Config returns the configuration of a, defaults filled in.
func (a *Accounts) Config() Config { return a.cfg }

// Errors of logins and sessions.
var (
	// ErrInvalidCredentials: no user has this email, or the password is
	// not its password (the two are not told apart).
	ErrInvalidCredentials = errors.New("account: wrong email or password")
	// ErrNoSession: the token names no session: unknown, expired, ended
	// by a logout, or its user is gone or changed password since.
	ErrNoSession = errors.New("account: no such session")
	// ErrNotMember: the user has no role on the app.
	ErrNotMember = errors.New("account: not a member of the app")
	// ErrUserExists: a portal user has this email already.
	ErrUserExists = errors.New("account: the portal user exists")
)

// RateLimitedError refuses a login while too many failed logins of its
// account or its address are recent.
type RateLimitedError struct {
	// Limit is "account" or "address".
	Limit string
	// RetryAfter is how long until a login may be tried again.
	RetryAfter time.Duration
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("account: too many failed logins of this %s; retry in %v", e.Limit, e.RetryAfter.Round(time.Second))
}

// FieldError says what is wrong with one field of a request.
type FieldError struct {
	Field, Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// UnknownAppError names an app key that names no app.
type UnknownAppError struct{ Key string }

func (e *UnknownAppError) Error() string { return "account: no app has app_key " + e.Key }

// Identity is who a session token stands for.
type Identity struct {
	User    dataservice.PortalUser
	Session dataservice.PortalSession
}

// Session is a login's outcome: the token, given to the user once, and
// what it stands for.
type Session struct {
	Token string
	Identity
}

// Login checks a user's email and password and starts a session. It
// refuses with a *RateLimitedError while the account or the address (the
// client's, as ClientAddress gives it) has too many recent failures, and
// with ErrInvalidCredentials, after the same work, whether the email is
// unknown or the password wrong.
func (a *Accounts) Login(ctx context.Context, email, password, addr string) (Session, error) {
	norm, emailErr := dataservice.NormalizeEmail(email)
	name := norm
	if emailErr != nil {
		name = strings.ToLower(email)
	}
	if len(name) > 512 {
		name = name[:512]
	}
	if addr == "" {
		addr = "unknown"
	}
	limiters := []limiter{
		{kind: "account", key: "account:" + name, limit: a.cfg.AccountFailures},
		{kind: "address", key: "address:" + addr, limit: a.cfg.AddressFailures},
	}
	mu := &a.logins[maphash.String(a.seed, name)%uint64(len(a.logins))]
	mu.Lock()
	defer mu.Unlock()
	if err := a.checkLimits(ctx, limiters); err != nil {
		return Session{}, err
	}
	var (
		user  dataservice.PortalUser
		found bool
	)
	if emailErr == nil {
		u, err := a.store.PortalUser(ctx, norm)
		switch {
		case err == nil:
			user, found = u, true
		case !errors.Is(err, dataservice.ErrNotFound):
			return Session{}, err
		}
	}
	phc := user.PasswordHash
	if !found {
		d, err := a.dummy()
		if err != nil {
			return Session{}, err
		}
		phc = d
	}
	ok, err := a.hasher.verify(ctx, phc, password)
	if errors.Is(err, errBadHash) {
		a.cfg.Log.Error("portal user has an unreadable password hash", "email", norm)
		ok, err = false, nil
	}
	if err != nil {
		return Session{}, err
	}
	if !found || !ok {
		if err := a.recordFailure(ctx, limiters); err != nil {
			return Session{}, err
		}
		return Session{}, ErrInvalidCredentials
	}
	if err := a.store.ClearLoginFailures(ctx, limiters[0].key); err != nil {
		return Session{}, err
	}
	token, hash, err := newToken()
	if err != nil {
		return Session{}, err
	}
	s, err := a.store.CreatePortalSession(ctx, dataservice.PortalSession{TokenHash: hash, Email: norm, Expires: a.now().Add(a.cfg.SessionTTL)})
	if err != nil {
		return Session{}, err
	}
	return Session{Token: token, Identity: Identity{User: user, Session: s}}, nil
}

// Authenticate returns who token stands for, or ErrNoSession.
func (a *Accounts) Authenticate(ctx context.Context, token string) (Identity, error) {
	h, ok := tokenHash(token)
	if !ok {
		return Identity{}, ErrNoSession
	}
	s, err := a.store.PortalSession(ctx, h)
	if errors.Is(err, dataservice.ErrNotFound) {
		return Identity{}, ErrNoSession
	}
	if err != nil {
		return Identity{}, err
	}
	u, err := a.store.PortalUser(ctx, s.Email)
	if errors.Is(err, dataservice.ErrNotFound) {
		return Identity{}, ErrNoSession
	}
	if err != nil {
		return Identity{}, err
	}
	if s.Created.Before(u.SessionsSince) {
		return Identity{}, ErrNoSession // the password changed since
	}
	return Identity{User: u, Session: s}, nil
}

// Logout ends the session of id at once, for every gateway.
func (a *Accounts) Logout(ctx context.Context, id Identity) error {
	_, err := a.store.DeletePortalSession(ctx, id.Session.TokenHash)
	return err
}
