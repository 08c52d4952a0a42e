package portal

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Config configures the portal.
type Config struct {
	// Gateway is the base URL of the gateway's REST API, such as
	// http://127.0.0.1:8080. Required.
	Gateway string
	// Transport carries the calls to the gateway: internal/h2c's client
	// transport in `herald portal`, HandlerTransport in `herald all`. Nil
	// means http.DefaultTransport.
	Transport http.RoundTripper
	// SecureCookies marks the portal's cookies Secure on every answer, as
	// needed behind a proxy that terminates TLS. False means: Secure when
	// the request came over TLS or says so in X-Forwarded-Proto.
	SecureCookies bool
	// LoginFailures is how many failed logins a client address may make
	// in LoginWindow before the portal refuses its logins until the
	// window ends. Zero means 20.
	LoginFailures int
	// LoginWindow: see LoginFailures. Zero means 15 minutes.
	LoginWindow time.Duration
	// Poll is how often a live delivery funnel reads the message's report
	// while a page listens. Zero means 500ms.
	Poll time.Duration
	// Timeout bounds each call to the gateway. Zero means 10s.
	Timeout time.Duration
	// Log receives the portal's logs. Nil means slog.Default().
	Log *slog.Logger
}

// DefaultConfig returns the defaults, for a gateway at gateway.
func DefaultConfig(gateway string) Config {
	return Config{
		Gateway:       gateway,
		LoginFailures: 20,
		LoginWindow:   15 * time.Minute,
		Poll:          500 * time.Millisecond,
		Timeout:       10 * time.Second,
	}
}

// Portal serves the portal. It is an http.Handler of the paths under
// /portal/.
type Portal struct {
	cfg     Config
	log     *slog.Logger
	mux     *http.ServeMux
	assets  *assets
	pages   *pages
	limiter *loginLimiter
	origin  *http.CrossOriginProtection
	history *history

	closing   chan struct{} // closed by Close: event streams end
	closeOnce sync.Once
}

// New returns the portal for cfg; it fails if cfg names no gateway.
func New(cfg Config) (*Portal, error) {
	def := DefaultConfig(cfg.Gateway)
	if cfg.Gateway == "" {
		return nil, errors.New("portal: Config.Gateway, the gateway's URL, is required")
	}
	if u, err := url.Parse(cfg.Gateway); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("portal: gateway %q is not an http or https URL", cfg.Gateway)
	}
	cfg.Gateway = trimBase(cfg.Gateway)
	if cfg.Transport == nil {
		cfg.Transport = http.DefaultTransport
	}
	if cfg.LoginFailures <= 0 {
		cfg.LoginFailures = def.LoginFailures
	}
	if cfg.LoginWindow <= 0 {
		cfg.LoginWindow = def.LoginWindow
	}
	if cfg.Poll <= 0 {
		cfg.Poll = def.Poll
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = def.Timeout
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	p := &Portal{
		cfg:     cfg,
		log:     cfg.Log,
		limiter: newLoginLimiter(cfg.LoginFailures, cfg.LoginWindow),
		origin:  http.NewCrossOriginProtection(),
		history: newHistory(historyMessages, historySamples),
		closing: make(chan struct{}),
	}
	var err error
	if p.assets, err = loadAssets(); err != nil {
		return nil, err
	}
	if p.pages, err = loadPages(p.assets); err != nil {
		return nil, err
	}
	p.routes()
	return p, nil
}

// routes builds the route table: every page and action of the portal.
func (p *Portal) routes() {
	m := http.NewServeMux()
	m.Handle("GET "+staticPrefix, p.assets)
	m.HandleFunc("GET /portal/{$}", p.signedIn(p.overview))
	m.HandleFunc("GET /portal/login", p.loginForm)
	m.HandleFunc("POST /portal/login", p.login)
	m.HandleFunc("POST /portal/logout", p.signedIn(p.logout))

	app := func(pattern string, h func(http.ResponseWriter, *http.Request, *session)) {
		m.HandleFunc(pattern, p.signedIn(p.inApp(h)))
	}
	app("GET /portal/apps/{app}/{$}", p.appHome)
	app("GET /portal/apps/{app}/compose", p.composeForm)
	app("POST /portal/apps/{app}/compose", p.compose)
	app("POST /portal/apps/{app}/estimate", p.estimate)
	app("GET /portal/apps/{app}/messages", p.messages)
	app("GET /portal/apps/{app}/messages/{id}", p.message)
	app("GET /portal/apps/{app}/messages/{id}/events", p.messageEvents)
	app("POST /portal/apps/{app}/messages/{id}/cancel", p.cancelMessage)
	app("GET /portal/apps/{app}/schedules", p.schedules)
	app("GET /portal/apps/{app}/schedules/{id}", p.schedule)
	app("POST /portal/apps/{app}/schedules/{id}/enabled", p.setScheduleEnabled)
	app("POST /portal/apps/{app}/schedules/{id}/delete", p.deleteSchedule)
	app("GET /portal/apps/{app}/segments", p.segments)
	app("POST /portal/apps/{app}/segments", p.createSegment)
	app("GET /portal/apps/{app}/segments/{id}", p.segment)
	app("POST /portal/apps/{app}/segments/{id}", p.updateSegment)
	app("POST /portal/apps/{app}/segments/{id}/delete", p.deleteSegment)
	app("GET /portal/apps/{app}/tags", p.tags)
	app("GET /portal/apps/{app}/tags/{tag}", p.tag)
	app("GET /portal/apps/{app}/devices", p.devices)
	app("POST /portal/apps/{app}/devices/{rid}", p.updateDevice)
	app("GET /portal/apps/{app}/settings", p.settings)
	app("POST /portal/apps/{app}/settings/webhook", p.putWebhook)
	app("POST /portal/apps/{app}/settings/webhook/delete", p.deleteWebhook)
	app("POST /portal/apps/{app}/settings/secret", p.rotateSecret)
	app("POST /portal/apps/{app}/settings/members", p.putMember)
	app("POST /portal/apps/{app}/settings/members/delete", p.deleteMember)
	app("GET /portal/apps/{app}/audit", p.audit)
	m.HandleFunc("/portal/", p.notFound)
	p.mux = m
}

// Close ends the event streams of the live funnels, which would otherwise
// hold a server's graceful shutdown for as long as a page listens (their
// pages connect again, to another process or once this one is back).
// Other requests are unaffected. Calling it again does nothing.
func (p *Portal) Close() {
	p.closeOnce.Do(func() { close(p.closing) })
}

// ServeHTTP serves a request under /portal/, with the security headers of
// every answer.
func (p *Portal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
	p.mux.ServeHTTP(w, r)
}

// contentSecurityPolicy allows the portal's own files only: no inline
// script or style, no other origin, no framing.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
