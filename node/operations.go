package node

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/pprof"
	"strings"

	"github.com/heraldpush/herald/gateway/api"
	"github.com/heraldpush/herald/internal/health"
	"github.com/heraldpush/herald/internal/runtimestats"
)

// runtimePath is where connectors and dataservice serve their runtime
// figures on their internal address.
const runtimePath = "/internal/v1/runtime"

// processFigures is the body of GET /internal/v1/runtime: the shape of the
// gateway's GET /v1/admin/runtime, with the process's role and id, so one
// reader takes both.
type processFigures struct {
	Role       string             `json:"role"`
	ID         string             `json:"id,omitempty"`
	Process    runtimestats.Stats `json:"process"`
	Components any                `json:"components,omitempty"`
}

// withOperations serves, next to h, what operators read from a connector
// or dataservice, which have no admin API: to anyone, GET /healthz and
// GET /readyz from checks; to callers with the cluster token,
// net/http/pprof under /debug/pprof/, the process's runtime figures
// (runtimestats, plus what components returns, if not nil) at GET
// /internal/v1/runtime, and its Prometheus metrics (metricsHandler) at
// /metrics. Other paths go to h, but for those not in their clean form,
// which get a JSON 400 (api.CheckPath) rather than a mux's HTML redirect.
func withOperations(h http.Handler, checks *health.Checker, clusterToken, role, id string, components func() any, metricsHandler http.Handler) http.Handler {
	want := sha256.Sum256([]byte(clusterToken))
	ops := http.NewServeMux()
	ops.Handle(metricsPath, metricsHandler)
	ops.HandleFunc("/debug/pprof/", pprof.Index)
	ops.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	ops.HandleFunc("/debug/pprof/profile", pprof.Profile)
	ops.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	ops.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ops.HandleFunc(runtimePath, func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			operationsError(w, http.StatusMethodNotAllowed, "method_not_allowed", r.Method+" "+runtimePath+" is not allowed; use GET")
			return
		}
		f := processFigures{Role: role, ID: id, Process: runtimestats.Read()}
		if components != nil {
			f.Components = components()
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(f)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := api.CheckPath(r.URL.Path); err != nil {
			var ae *api.Error
			errors.As(err, &ae)
			operationsError(w, ae.Status, ae.Code, ae.Message)
			return
		}
		if r.URL.Path == health.AlivePath || r.URL.Path == health.ReadyPath {
			checks.ServeHTTP(w, r)
			return
		}
		if !strings.HasPrefix(r.URL.Path, "/debug/pprof/") && r.URL.Path != runtimePath && r.URL.Path != metricsPath {
			h.ServeHTTP(w, r)
			return
		}
		if !bearerMatches(r, want) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="herald cluster"`)
			operationsError(w, http.StatusUnauthorized, "unauthorized", r.URL.Path+" needs Authorization: Bearer <cluster token>")
			return
		}
		ops.ServeHTTP(w, r)
	})
}

// operationsError writes the JSON error body the rest of Herald's HTTP
// APIs answer with.
func operationsError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": message}})
}
