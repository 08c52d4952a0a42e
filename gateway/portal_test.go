package gateway_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway"
	"github.com/heraldpush/herald/gateway/account"
	"github.com/heraldpush/herald/internal/ids"
)

// testPassword is the password of every portal user the tests make.
const testPassword = "correct horse battery"

// portalUser makes a portal user with the admin token; apps are roles by
// app key.
func (e *env) portalUser(tb testing.TB, email string, apps map[string]string) {
	tb.Helper()
	e.do(tb, request{method: "POST", path: "/v1/admin/portal-users", auth: bearer(adminToken),
		body: jsonBody(tb, map[string]any{"email": email, "password": testPassword, "apps": apps})}).wantOK(tb, http.StatusCreated, nil)
}

// login logs a portal user in and returns its token.
func (e *env) login(tb testing.TB, email string) string {
	tb.Helper()
	var s struct {
		Token string `json:"token"`
	}
	e.do(tb, request{method: "POST", path: "/v1/portal/sessions", body: jsonBody(tb, map[string]string{"email": email, "password": testPassword})}).
		wantOK(tb, http.StatusCreated, &s)
	return s.Token
}

func sessionAuth(token string) string { return "Session " + token }

// onApp is the header naming the app of a call made with a session.
func onApp(key string) map[string]string { return map[string]string{"X-Herald-App": key} }

func TestPortalLoginMeAndLogout(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a, b := e.createApp(t), e.createApp(t)
	e.portalUser(t, "Alice@Example.com", map[string]string{a.Key: "owner", b.Key: "viewer"})

	var s struct {
		Token   string    `json:"token"`
		Expires time.Time `json:"expires"`
		User    struct {
			Email string `json:"email"`
			Apps  []struct {
				AppKey string `json:"app_key"`
				Role   string `json:"role"`
			} `json:"apps"`
		} `json:"user"`
	}
	e.do(t, request{method: "POST", path: "/v1/portal/sessions", body: jsonBody(t, map[string]string{"email": "ALICE@example.com", "password": testPassword})}).
		wantOK(t, http.StatusCreated, &s)
	if len(s.Token) != 43 || s.User.Email != "alice@example.com" || len(s.User.Apps) != 2 {
		t.Fatalf("login answered %+v", s)
	}
	if d := time.Until(s.Expires); d < 11*time.Hour || d > 12*time.Hour {
		t.Errorf("the session expires in %v, want 12 h", d)
	}
	roles := map[string]string{}
	for _, ap := range s.User.Apps {
		roles[ap.AppKey] = ap.Role
	}
	if roles[a.Key] != "owner" || roles[b.Key] != "viewer" {
		t.Errorf("login's apps: %v", roles)
	}
	if stored, err := e.data.PortalUsers(context.Background(), "", 10); err != nil || strings.Contains(fmt.Sprint(stored), s.Token) {
		t.Errorf("the token is stored: %v", err)
	}

	var me struct {
		Email string `json:"email"`
	}
	e.do(t, request{method: "GET", path: "/v1/portal/me", auth: sessionAuth(s.Token)}).wantOK(t, http.StatusOK, &me)
	if me.Email != "alice@example.com" {
		t.Errorf("me = %+v", me)
	}
	// The session works on the apps' routes.
	e.do(t, request{method: "GET", path: "/v1/tags", auth: sessionAuth(s.Token), header: onApp(b.Key)}).wantOK(t, http.StatusOK, nil)

	e.do(t, request{method: "DELETE", path: "/v1/portal/sessions/current", auth: sessionAuth(s.Token)}).wantOK(t, http.StatusNoContent, nil)
	for _, req := range []request{
		{method: "GET", path: "/v1/portal/me", auth: sessionAuth(s.Token)},
		{method: "GET", path: "/v1/tags", auth: sessionAuth(s.Token), header: onApp(b.Key)},
		{method: "DELETE", path: "/v1/portal/sessions/current", auth: sessionAuth(s.Token)},
	} {
		r := e.do(t, req)
		r.wantError(t, http.StatusUnauthorized, "unauthorized", "log in again")
		if got := r.header.Get("WWW-Authenticate"); got != `Session realm="herald"` {
			t.Errorf("%s %s after logout: WWW-Authenticate = %q", req.method, req.path, got)
		}
	}
	// No session at all, or Basic, on the portal's own routes.
	e.do(t, request{method: "GET", path: "/v1/portal/me"}).wantError(t, http.StatusUnauthorized, "unauthorized", "Session")
	e.do(t, request{method: "GET", path: "/v1/portal/me", auth: a.auth()}).wantError(t, http.StatusUnauthorized, "unauthorized", "Session")
	e.do(t, request{method: "GET", path: "/v1/portal/me", auth: "Session not-a-token"}).wantError(t, http.StatusUnauthorized, "unauthorized")
}

