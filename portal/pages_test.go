package portal

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// seed fills app A with a message, a schedule, a segment, tags and devices.
func seed(t testing.TB, e *env) (msgID, scheduleID, segmentID string) {
	t.Helper()
	m := e.gw.addMessage(appA, messageItem{Title: "Spring sale", TimeToLive: 86400, State: stateRunning,
		Audience: audienceSummary{Tag: []string{"vip"}}, report: report{Targeted: 100, Sent: 80, Delivered: 60, Clicked: 5}})
	e.gw.update(func() {
		a := e.gw.apps[appA]
		a.tags["vip"] = []string{"rid-1", "rid-2"}
		a.tags["beta"] = []string{"rid-2"}
		a.devices["rid-1"] = &deviceInfo{RegistrationID: "rid-1", Platform: "android", Tags: []string{"vip"}, Alias: "alice", Online: true, Connector: "c1", Created: time.Now()}
		a.devices["rid-2"] = &deviceInfo{RegistrationID: "rid-2", Platform: "ios", Tags: []string{"beta", "vip"}, Created: time.Now()}
		a.segments["seg000001"] = &segment{SegmentID: "seg000001", Name: "Active VIPs", Tags: []string{"vip"}, Platforms: []string{}, ActiveWithinDays: 30}
		next := time.Now().Add(time.Hour)
		a.schedules["sch000001"] = &schedule{ScheduleID: "sch000001", Name: "Morning digest", Enabled: true,
			Trigger:  trigger{Periodical: &periodicalTrigger{Start: "2026-01-01 00:00:00", End: "2026-12-31 23:59:59", Time: "09:00:00", TimeUnit: "day", Frequency: 1}, TimeZone: "UTC", ZoneType: "device"},
			Push:     pushBody{Audience: "all", Message: pushMessage{Title: "Digest", Content: "Today's news"}},
			NextFire: &next, NextUTCOffset: "+08:00",
			Firings: []firing{{Time: time.Now().Add(-time.Hour), MsgID: m.MsgID, UTCOffset: "+08:00"}, {Time: time.Now().Add(-25 * time.Hour), Error: "the audience has no device"}}}
		a.webhook = &webhook{URL: "https://hooks.example.com/herald", Secret: "s3cr3t0123456789s3cr3t0123456789", Updated: time.Now()}
	})
	return m.MsgID, "sch000001", "seg000001"
}

// page is one page of the portal with what a role must see on it (and
// what those below it must not).
type pageCase struct {
	path    string
	heading string
	// actions are what a role needs to see, by the least role that may.
	actions map[string][]string
}

