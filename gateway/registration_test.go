package gateway_test

import (
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/heraldpush/herald/gateway"
	"github.com/heraldpush/herald/gateway/account"
	"github.com/heraldpush/herald/internal/ratelimit"
)

// Issue 16: device registration had no rate limit (3,000 in 0.48 s with
// only the app key), and an app could not close it to the public.

func (e *env) register(tb testing.TB, body map[string]string, header map[string]string) response {
	tb.Helper()
	return e.do(tb, request{method: "POST", path: "/v1/devices", body: jsonBody(tb, body), header: header})
}

func wantRateLimited(tb testing.TB, r response, what string, maxWait int) {
	tb.Helper()
	r.wantError(tb, http.StatusTooManyRequests, "rate_limited", what)
	s, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || s < 1 || s > maxWait {
		tb.Fatalf("Retry-After = %q, want 1 to %d seconds", r.header.Get("Retry-After"), maxWait)
	}
}

func TestRegistrationRateLimits(t *testing.T) {
	proxies := account.Config{TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}
	from := func(addr string) map[string]string { return map[string]string{"X-Forwarded-For": addr} }

	t.Run("per address", func(t *testing.T) {
		e := newEnv(t, gateway.Config{Accounts: proxies, Registrations: gateway.RegistrationLimits{
			PerAddress: ratelimit.Rate{Limit: 5, Window: time.Minute}}})
		a, b := e.createApp(t), e.createApp(t)
		for i := range 5 {
			app := []app{a, b}[i%2] // the limit is the address's, whatever the app
			e.register(t, map[string]string{"app_key": app.Key}, from("198.51.100.1")).wantOK(t, http.StatusCreated, nil)
		}
		wantRateLimited(t, e.register(t, map[string]string{"app_key": a.Key}, from("198.51.100.1")), "client address", 12)
		// Malformed calls count too, and are refused before being read.
		wantRateLimited(t, e.register(t, map[string]string{"app_key": "nope"}, from("198.51.100.1")), "client address", 12)
		// Another address, and another /64 of IPv6, are not limited;
		// the same /64 is.
		e.register(t, map[string]string{"app_key": a.Key}, from("198.51.100.2")).wantOK(t, http.StatusCreated, nil)
		for i := range 5 {
			e.register(t, map[string]string{"app_key": a.Key}, from(fmt.Sprintf("2001:db8:1:2::%x", i+1))).wantOK(t, http.StatusCreated, nil)
		}
		wantRateLimited(t, e.register(t, map[string]string{"app_key": a.Key}, from("2001:db8:1:2::ffff")), "client address", 12)
		e.register(t, map[string]string{"app_key": a.Key}, from("2001:db8:1:3::1")).wantOK(t, http.StatusCreated, nil)
	})

	t.Run("per app", func(t *testing.T) {
		e := newEnv(t, gateway.Config{Accounts: proxies, Registrations: gateway.RegistrationLimits{
			PerApp: ratelimit.Rate{Limit: 4, Window: 2 * time.Second}}})
		a, b := e.createApp(t), e.createApp(t)
		for i := range 4 {
			e.register(t, map[string]string{"app_key": a.Key}, from(fmt.Sprintf("198.51.100.%d", i+1))).wantOK(t, http.StatusCreated, nil)
		}
		wantRateLimited(t, e.register(t, map[string]string{"app_key": a.Key}, from("198.51.100.9")), "app", 1)
		e.register(t, map[string]string{"app_key": b.Key}, from("198.51.100.9")).wantOK(t, http.StatusCreated, nil)
		// The bucket refills: one registration every half second.
		deadline := time.Now().Add(5 * time.Second)
		for {
			r := e.register(t, map[string]string{"app_key": a.Key}, from("198.51.100.9"))
			if r.status == http.StatusCreated {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("still refused after the window: %d %s", r.status, r.body)
			}
			time.Sleep(100 * time.Millisecond)
		}
	})

	t.Run("no limit by default in the library", func(t *testing.T) {
		e := newEnv(t, gateway.Config{})
		a := e.createApp(t)
		e.registerDevices(t, a.Key, 100)
	})
}

