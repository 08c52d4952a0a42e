package gateway_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway"
)

// roleRank orders the roles as dataservice.Role.Covers does.
var roleRank = map[string]int{"viewer": 1, "marketer": 2, "owner": 3}

// TestAuthorizationMatrix calls every /v1 route of an app, taken from the
// gateway's own route table (so that a new route cannot escape it), as
// every kind of caller, on the caller's own app and on another one, and
// checks who is let through: a portal user whose role covers the route's
// on the app X-Herald-App names, and the app's backend with Basic
// credentials; the others get 403 (a session without the role) or 401
// (no credentials, or ones that do not work). A refusal changes nothing
// (but the audit entry of a role too low).
func TestAuthorizationMatrix(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	own, other := e.createApp(t), e.createApp(t)
	rid := e.registerDevice(t, own.Key).RID
	e.portalUser(t, "owner@example.com", map[string]string{own.Key: "owner"})
	e.portalUser(t, "marketer@example.com", map[string]string{own.Key: "marketer"})
	e.portalUser(t, "viewer@example.com", map[string]string{own.Key: "viewer"})
	e.portalUser(t, "stranger@example.com", map[string]string{other.Key: "owner"})
	tokens := map[string]string{}
	for _, who := range []string{"owner", "marketer", "viewer", "stranger"} {
		tokens[who] = e.login(t, who+"@example.com")
	}

	// Values for the routes' path wildcards: real where a real one is
	// cheap, else well-formed ones that name nothing.
	values := map[string]string{
		"registration_id": rid, "tag": "vip", "alias": "alice", "segment_id": "0123456789abcdef",
		"schedule_id": "0123456789abcdef", "msg_id": "12345", "email": "nobody@example.com",
	}
	wildcard := regexp.MustCompile(`\{([^{}]+)\}`)

	type caller struct {
		name   string
		auth   func() string
		app    string // X-Herald-App
		role   string // the caller's role on the app it names; "" for none
		basic  bool
		status int // the refusal it gets when its role is too low (or it has none)
	}
	callers := []caller{
		{name: "owner on its app", auth: func() string { return sessionAuth(tokens["owner"]) }, app: own.Key, role: "owner", status: 403},
		{name: "marketer on its app", auth: func() string { return sessionAuth(tokens["marketer"]) }, app: own.Key, role: "marketer", status: 403},
		{name: "viewer on its app", auth: func() string { return sessionAuth(tokens["viewer"]) }, app: own.Key, role: "viewer", status: 403},
		{name: "owner on another app", auth: func() string { return sessionAuth(tokens["owner"]) }, app: other.Key, status: 403},
		{name: "marketer on another app", auth: func() string { return sessionAuth(tokens["marketer"]) }, app: other.Key, status: 403},
		{name: "viewer on another app", auth: func() string { return sessionAuth(tokens["viewer"]) }, app: other.Key, status: 403},
		{name: "user without a role", auth: func() string { return sessionAuth(tokens["stranger"]) }, app: own.Key, status: 403},
		{name: "session without X-Herald-App", auth: func() string { return sessionAuth(tokens["owner"]) }, status: 403},
		{name: "session on an app that does not exist", auth: func() string { return sessionAuth(tokens["owner"]) }, app: "000000000000000000000000", status: 403},
		{name: "unknown session", auth: func() string { return sessionAuth(strings.Repeat("A", 43)) }, app: own.Key, status: 401},
		{name: "Basic", auth: func() string { return own.auth() }, basic: true},
		{name: "Basic naming another app", auth: func() string { return own.auth() }, app: other.Key, basic: true},
		{name: "Basic with a wrong secret", auth: func() string { return basic(own.Key, other.Secret) }, status: 401},
		{name: "no credentials", auth: func() string { return "" }, app: own.Key, status: 401},
	}

	routes := 0
	for _, rt := range gateway.RoutesForTest(e.gw) {
		if rt.Auth != "app" || !strings.HasPrefix(rt.Pattern, "/v1/") {
			continue
		}
		routes++
		if roleRank[rt.Role] == 0 {
			t.Errorf("%s %s: route role %q is none of owner, marketer, viewer", rt.Method, rt.Pattern, rt.Role)
			continue
		}
		path := wildcard.ReplaceAllStringFunc(rt.Pattern, func(w string) string {
			v, ok := values[w[1:len(w)-1]]
			if !ok {
				t.Fatalf("%s: no test value for %s", rt.Pattern, w)
			}
			return v
		})
		for _, c := range callers {
			t.Run(rt.Method+" "+rt.Pattern+"/"+c.name, func(t *testing.T) {
				allowed := c.basic || roleRank[c.role] >= roleRank[rt.Role]
				req := request{method: rt.Method, path: path, auth: c.auth()}
				if c.app != "" {
					req.header = onApp(c.app)
				}
				if rt.Method == "POST" || rt.Method == "PUT" {
					req.body = strings.NewReader("{}") // a body every handler refuses, or takes without harm
				}
				before := e.sideEffects()
				r := e.do(t, req)
				if allowed {
					if r.status == http.StatusUnauthorized || r.status == http.StatusForbidden {
						t.Fatalf("refused with %d: %s", r.status, r.body)
					}
					// POST /v1/app/secret lets the next callers use the new secret.
					if rt.Pattern == "/v1/app/secret" && r.status == http.StatusOK {
						var s app
						r.decode(t, &s)
						own.Secret = s.Secret
					}
					return
				}
				code := "forbidden"
				if c.status == http.StatusUnauthorized {
					code = "unauthorized"
				}
				msg := r.wantError(t, c.status, code)
				if c.status == http.StatusForbidden && c.role != "" && !strings.Contains(msg, "needs the "+rt.Role+" role; you are "+c.role) {
					t.Errorf("the refusal does not name the role needed: %q", msg)
				}
				if c.status == http.StatusForbidden && c.role == "" && !strings.Contains(msg, "has no role on this app") {
					t.Errorf("the refusal does not say the user has no role on the app: %q", msg)
				}
				after := e.sideEffects()
				for kind, n := range after.writes {
					if kind != dataservice.KindAudit && n != before.writes[kind] {
						t.Errorf("a refused call wrote %d records of kind %s", n-before.writes[kind], kind)
					}
				}
				if after.deliveries != before.deliveries {
					t.Error("a refused call delivered")
				}
			})
		}
	}
	if routes < 30 {
		t.Fatalf("the matrix covered %d /v1 app routes; the route table has more", routes)
	}
}

// TestJPushFaceTakesBasicOnly checks that a portal session opens nothing
// of the /v3 face.
func TestJPushFaceTakesBasicOnly(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a := e.createApp(t)
	e.portalUser(t, "owner@example.com", map[string]string{a.Key: "owner"})
	token := e.login(t, "owner@example.com")
	for _, rt := range gateway.RoutesForTest(e.gw) {
		if !strings.HasPrefix(rt.Pattern, "/v3/") {
			continue
		}
		if rt.Auth != "basic" {
			t.Errorf("%s %s: auth %s, want basic", rt.Method, rt.Pattern, rt.Auth)
		}
	}
	r := e.do(t, request{method: "GET", path: "/v3/tags", auth: sessionAuth(token), header: onApp(a.Key)})
	if r.status != http.StatusUnauthorized {
		t.Fatalf("GET /v3/tags with a session: %d %s", r.status, r.body)
	}
	var body struct {
		Error struct {
			Code int `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil || body.Error.Code == 0 {
		t.Fatalf("not a JPush error: %s", r.body)
	}
}