func pageCases(msgID, scheduleID, segmentID string) []pageCase {
	return []pageCase{
		{"/portal/", "<h1>Your apps</h1>", map[string][]string{roleViewer: {"Messages today", "Delivery rate today", "Online now"}}},
		{appURL(appA, "compose"), "<h1>Compose a push</h1>", map[string][]string{
			roleViewer:   {`<label for="f-title">Title</label>`, `<label for="f-content">Content</label>`, "Estimate audience"},
			roleMarketer: {">Send now</button>", ">Send test</button>", ">Save schedule</button>"},
		}},
		{appURL(appA, "messages"), "<h1>Messages</h1>", map[string][]string{roleViewer: {"Spring sale", ">Filter</button>"}}},
		{appURL(appA, "messages/"+msgID), "<h1>Spring sale</h1>", map[string][]string{
			roleViewer:   {"Delivery funnel", `data-counter="delivered">60<`, "Delivery over time", "Show status"},
			roleMarketer: {">Cancel push</button>"},
		}},
		{appURL(appA, "schedules"), "<h1>Schedules</h1>", map[string][]string{
			roleViewer:   {"Morning digest", "Every day at 09:00:00 in each device&#39;s time zone"},
			roleMarketer: {">Disable <span", ">Delete <span", "New schedule"},
		}},
		{appURL(appA, "schedules/"+scheduleID), "<h1>Schedule Morning digest</h1>", map[string][]string{
			roleViewer:   {"Past firings", "Message " + msgID, "the audience has no device"},
			roleMarketer: {">Edit schedule</a>", ">Disable schedule</button>", ">Delete schedule</button>"},
		}},
		{appURL(appA, "compose?schedule="+scheduleID), "<h1>Edit schedule</h1>", map[string][]string{roleMarketer: {">Save schedule</button>"}}},
		{appURL(appA, "segments"), "<h1>Segments</h1>", map[string][]string{
			roleViewer:   {"Active VIPs"},
			roleMarketer: {">Create segment</button>", ">Delete <span"},
		}},
		{appURL(appA, "segments/"+segmentID), "<h1>Segment Active VIPs</h1>", map[string][]string{
			roleViewer:   {"250 devices"},
			roleMarketer: {">Save segment</button>", ">Delete segment</button>"},
		}},
		{appURL(appA, "tags"), "<h1>Tags</h1>", map[string][]string{roleViewer: {">vip</a>", ">2</td>"}}},
		{appURL(appA, "tags/vip"), "<h1>Tag vip</h1>", map[string][]string{roleViewer: {"rid-1", "rid-2"}}},
		{appURL(appA, "devices?by=alias&q=alice&msg_id="+msgID), "<h1>Devices</h1>", map[string][]string{
			roleViewer:   {"rid-1", "online (connector c1)", "delivered"},
			roleMarketer: {">Save device</button>"},
		}},
		{appURL(appA, "devices?by=tag&q=vip"), "<h1>Devices</h1>", map[string][]string{
			roleViewer:   {"Device <code>rid-1</code>", "Device <code>rid-2</code>", "has 2 devices"},
			roleMarketer: {">Save device</button>"},
		}},
		{appURL(appA, "settings"), "<h1>Settings</h1>", map[string][]string{roleOwner: {"https://hooks.example.com/herald", ">Rotate master secret</button>", ">Add member</button>", "marketer@example.com"}}},
		{appURL(appA, "audit"), "<h1>Audit log</h1>", map[string][]string{roleOwner: {"Newest first"}}},
	}
}

// Every page renders for every role, shows what the role can do, and
// hides what it cannot; owner-only pages show others the gateway's 403.
func TestPagesByRole(t *testing.T) {
	e := newEnv(t)
	msgID, scheduleID, segmentID := seed(t, e)
	for _, role := range []string{roleViewer, roleMarketer, roleOwner} {
		b := e.login(t, role+"@example.com")
		for _, pc := range pageCases(msgID, scheduleID, segmentID) {
			t.Run(role+" "+pc.path, func(t *testing.T) {
				status, page := b.get(pc.path)
				ownerOnly := pc.actions[roleOwner] != nil && pc.actions[roleViewer] == nil && pc.actions[roleMarketer] == nil
				editOnly := strings.Contains(pc.path, "?schedule=")
				if ownerOnly && role != roleOwner {
					if status != http.StatusForbidden || !strings.Contains(page, "needs the owner role; you are "+role) {
						t.Errorf("status %d; want 403 with the gateway's message", status)
					}
					return
				}
				if status != http.StatusOK {
					t.Fatalf("status %d: %s", status, topError(page))
				}
				if !strings.Contains(page, pc.heading) {
					t.Errorf("no heading %s", pc.heading)
				}
				for least, wants := range pc.actions {
					for _, want := range wants {
						if has := strings.Contains(page, want); has != (roleRank(role) >= roleRank(least)) && !(editOnly && least == roleMarketer && role == roleViewer) {
							t.Errorf("shows %q: %v; it is for %s and up", want, has, least)
						}
					}
				}
				if has := strings.Contains(page, `>Settings</a>`); has != (role == roleOwner) && pc.path != "/portal/" {
					t.Errorf("Settings in the navigation: %v", has)
				}
				checkPageSafety(t, page)
			})
		}
	}
}

var (
	inlineScript  = regexp.MustCompile(`<script(?:\s+type="module")?\s*>`)
	inlineHandler = regexp.MustCompile(`\son[a-z]+\s*=`)
	styleAttr     = regexp.MustCompile(`\sstyle\s*=`)
	externalRef   = regexp.MustCompile(`(?:src|href|action)="(?:https?:)?//`)
	labelFor      = regexp.MustCompile(`<label[^>]*\sfor="([^"]+)"`)
	anyID         = regexp.MustCompile(`\sid="([^"]+)"`)
	inputID       = regexp.MustCompile(`<(?:input|textarea|select)\s[^>]*?id="([^"]+)"`)
)

