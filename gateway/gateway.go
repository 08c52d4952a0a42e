package gateway

import (
	"log/slog"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/heraldpush/herald/actors"
	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway/account"
	"github.com/heraldpush/herald/gateway/api"
	"github.com/heraldpush/herald/gateway/cluster"
	"github.com/heraldpush/herald/gateway/jpush"
	"github.com/heraldpush/herald/gateway/lease"
	"github.com/heraldpush/herald/gateway/push"
	"github.com/heraldpush/herald/gateway/schedule"
	"github.com/heraldpush/herald/gateway/webhook"
	"github.com/heraldpush/herald/internal/health"
	"github.com/heraldpush/herald/internal/ids"
	"github.com/heraldpush/herald/internal/runtimestats"
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
	// MaxSchedules is the most schedules an app may have: creating one
	// more fails with 409 too_many_schedules. Zero means
	// DefaultMaxSchedules; negative means no limit.
	MaxSchedules int
	// MaxSegments is the most segments an app may have: creating one more
	// fails with 409 too_many_segments. Zero means DefaultMaxSegments;
	// negative means no limit.
	MaxSegments int
	// JPush configures the JPush-compatible /v3 face: each app's calls per
	// minute to each part of it. Zero fields take JPush's free-tier
	// figures; MaxBody is the gateway's.
	JPush jpush.Config
	// Webhooks configures the delivery of upstream messages to the apps'
	// webhooks (package webhook). Zero fields take its defaults.
	Webhooks webhook.Config
	// Accounts configures the portal's users and sessions (package
	// account): session lifetime, login limits, the proxies trusted to
	// name a login's client. Zero fields take its defaults.
	Accounts account.Config
	// Registrations bound how fast devices register with this gateway.
	// Zero fields mean no limit; herald all and herald gateway apply
	// DefaultRegistrationLimits unless told otherwise.
	Registrations RegistrationLimits
	// Log receives the gateway's logs. Nil means slog.Default().
	Log *slog.Logger
}

// Defaults of the limits per app (Config.MaxSchedules, MaxSegments).
const (
	DefaultMaxSchedules = 1000
	DefaultMaxSegments  = 1000
)

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
	if c.MaxSchedules == 0 {
		c.MaxSchedules = DefaultMaxSchedules
	}
	if c.MaxSegments == 0 {
		c.MaxSegments = DefaultMaxSegments
	}
	if c.MaxTTL <= 0 {
		c.MaxTTL = 10 * 24 * time.Hour
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	return c
}

// Deps are what a gateway works with.
type Deps struct {
	Data    dataservice.Client
	Cluster cluster.Cluster
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
	// Health answers GET /readyz with the process's checks of readiness
	// (its store, its dataservice, its connectors). Nil means a Checker
	// without checks: ready while the gateway serves.
	Health *health.Checker
}

// Gateway serves the REST API.
type Gateway struct {
	cfg       Config
	limits    push.Limits
	owner     lease.Owner // names this gateway run in its leases
	log       *slog.Logger
	data      dataservice.Client
	cluster   cluster.Cluster
	receipts  actors.Receipts
	ids       *ids.Generator
	system    *actor.ActorSystem
	router    *actor.PID
	mailboxes *workpool.Pool // runs the router's mailbox
	workers   *workpool.Pool
	warm      *workpool.Pool // runs requests (Call)
	tasks     *taskContainer
	schedules *schedule.Service
	webhooks  *webhook.Delivery
	stats     func() any
	health    *health.Checker
	accounts  *account.Accounts
	// registrations limit POST /v1/devices; safe for concurrent use.
	registrations registrationLimiters
	auth          *api.Authenticator
	handler       http.Handler
	routes        []api.Route
	jpush         *jpush.Face
}

