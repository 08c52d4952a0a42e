package gateway

import (
	"crypto/sha256"
	"crypto/subtle"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/heraldpush/herald/actors"
	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/internal/ids"
	"github.com/heraldpush/herald/internal/runtimestats"
	"github.com/heraldpush/herald/internal/warmstack"
	"github.com/heraldpush/herald/internal/workpool"
)

// Config configures a Gateway. Zero fields take the defaults of
// DefaultConfig.
type Config struct {
	// AdminTokenHash is the SHA-256 of the admin token that guards app
	// creation and runtime figures. Required.
	AdminTokenHash [32]byte
	// MaxBody bounds request bodies. Zero means 64 KiB.
	MaxBody int64
	// MaxPayload bounds a message: title, content and extras together.
	// Zero means 4096 bytes.
	MaxPayload int
	// MaxRecipients bounds the registration ids of one push. Zero means
	// 1000.
	MaxRecipients int
	// DefaultTTL applies when a push gives no time_to_live. Zero means one
	// day.
	DefaultTTL time.Duration
	// MaxTTL bounds time_to_live. Zero means ten days.
	MaxTTL time.Duration
	// TaskWorkers bounds the store and audience work of push tasks running
	// at once. Zero means 32.
	TaskWorkers int
	// TaskLease is how long a task stays a gateway's without renewal; a
	// gateway that stops renewing (it died) loses its tasks to others
	// after it. Zero means 30s.
	TaskLease time.Duration
	// TaskScan is how often a gateway looks for tasks to take over. Zero
	// means 5s.
	TaskScan time.Duration
	// ScheduleScan is how often a gateway looks for due schedules: how
	// late, at most, a firing starts. Zero means 1s.
	ScheduleScan time.Duration
	// ScheduleGrace is how late a schedule's firing may still be sent
	// (after an outage of every gateway); later ones are skipped and
	// counted missed. Zero means one hour.
	ScheduleGrace time.Duration
	// JPushRateLimits bound each app's calls per minute to the
	// JPush-compatible /v3 API. Zero fields take JPush's free-tier
	// figures.
	JPushRateLimits JPushRateLimits
	// Upstream configures the delivery of upstream messages to the apps'
	// webhooks (coordinator.go). Zero fields take its defaults.
	Upstream CoordinatorConfig
	// Log receives the gateway's logs. Nil means slog.Default().
	Log *slog.Logger
}

// DefaultConfig returns the configuration with every default filled in.
func DefaultConfig() Config { return Config{}.withDefaults() }

func (c Config) withDefaults() Config {
	if c.MaxBody <= 0 {
		c.MaxBody = 64 << 10
	}
	if c.MaxPayload <= 0 {
		c.MaxPayload = 4096
	}
	if c.MaxRecipients <= 0 {
		c.MaxRecipients = 1000
	}
	if c.DefaultTTL <= 0 {
		c.DefaultTTL = 24 * time.Hour
	}
	if c.TaskWorkers <= 0 {
		c.TaskWorkers = 32
	}
	if c.TaskLease <= 0 {
		c.TaskLease = 30 * time.Second
	}
	if c.TaskScan <= 0 {
		c.TaskScan = 5 * time.Second
	}
	if c.ScheduleScan <= 0 {
		c.ScheduleScan = time.Second
	}
	if c.ScheduleGrace <= 0 {
		c.ScheduleGrace = time.Hour
	}
	if c.MaxTTL <= 0 {
		c.MaxTTL = 10 * 24 * time.Hour
	}
	c.JPushRateLimits = c.JPushRateLimits.withDefaults()
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return c
}

// Cluster is the gateway's view of the connectors: where a device's
// session says it is (Connector), all of them (Connectors, for broadcasts
// and withdrawals), and where a device should connect (Dispatch).
type Cluster interface {
	actors.Routes
	// Dispatch tells a device where to connect: connector addresses, best
	// first, skipping those it reports as failed, and the Noise public key
	// and heartbeat they use.
	Dispatch(rid string, failed []string) Dispatch
}

// Dispatch is the answer to a device asking where to connect.
type Dispatch struct {
	Addresses []string      `json:"addresses"`
	Heartbeat time.Duration `json:"-"`
	ServerKey []byte        `json:"server_key"`
}

// Deps are what a gateway works with.
type Deps struct {
	Data    dataservice.Client
	Cluster Cluster
	// Receipts counts what the gateway learns of deliveries; the Writer
	// batches them.
	Receipts actors.Receipts
	// IDs generates message ids; its node also names this gateway as the
	// owner of the tasks it runs.
	IDs *ids.Generator
	// System runs the gateway's actors: the router and the task actors.
	System *actor.ActorSystem
	// Stats, if not nil, adds figures to the admin runtime report.
	Stats func() any
}

// Gateway serves the REST API.
type Gateway struct {
	cfg       Config
	log       *slog.Logger
	data      dataservice.Client
	cluster   Cluster
	receipts  actors.Receipts
	ids       *ids.Generator
	system    *actor.ActorSystem
	router    *actor.PID
	mailboxes *actors.Dispatcher // runs the router's mailbox
	workers   *workpool.Pool
	warm      *warmstack.Pool
	tasks     *taskContainer
	schedules *scheduler
	upstream  *coordinator
	stats     func() any
	apps      *appCache
	handler   http.Handler
	routes    []route
	jpush     *jpushFace
}

