package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/heraldpush/herald/gateway/api"
	"github.com/heraldpush/herald/internal/h2c"
	"github.com/heraldpush/herald/internal/health"
	"github.com/heraldpush/herald/portal"
)

// PortalConfig configures `herald portal`.
type PortalConfig struct {
	// Gateway is the base URL of a gateway's REST API. Empty means
	// http://127.0.0.1:8080.
	Gateway string
	// HTTP is the address the portal serves. Empty means 127.0.0.1:8081.
	HTTP string
	// HTTPConns caps the connections of the address served. Zero fields
	// take the defaults of the process's file budget (caps.go); negative
	// ones mean no cap.
	HTTPConns ConnCaps
	// BodyTimeout bounds the reading of a request body. Zero means
	// h2c.DefaultBodyTimeout.
	BodyTimeout time.Duration
	// Portal configures the portal; its Gateway and Transport are set by
	// StartPortal (cleartext HTTP/2 to an http gateway, TLS to an https
	// one).
	Portal portal.Config
	// Log receives logs. Nil means slog.Default().
	Log *slog.Logger
}

// PortalNode is a running `herald portal`.
type PortalNode struct {
	http   *h2c.Server
	ln     net.Listener
	health *health.Checker
}

// StartPortal serves the portal in a process of its own, calling the
// gateway at cfg.Gateway.
func StartPortal(cfg PortalConfig) (*PortalNode, error) {
	if cfg.Gateway == "" {
		cfg.Gateway = "http://127.0.0.1:8080"
	}
	if cfg.HTTP == "" {
		cfg.HTTP = "127.0.0.1:8081"
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	u, err := url.Parse(cfg.Gateway)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("portal: --gateway %q is not an http:// or https:// URL", cfg.Gateway)
	}
	pcfg := cfg.Portal
	pcfg.Gateway = cfg.Gateway
	pcfg.Log = cfg.Log
	if u.Scheme == "http" {
		pcfg.Transport = h2c.NewTransport() // the gateway speaks cleartext HTTP/2
	} else {
		pcfg.Transport = http.DefaultTransport.(*http.Transport).Clone()
	}
	p, err := portal.New(pcfg)
	if err != nil {
		return nil, err
	}
	n := &PortalNode{health: newChecker()}
	n.health.Add("gateway", gatewayReady(cfg.Gateway, pcfg.Transport))
	if n.ln, err = net.Listen("tcp", cfg.HTTP); err != nil {
		return nil, fmt.Errorf("portal: listen on %s: %w", cfg.HTTP, err)
	}
	mux := http.NewServeMux()
	mux.Handle(health.AlivePath, n.health)
	mux.Handle(health.ReadyPath, n.health)
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/portal/", http.StatusFound)
	})
	limit := openFileLimit()
	httpCaps := cfg.HTTPConns.resolve(defaultBudgets(limit, plainReserve, false).http)
	warnOverLimit(cfg.Log, limit, plainReserve, httpCaps)
	n.http = httpServer(withPortal(mux, p), "portal", httpCaps, nil, cfg.BodyTimeout, cfg.Log)
	n.http.RegisterOnShutdown(p.Close) // live funnels do not hold the shutdown
	go func() {
		if err := n.http.Serve(n.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			cfg.Log.Error("portal server stopped", "err", err)
		}
	}()
	return n, nil
}

// HTTPAddr returns the address the portal serves.
func (n *PortalNode) HTTPAddr() net.Addr { return n.ln.Addr() }

// Close stops serving: open event streams end, requests under way finish.
func (n *PortalNode) Close(ctx context.Context) error {
	n.health.Drain()
	if n.http == nil {
		return nil
	}
	return n.http.Shutdown(ctx)
}

// withPortal serves the portal's paths (/portal/…) with p and every
// other path with h: the portal shares the REST port of `herald all`.
// The gateway itself knows nothing of the portal. A path not in its clean
// form gets a JSON 400 (api.CheckPath): "/portal/../v1/apps" must not
// reach the portal's mux, which would redirect it in HTML.
func withPortal(h, p http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := api.CheckPath(r.URL.Path); err != nil {
			var ae *api.Error
			errors.As(err, &ae)
			operationsError(w, ae.Status, ae.Code, ae.Message)
			return
		}
		switch path := r.URL.Path; {
		case strings.HasPrefix(path, "/portal/"):
			p.ServeHTTP(w, r)
		case path == "/portal":
			http.Redirect(w, r, "/portal/", http.StatusMovedPermanently)
		default:
			h.ServeHTTP(w, r)
		}
	})
}