// New returns a gateway; Close stops its tasks.
func New(cfg Config, deps Deps) *Gateway {
	cfg = cfg.withDefaults()
	g := &Gateway{cfg: cfg, limits: push.Limits{MaxPayload: cfg.MaxPayload, MaxRecipients: cfg.MaxRecipients, DefaultTTL: cfg.DefaultTTL, MaxTTL: cfg.MaxTTL},
		log: cfg.Log, data: deps.Data, cluster: deps.Cluster, receipts: deps.Receipts, ids: deps.IDs,
		system: deps.System, stats: deps.Stats, health: deps.Health,
		workers: workpool.New(cfg.TaskWorkers, 4*cfg.TaskWorkers), warm: workpool.New(warmRequests, 0),
		mailboxes: actors.NewMailboxPoolForOne()}
	if g.health == nil {
		g.health = health.New(health.Config{})
	}
	if cfg.Accounts.Log == nil {
		cfg.Accounts.Log = cfg.Log
	}
	g.accounts = account.New(cfg.Accounts, deps.Data)
	g.registrations = newRegistrationLimiters(cfg.Registrations)
	g.auth = api.NewAuthenticator(cfg.AdminTokenHash, deps.Data, g.accounts, cfg.Log)
	g.router = actors.SpawnRouter(deps.System, actors.RouterConfig{Data: deps.Data, Routes: deps.Cluster, Receipts: deps.Receipts,
		Mailboxes: g.mailboxes, Log: cfg.Log})
	node := 0
	if g.ids != nil {
		node = g.ids.Node()
	}
	g.owner = lease.NewOwner(node)
	g.tasks = newTaskContainer(g)
	g.schedules = schedule.New(schedule.Config{Scan: cfg.ScheduleScan, Grace: cfg.ScheduleGrace, Lease: cfg.TaskLease, MaxPerApp: cfg.MaxSchedules},
		schedule.Deps{Data: deps.Data, Limits: g.limits, Sender: firingSender{g}, IDs: deps.IDs, Owner: g.owner, Log: cfg.Log})
	g.webhooks = webhook.New(cfg.Webhooks, deps.Data, g.owner, cfg.Log)
	const viewer, marketer, owner = dataservice.RoleViewer, dataservice.RoleMarketer, dataservice.RoleOwner
	g.routes = []api.Route{
		route("GET", "/healthz", api.AuthNone, g.healthz),
		route("GET", "/readyz", api.AuthNone, g.readyz),
		route("GET", "/v1/openapi.json", api.AuthNone, g.openAPI),
		route("POST", "/v1/apps", api.AuthAdmin, g.createApp),
		route("POST", "/v1/devices", api.AuthNone, g.registerDevice),
		appRoute("GET", "/v1/devices/{registration_id}", viewer, g.deviceInfo),
		appRoute("POST", "/v1/devices/{registration_id}", marketer, g.updateDevice),
		appRoute("GET", "/v1/tags", viewer, g.listTags),
		appRoute("GET", "/v1/tags/{tag}", viewer, g.tagInfo),
		appRoute("GET", "/v1/aliases/{alias}", viewer, g.aliasInfo),
		appRoute("POST", "/v1/segments", marketer, g.createSegment),
		appRoute("GET", "/v1/segments", viewer, g.listSegments),
		appRoute("GET", "/v1/segments/{segment_id}", viewer, g.segmentInfo),
		appRoute("PUT", "/v1/segments/{segment_id}", marketer, g.updateSegment),
		appRoute("DELETE", "/v1/segments/{segment_id}", marketer, g.deleteSegment),
		appRoute("POST", "/v1/schedules", marketer, g.createSchedule),
		appRoute("GET", "/v1/schedules", viewer, g.listSchedules),
		appRoute("GET", "/v1/schedules/{schedule_id}", viewer, g.scheduleInfo),
		appRoute("PUT", "/v1/schedules/{schedule_id}", marketer, g.updateSchedule),
		appRoute("DELETE", "/v1/schedules/{schedule_id}", marketer, g.deleteSchedule),
		appRoute("PUT", "/v1/webhook", owner, g.putWebhook),
		appRoute("GET", "/v1/webhook", owner, g.getWebhook),
		appRoute("DELETE", "/v1/webhook", owner, g.deleteWebhook),
		route("GET", "/v1/dispatch", api.AuthNone, g.dispatch),
		appRoute("POST", "/v1/push", marketer, g.push),
		appRoute("POST", "/v1/push/validate", viewer, g.validatePushRequest),
		appRoute("POST", "/v1/audiences/estimate", viewer, g.estimateAudience),
		appRoute("GET", "/v1/messages", viewer, g.listMessages),
		appRoute("GET", "/v1/messages/{msg_id}", viewer, g.messageReport),
		appRoute("GET", "/v1/messages/{msg_id}/devices/{registration_id}", viewer, g.messageDevice),
		appRoute("DELETE", "/v1/messages/{msg_id}", marketer, g.cancelMessage),
		appRoute("GET", "/v1/app", viewer, g.appSummary),
		appRoute("POST", "/v1/app/secret", owner, g.rotateSecret),
		appRoute("PUT", "/v1/app/registration-secret", owner, g.setRegistrationSecret),
		appRoute("DELETE", "/v1/app/registration-secret", owner, g.deleteRegistrationSecret),
		appRoute("GET", "/v1/app/members", owner, g.listMembers),
		appRoute("PUT", "/v1/app/members/{email}", owner, g.putMember),
		appRoute("DELETE", "/v1/app/members/{email}", owner, g.deleteMember),
		appRoute("GET", "/v1/audit", owner, g.listAudit),
		route("POST", "/v1/portal/sessions", api.AuthNone, g.login),
		route("DELETE", "/v1/portal/sessions/current", api.AuthSession, g.logout),
		route("GET", "/v1/portal/me", api.AuthSession, g.me),
		route("POST", "/v1/admin/portal-users", api.AuthAdmin, g.createPortalUser),
		route("GET", "/v1/admin/portal-users", api.AuthAdmin, g.listPortalUsers),
		route("GET", "/v1/admin/portal-users/{email}", api.AuthAdmin, g.portalUser),
		route("PUT", "/v1/admin/portal-users/{email}", api.AuthAdmin, g.replacePortalUser),
		route("DELETE", "/v1/admin/portal-users/{email}", api.AuthAdmin, g.deletePortalUser),
		route("GET", "/v1/admin/runtime", api.AuthAdmin, g.runtime),
		route("GET", "/debug/pprof/", api.AuthAdmin, profile(pprof.Index)),
		route("GET", "/debug/pprof/cmdline", api.AuthAdmin, profile(pprof.Cmdline)),
		route("GET", "/debug/pprof/profile", api.AuthAdmin, profile(pprof.Profile)),
		route("GET", "/debug/pprof/symbol", api.AuthAdmin, profile(pprof.Symbol)),
		route("GET", "/debug/pprof/trace", api.AuthAdmin, profile(pprof.Trace)),
	}
	jcfg := cfg.JPush
	jcfg.MaxBody = cfg.MaxBody
	g.jpush = jpush.New(jcfg, jpush.Deps{Data: deps.Data, Pusher: pusher{g}, Limits: g.limits, Schedules: g.schedules, IDs: deps.IDs, Log: cfg.Log})
	g.routes = append(g.routes, g.jpush.Routes()...)
	mux := api.NewMux(g.routes, g.auth, g.writeError)
	g.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.warm.Call(func() { mux.ServeHTTP(w, r) })
	})
	g.tasks.start()
	g.schedules.Start()
	g.webhooks.Start()
	return g
}

