package jpush

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway/api"
	"github.com/heraldpush/herald/gateway/audience"
	"github.com/heraldpush/herald/gateway/device"
	"github.com/heraldpush/herald/gateway/push"
	"github.com/heraldpush/herald/gateway/schedule"
	"github.com/heraldpush/herald/internal/ids"
)

// part is one part of the JPush API. Each has its own error codes and
// its own rate limit, as with JPush.
type part int

const (
	pushPart     part = iota // /v3/push…: push, validate, cid
	schedulePart             // /v3/schedules…
	devicePart               // /v3/devices…, /v3/tags…, /v3/aliases…
	reportPart               // /v3/received…
)

// IsPath reports whether path belongs to the /v3 face: its errors are
// JPush's.
func IsPath(path string) bool {
	return path == "/v3" || strings.HasPrefix(path, "/v3/")
}

// partOf returns the part of the API path belongs to. Paths of no
// part (unknown endpoints) are the push API's, whose codes are JPush's
// general ones.
func partOf(path string) part {
	for _, p := range []struct {
		prefix string
		part   part
	}{
		{"/v3/schedules", schedulePart},
		{"/v3/devices", devicePart},
		{"/v3/tags", devicePart},
		{"/v3/aliases", devicePart},
		{"/v3/received", reportPart},
	} {
		if path == p.prefix || strings.HasPrefix(path, p.prefix+"/") {
			return p.part
		}
	}
	return pushPart
}

// RateLimits bound the calls one app may make to each part of the
// JPush-compatible /v3 API in a minute (a fixed window per app, as JPush
// counts them), reported in X-Rate-Limit-Quota, X-Rate-Limit-Remaining and
// X-Rate-Limit-Reset. A call over the quota gets 429 with JPush's code
// 2002. Zero fields take JPush's free-tier figures; a negative one lifts
// the limit (and the headers). Each gateway process counts on its own.
type RateLimits struct {
	// Push covers POST /v3/push, POST /v3/push/validate and GET
	// /v3/push/cid. Zero means 600.
	Push int
	// Schedule covers /v3/schedules. Zero means 100.
	Schedule int
	// Device covers /v3/devices, /v3/tags and /v3/aliases. Zero means
	// 600.
	Device int
	// Report covers /v3/received. Zero means 2400.
	Report int
}

func (l RateLimits) withDefaults() RateLimits {
	for _, f := range []struct {
		v   *int
		def int
	}{{&l.Push, 600}, {&l.Schedule, 100}, {&l.Device, 600}, {&l.Report, 2400}} {
		if *f.v == 0 {
			*f.v = f.def
		}
	}
	return l
}

func (l RateLimits) of(part part) int {
	switch part {
	case schedulePart:
		return l.Schedule
	case devicePart:
		return l.Device
	case reportPart:
		return l.Report
	}
	return l.Push
}

// kind is what went wrong, whichever part of the API it went wrong
// in; codes turns it into that part's code and status.
type kind int

const (
	kindInternal       kind = iota
	kindMethod              // wrong HTTP method
	kindMissing             // a required field or parameter is absent
	kindInvalid             // a field or parameter has a wrong value
	kindAuthMissing         // no Authorization header
	kindAuthFailed          // wrong credentials
	kindTooBig              // message or body too big
	kindUnsupportedKey      // a key the push object does not have
	kindNoTarget            // the audience has no device
	kindNotFound            // no such endpoint or resource
	kindAliasFull           // an alias names the most devices allowed
	kindRateLimited         // over the minute's quota
	kindUnavailable         // storage or a peer unavailable, or timed out
)

type code struct {
	code, status int
}

