package gateway

import (
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
	"github.com/heraldpush/herald/internal/ids"
)

// The JPush-compatible face of the gateway: JPush's REST API v3 (push,
// schedules, reports, devices, tags and aliases) over Herald's core, so
// that an app backend written against a JPush server SDK works by changing
// only the host. It authenticates as /v1 does (Basic app_key:master_secret;
// Herald's keys have JPush's shape), answers in JPush's shapes, reports
// errors with JPush's numeric codes (writeJPushError), and limits each
// app's calls per minute with JPush's X-Rate-Limit-* headers.
// docs/jpush.md describes the mapping and what is not supported.

// jpushAPI is one part of the JPush API. Each has its own error codes and
// its own rate limit, as with JPush.
type jpushAPI int

const (
	jpushPushAPI     jpushAPI = iota // /v3/push…: push, validate, cid
	jpushScheduleAPI                 // /v3/schedules…
	jpushDeviceAPI                   // /v3/devices…, /v3/tags…, /v3/aliases…
	jpushReportAPI                   // /v3/received…
)

// isJPushPath reports whether path belongs to the /v3 face: its errors
// are JPush's.
func isJPushPath(path string) bool {
	return path == "/v3" || strings.HasPrefix(path, "/v3/")
}

// jpushAPIOf returns the part of the API path belongs to. Paths of no
// part (unknown endpoints) are the push API's, whose codes are JPush's
// general ones.
func jpushAPIOf(path string) jpushAPI {
	for _, p := range []struct {
		prefix string
		part   jpushAPI
	}{
		{"/v3/schedules", jpushScheduleAPI},
		{"/v3/devices", jpushDeviceAPI},
		{"/v3/tags", jpushDeviceAPI},
		{"/v3/aliases", jpushDeviceAPI},
		{"/v3/received", jpushReportAPI},
	} {
		if path == p.prefix || strings.HasPrefix(path, p.prefix+"/") {
			return p.part
		}
	}
	return jpushPushAPI
}

