package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Paths of the probes.
const (
	AlivePath = "/healthz"
	ReadyPath = "/readyz"
)

// Statuses of a Report and of its checks.
const (
	StatusOK       = "ok"        // /healthz; a check that passed
	StatusReady    = "ready"     // /readyz: every check passed
	StatusNotReady = "not_ready" // /readyz: a check failed
	StatusDraining = "draining"  // /readyz: the process is shutting down
	StatusFailing  = "failing"   // a check that failed
)

// Check says whether one condition of readiness holds: nil if it does,
// otherwise an error saying what is wrong, for an operator. It must return
// once ctx is done.
type Check func(ctx context.Context) error

// Config configures a Checker. Zero fields take the defaults.
type Config struct {
	// Interval is how long a round of checks answers the probes that
	// follow it. Zero means 1s.
	Interval time.Duration
	// Timeout bounds each check. Zero means 2s.
	Timeout time.Duration
}

// Result is the outcome of one check.
type Result struct {
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// Report is the body of GET /readyz.
type Report struct {
	Status string            `json:"status"`
	Checks map[string]Result `json:"checks"`
}

// Ready reports whether every check passed and the process is not
// draining.
func (r Report) Ready() bool { return r.Status == StatusReady }

// Checker holds a process's checks of readiness.
type Checker struct {
	cfg      Config
	draining atomic.Bool

	mu     sync.Mutex
	checks []named
	last   Report
	at     time.Time     // when last was made; zero: never
	round  chan struct{} // closed when the round under way ends; nil: none
}

type named struct {
	name  string
	check Check
}

// New returns a Checker without checks: ready until checks are added.
func New(cfg Config) *Checker {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	return &Checker{cfg: cfg}
}

// Add adds a check under name, which names it in the report.
func (c *Checker) Add(name string, check Check) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checks = append(c.checks, named{name, check})
	c.at = time.Time{} // the next probe runs it
}

// Drain makes readiness fail from now on: the process is shutting down.
func (c *Checker) Drain() { c.draining.Store(true) }

// Ready returns the report of the latest round of checks, running a round
// first if the latest is older than Config.Interval. Probes that come
// during a round wait for it (or for ctx).
func (c *Checker) Ready(ctx context.Context) Report {
	if c.draining.Load() {
		return Report{Status: StatusDraining, Checks: map[string]Result{}}
	}
	for {
		c.mu.Lock()
		if !c.at.IsZero() && time.Since(c.at) < c.cfg.Interval {
			r := c.last
			c.mu.Unlock()
			return r
		}
		if c.round == nil {
			done := make(chan struct{})
			c.round = done
			checks := c.checks
			c.mu.Unlock()
			r := c.run(checks)
			c.mu.Lock()
			c.last, c.at, c.round = r, time.Now(), nil
			c.mu.Unlock()
			close(done)
			return r
		}
		wait := c.round
		c.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return Report{Status: StatusNotReady, Checks: map[string]Result{"probe": {Status: StatusFailing, Error: ctx.Err().Error()}}}
		}
	}
}

// run runs checks in parallel, each within the timeout.
func (c *Checker) run(checks []named) Report {
	r := Report{Status: StatusReady, Checks: make(map[string]Result, len(checks))}
	results := make([]error, len(checks))
	var wg sync.WaitGroup
	for i, ch := range checks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), c.cfg.Timeout)
			defer cancel()
			results[i] = runOne(ctx, ch.check)
		})
	}
	wg.Wait()
	for i, ch := range checks {
		if err := results[i]; err != nil {
			r.Status = StatusNotReady
			r.Checks[ch.name] = Result{Status: StatusFailing, Error: err.Error()}
		} else {
			r.Checks[ch.name] = Result{Status: StatusOK}
		}
	}
	return r
}

// runOne runs check, turning a panic or an overrun into a failure: a
// check that does not return by the deadline is left behind.
func runOne(ctx context.Context, check Check) (err error) {
	done := make(chan error, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- fmt.Errorf("check panicked: %v", p)
			}
		}()
		done <- check(ctx)
	}()
	select {
	case err = <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return errors.New("no answer in time")
	}
	return err
}

// ServeHTTP answers GET (and HEAD) /healthz and /readyz; other paths are
// 404 and other methods 405, in Herald's JSON error shape.
func (c *Checker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != AlivePath && r.URL.Path != ReadyPath {
		writeJSON(w, http.StatusNotFound, errorBody("not_found", "no such path: "+AlivePath+" and "+ReadyPath+" are served"))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSON(w, http.StatusMethodNotAllowed, errorBody("method_not_allowed", r.Method+" "+r.URL.Path+" is not allowed; use GET"))
		return
	}
	if r.URL.Path == AlivePath {
		writeJSON(w, http.StatusOK, map[string]string{"status": StatusOK})
		return
	}
	rep := c.Ready(r.Context())
	status := http.StatusOK
	if !rep.Ready() {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, rep)
}

// Wrap serves /healthz and /readyz with c and every other path with h.
func (c *Checker) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == AlivePath || r.URL.Path == ReadyPath {
			c.ServeHTTP(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func errorBody(code, message string) any {
	return map[string]any{"error": map[string]string{"code": code, "message": message}}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