// codes are JPush's codes per part of the API (see docs/jpush.md).
// Where JPush documents no code for a case, the part's code for invalid
// parameters stands in (or its internal error code, for server trouble).
var codes = map[part]map[kind]code{
	pushPart: {
		kindInternal:       {1000, http.StatusInternalServerError},
		kindMethod:         {1001, http.StatusMethodNotAllowed},
		kindMissing:        {1002, http.StatusBadRequest},
		kindInvalid:        {1003, http.StatusBadRequest},
		kindAuthMissing:    {1004, http.StatusUnauthorized},
		kindAuthFailed:     {1004, http.StatusUnauthorized},
		kindTooBig:         {1005, http.StatusBadRequest},
		kindUnsupportedKey: {1009, http.StatusBadRequest},
		kindNoTarget:       {1011, http.StatusBadRequest},
		kindNotFound:       {1003, http.StatusNotFound},
		kindAliasFull:      {1003, http.StatusBadRequest},
		kindRateLimited:    {2002, http.StatusTooManyRequests},
		kindUnavailable:    {1030, http.StatusServiceUnavailable},
	},
	schedulePart: {
		kindInternal:       {8200, http.StatusInternalServerError},
		kindMethod:         {8100, http.StatusMethodNotAllowed},
		kindMissing:        {8100, http.StatusBadRequest},
		kindInvalid:        {8100, http.StatusBadRequest},
		kindAuthMissing:    {8101, http.StatusUnauthorized},
		kindAuthFailed:     {8101, http.StatusUnauthorized},
		kindTooBig:         {8100, http.StatusBadRequest},
		kindUnsupportedKey: {8100, http.StatusBadRequest},
		kindNoTarget:       {8100, http.StatusBadRequest},
		kindNotFound:       {8104, http.StatusNotFound},
		kindAliasFull:      {8100, http.StatusBadRequest},
		kindRateLimited:    {2002, http.StatusTooManyRequests},
		kindUnavailable:    {8203, http.StatusServiceUnavailable},
	},
	devicePart: {
		kindInternal:       {7000, http.StatusInternalServerError},
		kindMethod:         {7002, http.StatusMethodNotAllowed},
		kindMissing:        {7002, http.StatusBadRequest},
		kindInvalid:        {7002, http.StatusBadRequest},
		kindAuthMissing:    {7001, http.StatusUnauthorized},
		kindAuthFailed:     {7004, http.StatusUnauthorized},
		kindTooBig:         {7002, http.StatusBadRequest},
		kindUnsupportedKey: {7002, http.StatusBadRequest},
		kindNoTarget:       {7002, http.StatusBadRequest},
		kindNotFound:       {7002, http.StatusNotFound},
		kindAliasFull:      {7015, http.StatusBadRequest},
		kindRateLimited:    {2002, http.StatusTooManyRequests},
		kindUnavailable:    {7000, http.StatusServiceUnavailable},
	},
	reportPart: {
		kindInternal:       {10, http.StatusInternalServerError},
		kindMethod:         {1001, http.StatusMethodNotAllowed},
		kindMissing:        {1002, http.StatusBadRequest},
		kindInvalid:        {1003, http.StatusBadRequest},
		kindAuthMissing:    {3001, http.StatusUnauthorized},
		kindAuthFailed:     {3001, http.StatusUnauthorized},
		kindTooBig:         {1005, http.StatusBadRequest},
		kindUnsupportedKey: {1003, http.StatusBadRequest},
		kindNoTarget:       {1003, http.StatusBadRequest},
		kindNotFound:       {1003, http.StatusNotFound},
		kindAliasFull:      {1003, http.StatusBadRequest},
		kindRateLimited:    {2002, http.StatusTooManyRequests},
		kindUnavailable:    {10, http.StatusServiceUnavailable},
	},
}

// v3Error is an error the /v3 API reports as is, with the code of its
// kind in the part of the API that reports it.
type v3Error struct {
	kind    kind
	message string
	// status, if not 0, replaces the kind's status (a 504 is not a 503).
	status int
	// challenge is the WWW-Authenticate value of a 401.
	challenge string
}

func (e *v3Error) Error() string { return "jpush: " + e.message }

func errorf(kind kind, format string, args ...any) *v3Error {
	return &v3Error{kind: kind, message: fmt.Sprintf(format, args...)}
}

// kindOfCode maps the codes of /v1's errors (which the core functions
// the /v3 face calls return) to kinds.
var kindOfCode = map[string]kind{
	"missing_field":             kindMissing,
	"invalid_field":             kindInvalid,
	"unknown_field":             kindInvalid,
	"invalid_json":              kindInvalid,
	"invalid_parameter":         kindInvalid,
	"invalid_request":           kindInvalid,
	"too_many_registration_ids": kindInvalid,
	"too_many_tags":             kindInvalid,
	"too_many_schedules":        kindInvalid,
	"unknown_segment":           kindInvalid,
	"unknown_registration_id":   kindNotFound,
	"alias_full":                kindAliasFull,
	"payload_too_large":         kindTooBig,
	"request_too_large":         kindTooBig,
	"not_found":                 kindNotFound,
	"unknown_msg_id":            kindNotFound,
	"method_not_allowed":        kindMethod,
	"unauthorized":              kindAuthFailed,
	"conflict":                  kindUnavailable,
	"unavailable":               kindUnavailable,
	"timeout":                   kindUnavailable,
	"canceled":                  kindUnavailable,
	"internal":                  kindInternal,
}