func TestPortalLoginRefusesAlikeAndAfterTheSameWork(t *testing.T) {
	e := newEnv(t, gateway.Config{Accounts: account.Config{AccountFailures: 100, AddressFailures: 100}})
	e.portalUser(t, "bob@example.com", nil)
	attempt := func(email, password string) (response, time.Duration) {
		start := time.Now()
		r := e.do(t, request{method: "POST", path: "/v1/portal/sessions", body: jsonBody(t, map[string]string{"email": email, "password": password})})
		return r, time.Since(start)
	}
	var bodies []string
	fastest := map[string]time.Duration{}
	for range 3 {
		for _, tc := range []struct{ name, email, password string }{
			{"wrong password", "bob@example.com", "not the password"},
			{"unknown email", "nobody@example.com", testPassword},
		} {
			r, took := attempt(tc.email, tc.password)
			r.wantError(t, http.StatusUnauthorized, "invalid_credentials")
			if r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s: a 401 without WWW-Authenticate", tc.name)
			}
			bodies = append(bodies, string(r.body))
			if f, ok := fastest[tc.name]; !ok || took < f {
				fastest[tc.name] = took
			}
		}
	}
	if len(slices.Compact(slices.Clone(bodies))) != 1 {
		t.Errorf("the answers differ: %q", bodies)
	}
	// Both check a password hash: an unknown email is not answered
	// sooner.
	if fastest["unknown email"] < fastest["wrong password"]/3 {
		t.Errorf("an unknown email took %v, a wrong password %v: the unknown email skips the hash", fastest["unknown email"], fastest["wrong password"])
	}
	e.do(t, request{method: "POST", path: "/v1/portal/sessions", body: jsonBody(t, map[string]string{"email": "bob@example.com"})}).
		wantError(t, http.StatusBadRequest, "missing_field")
}

func TestPortalLoginRateLimits(t *testing.T) {
	wrong := func(e *env, email string, header map[string]string) response {
		return e.do(t, request{method: "POST", path: "/v1/portal/sessions", header: header,
			body: jsonBody(t, map[string]string{"email": email, "password": "wrong password"})})
	}
	right := func(e *env, email string, header map[string]string) response {
		return e.do(t, request{method: "POST", path: "/v1/portal/sessions", header: header,
			body: jsonBody(t, map[string]string{"email": email, "password": testPassword})})
	}
	limited := func(t *testing.T, r response) int {
		t.Helper()
		r.wantError(t, http.StatusTooManyRequests, "rate_limited")
		s, err := strconv.Atoi(r.header.Get("Retry-After"))
		if err != nil || s < 1 || s > 15*60 {
			t.Fatalf("Retry-After = %q, want 1 to 900 seconds", r.header.Get("Retry-After"))
		}
		return s
	}

	t.Run("per account", func(t *testing.T) {
		e := newEnv(t, gateway.Config{})
		e.portalUser(t, "carol@example.com", nil)
		e.portalUser(t, "dave@example.com", nil)
		for range 5 {
			wrong(e, "carol@example.com", nil).wantError(t, http.StatusUnauthorized, "invalid_credentials")
		}
		// The right password is refused too, while the account is limited.
		limited(t, right(e, "carol@example.com", nil))
		limited(t, wrong(e, "CAROL@example.com", nil))
		// Other accounts from the same address still log in.
		right(e, "dave@example.com", nil).wantOK(t, http.StatusCreated, nil)
		// An unknown email is limited as a known one is.
		for range 5 {
			wrong(e, "nobody@example.com", nil).wantError(t, http.StatusUnauthorized, "invalid_credentials")
		}
		limited(t, wrong(e, "nobody@example.com", nil))
	})

	t.Run("per address", func(t *testing.T) {
		e := newEnv(t, gateway.Config{})
		e.portalUser(t, "erin@example.com", nil)
		for i := range 20 {
			wrong(e, fmt.Sprintf("user%d@example.com", i), nil).wantError(t, http.StatusUnauthorized, "invalid_credentials")
		}
		limited(t, right(e, "erin@example.com", nil))
	})

	t.Run("per address behind a trusted proxy", func(t *testing.T) {
		e := newEnv(t, gateway.Config{Accounts: account.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}})
		e.portalUser(t, "frank@example.com", nil)
		from := func(addr string) map[string]string {
			return map[string]string{"X-Forwarded-For": "203.0.113.9, " + addr}
		}
		for i := range 20 {
			wrong(e, fmt.Sprintf("user%d@example.com", i), from("198.51.100.1")).wantError(t, http.StatusUnauthorized, "invalid_credentials")
		}
		limited(t, right(e, "frank@example.com", from("198.51.100.1")))
		right(e, "frank@example.com", from("198.51.100.2")).wantOK(t, http.StatusCreated, nil)
	})

	t.Run("a success clears the account's failures", func(t *testing.T) {
		e := newEnv(t, gateway.Config{})
		e.portalUser(t, "gina@example.com", nil)
		for range 4 {
			wrong(e, "gina@example.com", nil).wantError(t, http.StatusUnauthorized, "invalid_credentials")
		}
		right(e, "gina@example.com", nil).wantOK(t, http.StatusCreated, nil)
		for range 4 {
			wrong(e, "gina@example.com", nil).wantError(t, http.StatusUnauthorized, "invalid_credentials")
		}
		right(e, "gina@example.com", nil).wantOK(t, http.StatusCreated, nil)
	})

	t.Run("failures age out of the window", func(t *testing.T) {
		// The accounts' clock stands still but when the test moves it, so
		// slow password hashes on a busy machine age nothing out early.
		var elapsed atomic.Int64
		start := time.Now()
		clock := func() time.Time { return start.Add(time.Duration(elapsed.Load())) }
		e := newEnv(t, gateway.Config{Accounts: account.Config{FailureWindow: 2 * time.Second, Now: clock}})
		e.portalUser(t, "hal@example.com", nil)
		for range 5 {
			wrong(e, "hal@example.com", nil).wantError(t, http.StatusUnauthorized, "invalid_credentials")
		}
		wait := limited(t, right(e, "hal@example.com", nil))
		if wait > 2 {
			t.Fatalf("Retry-After %d s with a window of 2 s", wait)
		}
		elapsed.Add(int64(time.Duration(wait)*time.Second) - int64(time.Millisecond))
		limited(t, right(e, "hal@example.com", nil))
		elapsed.Add(int64(time.Millisecond))
		right(e, "hal@example.com", nil).wantOK(t, http.StatusCreated, nil)
	})
}