// checkPageSafety checks what the CSP would block or what would call out:
// inline scripts, handlers and styles, references to other sites; and that
// every input with an id has a label.
func checkPageSafety(t *testing.T, page string) {
	t.Helper()
	for _, re := range []*regexp.Regexp{inlineScript, inlineHandler, styleAttr, externalRef} {
		if m := re.FindString(page); m != "" {
			t.Errorf("the page has %q", m)
		}
	}
	ids := map[string]bool{}
	for _, m := range anyID.FindAllStringSubmatch(page, -1) {
		if ids[m[1]] {
			t.Errorf("id %q is used twice", m[1])
		}
		ids[m[1]] = true
	}
	labels := map[string]bool{}
	for _, m := range labelFor.FindAllStringSubmatch(page, -1) {
		labels[m[1]] = true
	}
	for _, m := range inputID.FindAllStringSubmatch(page, -1) {
		if !labels[m[1]] {
			t.Errorf("input #%s has no <label for>", m[1])
		}
	}
}

func TestAnotherAppIsForbidden(t *testing.T) {
	e := newEnv(t)
	seed(t, e)
	b := e.login(t, "owner@example.com")
	before := len(e.gw.calls)
	for _, path := range []string{appURL(appB, "messages"), appURL(appB, "compose"), appURL(appB, "settings"), appURL("nosuchapp", "messages")} {
		status, page := b.get(path)
		if status != http.StatusForbidden || !strings.Contains(page, "owner@example.com has no role on this app") {
			t.Errorf("GET %s: %d", path, status)
		}
	}
	status, _ := b.post(appURL(appB, "segments"), url.Values{"name": {"x"}})
	if status != http.StatusForbidden {
		t.Errorf("POST to another app: %d", status)
	}
	e.gw.mu.Lock()
	defer e.gw.mu.Unlock()
	for _, c := range e.gw.calls[before:] {
		if c.App == appB || c.App == "nosuchapp" {
			t.Errorf("the portal called the gateway for an app the user has no role on: %+v", c)
		}
	}
}

func TestSecurityHeaders(t *testing.T) {
	e := newEnv(t)
	b := e.login(t, "viewer@example.com")
	_, page := b.get(appURL(appA, "compose"))
	css := regexp.MustCompile(`href="(/portal/static/portal\.[0-9a-f]+\.css)"`).FindStringSubmatch(page)
	if css == nil {
		t.Fatal("no stylesheet link")
	}
	for _, path := range []string{"/portal/login", appURL(appA, "compose"), css[1], "/portal/nothing-here", appURL(appB, "messages")} {
		b.get(path)
		h := b.last.Header
		for k, want := range map[string]string{
			"Content-Security-Policy": contentSecurityPolicy,
			"X-Content-Type-Options":  "nosniff",
			"Referrer-Policy":         "no-referrer",
			"X-Frame-Options":         "DENY",
		} {
			if got := h.Get(k); got != want {
				t.Errorf("%s: %s = %q, want %q", path, k, got, want)
			}
		}
	}
	for _, part := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "object-src 'none'"} {
		if !strings.Contains(contentSecurityPolicy, part) {
			t.Errorf("the CSP lacks %s", part)
		}
	}
	if strings.Contains(contentSecurityPolicy, "unsafe") || strings.Contains(contentSecurityPolicy, "http") {
		t.Errorf("the CSP allows too much: %s", contentSecurityPolicy)
	}
	b.get(appURL(appA, "compose"))
	if cc := b.last.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("a page's Cache-Control %q", cc)
	}
}