// New returns a gateway; Close stops its tasks.
func New(cfg Config, deps Deps) *Gateway {
	cfg = cfg.withDefaults()
	g := &Gateway{cfg: cfg, log: cfg.Log, data: deps.Data, cluster: deps.Cluster, receipts: deps.Receipts, ids: deps.IDs,
		system: deps.System, stats: deps.Stats, apps: newAppCache(deps.Data, 5*time.Second, 10000),
		workers: workpool.New(cfg.TaskWorkers, 4*cfg.TaskWorkers), warm: warmstack.New(warmRequests),
		mailboxes: actors.NewActorDispatcher()}
	g.router = actors.SpawnRouter(deps.System, actors.RouterConfig{Data: deps.Data, Routes: deps.Cluster, Receipts: deps.Receipts,
		Dispatcher: g.mailboxes, Log: cfg.Log})
	g.tasks = newTaskContainer(g)
	g.schedules = newScheduler(g)
	g.upstream = newCoordinator(g)
	g.routes = []route{
		{"GET", "/healthz", authNone, g.healthz},
		{"GET", "/v1/openapi.json", authNone, g.openAPI},
		{"POST", "/v1/apps", authAdmin, g.createApp},
		{"POST", "/v1/devices", authNone, g.registerDevice},
		{"GET", "/v1/devices/{registration_id}", authApp, g.deviceInfo},
		{"POST", "/v1/devices/{registration_id}", authApp, g.updateDevice},
		{"GET", "/v1/tags", authApp, g.listTags},
		{"GET", "/v1/tags/{tag}", authApp, g.tagInfo},
		{"GET", "/v1/aliases/{alias}", authApp, g.aliasInfo},
		{"POST", "/v1/segments", authApp, g.createSegment},
		{"GET", "/v1/segments", authApp, g.listSegments},
		{"GET", "/v1/segments/{segment_id}", authApp, g.segmentInfo},
		{"PUT", "/v1/segments/{segment_id}", authApp, g.updateSegment},
		{"DELETE", "/v1/segments/{segment_id}", authApp, g.deleteSegment},
		{"POST", "/v1/schedules", authApp, g.createSchedule},
		{"GET", "/v1/schedules", authApp, g.listSchedules},
		{"GET", "/v1/schedules/{schedule_id}", authApp, g.scheduleInfo},
		{"PUT", "/v1/schedules/{schedule_id}", authApp, g.updateSchedule},
		{"DELETE", "/v1/schedules/{schedule_id}", authApp, g.deleteSchedule},
		{"PUT", "/v1/webhook", authApp, g.putWebhook},
		{"GET", "/v1/webhook", authApp, g.getWebhook},
		{"DELETE", "/v1/webhook", authApp, g.deleteWebhook},
		{"GET", "/v1/dispatch", authNone, g.dispatch},
		{"POST", "/v1/push", authApp, g.push},
		{"POST", "/v1/push/validate", authApp, g.validatePushRequest},
		{"POST", "/v1/audiences/estimate", authApp, g.estimateAudience},
		{"GET", "/v1/messages", authApp, g.listMessages},
		{"GET", "/v1/messages/{msg_id}", authApp, g.messageReport},
		{"GET", "/v1/messages/{msg_id}/devices/{registration_id}", authApp, g.messageDevice},
		{"DELETE", "/v1/messages/{msg_id}", authApp, g.cancelMessage},
		{"GET", "/v1/admin/runtime", authAdmin, g.runtime},
		{"GET", "/debug/pprof/", authAdmin, profile(pprof.Index)},
		{"GET", "/debug/pprof/cmdline", authAdmin, profile(pprof.Cmdline)},
		{"GET", "/debug/pprof/profile", authAdmin, profile(pprof.Profile)},
		{"GET", "/debug/pprof/symbol", authAdmin, profile(pprof.Symbol)},
		{"GET", "/debug/pprof/trace", authAdmin, profile(pprof.Trace)},
	}
	g.jpush = newJPushFace(cfg.JPushRateLimits)
	g.routes = append(g.routes, g.jpushRoutes()...)
	mux := g.mux()
	g.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.warm.Run(func() { mux.ServeHTTP(w, r) })
	})
	g.tasks.start()
	g.schedules.start()
	g.upstream.start()
	return g
}

// Close stops delivering upstream messages (giving up this gateway's
// webhook leases), firing schedules and taking over tasks, and stops the
// tasks running here: their leases run out and another gateway (or this
// one, restarted) resumes them from their checkpoints.
func (g *Gateway) Close() {
	g.upstream.close()
	g.schedules.close()
	g.tasks.close()
	g.workers.Close()
	g.warm.Close()
	g.mailboxes.Close() // the router's later runs get goroutines of their own
}