// JPushRateLimits bound the calls one app may make to each part of the
// JPush-compatible /v3 API in a minute (a fixed window per app, as JPush
// counts them), reported in X-Rate-Limit-Quota, X-Rate-Limit-Remaining and
// X-Rate-Limit-Reset. A call over the quota gets 429 with JPush's code
// 2002. Zero fields take JPush's free-tier figures; a negative one lifts
// the limit (and the headers). Each gateway process counts on its own.
type JPushRateLimits struct {
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

func (l JPushRateLimits) withDefaults() JPushRateLimits {
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

func (l JPushRateLimits) of(part jpushAPI) int {
	switch part {
	case jpushScheduleAPI:
		return l.Schedule
	case jpushDeviceAPI:
		return l.Device
	case jpushReportAPI:
		return l.Report
	}
	return l.Push
}

// jpushKind is what went wrong, whichever part of the API it went wrong
// in; jpushCodes turns it into that part's code and status.
type jpushKind int

const (
	jpushInternal       jpushKind = iota
	jpushMethod                   // wrong HTTP method
	jpushMissing                  // a required field or parameter is absent
	jpushInvalid                  // a field or parameter has a wrong value
	jpushAuthMissing              // no Authorization header
	jpushAuthFailed               // wrong credentials
	jpushTooBig                   // message or body too big
	jpushUnsupportedKey           // a key the push object does not have
	jpushNoTarget                 // the audience has no device
	jpushNotFound                 // no such endpoint or resource
	jpushAliasFull                // an alias names the most devices allowed
	jpushRateLimited              // over the minute's quota
	jpushUnavailable              // storage or a peer unavailable, or timed out
)

type jpushCode struct {
	code, status int
}

// jpushCodes are JPush's codes per part of the API (see docs/jpush.md).
// Where JPush documents no code for a case, the part's code for invalid
// parameters stands in (or its internal error code, for server trouble).
var jpushCodes = map[jpushAPI]map[jpushKind]jpushCode{
	jpushPushAPI: {
		jpushInternal:       {1000, http.StatusInternalServerError},
		jpushMethod:         {1001, http.StatusMethodNotAllowed},
		jpushMissing:        {1002, http.StatusBadRequest},
		jpushInvalid:        {1003, http.StatusBadRequest},
		jpushAuthMissing:    {1004, http.StatusUnauthorized},
		jpushAuthFailed:     {1004, http.StatusUnauthorized},
		jpushTooBig:         {1005, http.StatusBadRequest},
		jpushUnsupportedKey: {1009, http.StatusBadRequest},
		jpushNoTarget:       {1011, http.StatusBadRequest},
		jpushNotFound:       {1003, http.StatusNotFound},
		jpushAliasFull:      {1003, http.StatusBadRequest},
		jpushRateLimited:    {2002, http.StatusTooManyRequests},
		jpushUnavailable:    {1030, http.StatusServiceUnavailable},
	},
	jpushScheduleAPI: {
		jpushInternal:       {8200, http.StatusInternalServerError},
		jpushMethod:         {8100, http.StatusMethodNotAllowed},
		jpushMissing:        {8100, http.StatusBadRequest},
		jpushInvalid:        {8100, http.StatusBadRequest},
		jpushAuthMissing:    {8101, http.StatusUnauthorized},
		jpushAuthFailed:     {8101, http.StatusUnauthorized},
		jpushTooBig:         {8100, http.StatusBadRequest},
		jpushUnsupportedKey: {8100, http.StatusBadRequest},
		jpushNoTarget:       {8100, http.StatusBadRequest},
		jpushNotFound:       {8104, http.StatusNotFound},
		jpushAliasFull:      {8100, http.StatusBadRequest},
		jpushRateLimited:    {2002, http.StatusTooManyRequests},
		jpushUnavailable:    {8203, http.StatusServiceUnavailable},
	},
	jpushDeviceAPI: {
		jpushInternal:       {7000, http.StatusInternalServerError},
		jpushMethod:         {7002, http.StatusMethodNotAllowed},
		jpushMissing:        {7002, http.StatusBadRequest},
		jpushInvalid:        {7002, http.StatusBadRequest},
		jpushAuthMissing:    {7001, http.StatusUnauthorized},
		jpushAuthFailed:     {7004, http.StatusUnauthorized},
		jpushTooBig:         {7002, http.StatusBadRequest},
		jpushUnsupportedKey: {7002, http.StatusBadRequest},
		jpushNoTarget:       {7002, http.StatusBadRequest},
		jpushNotFound:       {7002, http.StatusNotFound},
		jpushAliasFull:      {7015, http.StatusBadRequest},
		jpushRateLimited:    {2002, http.StatusTooManyRequests},
		jpushUnavailable:    {7000, http.StatusServiceUnavailable},
	},
	jpushReportAPI: {
		jpushInternal:       {10, http.StatusInternalServerError},
		jpushMethod:         {1001, http.StatusMethodNotAllowed},
		jpushMissing:        {1002, http.StatusBadRequest},
		jpushInvalid:        {1003, http.StatusBadRequest},
		jpushAuthMissing:    {3001, http.StatusUnauthorized},
		jpushAuthFailed:     {3001, http.StatusUnauthorized},
		jpushTooBig:         {1005, http.StatusBadRequest},
		jpushUnsupportedKey: {1003, http.StatusBadRequest},
		jpushNoTarget:       {1003, http.StatusBadRequest},
		jpushNotFound:       {1003, http.StatusNotFound},
		jpushAliasFull:      {1003, http.StatusBadRequest},
		jpushRateLimited:    {2002, http.StatusTooManyRequests},
		jpushUnavailable:    {10, http.StatusServiceUnavailable},
	},
}

// jpushError is an error the /v3 API reports as is, with the code of its
// kind in the part of the API that reports it.
type jpushError struct {
	kind    jpushKind
	message string
	// status, if not 0, replaces the kind's status (a 504 is not a 503).
	status int
	// challenge is the WWW-Authenticate value of a 401.
	challenge string
}

func (e *jpushError) Error() string { return "jpush: " + e.message }

func jpushErrorf(kind jpushKind, format string, args ...any) *jpushError {
	return &jpushError{kind: kind, message: fmt.Sprintf(format, args...)}
}

// jpushKindOf maps the codes of /v1's errors (which the core functions
// the /v3 face calls return) to kinds.
var jpushKindOf = map[string]jpushKind{
	"missing_field":             jpushMissing,
	"invalid_field":             jpushInvalid,
	"unknown_field":             jpushInvalid,
	"invalid_json":              jpushInvalid,
	"invalid_parameter":         jpushInvalid,
	"invalid_request":           jpushInvalid,
	"too_many_registration_ids": jpushInvalid,
	"too_many_tags":             jpushInvalid,
	"unknown_segment":           jpushInvalid,
	"unknown_registration_id":   jpushNotFound,
	"alias_full":                jpushAliasFull,
	"payload_too_large":         jpushTooBig,
	"request_too_large":         jpushTooBig,
	"not_found":                 jpushNotFound,
	"unknown_msg_id":            jpushNotFound,
	"method_not_allowed":        jpushMethod,
	"unauthorized":              jpushAuthFailed,
	"conflict":                  jpushUnavailable,
	"unavailable":               jpushUnavailable,
	"timeout":                   jpushUnavailable,
	"canceled":                  jpushUnavailable,
	"internal":                  jpushInternal,
}

// toJPushError turns any error into what a /v3 client sees, and reports
// whether it was unexpected (and so worth a log line).
func toJPushError(err error) (je *jpushError, unexpected bool) {
	if errors.As(err, &je) {
		return je, false
	}
	ae, unexpected := api.ToError(err)
	kind, ok := jpushKindOf[ae.Code]
	if !ok {
		kind = jpushInvalid
		if ae.Status >= 500 {
			kind = jpushInternal
		}
	}
	if ae == api.ErrNoAppAuth {
		kind = jpushAuthMissing
	}
	je = &jpushError{kind: kind, message: ae.Message, challenge: ae.Challenge}
	if kind == jpushUnavailable || kind == jpushInternal {
		je.status = ae.Status // keep 409, 499 and 504 apart from 503
	}
	return je, unexpected
}

// jpushErrorBody is JPush's error body. Failed pushes carry a msg_id too,
// as with JPush: it names the failed call in the gateway's log, and no
// message.
type jpushErrorBody struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	MsgID string `json:"msg_id,omitempty"`
}

// writeJPushError writes err as JPush does: {"error": {"code", "message"}}
// with the code of the part of the API the request was for.
func (g *Gateway) writeJPushError(w http.ResponseWriter, r *http.Request, err error) {
	je, unexpected := toJPushError(err)
	part := jpushAPIOf(r.URL.Path)
	c := jpushCodes[part][je.kind]
	status := c.status
	if je.status != 0 {
		status = je.status
	}
	var body jpushErrorBody
	body.Error.Code, body.Error.Message = c.code, je.message
	if r.Method == http.MethodPost && (r.URL.Path == "/v3/push" || r.URL.Path == "/v3/push/validate") && g.ids != nil {
		body.MsgID = ids.FormatMessageID(g.ids.Next())
	}
	if unexpected {
		level := slog.LevelWarn
		if status >= 500 {
			level = slog.LevelError
		}
		g.log.Log(r.Context(), level, "request failed", "method", r.Method, "path", r.URL.Path, "status", status,
			"code", c.code, "msg_id", body.MsgID, "err", err)
	}
	if je.challenge != "" {
		w.Header().Set("WWW-Authenticate", je.challenge)
	}
	api.WriteJSON(w, status, body)
}

// jpushFace is the state of the /v3 face.
type jpushFace struct {
	limits  JPushRateLimits
	limiter *rateLimiter
}

func newJPushFace(limits JPushRateLimits) *jpushFace {
	return &jpushFace{limits: limits, limiter: newRateLimiter(time.Minute, time.Now)}
}

// jpushHandler is the handler of a route.
type jpushHandler = func(w http.ResponseWriter, r *http.Request, app *dataservice.App) error

// jpushRoutes are the routes of the /v3 face. Paths that JPush's SDKs
// call with a trailing slash (the Python SDK adds one to every device API
// path) are registered both ways.
func (g *Gateway) jpushRoutes() []api.Route {
	v3 := func(part jpushAPI, h jpushHandler) jpushHandler {
		return func(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
			if err := g.jpushLimit(w, part, app); err != nil {
				return err
			}
			return h(w, r, app)
		}
	}
	var routes []api.Route
	add := func(method, pattern string, part jpushAPI, h jpushHandler, slash bool) {
		routes = append(routes, api.Route{Method: method, Pattern: pattern, Auth: api.AuthApp, Handle: v3(part, h)})
		if slash {
			routes = append(routes, api.Route{Method: method, Pattern: pattern + "/{$}", Auth: api.AuthApp, Handle: v3(part, h)})
		}
	}
	add("POST", "/v3/push", jpushPushAPI, g.jpushPush, false)
	add("POST", "/v3/push/validate", jpushPushAPI, g.jpushValidate, false)
	add("GET", "/v3/push/cid", jpushPushAPI, g.jpushCIDs, false)
	// The Python SDK's get_cid requests GET /v3/push/validate?count=…
	// instead of /v3/push/cid.
	add("GET", "/v3/push/validate", jpushPushAPI, g.jpushCIDs, false)
	add("GET", "/v3/received", jpushReportAPI, g.jpushReceived, false)
	add("GET", "/v3/received/detail", jpushReportAPI, g.jpushReceivedDetail, false)
	add("POST", "/v3/devices/status", jpushDeviceAPI, g.jpushDevicesStatus, true)
	add("GET", "/v3/devices/{registration_id}", jpushDeviceAPI, g.jpushDevice, true)
	add("POST", "/v3/devices/{registration_id}", jpushDeviceAPI, g.jpushUpdateDevice, true)
	add("GET", "/v3/tags", jpushDeviceAPI, g.jpushTags, true)
	add("GET", "/v3/tags/{tag}/registration_ids/{registration_id}", jpushDeviceAPI, g.jpushTagHas, true)
	add("POST", "/v3/tags/{tag}", jpushDeviceAPI, g.jpushUpdateTag, true)
	add("DELETE", "/v3/tags/{tag}", jpushDeviceAPI, g.jpushDeleteTag, true)
	add("GET", "/v3/aliases/{alias}", jpushDeviceAPI, g.jpushAlias, true)
	add("DELETE", "/v3/aliases/{alias}", jpushDeviceAPI, g.jpushDeleteAlias, true)
	add("POST", "/v3/schedules", jpushScheduleAPI, g.jpushCreateSchedule, true)
	add("GET", "/v3/schedules", jpushScheduleAPI, g.jpushSchedules, true)
	add("GET", "/v3/schedules/{schedule_id}", jpushScheduleAPI, g.jpushSchedule, true)
	add("PUT", "/v3/schedules/{schedule_id}", jpushScheduleAPI, g.jpushUpdateSchedule, true)
	add("DELETE", "/v3/schedules/{schedule_id}", jpushScheduleAPI, g.jpushDeleteSchedule, true)
	add("GET", "/v3/schedules/{schedule_id}/msg_ids", jpushScheduleAPI, g.jpushScheduleMsgIDs, false)
	return routes
}

// jpushLimit counts a call of app to api and sets the rate-limit
// headers; over the quota it fails with JPush's 2002.
func (g *Gateway) jpushLimit(w http.ResponseWriter, part jpushAPI, app *dataservice.App) error {
	quota := g.jpush.limits.of(part)
	if quota < 0 || app == nil {
		return nil
	}
	d := g.jpush.limiter.take(strconv.Itoa(int(part))+"/"+app.Key, quota)
	reset := int(math.Ceil(d.Reset.Seconds()))
	h := w.Header()
	h.Set("X-Rate-Limit-Quota", strconv.Itoa(d.Quota))
	h.Set("X-Rate-Limit-Remaining", strconv.Itoa(d.Remaining))
	h.Set("X-Rate-Limit-Reset", strconv.Itoa(reset))
	if !d.Allowed {
		h.Set("Retry-After", strconv.Itoa(reset))
		return jpushErrorf(jpushRateLimited, "Rate limit exceeded: this app may make %d calls a minute to this part of the API; the count starts again in %d s", d.Quota, reset)
	}
	return nil
}