// Errors of the API are shown next to the input they concern, in the
// API's words.
func TestAPIErrorsNextToTheirField(t *testing.T) {
	e := newEnv(t)
	seed(t, e)
	m := e.login(t, "marketer@example.com")
	base := url.Values{"title": {"Hi"}, "content": {"Hello"}, "audience": {"all"}, "time_to_live": {"86400"}, "pacing": {"none"}, "priority": {"normal"}}
	with := func(kv ...string) url.Values {
		v := cloneValues(base)
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		field  string
		words  string
	}{
		{"empty content", with("action", "send", "content", ""), 400, "content", "message.content is required and must not be empty"},
		{"rate too high", with("action", "send", "pacing", "rate", "rate", "2000000"), 400, "rate", "options.rate is messages per second, 1 to 1000000; got 2000000"},
		{"unknown segment", with("action", "send", "audience", "filter", "segment", "nope"), 400, "segment", `this app has no segment "nope"; create it with POST /v1/segments`},
		{"unknown test device", with("action", "test", "test_registration_id", "ghost"), 400, "test_registration_id", `no device of this app has registration_id "ghost"`},
		{"extras not JSON", with("action", "send", "extras", "{nope"), 400, "extras", "message.extras is not valid JSON: invalid character 'n' looking for beginning of object key string"},
		{"schedule without a time", with("action", "schedule", "schedule_name", "Later", "schedule_kind", "once"), 400, "once_time", `trigger.single.time is required, as "YYYY-MM-DD HH:MM:SS"`},
		{"schedule push error", with("action", "schedule", "schedule_name", "Later", "once_time", "2030-01-01T09:00", "content", ""), 400, "content", "push: message.content is required and must not be empty"},
		{"estimate of nothing", with("action", "estimate", "audience", "filter"), 400, "audience", "audience names no device"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, page := m.post(appURL(appA, "compose"), tc.form)
			if status != tc.status {
				t.Errorf("status %d, want %d (top error %q)", status, tc.status, topError(page))
			}
			if got := errorOf(page, tc.field); !strings.HasPrefix(got, tc.words) {
				t.Errorf("error next to %s: %q, want %q", tc.field, got, tc.words)
			}
			if !strings.Contains(page, `id="f-`+tc.field+`"`) && tc.field != "audience" {
				t.Errorf("no input #f-%s on the page", tc.field)
			}
			if v := tc.form.Get("title"); !strings.Contains(page, `value="`+v+`"`) {
				t.Error("the title typed is lost")
			}
		})
	}
	// A viewer who posts anyway gets the gateway's 403, in its words.
	v := e.login(t, "viewer@example.com")
	status, page := v.post(appURL(appA, "compose"), with("action", "send"))
	if status != http.StatusForbidden || topError(page) != "sending a push needs the marketer role; you are viewer" {
		t.Errorf("viewer's send: %d %q", status, topError(page))
	}
	if len(e.gw.apps[appA].pushes) != 0 {
		t.Error("a refused push was recorded")
	}
	// Segments and devices: their fields.
	status, page = m.post(appURL(appA, "segments"), url.Values{"name": {"x"}, "tags": {"ok\na/b"}})
	if status != 400 || !strings.HasPrefix(errorOf(page, "tags"), "tags[1] is not a tag") {
		t.Errorf("segment tags: %d %q", status, errorOf(page, "tags"))
	}
	status, page = m.post(appURL(appA, "segments"), url.Values{"name": {"x"}, "active_within_days": {"400"}})
	if status != 400 || !strings.HasPrefix(errorOf(page, "active_within_days"), "active_within_days must be") {
		t.Errorf("segment days: %d %q", status, errorOf(page, "active_within_days"))
	}
	status, page = m.post(appURL(appA, "devices/rid-1"), url.Values{"tags_add": {"a/b"}})
	if status != 400 || !strings.HasPrefix(errorOf(page, "d0-tags_add"), "tags.add[0]") {
		t.Errorf("device tags: %d %q", status, errorOf(page, "d0-tags_add"))
	}
	o := e.login(t, "owner@example.com")
	status, page = o.post(appURL(appA, "settings/webhook"), url.Values{"url": {"ftp://x"}})
	if status != 400 || !strings.HasPrefix(errorOf(page, "url"), "url must be an absolute http or https URL") {
		t.Errorf("webhook url: %d %q", status, errorOf(page, "url"))
	}
	status, page = o.post(appURL(appA, "settings/members"), url.Values{"email": {"new@example.com"}, "role": {"viewer"}, "password": {"short"}})
	if status != 400 || !strings.HasPrefix(errorOf(page, "password"), "password must be 10 to 256 bytes") {
		t.Errorf("member password: %d %q", status, errorOf(page, "password"))
	}
	if strings.Contains(page, `value="short"`) {
		t.Error("the password is echoed")
	}
	// The page script's estimate names the input.
	status, body := m.postForm(appURL(appA, "estimate"), url.Values{"audience": {"filter"}, "segment": {"nope"}},
		csrfHeader, csrfToken(m.cookie(sessionCookie)), "Accept", "application/json")
	if status != 400 || !strings.Contains(body, `"field":"segment"`) || !strings.Contains(body, "this app has no segment") {
		t.Errorf("estimate error: %d %s", status, body)
	}
}