// Close stops delivering upstream messages (giving up this gateway's
// webhook leases), firing schedules and taking over tasks, and stops the
// tasks running here: their leases run out and another gateway (or this
// one, restarted) resumes them from their checkpoints.
func (g *Gateway) Close() {
	g.webhooks.Close()
	g.schedules.Close()
	g.tasks.close()
	g.workers.Close()
	g.warm.Close()
	g.mailboxes.Close() // the router's later runs get goroutines of their own
}

// warmRequests is how many requests at a time run on goroutines whose
// stacks have grown already (workpool.Pool.Call); more run on their own.
// Most requests spend their time on the CPU, so a few per core suffice.
const warmRequests = 64

// Handler returns the HTTP handler of the API.
func (g *Gateway) Handler() http.Handler { return g.handler }

// route is a row of the route table.
func route(method, pattern string, auth api.Auth, handle api.Handler) api.Route {
	return api.Route{Method: method, Pattern: pattern, Auth: auth, Handle: handle}
}

// appRoute is a row of the route table for an app: its backend (Basic)
// may call it, and so may a portal user with at least role on the app.
func appRoute(method, pattern string, role dataservice.Role, handle api.Handler) api.Route {
	return api.Route{Method: method, Pattern: pattern, Auth: api.AuthApp, Role: role, Handle: handle}
}

// writeError writes err in the dialect of the face r is for: JPush's for
// the /v3 face, the API's own for the others.
func (g *Gateway) writeError(w http.ResponseWriter, r *http.Request, err error) {
	if jpush.IsPath(r.URL.Path) {
		g.jpush.WriteError(w, r, err)
		return
	}
	api.WriteError(w, r, g.log, err)
}

func (g *Gateway) healthz(w http.ResponseWriter, r *http.Request, _ *dataservice.App) error {
	api.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

// readyz answers whether this process can do its work: the checks of
// Deps.Health, 503 with the failing ones otherwise.
func (g *Gateway) readyz(w http.ResponseWriter, r *http.Request, _ *dataservice.App) error {
	g.health.ServeHTTP(w, r)
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
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}
