package portal

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeGateway implements, in memory, the part of the gateway's REST API the
// portal calls: the portal endpoints of docs/portal.md (sessions, me, the
// app summary, secret, members, audit) and the /v1 calls of the pages,
// with the contract's authentication and roles. Tests seed it and read
// what the portal asked of it.
type fakeGateway struct {
	*httptest.Server

	mu       sync.Mutex
	users    map[string]*fakeUser // by email
	sessions map[string]string    // token → email
	apps     map[string]*fakeApp  // by app key
	calls    []fakeCall
	nextID   uint64
}

type fakeUser struct {
	password string
	roles    map[string]string // app key → role
}

type fakeCall struct {
	Method, Path, App, Auth, Body string
}

type fakeApp struct {
	name      string
	summary   appSummary
	messages  []*messageItem // newest first
	schedules map[string]*schedule
	segments  map[string]*segment
	tags      map[string][]string // tag → registration ids, sorted
	devices   map[string]*deviceInfo
	webhook   *webhook
	secret    string
	audit     []auditEntry
	pushes    []json.RawMessage // bodies of POST /v1/push
}

func newFakeGateway(t testing.TB) *fakeGateway {
	g := &fakeGateway{users: map[string]*fakeUser{}, sessions: map[string]string{}, apps: map[string]*fakeApp{}, nextID: 1000}
	g.Server = httptest.NewServer(http.HandlerFunc(g.serve))
	t.Cleanup(g.Close)
	return g
}

// addApp adds an app.
func (g *fakeGateway) addApp(key, name string) *fakeApp {
	g.mu.Lock()
	defer g.mu.Unlock()
	a := &fakeApp{name: name, schedules: map[string]*schedule{}, segments: map[string]*segment{},
		tags: map[string][]string{}, devices: map[string]*deviceInfo{}, secret: "secret-" + key}
	a.summary = appSummary{AppKey: key, Name: name, Devices: 1_000_000, Online: 420_000, MessagesToday: 12, TargetedToday: 2000, DeliveredToday: 1500}
	g.apps[key] = a
	return a
}

// addUser adds a portal user with roles (app key → role).
func (g *fakeGateway) addUser(email, password string, roles map[string]string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.users[email] = &fakeUser{password: password, roles: roles}
}

// addMessage adds a message to app, newest, and returns it.
func (g *fakeGateway) addMessage(app string, m messageItem) *messageItem {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.nextID++
	if m.MsgID == "" {
		m.MsgID = strconv.FormatUint(g.nextID, 10)
	}
	if m.Created.IsZero() {
		m.Created = time.Now().UTC()
	}
	if m.State == "" {
		m.State = stateDone
	}
	a := g.apps[app]
	a.messages = append([]*messageItem{&m}, a.messages...)
	return &m
}

// update changes an app's data under the lock.
func (g *fakeGateway) update(f func()) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f()
}

// callsTo returns the calls made to method path (a prefix).
func (g *fakeGateway) callsTo(method, pathPrefix string) []fakeCall {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []fakeCall
	for _, c := range g.calls {
		if c.Method == method && strings.HasPrefix(c.Path, pathPrefix) {
			out = append(out, c)
		}
	}
	return out
}

func (g *fakeGateway) lastCall(method, pathPrefix string) fakeCall {
	cs := g.callsTo(method, pathPrefix)
	if len(cs) == 0 {
		return fakeCall{}
	}
	return cs[len(cs)-1]
}

type fakeError struct {
	status        int
	code, message string
}

func (e *fakeError) Error() string { return e.message }

func errf(status int, code, format string, args ...any) *fakeError {
	return &fakeError{status, code, fmt.Sprintf(format, args...)}
}

// needs is the role each app route needs, as in the contract.
func needs(method, path string) string {
	switch {
	case strings.HasPrefix(path, "/v1/webhook"), path == "/v1/app/secret", strings.HasPrefix(path, "/v1/app/members"), path == "/v1/audit":
		return roleOwner
	case method == http.MethodGet, path == "/v1/audiences/estimate", path == "/v1/push/validate":
		return roleViewer
	}
	return roleMarketer
}

func actionWords(method, path string) string {
	switch {
	case path == "/v1/push":
		return "sending a push"
	case strings.HasPrefix(path, "/v1/messages"):
		return "canceling a message"
	case strings.HasPrefix(path, "/v1/schedules"):
		return "changing schedules"
	case strings.HasPrefix(path, "/v1/segments"):
		return "changing segments"
	case strings.HasPrefix(path, "/v1/devices"):
		return "changing a device"
	}
	return method + " " + path
}