func TestFieldOf(t *testing.T) {
	for _, tc := range []struct {
		code, message, want string
	}{
		{"missing_field", "message.content is required and must not be empty", "content"},
		{"invalid_field", "message.extras must be a JSON object", "extras"},
		{"missing_field", `message is required, e.g. {"content": "hello"}`, "content"},
		{"invalid_field", "give options.rate or options.big_push_duration, not both", "rate"},
		{"invalid_field", `tag "x" is in both audience.tag_and and audience.tag_not: no device can match`, "tag_and"},
		{"invalid_field", "audience.tag[0]: a tag is 1 to 40 bytes", "tag"},
		{"invalid_field", "audience.tag_not lists 21 tags; at most 20 per push", "tag_not"},
		{"invalid_field", "platform[1] must be one of android, ios; got \"x\"", "platform"},
		{"invalid_field", "push: options.collapse_id needs a time_to_live above 0", "collapse_id"},
		{"invalid_field", "trigger.periodical.time must be a time of day", "at_time"},
		{"invalid_field", "trigger.periodical.time_unit must be \"day\", \"week\" or \"month\"", "time_unit"},
		{"invalid_field", "trigger.periodical.point[0] must be a weekday", "point"},
		{"invalid_field", "trigger has both single and periodical; give one", "schedule_kind"},
		{"payload_too_large", "message title, content and extras take 5000 bytes", "content"},
		{"unknown_segment", `this app has no segment "s"`, "segment"},
		{"invalid_field", "the trigger never fires again: it ended; give a time to come", ""},
		{"forbidden", "sending a push needs the marketer role; you are viewer", ""},
		{"invalid_field", "name must be 1 to 255 bytes", "schedule_name"},
		{"invalid_field", "names of tags must", ""},
	} {
		if got := fieldOf(&apiError{Status: 400, Code: tc.code, Message: tc.message}, composeFields); got != tc.want {
			t.Errorf("fieldOf(%s %q) = %q, want %q", tc.code, tc.message, got, tc.want)
		}
	}
}

func TestPaging(t *testing.T) {
	e := newEnv(t)
	for i := range 120 {
		e.gw.addMessage(appA, messageItem{Title: fmt.Sprintf("Message number %03d", i)})
	}
	e.gw.update(func() {
		for i := range 60 {
			e.gw.apps[appA].tags[fmt.Sprintf("tag%02d", i)] = []string{"r"}
		}
	})
	b := e.login(t, "viewer@example.com")
	next := regexp.MustCompile(`<a href="([^"]+)" rel="next">Next page</a>`)
	path := appURL(appA, "messages?state=done")
	var seen []string
	for pages := 0; path != ""; pages++ {
		if pages > 3 {
			t.Fatal("more pages than messages")
		}
		status, page := b.get(path)
		if status != http.StatusOK {
			t.Fatalf("GET %s: %d", path, status)
		}
		titles := regexp.MustCompile(`Message number \d+`).FindAllString(page, -1)
		if len(titles) > messagePage {
			t.Fatalf("a page shows %d messages", len(titles))
		}
		seen = append(seen, titles...)
		if pages > 0 && !strings.Contains(page, ">First page</a>") {
			t.Error("no link to the first page")
		}
		path = ""
		if m := next.FindStringSubmatch(page); m != nil {
			path = unescape(m[1])
			if !strings.Contains(path, "state=done") {
				t.Errorf("the next page drops the filter: %s", path)
			}
		}
	}
	if len(seen) != 120 || seen[0] != "Message number 119" || seen[119] != "Message number 000" {
		t.Errorf("saw %d messages, from %q", len(seen), seen[0])
	}
	_, page := b.get(appURL(appA, "tags"))
	if n := strings.Count(page, `<td class="num">1</td>`); n != tagPage {
		t.Errorf("the first page of tags shows %d counts, want %d", n, tagPage)
	}
	m := next.FindStringSubmatch(page)
	if m == nil {
		t.Fatal("no next page of tags")
	}
	_, page = b.get(unescape(m[1]))
	if n := strings.Count(page, `<td class="num">1</td>`); n != 10 || next.MatchString(page) {
		t.Errorf("the last page of tags shows %d, next link %v", n, next.MatchString(page))
	}
}

