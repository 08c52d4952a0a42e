package gateway

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"net/netip"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway/api"
	"github.com/heraldpush/herald/internal/connlimit"
	"github.com/heraldpush/herald/internal/ids"
	"github.com/heraldpush/herald/internal/ratelimit"
)

// Registration is open to anyone who has an app's key, which every copy
// of the app carries. Two limits bound how fast devices register: per
// client address (as account.ClientAddress names it, behind
// --trusted-proxies; an IPv6 address counted by its /64) and per app, each
// a token bucket in this gateway's memory (package ratelimit). An app can
// also close registration to the public with a registration secret,
// which its builds then carry and present.

// RegistrationLimits bound how fast devices register (POST /v1/devices)
// with one gateway. A Rate with a zero Limit is no limit.
type RegistrationLimits struct {
	// PerAddress bounds the registrations from one client address.
	PerAddress ratelimit.Rate
	// PerApp bounds the registrations of one app's devices.
	PerApp ratelimit.Rate
}

// DefaultRegistrationLimits are what herald all and herald gateway apply
// unless told otherwise: 60 a minute from one address (a burst of 60,
// then one a second), 6,000 a minute per app (a burst of 6,000, then 100
// a second).
var DefaultRegistrationLimits = RegistrationLimits{
	PerAddress: ratelimit.Rate{Limit: 60, Window: time.Minute},
	PerApp:     ratelimit.Rate{Limit: 6000, Window: time.Minute},
}

// registrationLimiters are the limiters of RegistrationLimits.
type registrationLimiters struct {
	perAddress, perApp *ratelimit.Limiter
}

func newRegistrationLimiters(l RegistrationLimits) registrationLimiters {
	return registrationLimiters{
		perAddress: ratelimit.New(ratelimit.Config{Rate: l.PerAddress}),
		perApp:     ratelimit.New(ratelimit.Config{Rate: l.PerApp}),
	}
}

// checkRegistrationAddress refuses a registration from r's client address over its
// limit.
func (g *Gateway) checkRegistrationAddress(r *http.Request) error {
	client := g.accounts.ClientAddress(r)
	if a, err := netip.ParseAddr(client); err == nil {
		if k, ok := connlimit.ClientKey(a); ok {
			client = k.String()
		}
	}
	if ok, wait := g.registrations.perAddress.Allow(client); !ok {
		return registrationLimited("client address", g.cfg.Registrations.PerAddress, wait)
	}
	return nil
}

// checkRegistrationApp refuses a registration of app's device over its
// limit, or without the app's registration secret when it has one.
func (g *Gateway) checkRegistrationApp(app *dataservice.App, secret string) error {
	if app.RegistrationClosed() {
		h := sha256.Sum256([]byte(secret))
		if secret == "" || subtle.ConstantTimeCompare(h[:], app.RegistrationSecretHash[:]) != 1 {
			msg := "this app registers only devices that present its registration secret: send it as registration_secret"
			if secret != "" {
				msg = "registration_secret is not this app's registration secret"
			}
			return &api.Error{Status: http.StatusForbidden, Code: "invalid_registration_secret", Message: msg}
		}
	}
	if ok, wait := g.registrations.perApp.Allow(app.Key); !ok {
		return registrationLimited("app", g.cfg.Registrations.PerApp, wait)
	}
	return nil
}

func registrationLimited(what string, rate ratelimit.Rate, wait time.Duration) error {
	secs := max(1, int((wait+time.Second-1)/time.Second))
	e := api.Errorf(http.StatusTooManyRequests, "rate_limited", "too many device registrations for this %s: at most %d per %s; retry in %d seconds", what, rate.Limit, rate.Per(), secs)
	e.RetryAfter = secs
	return e
}

// registrationSecretView answers PUT /v1/app/registration-secret.
type registrationSecretView struct {
	AppKey             string `json:"app_key"`
	RegistrationSecret string `json:"registration_secret"`
}

// setRegistrationSecret gives the app a new registration secret: from
// then on, devices register only with it (the previous one, if any,
// stops working), on every gateway as soon as it returns.
func (g *Gateway) setRegistrationSecret(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	secret := ids.MasterSecret()
	if _, err := g.data.SetAppRegistrationSecret(r.Context(), app.Key, sha256.Sum256([]byte(secret))); err != nil {
		return err
	}
	g.auth.ForgetApp(app.Key)
	api.WriteJSON(w, http.StatusOK, registrationSecretView{AppKey: app.Key, RegistrationSecret: secret})
	return nil
}

// deleteRegistrationSecret opens registration to anyone with the app key
// again.
func (g *Gateway) deleteRegistrationSecret(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	if _, err := g.data.SetAppRegistrationSecret(r.Context(), app.Key, [32]byte{}); err != nil {
		return err
	}
	g.auth.ForgetApp(app.Key)
	w.WriteHeader(http.StatusNoContent)
	return nil
}