func TestRegistrationSecret(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a := e.createApp(t)
	e.portalUser(t, "owner@example.com", map[string]string{a.Key: "owner"})
	e.portalUser(t, "marketer@example.com", map[string]string{a.Key: "marketer"})
	owner := sessionAuth(e.login(t, "owner@example.com"))
	summary := func() (v struct {
		Closed bool `json:"registration_closed"`
	}) {
		e.do(t, request{method: "GET", path: "/v1/app", auth: a.auth()}).wantOK(t, http.StatusOK, &v)
		return v
	}
	if summary().Closed {
		t.Fatal("a new app's registration is closed")
	}

	// Only an owner sets it.
	e.do(t, request{method: "PUT", path: "/v1/app/registration-secret", auth: sessionAuth(e.login(t, "marketer@example.com")), header: onApp(a.Key)}).
		wantError(t, http.StatusForbidden, "forbidden", "owner")
	var set struct {
		AppKey string `json:"app_key"`
		Secret string `json:"registration_secret"`
	}
	e.do(t, request{method: "PUT", path: "/v1/app/registration-secret", auth: owner, header: onApp(a.Key)}).wantOK(t, http.StatusOK, &set)
	if set.AppKey != a.Key || len(set.Secret) != 24 {
		t.Fatalf("PUT /v1/app/registration-secret = %+v", set)
	}
	if !summary().Closed {
		t.Fatal("GET /v1/app does not say registration is closed")
	}

	e.register(t, map[string]string{"app_key": a.Key}, nil).wantError(t, http.StatusForbidden, "invalid_registration_secret", "registration_secret")
	e.register(t, map[string]string{"app_key": a.Key, "registration_secret": set.Secret + "x"}, nil).wantError(t, http.StatusForbidden, "invalid_registration_secret")
	var d device
	e.register(t, map[string]string{"app_key": a.Key, "registration_secret": set.Secret}, nil).wantOK(t, http.StatusCreated, &d)
	if d.RID == "" {
		t.Fatal("no registration id")
	}

	// A new one replaces it.
	var again struct {
		Secret string `json:"registration_secret"`
	}
	e.do(t, request{method: "PUT", path: "/v1/app/registration-secret", auth: a.auth()}).wantOK(t, http.StatusOK, &again)
	e.register(t, map[string]string{"app_key": a.Key, "registration_secret": set.Secret}, nil).wantError(t, http.StatusForbidden, "invalid_registration_secret")
	e.register(t, map[string]string{"app_key": a.Key, "registration_secret": again.Secret}, nil).wantOK(t, http.StatusCreated, nil)

	// Cleared: open again; a secret sent anyway is ignored.
	e.do(t, request{method: "DELETE", path: "/v1/app/registration-secret", auth: owner, header: onApp(a.Key)}).wantOK(t, http.StatusNoContent, nil)
	e.register(t, map[string]string{"app_key": a.Key}, nil).wantOK(t, http.StatusCreated, nil)
	e.register(t, map[string]string{"app_key": a.Key, "registration_secret": "anything"}, nil).wantOK(t, http.StatusCreated, nil)
	if summary().Closed {
		t.Fatal("GET /v1/app says registration is closed after DELETE")
	}

	// The owner's changes are in the audit log.
	var actions []string
	for _, en := range e.audit(t, a) {
		actions = append(actions, fmt.Sprint(en.Action, " ", en.Status))
	}
	want := map[string]bool{"DELETE /v1/app/registration-secret 204": false, "PUT /v1/app/registration-secret 200": false, "PUT /v1/app/registration-secret 403": false}
	for _, action := range actions {
		if _, ok := want[action]; ok {
			want[action] = true
		}
	}
	for action, seen := range want {
		if !seen {
			t.Errorf("the audit log has no %q: %v", action, actions)
		}
	}
}