func TestPortalSessionsEnd(t *testing.T) {
	t.Run("when they expire", func(t *testing.T) {
		e := newEnv(t, gateway.Config{Accounts: account.Config{SessionTTL: time.Second}})
		e.portalUser(t, "ivy@example.com", nil)
		token := e.login(t, "ivy@example.com")
		e.do(t, request{method: "GET", path: "/v1/portal/me", auth: sessionAuth(token)}).wantOK(t, http.StatusOK, nil)
		deadline := time.Now().Add(10 * time.Second)
		for e.do(t, request{method: "GET", path: "/v1/portal/me", auth: sessionAuth(token)}).status != http.StatusUnauthorized {
			if time.Now().After(deadline) {
				t.Fatal("a session of 1 s still works after 10 s")
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
	t.Run("when the password changes", func(t *testing.T) {
		e := newEnv(t, gateway.Config{})
		e.portalUser(t, "jay@example.com", nil)
		token := e.login(t, "jay@example.com")
		e.do(t, request{method: "PUT", path: "/v1/admin/portal-users/jay@example.com", auth: bearer(adminToken),
			body: jsonBody(t, map[string]any{"password": "a brand new password", "apps": map[string]string{}})}).wantOK(t, http.StatusOK, nil)
		e.do(t, request{method: "GET", path: "/v1/portal/me", auth: sessionAuth(token)}).wantError(t, http.StatusUnauthorized, "unauthorized")
		e.do(t, request{method: "POST", path: "/v1/portal/sessions", body: jsonBody(t, map[string]string{"email": "jay@example.com", "password": "a brand new password"})}).
			wantOK(t, http.StatusCreated, nil)
	})
	t.Run("when the user is deleted", func(t *testing.T) {
		e := newEnv(t, gateway.Config{})
		e.portalUser(t, "kim@example.com", nil)
		token := e.login(t, "kim@example.com")
		e.do(t, request{method: "DELETE", path: "/v1/admin/portal-users/kim@example.com", auth: bearer(adminToken)}).wantOK(t, http.StatusNoContent, nil)
		e.do(t, request{method: "GET", path: "/v1/portal/me", auth: sessionAuth(token)}).wantError(t, http.StatusUnauthorized, "unauthorized")
		e.do(t, request{method: "DELETE", path: "/v1/admin/portal-users/kim@example.com", auth: bearer(adminToken)}).wantError(t, http.StatusNotFound, "unknown_user")
	})
}

func TestPortalUsersAdmin(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a, b := e.createApp(t), e.createApp(t)
	admin := bearer(adminToken)
	post := func(body any) response {
		return e.do(t, request{method: "POST", path: "/v1/admin/portal-users", auth: admin, body: jsonBody(t, body)})
	}
	post(map[string]any{"email": "x@example.com", "password": "short"}).wantError(t, http.StatusBadRequest, "invalid_field", "password")
	post(map[string]any{"email": "no-at-sign", "password": testPassword}).wantError(t, http.StatusBadRequest, "invalid_field", "email")
	post(map[string]any{"email": "x@example.com", "password": testPassword, "apps": map[string]string{a.Key: "admin"}}).
		wantError(t, http.StatusBadRequest, "invalid_field", "owner, marketer or viewer")
	post(map[string]any{"email": "x@example.com", "password": testPassword, "apps": map[string]string{"000000000000000000000000": "owner"}}).
		wantError(t, http.StatusBadRequest, "unknown_app_key")
	post(map[string]any{"email": "x@example.com"}).wantError(t, http.StatusBadRequest, "missing_field")
	e.do(t, request{method: "POST", path: "/v1/admin/portal-users", body: jsonBody(t, map[string]any{"email": "x@example.com", "password": testPassword})}).
		wantError(t, http.StatusUnauthorized, "unauthorized")

	type user struct {
		Email string            `json:"email"`
		Apps  map[string]string `json:"apps"`
	}
	var u user
	post(map[string]any{"email": "X@Example.com", "password": testPassword, "apps": map[string]string{a.Key: "owner"}}).wantOK(t, http.StatusCreated, &u)
	if u.Email != "x@example.com" || u.Apps[a.Key] != "owner" || len(u.Apps) != 1 {
		t.Fatalf("created %+v", u)
	}
	if r := post(map[string]any{"email": "x@example.com", "password": testPassword}); r.status != http.StatusConflict || strings.Contains(string(r.body), "argon2") {
		t.Fatalf("a second user with the email: %d %s", r.status, r.body)
	}
	e.do(t, request{method: "GET", path: "/v1/admin/portal-users/X@EXAMPLE.com", auth: admin}).wantOK(t, http.StatusOK, &u)
	if u.Email != "x@example.com" {
		t.Fatalf("read %+v", u)
	}
	e.do(t, request{method: "GET", path: "/v1/admin/portal-users/nobody@example.com", auth: admin}).wantError(t, http.StatusNotFound, "unknown_user")

	// Replace: exactly the roles sent.
	u = user{}
	e.do(t, request{method: "PUT", path: "/v1/admin/portal-users/x@example.com", auth: admin,
		body: jsonBody(t, map[string]any{"apps": map[string]string{b.Key: "viewer"}})}).wantOK(t, http.StatusOK, &u)
	if len(u.Apps) != 1 || u.Apps[b.Key] != "viewer" {
		t.Fatalf("replaced: %+v", u)
	}
	e.do(t, request{method: "PUT", path: "/v1/admin/portal-users/x@example.com", auth: admin, body: jsonBody(t, map[string]any{"password": testPassword})}).
		wantError(t, http.StatusBadRequest, "missing_field", "apps")
	e.do(t, request{method: "PUT", path: "/v1/admin/portal-users/nobody@example.com", auth: admin, body: jsonBody(t, map[string]any{"apps": map[string]string{}})}).
		wantError(t, http.StatusNotFound, "unknown_user")

	// Listing, paged.
	for i := range 3 {
		post(map[string]any{"email": fmt.Sprintf("u%d@example.com", i), "password": testPassword}).wantOK(t, http.StatusCreated, nil)
	}
	var emails []string
	next := ""
	for {
		var page struct {
			Users []user `json:"users"`
			Next  string `json:"next"`
		}
		e.do(t, request{method: "GET", path: "/v1/admin/portal-users?limit=3&after=" + next, auth: admin}).wantOK(t, http.StatusOK, &page)
		for _, u := range page.Users {
			emails = append(emails, u.Email)
		}
		if page.Next == "" {
			break
		}
		next = page.Next
	}
	if fmt.Sprint(emails) != "[u0@example.com u1@example.com u2@example.com x@example.com]" {
		t.Fatalf("listed %v", emails)
	}
}

func TestAppMembers(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a := e.createApp(t)
	e.portalUser(t, "owner@example.com", map[string]string{a.Key: "owner"})
	e.portalUser(t, "elsewhere@example.com", nil)
	owner := e.login(t, "owner@example.com")
	call := func(method, path string, body any) response {
		req := request{method: method, path: path, auth: sessionAuth(owner), header: onApp(a.Key)}
		if body != nil {
			req.body = jsonBody(t, body)
		}
		return e.do(t, req)
	}
	members := func() string {
		var out struct {
			Members []struct{ Email, Role string } `json:"members"`
		}
		call("GET", "/v1/app/members", nil).wantOK(t, http.StatusOK, &out)
		return fmt.Sprint(out.Members)
	}
	if got := members(); got != "[{owner@example.com owner}]" {
		t.Fatalf("members = %s", got)
	}
	// A new user, made with its password.
	call("PUT", "/v1/app/members/new@example.com", map[string]any{"role": "marketer"}).wantError(t, http.StatusBadRequest, "invalid_field", "password")
	call("PUT", "/v1/app/members/new@example.com", map[string]any{"role": "marketer", "password": "short"}).wantError(t, http.StatusBadRequest, "invalid_field", "password")
	call("PUT", "/v1/app/members/New@Example.com", map[string]any{"role": "marketer", "password": testPassword}).wantOK(t, http.StatusOK, nil)
	e.login(t, "new@example.com")
	// An existing user keeps its password.
	call("PUT", "/v1/app/members/elsewhere@example.com", map[string]any{"role": "viewer", "password": "owners choose nothing"}).wantError(t, http.StatusConflict, "user_exists")
	call("PUT", "/v1/app/members/elsewhere@example.com", map[string]any{"role": "viewer"}).wantOK(t, http.StatusOK, nil)
	call("PUT", "/v1/app/members/elsewhere@example.com", map[string]any{"role": "root"}).wantError(t, http.StatusBadRequest, "invalid_field", "role")
	if got := members(); got != "[{elsewhere@example.com viewer} {new@example.com marketer} {owner@example.com owner}]" {
		t.Fatalf("members = %s", got)
	}

	// The last owner stays.
	call("PUT", "/v1/app/members/owner@example.com", map[string]any{"role": "viewer"}).wantError(t, http.StatusConflict, "last_owner")
	call("DELETE", "/v1/app/members/owner@example.com", nil).wantError(t, http.StatusConflict, "last_owner")
	call("PUT", "/v1/app/members/new@example.com", map[string]any{"role": "owner"}).wantOK(t, http.StatusOK, nil)
	call("DELETE", "/v1/app/members/elsewhere@example.com", nil).wantOK(t, http.StatusNoContent, nil)
	call("DELETE", "/v1/app/members/elsewhere@example.com", nil).wantError(t, http.StatusNotFound, "not_member")
	// An owner may leave when another stays; then it can do nothing more.
	call("DELETE", "/v1/app/members/owner@example.com", nil).wantOK(t, http.StatusNoContent, nil)
	call("GET", "/v1/app/members", nil).wantError(t, http.StatusForbidden, "forbidden", "no role on this app")
}

func TestSecretRotation(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a := e.createApp(t)
	rid := e.registerDevice(t, a.Key).RID
	e.portalUser(t, "owner@example.com", map[string]string{a.Key: "owner"})
	token := e.login(t, "owner@example.com")
	// A second gateway over the same store, which has the app cached.
	other := e.secondGateway(t)
	get := func(base, auth string) int {
		return doWith(t, http.DefaultClient, base, request{method: "GET", path: "/v1/devices/" + rid, auth: auth}).status
	}
	if get(other, a.auth()) != http.StatusOK || get(e.srv.URL, a.auth()) != http.StatusOK {
		t.Fatal("the first secret does not work")
	}

	var rotated app
	e.do(t, request{method: "POST", path: "/v1/app/secret", auth: sessionAuth(token), header: onApp(a.Key)}).wantOK(t, http.StatusOK, &rotated)
	if rotated.Key != a.Key || len(rotated.Secret) != 24 || rotated.Secret == a.Secret {
		t.Fatalf("rotated: %+v", rotated)
	}
	// The old secret fails here at once, on the other gateway within 5 s;
	// the new one works here at once, there within 250 ms.
	if s := get(e.srv.URL, a.auth()); s != http.StatusUnauthorized {
		t.Errorf("the old secret answered %d on the gateway that rotated it", s)
	}
	if s := get(e.srv.URL, rotated.auth()); s != http.StatusOK {
		t.Errorf("the new secret answered %d on the gateway that rotated it", s)
	}
	time.Sleep(250 * time.Millisecond)
	if s := get(other, rotated.auth()); s != http.StatusOK {
		t.Errorf("the new secret answered %d on another gateway 250 ms later", s)
	}
	deadline := time.Now().Add(6 * time.Second)
	for get(other, a.auth()) != http.StatusUnauthorized {
		if time.Now().After(deadline) {
			t.Fatal("the old secret still works on another gateway after 6 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The app's backend may rotate it too.
	var again app
	e.do(t, request{method: "POST", path: "/v1/app/secret", auth: rotated.auth()}).wantOK(t, http.StatusOK, &again)
	if get(e.srv.URL, rotated.auth()) != http.StatusUnauthorized || get(e.srv.URL, again.auth()) != http.StatusOK {
		t.Error("a rotation by Basic did not take")
	}
}

// secondGateway starts another gateway over e's store and returns its URL.
func (e *env) secondGateway(tb testing.TB) string {
	tb.Helper()
	gen, err := ids.NewGenerator(2)
	if err != nil {
		tb.Fatal(err)
	}
	system := actor.NewActorSystem()
	cfg := gateway.Config{AdminTokenHash: sha256.Sum256([]byte(adminToken)), Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	gw := gateway.New(cfg, gateway.Deps{Data: e.data, Cluster: e.cluster, Receipts: e.receipts, IDs: gen, System: system})
	srv := httptest.NewServer(gw.Handler())
	tb.Cleanup(func() {
		srv.Close()
		gw.Close()
		system.Shutdown()
	})
	return srv.URL
}

type auditEntry struct {
	Time   time.Time `json:"time"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Target string    `json:"target"`
	Status int       `json:"status"`
}

// audit reads the whole audit log of a, newest first.
func (e *env) audit(tb testing.TB, a app) []auditEntry {
	tb.Helper()
	var all []auditEntry
	before := ""
	for {
		var page struct {
			Entries []auditEntry `json:"entries"`
			Next    string       `json:"next"`
		}
		e.do(tb, request{method: "GET", path: "/v1/audit?limit=2&before=" + before, auth: a.auth()}).wantOK(tb, http.StatusOK, &page)
		all = append(all, page.Entries...)
		if page.Next == "" {
			return all
		}
		before = page.Next
	}
}

func TestAuditLog(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a, b := e.createApp(t), e.createApp(t)
	rid := e.registerDevice(t, a.Key).RID
	e.portalUser(t, "mia@example.com", map[string]string{a.Key: "marketer"})
	e.portalUser(t, "vic@example.com", map[string]string{a.Key: "viewer"})
	mia, vic := e.login(t, "mia@example.com"), e.login(t, "vic@example.com")
	as := func(token string) (string, map[string]string) { return sessionAuth(token), onApp(a.Key) }

	pushBody := map[string]any{"audience": map[string]any{"registration_id": []string{rid}}, "message": map[string]any{"content": "hi"}}
	var pushed struct {
		MsgID string `json:"msg_id"`
	}
	auth, hdr := as(mia)
	e.do(t, request{method: "POST", path: "/v1/push", auth: auth, header: hdr, body: jsonBody(t, pushBody)}).wantOK(t, http.StatusOK, &pushed)
	var sched struct {
		ID string `json:"schedule_id"`
	}
	e.do(t, request{method: "POST", path: "/v1/schedules", auth: auth, header: hdr, body: jsonBody(t, map[string]any{
		"name": "later", "trigger": map[string]any{"single": map[string]any{"time": "2035-01-01 09:00:00"}},
		"push": map[string]any{"audience": "all", "message": map[string]any{"content": "later"}},
	})}).wantOK(t, http.StatusCreated, &sched)
	e.do(t, request{method: "DELETE", path: "/v1/messages/" + pushed.MsgID, auth: auth, header: hdr}).wantOK(t, http.StatusAccepted, nil)
	// Reads are not recorded; read-only POSTs neither.
	e.do(t, request{method: "GET", path: "/v1/messages/" + pushed.MsgID, auth: auth, header: hdr}).wantOK(t, http.StatusOK, nil)
	e.do(t, request{method: "POST", path: "/v1/audiences/estimate", auth: auth, header: hdr, body: jsonBody(t, map[string]any{"audience": "all"})}).wantOK(t, http.StatusOK, nil)
	// A viewer's push is refused, and recorded.
	vauth, vhdr := as(vic)
	e.do(t, request{method: "POST", path: "/v1/push", auth: vauth, header: vhdr, body: jsonBody(t, pushBody)}).
		wantError(t, http.StatusForbidden, "forbidden", "POST /v1/push needs the marketer role; you are viewer")
	// The app's backend: pushes are not recorded, owner-level changes are.
	e.pushOK(t, a, pushBody)
	e.do(t, request{method: "PUT", path: "/v1/webhook", auth: a.auth(), body: jsonBody(t, map[string]any{"url": "https://example.com/hook"})}).wantOK(t, http.StatusOK, nil)
	// The admin's changes of roles.
	e.portalUser(t, "ned@example.com", map[string]string{a.Key: "viewer", b.Key: "owner"})

	got := e.audit(t, a)
	want := []auditEntry{
		{Actor: "admin", Action: "POST /v1/admin/portal-users", Target: "email=ned@example.com role=viewer", Status: 201},
		{Actor: "api", Action: "PUT /v1/webhook", Status: 200},
		{Actor: "vic@example.com", Action: "POST /v1/push", Status: 403},
		{Actor: "mia@example.com", Action: "DELETE /v1/messages/{msg_id}", Target: "msg_id=" + pushed.MsgID, Status: 202},
		{Actor: "mia@example.com", Action: "POST /v1/schedules", Target: "schedule_id=" + sched.ID, Status: 201},
		{Actor: "mia@example.com", Action: "POST /v1/push", Target: "msg_id=" + pushed.MsgID, Status: 200},
		{Actor: "admin", Action: "POST /v1/admin/portal-users", Target: "email=vic@example.com role=viewer", Status: 201},
		{Actor: "admin", Action: "POST /v1/admin/portal-users", Target: "email=mia@example.com role=marketer", Status: 201},
	}
	if len(got) != len(want) {
		t.Fatalf("the audit log has %d entries, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g.Actor != w.Actor || g.Action != w.Action || g.Target != w.Target || g.Status != w.Status || time.Since(g.Time) > time.Minute {
			t.Errorf("entry %d = %+v, want %+v", i, g, w)
		}
		if i > 0 && g.Time.After(got[i-1].Time) {
			t.Errorf("entry %d is newer than the one before it", i)
		}
	}
	if other := e.audit(t, b); len(other) != 1 || other[0].Target != "email=ned@example.com role=owner" {
		t.Errorf("the other app's log: %+v", other)
	}
	// Only owners read the log.
	e.do(t, request{method: "GET", path: "/v1/audit", auth: auth, header: hdr}).wantError(t, http.StatusForbidden, "forbidden", "owner")
	e.do(t, request{method: "GET", path: "/v1/audit?before=x", auth: a.auth()}).wantError(t, http.StatusBadRequest, "invalid_parameter")
}

func TestAppSummary(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a, b := e.createApp(t), e.createApp(t)
	rids := e.registerDevices(t, a.Key, 3)
	e.registerDevices(t, b.Key, 2)
	e.cluster.connectors[connectorA].online = 2
	e.cluster.connectors[connectorB].online = 5
	for range 2 {
		e.pushOK(t, a, map[string]any{"audience": map[string]any{"registration_id": rids}, "message": map[string]any{"content": "hi"}})
	}
	e.pushOK(t, b, map[string]any{"audience": "all", "message": map[string]any{"content": "to b"}})
	e.portalUser(t, "val@example.com", map[string]string{a.Key: "viewer"})
	var s struct {
		AppKey         string    `json:"app_key"`
		Created        time.Time `json:"created"`
		Devices        int64     `json:"devices"`
		Online         int64     `json:"online"`
		MessagesToday  int64     `json:"messages_today"`
		TargetedToday  int64     `json:"targeted_today"`
		DeliveredToday int64     `json:"delivered_today"`
	}
	e.do(t, request{method: "GET", path: "/v1/app", auth: sessionAuth(e.login(t, "val@example.com")), header: onApp(a.Key)}).wantOK(t, http.StatusOK, &s)
	if s.AppKey != a.Key || s.Devices != 3 || s.Online != 7 || s.MessagesToday != 2 || s.TargetedToday != 6 || time.Since(s.Created) > time.Minute {
		t.Fatalf("GET /v1/app = %+v", s)
	}
}

// TestBasicPushReadsNothingOfThePortal checks the unicast push's hot path:
// with Basic credentials, no session, user, member or audit record is read
// or written.
func TestBasicPushReadsNothingOfThePortal(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a := e.createApp(t)
	rid := e.registerDevice(t, a.Key).RID
	e.connect(t, rid, connectorA)
	e.pushOK(t, a, map[string]any{"audience": map[string]any{"registration_id": []string{rid}}, "message": map[string]any{"content": "warm"}})
	reads, writes := e.store.Reads(), e.store.Writes()
	e.pushOK(t, a, map[string]any{"audience": map[string]any{"registration_id": []string{rid}}, "message": map[string]any{"content": "hot"}})
	for _, kind := range []dataservice.Kind{dataservice.KindUser, dataservice.KindPortalSession, dataservice.KindPortalMembers, dataservice.KindAudit, dataservice.KindLoginFailure, dataservice.KindApp} {
		if n := e.store.Reads()[kind] - reads[kind]; n != 0 {
			t.Errorf("a Basic push read %d records of kind %s", n, kind)
		}
		if n := e.store.Writes()[kind] - writes[kind]; n != 0 {
			t.Errorf("a Basic push wrote %d records of kind %s", n, kind)
		}
	}
}

// TestOpenAPIMatchesThePortalEndpoints drives the portal's endpoints, and
// an app route with a session, through a real gateway and checks each
// exchange against openapi.json.
func TestOpenAPIMatchesThePortalEndpoints(t *testing.T) {
	d := loadOpenAPI(t)
	e := newEnv(t, gateway.Config{Accounts: account.Config{AccountFailures: 2}})
	c := &conformance{e: e, doc: d, ops: d.operations(t)}
	admin := bearer(adminToken)
	a := e.createApp(t)

	const users, user = "/v1/admin/portal-users", "/v1/admin/portal-users/{email}"
	c.call(t, exchange{op: "POST " + users, path: users, auth: admin, status: 201,
		body: map[string]any{"email": "Olga@example.com", "password": testPassword, "apps": map[string]string{a.Key: "owner"}}})
	c.call(t, exchange{op: "POST " + users, path: users, auth: admin, status: 201, body: map[string]any{"email": "pia@example.com", "password": testPassword}})
	c.call(t, exchange{op: "POST " + users, path: users, auth: admin, status: 409, body: map[string]any{"email": "olga@example.com", "password": testPassword}})
	c.call(t, exchange{op: "POST " + users, path: users, auth: admin, status: 400, badRequest: true, body: map[string]any{"email": "olga@example.com", "password": "short"}})
	c.call(t, exchange{op: "POST " + users, path: users, auth: admin, status: 400, body: map[string]any{"email": "q@example.com", "password": testPassword, "apps": map[string]string{"000000000000000000000000": "owner"}}})
	c.call(t, exchange{op: "POST " + users, path: users, status: 401, body: map[string]any{"email": "q@example.com", "password": testPassword}})
	c.call(t, exchange{op: "GET " + users, path: users + "?limit=1", auth: admin, status: 200})
	c.call(t, exchange{op: "GET " + users, path: users + "?limit=0", auth: admin, status: 400})
	c.call(t, exchange{op: "GET " + user, path: users + "/olga@example.com", auth: admin, status: 200})
	c.call(t, exchange{op: "GET " + user, path: users + "/nobody@example.com", auth: admin, status: 404})
	c.call(t, exchange{op: "PUT " + user, path: users + "/pia@example.com", auth: admin, status: 200, body: map[string]any{"apps": map[string]string{a.Key: "viewer"}, "password": "another password"}})
	c.call(t, exchange{op: "PUT " + user, path: users + "/pia@example.com", auth: admin, status: 400, badRequest: true, body: map[string]any{"password": "another password"}})
	c.call(t, exchange{op: "PUT " + user, path: users + "/nobody@example.com", auth: admin, status: 404, body: map[string]any{"apps": map[string]string{}}})

	// Sessions.
	const sessions = "/v1/portal/sessions"
	var s struct {
		Token string `json:"token"`
	}
	c.call(t, exchange{op: "POST " + sessions, path: sessions, status: 201, body: map[string]any{"email": "olga@example.com", "password": testPassword}}).decode(t, &s)
	owner := sessionAuth(s.Token)
	c.call(t, exchange{op: "POST " + sessions, path: sessions, status: 400, badRequest: true, body: map[string]any{"email": "olga@example.com"}})
	for range 2 {
		c.call(t, exchange{op: "POST " + sessions, path: sessions, status: 401, body: map[string]any{"email": "pia@example.com", "password": testPassword}})
	}
	c.call(t, exchange{op: "POST " + sessions, path: sessions, status: 429, body: map[string]any{"email": "pia@example.com", "password": "another password"}})
	c.call(t, exchange{op: "GET /v1/portal/me", path: "/v1/portal/me", auth: owner, status: 200})
	c.call(t, exchange{op: "GET /v1/portal/me", path: "/v1/portal/me", status: 401})

	// The app, its secret, members and audit log, with the session.
	on := onApp(a.Key)
	c.call(t, exchange{op: "GET /v1/app", path: "/v1/app", auth: owner, header: on, status: 200})
	c.call(t, exchange{op: "GET /v1/app", path: "/v1/app", auth: owner, status: 403})
	c.call(t, exchange{op: "GET /v1/app", path: "/v1/app", auth: a.auth(), status: 200})
	c.call(t, exchange{op: "GET /v1/tags", path: "/v1/tags", auth: owner, header: on, status: 200})
	c.call(t, exchange{op: "GET /v1/tags", path: "/v1/tags", auth: "Session " + strings.Repeat("x", 43), header: on, status: 401})
	const member = "/v1/app/members/{email}"
	c.call(t, exchange{op: "PUT " + member, path: "/v1/app/members/rob@example.com", auth: owner, header: on, status: 200, body: map[string]any{"role": "marketer", "password": testPassword}})
	c.call(t, exchange{op: "PUT " + member, path: "/v1/app/members/rob@example.com", auth: owner, header: on, status: 409, body: map[string]any{"role": "viewer", "password": testPassword}})
	c.call(t, exchange{op: "PUT " + member, path: "/v1/app/members/olga@example.com", auth: owner, header: on, status: 409, body: map[string]any{"role": "viewer"}})
	c.call(t, exchange{op: "PUT " + member, path: "/v1/app/members/sam@example.com", auth: owner, header: on, status: 400, body: map[string]any{"role": "viewer"}})
	c.call(t, exchange{op: "GET /v1/app/members", path: "/v1/app/members", auth: owner, header: on, status: 200})
	c.call(t, exchange{op: "DELETE " + member, path: "/v1/app/members/rob@example.com", auth: owner, header: on, status: 204})
	c.call(t, exchange{op: "DELETE " + member, path: "/v1/app/members/rob@example.com", auth: owner, header: on, status: 404})
	c.call(t, exchange{op: "DELETE " + member, path: "/v1/app/members/olga@example.com", auth: owner, header: on, status: 409})
	var rotated app
	c.call(t, exchange{op: "POST /v1/app/secret", path: "/v1/app/secret", auth: owner, header: on, status: 200}).decode(t, &rotated)
	c.call(t, exchange{op: "GET /v1/audit", path: "/v1/audit?limit=2", auth: owner, header: on, status: 200})
	c.call(t, exchange{op: "GET /v1/audit", path: "/v1/audit?before=nope", auth: owner, header: on, status: 400})
	c.call(t, exchange{op: "GET /v1/audit", path: "/v1/audit", auth: rotated.auth(), status: 200})

	e.portalUser(t, "tia@example.com", map[string]string{a.Key: "viewer"})
	c.call(t, exchange{op: "GET /v1/audit", path: "/v1/audit", auth: sessionAuth(e.login(t, "tia@example.com")), header: on, status: 403})

	c.call(t, exchange{op: "DELETE /v1/portal/sessions/current", path: "/v1/portal/sessions/current", auth: owner, status: 204})
	c.call(t, exchange{op: "DELETE /v1/portal/sessions/current", path: "/v1/portal/sessions/current", auth: owner, status: 401})
	c.call(t, exchange{op: "DELETE " + user, path: users + "/pia@example.com", auth: admin, status: 204})
	c.call(t, exchange{op: "DELETE " + user, path: users + "/pia@example.com", auth: admin, status: 404})
}