// The form's push reaches the gateway as the form says, and sending goes
// to the message's page.
func TestComposeSends(t *testing.T) {
	e := newEnv(t)
	seed(t, e)
	b := e.login(t, "marketer@example.com")
	status, _ := b.post(appURL(appA, "compose"), url.Values{
		"action": {"send"}, "title": {"Sale"}, "content": {"50% off"}, "extras": {`{"order": 42}`},
		"platform": {"android", "ios"}, "audience": {"filter"}, "tag": {"vip, gold"}, "tag_not": {"churned"},
		"time_to_live": {"3600"}, "pacing": {"rate"}, "rate": {"100"}, "big_push_duration": {"5"}, "collapse_id": {"sale"}, "priority": {"high"},
	})
	if status != http.StatusSeeOther || !regexp.MustCompile(`^/portal/apps/`+appA+`/messages/\d+\?ok=sent$`).MatchString(b.location()) {
		t.Fatalf("send: %d to %q", status, b.location())
	}
	pushes := e.gw.apps[appA].pushes
	if len(pushes) != 1 {
		t.Fatalf("%d pushes", len(pushes))
	}
	want := `{"platform":["android","ios"],"audience":{"tag":["vip","gold"],"tag_not":["churned"]},"message":{"title":"Sale","content":"50% off","extras":{"order":42}},"options":{"time_to_live":3600,"rate":100,"priority":"high","collapse_id":"sale"}}`
	if got := string(pushes[0]); got != want {
		t.Errorf("push\n got %s\nwant %s", got, want)
	}
	status, page := b.get(b.location())
	if status != http.StatusOK || !strings.Contains(page, "The push is sent.") {
		t.Errorf("message page after send: %d", status)
	}
	// A test goes to the one device, now.
	status, page = b.post(appURL(appA, "compose"), url.Values{"action": {"test"}, "content": {"hi"}, "audience": {"all"}, "pacing": {"spread"}, "big_push_duration": {"30"}, "test_registration_id": {"rid-1"}})
	if status != http.StatusOK || !strings.Contains(page, "Test sent to one device") {
		t.Errorf("test: %d %q", status, topError(page))
	}
	if got := string(e.gw.apps[appA].pushes[1]); got != `{"audience":{"registration_id":["rid-1"]},"message":{"content":"hi"}}` {
		t.Errorf("test push %s", got)
	}
}