// toJPushError turns any error into what a /v3 client sees, and reports
// whether it was unexpected (and so worth a log line).
func toJPushError(err error) (je *v3Error, unexpected bool) {
	if errors.As(err, &je) {
		return je, false
	}
	ae, unexpected := api.ToError(err)
	kind, ok := kindOfCode[ae.Code]
	if !ok {
		kind = kindInvalid
		if ae.Status >= 500 {
			kind = kindInternal
		}
	}
	if ae == api.ErrNoAppAuth {
		kind = kindAuthMissing
	}
	je = &v3Error{kind: kind, message: ae.Message, challenge: ae.Challenge}
	if kind == kindUnavailable || kind == kindInternal || ae.Status == http.StatusConflict {
		je.status = ae.Status // keep 409, 499 and 504 apart from 503
	}
	return je, unexpected
}

// errorBody is JPush's error body. Failed pushes carry a msg_id too,
// as with JPush: it names the failed call in the gateway's log, and no
// message.
type errorBody struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	MsgID string `json:"msg_id,omitempty"`
}

// WriteError writes err as JPush does: {"error": {"code", "message"}}
// with the code of the part of the API the request was for.
func (f *Face) WriteError(w http.ResponseWriter, r *http.Request, err error) {
	je, unexpected := toJPushError(err)
	part := partOf(r.URL.Path)
	c := codes[part][je.kind]
	status := c.status
	if je.status != 0 {
		status = je.status
	}
	var body errorBody
	body.Error.Code, body.Error.Message = c.code, je.message
	if r.Method == http.MethodPost && (r.URL.Path == "/v3/push" || r.URL.Path == "/v3/push/validate") && f.ids != nil {
		body.MsgID = ids.FormatMessageID(f.ids.Next())
	}
	if unexpected {
		level := slog.LevelWarn
		if status >= 500 {
			level = slog.LevelError
		}
		f.log.Log(r.Context(), level, "request failed", "method", r.Method, "path", r.URL.Path, "status", status,
			"code", c.code, "msg_id", body.MsgID, "err", err)
	}
	if je.challenge != "" {
		w.Header().Set("WWW-Authenticate", je.challenge)
	}
	api.WriteJSON(w, status, body)
}

// Store is what the /v3 face reads and writes beside what it asks of the
// Pusher: devices, their tags and aliases, sessions, and reports.
type Store interface {
	audience.Data
	device.Store
	device.Reader
	AppTags(ctx context.Context, app, after string, limit int) ([]string, error)
	Sessions(ctx context.Context, rids []string) ([]dataservice.Session, error)
	Message(ctx context.Context, id uint64) (dataservice.Message, error)
	Messages(ctx context.Context, ids []uint64) ([]dataservice.Message, error)
	Report(ctx context.Context, id uint64) (dataservice.Report, error)
}

// Pusher is what the /v3 face needs of the gateway's push path.
type Pusher interface {
	// Submit stores a planned push and starts sending it, as POST
	// /v1/push does, and returns its message id: that of the earlier
	// push, which sends nothing again, for a cid used within
	// push.CIDLifetime.
	Submit(ctx context.Context, app *dataservice.App, plan *push.Plan) (uint64, error)
	// Withdraw stops the sending of m and withdraws its undelivered
	// copies, as DELETE /v1/messages/{msg_id} does.
	Withdraw(ctx context.Context, m *dataservice.Message) error
}

// Config configures the /v3 face. Zero fields take the defaults.
type Config struct {
	// RateLimits bound each app's calls per minute. Zero fields take
	// JPush's free-tier figures.
	RateLimits RateLimits
	// MaxBody bounds request bodies. Zero means 64 KiB.
	MaxBody int64
	// Now is the rate limiter's clock. Nil means time.Now.
	Now func() time.Time
}

// Deps are what the /v3 face works with.
type Deps struct {
	Data   Store
	Pusher Pusher
	// Limits check pushes as /v1 does.
	Limits    push.Limits
	Schedules *schedule.Service
	// IDs name failed pushes in error bodies, as JPush's do.
	IDs *ids.Generator
	// Log receives unexpected errors. Nil means slog.Default().
	Log *slog.Logger
}

// Face serves the JPush-compatible /v3 API. It holds no state but the
// rate limiter's counts; it is safe for concurrent use.
type Face struct {
	cfg       Config
	data      Store
	pusher    Pusher
	limits    push.Limits
	schedules *schedule.Service
	ids       *ids.Generator
	log       *slog.Logger
	limiter   *rateLimiter
}