func (g *fakeGateway) serve(w http.ResponseWriter, r *http.Request) {
	var body []byte
	if r.Body != nil {
		body = make([]byte, 0, 512)
		buf := make([]byte, 4096)
		for {
			n, err := r.Body.Read(buf)
			body = append(body, buf[:n]...)
			if err != nil {
				break
			}
		}
	}
	g.mu.Lock()
	g.calls = append(g.calls, fakeCall{Method: r.Method, Path: r.URL.Path, App: r.Header.Get("X-Herald-App"), Auth: r.Header.Get("Authorization"), Body: string(body)})
	out, status, err := g.route(r, body)
	g.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		fe, ok := err.(*fakeError)
		if !ok {
			fe = errf(500, "internal", "%v", err)
		}
		if fe.status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Session realm="herald"`)
		}
		if fe.status == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "60")
		}
		w.WriteHeader(fe.status)
		json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": fe.code, "message": fe.message}})
		return
	}
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(out)
}

// route answers a call; the lock is held.
func (g *fakeGateway) route(r *http.Request, body []byte) (any, int, error) {
	path := r.URL.Path
	if r.Method == http.MethodPost && path == "/v1/portal/sessions" {
		var in struct{ Email, Password string }
		json.Unmarshal(body, &in)
		u, ok := g.users[strings.ToLower(in.Email)]
		if in.Email == "limited@example.com" {
			return nil, 0, errf(429, "rate_limited", "too many failed logins for this account; try again in 15 minutes")
		}
		if !ok || u.password != in.Password {
			return nil, 0, errf(401, "invalid_credentials", "the email or the password is wrong")
		}
		token := rand.Text()
		g.sessions[token] = strings.ToLower(in.Email)
		return sessionCreated{Token: token, Expires: time.Now().Add(12 * time.Hour), User: g.me(strings.ToLower(in.Email))}, 201, nil
	}
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Session ")
	email, known := g.sessions[token]
	if !ok || !known {
		return nil, 0, errf(401, "unauthorized", "send Authorization: Session <token> from POST /v1/portal/sessions")
	}
	switch {
	case r.Method == http.MethodDelete && path == "/v1/portal/sessions/current":
		delete(g.sessions, token)
		return nil, 204, nil
	case r.Method == http.MethodGet && path == "/v1/portal/me":
		return g.me(email), 200, nil
	}
	key := r.Header.Get("X-Herald-App")
	role := g.users[email].roles[key]
	a := g.apps[key]
	if role == "" || a == nil {
		return nil, 0, errf(403, "forbidden", "%s has no role on this app", email)
	}
	if need := needs(r.Method, path); roleRank(role) < roleRank(need) {
		return nil, 0, errf(403, "forbidden", "%s needs the %s role; you are %s", actionWords(r.Method, path), need, role)
	}
	if r.Method != http.MethodGet {
		a.audit = append([]auditEntry{{Time: time.Now().UTC(), Actor: email, Action: r.Method + " " + path, Status: "200"}}, a.audit...)
	}
	return g.appRoute(r, a, path, body)
}

func (g *fakeGateway) me(email string) me {
	m := me{Email: email, Apps: []appRole{}}
	u := g.users[email]
	keys := make([]string, 0, len(u.roles))
	for k := range u.roles {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if a := g.apps[k]; a != nil {
			m.Apps = append(m.Apps, appRole{AppKey: k, Name: a.name, Role: u.roles[k]})
		}
	}
	return m
}

// pageOf returns the items of sorted after the cursor, at most limit, and
// the next cursor.
func pageOf(sorted []string, r *http.Request, def int) ([]string, string) {
	after := r.URL.Query().Get("after")
	limit := def
	if s := r.URL.Query().Get("limit"); s != "" {
		limit, _ = strconv.Atoi(s)
	}
	i := sort.SearchStrings(sorted, after)
	if after != "" && i < len(sorted) && sorted[i] == after {
		i++
	}
	rest := sorted[i:]
	if len(rest) > limit {
		return rest[:limit], rest[limit-1]
	}
	return rest, ""
}

func (g *fakeGateway) appRoute(r *http.Request, a *fakeApp, path string, body []byte) (any, int, error) {
	m, p := r.Method, strings.Split(strings.TrimPrefix(path, "/v1/"), "/")
	q := r.URL.Query()
	switch {
	case m == "GET" && path == "/v1/app":
		return a.summary, 200, nil
	case m == "POST" && path == "/v1/app/secret":
		a.secret = "new-" + rand.Text()[:20]
		return secretRotated{AppKey: a.summary.AppKey, MasterSecret: a.secret}, 200, nil
	case m == "GET" && path == "/v1/app/members":
		var out memberList
		for email, u := range g.users {
			if role := u.roles[a.summary.AppKey]; role != "" {
				out.Members = append(out.Members, member{Email: email, Role: role})
			}
		}
		sort.Slice(out.Members, func(i, j int) bool { return out.Members[i].Email < out.Members[j].Email })
		return out, 200, nil
	case m == "PUT" && len(p) == 3 && p[0] == "app" && p[1] == "members":
		var in struct{ Role, Password string }
		json.Unmarshal(body, &in)
		if roleRank(in.Role) == 0 {
			return nil, 0, errf(400, "invalid_field", "role must be owner, marketer or viewer; got %q", in.Role)
		}
		email := strings.ToLower(p[2])
		u, ok := g.users[email]
		if !ok {
			if len(in.Password) < 10 {
				return nil, 0, errf(400, "invalid_field", "password must be 10 to 256 bytes to create the user %s", email)
			}
			u = &fakeUser{password: in.Password, roles: map[string]string{}}
			g.users[email] = u
		}
		u.roles[a.summary.AppKey] = in.Role
		return member{Email: email, Role: in.Role}, 200, nil
	case m == "DELETE" && len(p) == 3 && p[0] == "app" && p[1] == "members":
		if u, ok := g.users[p[2]]; ok {
			delete(u.roles, a.summary.AppKey)
		}
		return nil, 204, nil
	case m == "GET" && path == "/v1/audit":
		return auditList{Entries: a.audit}, 200, nil

	case m == "GET" && path == "/v1/messages":
		var bound uint64
		if s := q.Get("after"); s != "" {
			bound, _ = strconv.ParseUint(s, 10, 64)
		}
		limit := 100
		if s := q.Get("limit"); s != "" {
			limit, _ = strconv.Atoi(s)
		}
		out := messageList{Messages: []messageItem{}}
		for _, msg := range a.messages {
			id, _ := strconv.ParseUint(msg.MsgID, 10, 64)
			if bound != 0 && id >= bound || q.Get("state") != "" && msg.State != q.Get("state") {
				continue
			}
			if len(out.Messages) == limit {
				out.Next = out.Messages[limit-1].MsgID
				break
			}
			out.Messages = append(out.Messages, *msg)
		}
		return out, 200, nil
	case p[0] == "messages" && len(p) >= 2:
		var msg *messageItem
		for _, x := range a.messages {
			if x.MsgID == p[1] {
				msg = x
			}
		}
		if msg == nil {
			return nil, 0, errf(404, "unknown_msg_id", "this app has no message %s", p[1])
		}
		switch {
		case m == "GET" && len(p) == 2:
			return struct {
				MsgID string `json:"msg_id"`
				report
			}{msg.MsgID, msg.report}, 200, nil
		case m == "DELETE" && len(p) == 2:
			msg.State = stateCanceling
			return map[string]string{"msg_id": msg.MsgID, "state": msg.State}, 202, nil
		case m == "GET" && len(p) == 4 && p[2] == "devices":
			if a.devices[p[3]] == nil {
				return nil, 0, errf(404, "unknown_registration_id", "this app has no device with registration_id %q", p[3])
			}
			return deviceStatus{MsgID: msg.MsgID, RegistrationID: p[3], State: "delivered", Attempts: 1}, 200, nil
		}
	case m == "POST" && path == "/v1/push":
		var in pushBody
		json.Unmarshal(body, &in)
		if err := checkPush(a, &in); err != nil {
			return nil, 0, err
		}
		a.pushes = append(a.pushes, append(json.RawMessage(nil), body...))
		g.nextID++
		id := strconv.FormatUint(g.nextID, 10)
		a.messages = append([]*messageItem{{MsgID: id, Created: time.Now().UTC(), Title: in.Message.Title, TimeToLive: 86400, State: stateRunning}}, a.messages...)
		return pushAccepted{MsgID: id}, 200, nil
	case m == "POST" && path == "/v1/audiences/estimate":
		var in estimateRequest
		json.Unmarshal(body, &in)
		if obj, ok := in.Audience.(map[string]any); ok {
			if segs, _ := obj["segment"].([]any); len(segs) > 0 {
				if a.segments[segs[0].(string)] == nil {
					return nil, 0, errf(400, "unknown_segment", "this app has no segment %q; create it with POST /v1/segments", segs[0])
				}
				return estimate{Estimate: 250, Exact: true}, 200, nil
			}
			if tags, _ := obj["tag"].([]any); len(tags) > 0 {
				return estimate{Estimate: int64(len(a.tags[tags[0].(string)])), Exact: true}, 200, nil
			}
			if len(obj) == 0 {
				return nil, 0, errf(400, "missing_field", `audience names no device: give "all" or at least one of registration_id, alias, tag, tag_and, tag_not, segment`)
			}
		}
		return estimate{Estimate: a.summary.Devices, Exact: false}, 200, nil

	case m == "GET" && path == "/v1/schedules":
		ids := sortedKeys(a.schedules)
		page, next := pageOf(ids, r, 100)
		out := scheduleList{Schedules: []schedule{}, Next: next}
		for _, id := range page {
			out.Schedules = append(out.Schedules, *a.schedules[id])
		}
		return out, 200, nil
	case m == "POST" && path == "/v1/schedules", m == "PUT" && p[0] == "schedules" && len(p) == 2:
		var in scheduleBody
		json.Unmarshal(body, &in)
		if in.Name == "" {
			return nil, 0, errf(400, "missing_field", "name is required: 1 to 255 bytes of UTF-8 naming the schedule")
		}
		if in.Trigger.Single != nil && in.Trigger.Single.Time == "" {
			return nil, 0, errf(400, "missing_field", `trigger.single.time is required, as "YYYY-MM-DD HH:MM:SS"`)
		}
		if err := checkPush(a, &in.Push); err != nil {
			err.message = "push: " + err.message
			return nil, 0, err
		}
		sc := &schedule{Name: in.Name, Enabled: in.Enabled, Trigger: in.Trigger, Push: in.Push, Updated: time.Now().UTC()}
		// Read the push back as JSON, as a client of the API would.
		raw, _ := json.Marshal(in.Push)
		sc.Push = pushBody{}
		json.Unmarshal(raw, &sc.Push)
		status := 200
		if m == "POST" {
			g.nextID++
			sc.ScheduleID = fmt.Sprintf("sch%06d", g.nextID)
			sc.Created = sc.Updated
			status = 201
		} else {
			old := a.schedules[p[1]]
			if old == nil {
				return nil, 0, errf(404, "unknown_schedule", "this app has no schedule %q", p[1])
			}
			sc.ScheduleID, sc.Created, sc.Firings = old.ScheduleID, old.Created, old.Firings
		}
		if sc.Enabled {
			next := time.Now().Add(time.Hour).UTC()
			sc.NextFire = &next
		}
		a.schedules[sc.ScheduleID] = sc
		return sc, status, nil
	case p[0] == "schedules" && len(p) == 2:
		sc := a.schedules[p[1]]
		if sc == nil {
			return nil, 0, errf(404, "unknown_schedule", "this app has no schedule %q", p[1])
		}
		if m == "DELETE" {
			delete(a.schedules, p[1])
			return struct{}{}, 200, nil
		}
		return sc, 200, nil

	case m == "GET" && path == "/v1/segments":
		page, next := pageOf(sortedKeys(a.segments), r, 100)
		out := segmentList{Segments: []segment{}, Next: next}
		for _, id := range page {
			out.Segments = append(out.Segments, *a.segments[id])
		}
		return out, 200, nil
	case m == "POST" && path == "/v1/segments", m == "PUT" && p[0] == "segments" && len(p) == 2:
		var in segment
		json.Unmarshal(body, &in)
		if in.Name == "" {
			return nil, 0, errf(400, "missing_field", `send "name": 1 to 100 bytes of UTF-8 naming the segment`)
		}
		for i, t := range in.Tags {
			if strings.Contains(t, "/") {
				return nil, 0, errf(400, "invalid_field", "tags[%d] is not a tag: tags are 1 to 40 bytes of UTF-8 without '/' or control characters", i)
			}
		}
		if in.ActiveWithinDays < 0 || in.ActiveWithinDays > 365 {
			return nil, 0, errf(400, "invalid_field", "active_within_days must be a whole number of days from 0 (active at any time) to 365; got %d", in.ActiveWithinDays)
		}
		status := 200
		if m == "POST" {
			g.nextID++
			in.SegmentID = fmt.Sprintf("seg%06d", g.nextID)
			in.Created = time.Now().UTC()
			status = 201
		} else {
			if a.segments[p[1]] == nil {
				return nil, 0, errf(404, "unknown_segment", "this app has no segment %q", p[1])
			}
			in.SegmentID, in.Created = p[1], a.segments[p[1]].Created
		}
		in.Updated = time.Now().UTC()
		a.segments[in.SegmentID] = &in
		return in, status, nil
	case p[0] == "segments" && len(p) == 2:
		sg := a.segments[p[1]]
		if sg == nil {
			return nil, 0, errf(404, "unknown_segment", "this app has no segment %q", p[1])
		}
		if m == "DELETE" {
			delete(a.segments, p[1])
			return struct{}{}, 200, nil
		}
		return sg, 200, nil

	case m == "GET" && path == "/v1/tags":
		page, next := pageOf(sortedKeys(a.tags), r, 100)
		return tagList{Tags: page, Next: next}, 200, nil
	case m == "GET" && p[0] == "tags" && len(p) == 2:
		members := a.tags[p[1]]
		page, next := pageOf(members, r, 100)
		return tagInfo{Tag: p[1], Count: int64(len(members)), Members: append([]string{}, page...), Next: next}, 200, nil
	case m == "GET" && p[0] == "aliases" && len(p) == 2:
		out := aliasInfo{Alias: p[1], RegistrationIDs: []string{}}
		for _, rid := range sortedKeys(a.devices) {
			if a.devices[rid].Alias == p[1] {
				out.RegistrationIDs = append(out.RegistrationIDs, rid)
			}
		}
		return out, 200, nil
	case p[0] == "devices" && len(p) == 2:
		d := a.devices[p[1]]
		if d == nil {
			return nil, 0, errf(404, "unknown_registration_id", "this app has no device with registration_id %q; devices register with POST /v1/devices", p[1])
		}
		if m == "POST" {
			var in struct {
				Tags  map[string][]string `json:"tags"`
				Alias *string             `json:"alias"`
			}
			json.Unmarshal(body, &in)
			for i, t := range in.Tags["add"] {
				if strings.Contains(t, "/") {
					return nil, 0, errf(400, "invalid_field", "tags.add[%d]: a tag is 1 to 40 bytes without '/'", i)
				}
			}
			d.Tags = append(d.Tags, in.Tags["add"]...)
			if in.Alias != nil {
				d.Alias = *in.Alias
			}
		}
		return d, 200, nil

	case m == "GET" && path == "/v1/webhook":
		if a.webhook == nil {
			return nil, 0, errf(404, "no_webhook", "this app has no webhook; set one with PUT /v1/webhook")
		}
		return a.webhook, 200, nil
	case m == "PUT" && path == "/v1/webhook":
		var in struct{ URL string }
		json.Unmarshal(body, &in)
		if !strings.HasPrefix(in.URL, "https://") {
			return nil, 0, errf(400, "invalid_field", "url must be an absolute http or https URL on a public address; got %q", in.URL)
		}
		a.webhook = &webhook{URL: in.URL, Secret: "s3cr3t0123456789s3cr3t0123456789", Created: time.Now(), Updated: time.Now()}
		return a.webhook, 200, nil
	case m == "DELETE" && path == "/v1/webhook":
		a.webhook = nil
		return nil, 204, nil
	}
	return nil, 0, errf(404, "not_found", "the fake gateway has no %s %s", m, path)
}

// checkPush validates what the fake needs to: content, pacing, a known
// test device, a known segment.
func checkPush(a *fakeApp, in *pushBody) *fakeError {
	if in.Message.Content == "" {
		return errf(400, "missing_field", "message.content is required and must not be empty")
	}
	if o := in.Options; o != nil && o.Rate != nil && (*o.Rate < 1 || *o.Rate > 1_000_000) {
		return errf(400, "invalid_field", "options.rate is messages per second, 1 to 1000000; got %d", *o.Rate)
	}
	if obj, ok := in.Audience.(map[string]any); ok {
		for _, rid := range anyStrings(obj["registration_id"]) {
			if a.devices[rid] == nil {
				return errf(400, "unknown_registration_id", "no device of this app has registration_id %q", rid)
			}
		}
		if segs := anyStrings(obj["segment"]); len(segs) > 0 && a.segments[segs[0]] == nil {
			return errf(400, "unknown_segment", "this app has no segment %q; create it with POST /v1/segments", segs[0])
		}
	}
	return nil
}

func anyStrings(v any) []string {
	var out []string
	switch l := v.(type) {
	case []any:
		for _, x := range l {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
	case []string:
		out = l
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