// warmRequests is how many requests at a time run on goroutines whose
// stacks have grown already (internal/warmstack); more run on their own.
// Most requests spend their time on the CPU, so a few per core suffice.
const warmRequests = 64

// Handler returns the HTTP handler of the API.
func (g *Gateway) Handler() http.Handler { return g.handler }

type authKind int

const (
	authNone  authKind = iota
	authAdmin          // Authorization: Bearer <admin token>
	authApp            // Authorization: Basic base64(app_key:master_secret)
)

type route struct {
	method, pattern string
	auth            authKind
	handle          func(w http.ResponseWriter, r *http.Request, app *dataservice.App) error
}

// mux registers each path once and answers wrong methods and unknown paths
// with JSON errors, like every other error of the API.
func (g *Gateway) mux() http.Handler {
	mux := http.NewServeMux()
	byPattern := map[string][]route{}
	var order []string
	for _, rt := range g.routes {
		if _, ok := byPattern[rt.pattern]; !ok {
			order = append(order, rt.pattern)
		}
		byPattern[rt.pattern] = append(byPattern[rt.pattern], rt)
	}
	for _, pattern := range order {
		routes := byPattern[pattern]
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			var allowed []string
			for _, rt := range routes {
				// HEAD is GET without the body (net/http drops it).
				if rt.method == r.Method || (r.Method == http.MethodHead && rt.method == http.MethodGet) {
					g.serve(w, r, rt)
					return
				}
				allowed = append(allowed, rt.method)
			}
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			g.writeError(w, r, errorf(http.StatusMethodNotAllowed, "method_not_allowed", "%s %s is not supported; use %s", r.Method, r.URL.Path, strings.Join(allowed, " or ")))
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		g.writeError(w, r, errorf(http.StatusNotFound, "not_found", "no such endpoint: %s %s", r.Method, r.URL.Path))
	})
	return mux
}

func (g *Gateway) serve(w http.ResponseWriter, r *http.Request, rt route) {
	var app *dataservice.App
	switch rt.auth {
	case authAdmin:
		if err := g.checkAdmin(r); err != nil {
			g.writeError(w, r, err)
			return
		}
	case authApp:
		a, err := g.checkApp(r)
		if err != nil {
			g.writeError(w, r, err)
			return
		}
		app = a
	}
	if err := rt.handle(w, r, app); err != nil {
		g.writeError(w, r, err)
	}
}

// Authentication failures, with the challenge each scheme sends.
var (
	errNoAppAuth = &apiError{Status: http.StatusUnauthorized, Code: "unauthorized", challenge: `Basic realm="herald"`,
		Message: "send Authorization: Basic base64(app_key:master_secret) with the credentials returned by POST /v1/apps"}
	errBadAppAuth = &apiError{Status: http.StatusUnauthorized, Code: "unauthorized", challenge: `Basic realm="herald"`,
		Message: "unknown app_key or wrong master_secret"}
	errNoAdminAuth = &apiError{Status: http.StatusUnauthorized, Code: "unauthorized", challenge: `Bearer realm="herald admin"`,
		Message: "send Authorization: Bearer <admin token> (the token herald printed on first start, or HERALD_ADMIN_TOKEN)"}
	errBadAdminAuth = &apiError{Status: http.StatusUnauthorized, Code: "unauthorized", challenge: `Bearer realm="herald admin", error="invalid_token"`,
		Message: "the admin token is wrong"}
)

func (g *Gateway) checkAdmin(r *http.Request) error {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		return errNoAdminAuth
	}
	h := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(h[:], g.cfg.AdminTokenHash[:]) != 1 {
		return errBadAdminAuth
	}
	return nil
}

func (g *Gateway) checkApp(r *http.Request) (*dataservice.App, error) {
	key, secret, ok := r.BasicAuth()
	if !ok || key == "" || secret == "" {
		return nil, errNoAppAuth
	}
	if !appKeyShape.MatchString(key) {
		return nil, errBadAppAuth
	}
	app, err := g.apps.get(r.Context(), key)
	if err != nil {
		if errorsIsNotFound(err) {
			return nil, errBadAppAuth
		}
		return nil, err
	}
	h := sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(h[:], app.SecretHash[:]) != 1 {
		return nil, errBadAppAuth
	}
	return &app, nil
}

// validID reports whether s can be a registration id: 1 to 64 bytes of
// UTF-8. Anything else cannot name a device, whatever the store accepts.
func validID(s string) bool {
	return s != "" && len(s) <= 64 && utf8.ValidString(s)
}

func (g *Gateway) healthz(w http.ResponseWriter, r *http.Request, _ *dataservice.App) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// profile serves a net/http/pprof handler (behind admin auth).
func profile(h http.HandlerFunc) func(http.ResponseWriter, *http.Request, *dataservice.App) error {
	return func(w http.ResponseWriter, r *http.Request, _ *dataservice.App) error {
		h(w, r)
		return nil
	}
}

func (g *Gateway) runtime(w http.ResponseWriter, r *http.Request, _ *dataservice.App) error {
	out := map[string]any{"process": runtimestats.Read()}
	if g.stats != nil {
		out["components"] = g.stats()
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}