// A schedule saved from the compose form comes back into it to be edited,
// and can be disabled and deleted.
func TestScheduleRoundTrip(t *testing.T) {
	e := newEnv(t)
	b := e.login(t, "marketer@example.com")
	status, _ := b.post(appURL(appA, "compose"), url.Values{
		"action": {"schedule"}, "schedule_name": {"Weekly"}, "title": {"Hi"}, "content": {"Weekly news"},
		"audience": {"filter"}, "tag": {"news"}, "schedule_kind": {"periodic"}, "start": {"2030-01-01"}, "end": {"2030-06-30"},
		"at_time": {"09:30"}, "time_unit": {"week"}, "frequency": {"2"}, "point_week": {"MON", "FRI"}, "time_zone": {"Europe/Paris"}, "device_time": {"on"},
		"pacing": {"none"}, "time_to_live": {"86400"},
	})
	if status != http.StatusSeeOther || !strings.Contains(b.location(), "/schedules/sch") {
		t.Fatalf("save schedule: %d to %q", status, b.location())
	}
	id := strings.TrimSuffix(b.location()[strings.LastIndex(b.location(), "/")+1:], "?ok=schedule_saved")
	sc := e.gw.apps[appA].schedules[id]
	want := trigger{Periodical: &periodicalTrigger{Start: "2030-01-01 00:00:00", End: "2030-06-30 23:59:59", Time: "09:30", TimeUnit: "week", Frequency: 2, Point: []string{"MON", "FRI"}}, TimeZone: "Europe/Paris", ZoneType: "device"}
	if got := mustJSON(sc.Trigger); got != mustJSON(want) || !sc.Enabled || sc.Name != "Weekly" {
		t.Fatalf("stored schedule %s, enabled %v", got, sc.Enabled)
	}
	_, page := b.get(appURL(appA, "compose?schedule="+id))
	for _, want := range []string{`value="Weekly"`, `value="2030-01-01"`, `value="2030-06-30"`, `value="09:30"`, `value="Europe/Paris"`, `value="MON" checked`, `value="FRI" checked`,
		`name="device_time" checked`, `value="periodic" checked`, `<option value="week" selected>`, ">news</textarea>", `name="schedule_id" value="` + id + `"`} {
		if !strings.Contains(page, want) {
			t.Errorf("the edit form lacks %s", want)
		}
	}
	if strings.Contains(page, ">Send now</button>") {
		t.Error("editing a schedule offers Send now")
	}
	// Saving the edit replaces it (PUT).
	form := url.Values{"action": {"schedule"}, "schedule_id": {id}, "enabled": {"true"}, "schedule_name": {"Weekly news"}, "content": {"Weekly news"},
		"audience": {"all"}, "schedule_kind": {"once"}, "once_time": {"2030-02-01T10:00"}, "time_zone": {"UTC"}}
	if status, _ := b.post(appURL(appA, "compose"), form); status != http.StatusSeeOther || len(e.gw.callsTo(http.MethodPut, "/v1/schedules/"+id)) != 1 {
		t.Fatalf("edit: %d", status)
	}
	if sc := e.gw.apps[appA].schedules[id]; sc.Name != "Weekly news" || sc.Trigger.Single == nil || sc.Trigger.Single.Time != "2030-02-01 10:00:00" {
		t.Errorf("after the edit: %q %+v", sc.Name, sc.Trigger.Single)
	}
	// Disable, then delete.
	if status, _ := b.post(appURL(appA, "schedules/"+id+"/enabled"), url.Values{"enabled": {"false"}, "back": {appURL(appA, "schedules")}}); status != http.StatusSeeOther ||
		b.location() != appURL(appA, "schedules")+"?ok=schedule_disabled" || e.gw.apps[appA].schedules[id].Enabled {
		t.Errorf("disable: %d %q", status, b.location())
	}
	if status, _ := b.post(appURL(appA, "schedules/"+id+"/delete"), nil); status != http.StatusSeeOther || e.gw.apps[appA].schedules[id] != nil {
		t.Errorf("delete: %d", status)
	}
}

func TestSegmentsAndSettingsActions(t *testing.T) {
	e := newEnv(t)
	seed(t, e)
	b := e.login(t, "owner@example.com")
	status, _ := b.post(appURL(appA, "segments"), url.Values{"name": {"Gold"}, "tags": {"gold\nvip"}, "platforms": {"ios"}, "active_within_days": {"7"}})
	if status != http.StatusSeeOther {
		t.Fatalf("create segment: %d", status)
	}
	_, page := b.get(b.location())
	if !strings.Contains(page, "<h1>Segment Gold</h1>") || !strings.Contains(page, "250 devices") || !strings.Contains(page, ">gold\nvip</textarea>") {
		t.Error("the segment page lacks its estimate or its tags")
	}
	// Rotate the master secret: shown once, in the answer.
	status, page = b.post(appURL(appA, "settings/secret"), nil)
	if status != http.StatusOK || !strings.Contains(page, e.gw.apps[appA].secret) {
		t.Errorf("rotation: %d; the new secret is not shown", status)
	}
	// Members.
	if status, _ := b.post(appURL(appA, "settings/members"), url.Values{"email": {"new@example.com"}, "role": {"viewer"}, "password": {"long enough password"}}); status != http.StatusSeeOther {
		t.Errorf("add member: %d", status)
	}
	if e.gw.users["new@example.com"].roles[appA] != roleViewer {
		t.Error("the member was not added")
	}
	if status, _ := b.post(appURL(appA, "settings/members/delete"), url.Values{"email": {"new@example.com"}}); status != http.StatusSeeOther || e.gw.users["new@example.com"].roles[appA] != "" {
		t.Errorf("remove member: %d", status)
	}
	// Audit log shows what was done.
	_, page = b.get(appURL(appA, "audit"))
	if !strings.Contains(page, "POST /v1/app/secret") || !strings.Contains(page, "owner@example.com") {
		t.Error("the audit log lacks the rotation")
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
