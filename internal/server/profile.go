package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"net/http/pprof"
	"strings"
)

// withProfiling serves net/http/pprof under /debug/pprof/ next to h, for
// callers with the cluster token: connectors and dataservice have no admin
// API, and operators profile them as they profile the gateway.
func withProfiling(h http.Handler, clusterToken string) http.Handler {
	want := sha256.Sum256([]byte(clusterToken))
	prof := http.NewServeMux()
	prof.HandleFunc("/debug/pprof/", pprof.Index)
	prof.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	prof.HandleFunc("/debug/pprof/profile", pprof.Profile)
	prof.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	prof.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/debug/pprof/") {
			h.ServeHTTP(w, r)
			return
		}
		token, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		got := sha256.Sum256([]byte(token))
		if token == "" || subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="herald cluster"`)
			http.Error(w, "profiling needs Authorization: Bearer <cluster token>", http.StatusUnauthorized)
			return
		}
		prof.ServeHTTP(w, r)
	})
}