// DefaultConfig returns the configuration with every default filled in.
func DefaultConfig() Config { return Config{}.withDefaults() }

func (c Config) withDefaults() Config {
	c.RateLimits = c.RateLimits.withDefaults()
	if c.MaxBody <= 0 {
		c.MaxBody = 64 << 10
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// New returns the /v3 face.
func New(cfg Config, deps Deps) *Face {
	cfg = cfg.withDefaults()
	if deps.Log == nil {
		deps.Log = slog.Default()
	}
	return &Face{cfg: cfg, data: deps.Data, pusher: deps.Pusher, limits: deps.Limits, schedules: deps.Schedules, ids: deps.IDs, log: deps.Log,
		limiter: newRateLimiter(time.Minute, cfg.Now)}
}

// Routes are the routes of the /v3 face. Paths that JPush's SDKs
// call with a trailing slash (the Python SDK adds one to every device API
// path) are registered both ways.
func (f *Face) Routes() []api.Route {
	v3 := func(p part, h api.Handler) api.Handler {
		return func(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
			if err := f.limit(w, p, app); err != nil {
				return err
			}
			return h(w, r, app)
		}
	}
	var routes []api.Route
	add := func(method, pattern string, p part, h api.Handler, slash bool) {
		routes = append(routes, api.Route{Method: method, Pattern: pattern, Auth: api.AuthBasic, Handle: v3(p, h)})
		if slash {
			routes = append(routes, api.Route{Method: method, Pattern: pattern + "/{$}", Auth: api.AuthBasic, Handle: v3(p, h)})
		}
	}
	add("POST", "/v3/push", pushPart, f.push, false)
	add("POST", "/v3/push/validate", pushPart, f.validate, false)
	add("GET", "/v3/push/cid", pushPart, f.cids, false)
	// The Python SDK's get_cid requests GET /v3/push/validate?count=…
	// instead of /v3/push/cid.
	add("GET", "/v3/push/validate", pushPart, f.cids, false)
	add("GET", "/v3/received", reportPart, f.received, false)
	add("GET", "/v3/received/detail", reportPart, f.receivedDetail, false)
	add("POST", "/v3/devices/status", devicePart, f.devicesStatus, true)
	add("GET", "/v3/devices/{registration_id}", devicePart, f.getDevice, true)
	add("POST", "/v3/devices/{registration_id}", devicePart, f.updateDevice, true)
	add("GET", "/v3/tags", devicePart, f.listTags, true)
	add("GET", "/v3/tags/{tag}/registration_ids/{registration_id}", devicePart, f.tagHas, true)
	add("POST", "/v3/tags/{tag}", devicePart, f.updateTag, true)
	add("DELETE", "/v3/tags/{tag}", devicePart, f.deleteTag, true)
	add("GET", "/v3/aliases/{alias}", devicePart, f.getAlias, true)
	add("DELETE", "/v3/aliases/{alias}", devicePart, f.deleteAlias, true)
	add("POST", "/v3/schedules", schedulePart, f.createSchedule, true)
	add("GET", "/v3/schedules", schedulePart, f.listSchedules, true)
	add("GET", "/v3/schedules/{schedule_id}", schedulePart, f.getSchedule, true)
	add("PUT", "/v3/schedules/{schedule_id}", schedulePart, f.updateSchedule, true)
	add("DELETE", "/v3/schedules/{schedule_id}", schedulePart, f.deleteSchedule, true)
	add("GET", "/v3/schedules/{schedule_id}/msg_ids", schedulePart, f.scheduleMsgIDs, false)
	return routes
}

// limit counts a call of app to part p and sets the rate-limit
// headers; over the quota it fails with JPush's 2002.
func (f *Face) limit(w http.ResponseWriter, p part, app *dataservice.App) error {
	quota := f.cfg.RateLimits.of(p)
	if quota < 0 || app == nil {
		return nil
	}
	d := f.limiter.take(strconv.Itoa(int(p))+"/"+app.Key, quota)
	reset := int(math.Ceil(d.Reset.Seconds()))
	h := w.Header()
	h.Set("X-Rate-Limit-Quota", strconv.Itoa(d.Quota))
	h.Set("X-Rate-Limit-Remaining", strconv.Itoa(d.Remaining))
	h.Set("X-Rate-Limit-Reset", strconv.Itoa(reset))
	if !d.Allowed {
		h.Set("Retry-After", strconv.Itoa(reset))
		return errorf(kindRateLimited, "Rate limit exceeded: this app may make %d calls a minute to this part of the API; the count starts again in %d s", d.Quota, reset)
	}
	return nil
}
