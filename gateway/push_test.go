package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway"
)

// routedDevices registers devices of a in every routing situation a push
// meets: two on connector A, one on connector B, one whose session names a
// connector the cluster does not know, and two without a session.
type routedDevices struct {
	onA      []string
	onB      []string
	gone     []string
	offline  []string
	all      []string
	reaching int // devices on known connectors
}

func (e *env) routedDevices(tb testing.TB, a app) routedDevices {
	tb.Helper()
	rids := e.registerDevices(tb, a.Key, 6)
	r := routedDevices{onA: rids[0:2], onB: rids[2:3], gone: rids[3:4], offline: rids[4:6], all: rids, reaching: 3}
	for _, rid := range r.onA {
		e.connect(tb, rid, connectorA)
	}
	for _, rid := range r.onB {
		e.connect(tb, rid, connectorB)
	}
	e.connect(tb, r.gone[0], "conn-gone")
	return r
}

func TestPushRouting(t *testing.T) {
	for _, tc := range []struct {
		name        string
		options     map[string]any
		wantTTL     time.Duration
		wantCounter dataservice.Counter // for recipients without a reachable connector
	}{
		{"default ttl", nil, 24 * time.Hour, dataservice.CounterStoredOffline},
		{"ttl one hour", map[string]any{"time_to_live": 3600}, time.Hour, dataservice.CounterStoredOffline},
		{"ttl zero", map[string]any{"time_to_live": 0}, 0, dataservice.CounterExpired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, gateway.Config{})
			a := e.createApp(t)
			devs := e.routedDevices(t, a)
			// Every device listed, some twice.
			audience := append(slices.Clone(devs.all), devs.onA[0], devs.offline[1], devs.onB[0])
			body := pushBody(audience, "hello")
			if tc.options != nil {
				body["options"] = tc.options
			}
			start := time.Now()
			id := e.pushOK(t, a, body)

			m := e.message(t, id)
			if m.ID != id || m.AppKey != a.Key || m.Content != "hello" || m.TTL != tc.wantTTL {
				t.Errorf("stored message = %+v, want id %d app %s content hello ttl %v", m, id, a.Key, tc.wantTTL)
			}
			if m.Created.Before(start.Add(-time.Second)) || m.Created.After(time.Now().Add(time.Second)) {
				t.Errorf("message created %v, want about %v", m.Created, start)
			}

			for _, rid := range devs.all {
				if got, want := e.inboxHas(t, rid, id), tc.wantTTL > 0; got != want {
					t.Errorf("inbox copy for %s: %v, want %v", rid, got, want)
				}
			}

			rep, err := e.data.Report(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Targeted != int64(len(devs.all)) {
				t.Errorf("targeted = %d, want %d distinct recipients", rep.Targeted, len(devs.all))
			}

			got := map[string][]string{}
			for _, d := range e.cluster.Deliveries() {
				if d.msg.ID != id || d.msg.Content != "hello" || d.msg.AppKey != a.Key || d.msg.TTL != tc.wantTTL {
					t.Errorf("delivered message %+v, want the stored one", d.msg)
				}
				if _, dup := got[d.connector]; dup {
					t.Errorf("connector %s got two Deliver calls for one push", d.connector)
				}
				got[d.connector] = slices.Sorted(slices.Values(d.rids))
			}
			want := map[string][]string{
				connectorA: slices.Sorted(slices.Values(devs.onA)),
				connectorB: slices.Clone(devs.onB),
			}
			if !maps.EqualFunc(got, want, slices.Equal) {
				t.Errorf("deliveries = %v, want %v", got, want)
			}

			offline := int64(len(devs.gone) + len(devs.offline))
			wantReceipts := map[dataservice.Counter]int64{tc.wantCounter: offline}
			if sums := e.receipts.sums(id); !maps.Equal(sums, wantReceipts) {
				t.Errorf("receipts = %v, want %v", sums, wantReceipts)
			}
			for _, r := range e.receipts.Added() {
				if r.msgID != id {
					t.Errorf("receipt for message %d, want %d", r.msgID, id)
				}
			}
		})
	}
}

// TestPushDeliverFails checks that a connector failing to take a message
// does not fail the push: the message is stored, and its recipients count
// as offline.
func TestPushDeliverFails(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a := e.createApp(t)
	devs := e.routedDevices(t, a)
	e.cluster.connectors[connectorA].setErr(errors.New("connector a: connection refused"))
	id := e.pushOK(t, a, pushBody(devs.all, "hello"))
	if len(e.cluster.Deliveries()) != 2 {
		t.Errorf("deliveries = %v, want one per known connector", e.cluster.Deliveries())
	}
	want := int64(len(devs.onA) + len(devs.gone) + len(devs.offline))
	if got := e.receipts.sums(id); got[dataservice.CounterStoredOffline] != want || len(got) != 1 {
		t.Errorf("receipts = %v, want stored_offline %d", got, want)
	}
	for _, rid := range devs.all {
		if !e.inboxHas(t, rid, id) {
			t.Errorf("no inbox copy for %s", rid)
		}
	}
}

func TestPushAllOnline(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a := e.createApp(t)
	rids := e.registerDevices(t, a.Key, 3)
	for _, rid := range rids {
		e.connect(t, rid, connectorA)
	}
	id := e.pushOK(t, a, pushBody(rids, "hi"))
	if got := e.receipts.Added(); len(got) != 0 {
		t.Errorf("receipts %v for a push whose recipients are all online; want none", got)
	}
	d := e.cluster.Deliveries()
	if len(d) != 1 || d[0].msg.ID != id || !slices.Equal(slices.Sorted(slices.Values(d[0].rids)), slices.Sorted(slices.Values(rids))) {
		t.Errorf("deliveries = %+v, want one to %s with %v", d, connectorA, rids)
	}
}

func TestPushDuplicates(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a := e.createApp(t)
	rid := e.registerDevice(t, a.Key).RID
	e.connect(t, rid, connectorA)
	id := e.pushOK(t, a, pushBody([]string{rid, rid, rid}, "once"))
	rep, err := e.data.Report(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Targeted != 1 {
		t.Errorf("targeted = %d, want 1", rep.Targeted)
	}
	d := e.cluster.Deliveries()
	if len(d) != 1 || !slices.Equal(d[0].rids, []string{rid}) {
		t.Errorf("deliveries = %+v, want one with [%s]", d, rid)
	}
	if n := e.inboxLen(t, rid); n != 1 {
		t.Errorf("%d inbox copies, want 1", n)
	}
}

func TestPushMessageFields(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a := e.createApp(t)
	rid := e.registerDevice(t, a.Key).RID
	for _, tc := range []struct {
		name       string
		message    string
		want       dataservice.Message
		wantExtras string
	}{
		{"content only", `{"content":"c"}`, dataservice.Message{Content: "c"}, ""},
		{"title", `{"title":"t","content":"c"}`, dataservice.Message{Title: "t", Content: "c"}, ""},
		{"extras compacted", `{"content":"c","extras":{ "k" : "v", "n" : [ 1, 2 ] }}`, dataservice.Message{Content: "c"}, `{"k":"v","n":[1,2]}`},
		{"empty extras", `{"content":"c","extras":{}}`, dataservice.Message{Content: "c"}, `{}`},
		{"null extras", `{"content":"c","extras":null}`, dataservice.Message{Content: "c"}, ""},
		{"null title", `{"title":null,"content":"c"}`, dataservice.Message{Content: "c"}, ""},
		{"nested extras", `{"content":"c","extras":{"a":{"b":{"c":[{"d":null}]}}}}`, dataservice.Message{Content: "c"}, `{"a":{"b":{"c":[{"d":null}]}}}`},
		{"unicode", `{"title":"标题","content":"内容 🚀 \u00e9"}`, dataservice.Message{Title: "标题", Content: "内容 🚀 é"}, ""},
		{"html", `{"content":"<b>&</b>","extras":{"u":"<a>"}}`, dataservice.Message{Content: "<b>&</b>"}, `{"u":"<a>"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := `{"audience":{"registration_id":["` + rid + `"]},"message":` + tc.message + `}`
			id := e.pushOK(t, a, body)
			m := e.message(t, id)
			if m.Title != tc.want.Title || m.Content != tc.want.Content {
				t.Errorf("stored title %q content %q, want %q %q", m.Title, m.Content, tc.want.Title, tc.want.Content)
			}
			if !jsonEqual(t, m.Extras, []byte(tc.wantExtras)) {
				t.Errorf("stored extras %s, want %s", m.Extras, tc.wantExtras)
			}
		})
	}
}

// TestPushExtrasStoredAsAccepted checks that the extras a device gets from
// its inbox are the bytes the gateway measured against MaxPayload. The
// dataservice stores messages with json.Marshal, which rewrites <, > and &
// in a json.RawMessage as \u003c, \u003e and \u0026: an accepted message
// of 4096 bytes comes back from the store with extras up to six times as
// large. Checked end to end with node/nodetest and the sdk: an offline device
// sent such a message reconnects forever with "protocol: record too large"
// and never receives it (nor any message queued after it).
func TestPushExtrasStoredAsAccepted(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a := e.createApp(t)
	rid := e.registerDevice(t, a.Key).RID
	extras := `{"k":"` + strings.Repeat("<", 4000) + `"}`
	id := e.pushOK(t, a, `{"audience":{"registration_id":["`+rid+`"]},"message":{"content":"c","extras":`+extras+`}}`)
	m := e.message(t, id)
	if string(m.Extras) != extras {
		t.Errorf("stored extras are %d bytes (%.40s…), want the %d accepted bytes", len(m.Extras), m.Extras, len(extras))
	}
}

// jsonEqual reports whether a and b hold equal JSON values; empty is null.
func jsonEqual(tb testing.TB, a, b []byte) bool {
	tb.Helper()
	var x, y any
	if len(a) > 0 {
		if err := json.Unmarshal(a, &x); err != nil {
			tb.Fatalf("%s: %v", a, err)
		}
	}
	if len(b) > 0 {
		if err := json.Unmarshal(b, &y); err != nil {
			tb.Fatalf("%s: %v", b, err)
		}
	}
	return reflect.DeepEqual(x, y)
}

func TestPushTTL(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a := e.createApp(t)
	rid := e.registerDevice(t, a.Key).RID
	for _, tc := range []struct {
		name    string
		options string // JSON, or "" for none
		want    time.Duration
	}{
		{"no options", "", 24 * time.Hour},
		{"null options", `null`, 24 * time.Hour},
		{"empty options", `{}`, 24 * time.Hour},
		{"null ttl", `{"time_to_live":null}`, 24 * time.Hour},
		{"zero", `{"time_to_live":0}`, 0},
		{"one second", `{"time_to_live":1}`, time.Second},
		{"one minute", `{"time_to_live":60}`, time.Minute},
		{"ten days", `{"time_to_live":864000}`, 10 * 24 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := `{"audience":{"registration_id":["` + rid + `"]},"message":{"content":"x"}`
			if tc.options != "" {
				body += `,"options":` + tc.options
			}
			body += "}"
			id := e.pushOK(t, a, body)
			if got := e.message(t, id).TTL; got != tc.want {
				t.Errorf("TTL = %v, want %v", got, tc.want)
			}
			if got, want := e.inboxHas(t, rid, id), tc.want > 0; got != want {
				t.Errorf("inbox copy: %v, want %v", got, want)
			}
		})
	}
}

// TestPushTTLOverflow sends time_to_live values that are in range as
// int64 seconds but overflow time.Duration once multiplied by time.Second:
// they wrap to a negative or tiny duration, pass the range check, and are
// stored as the message's TTL.
func TestPushTTLOverflow(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a := e.createApp(t)
	rid := e.registerDevice(t, a.Key).RID
	for _, ttl := range []string{
		"9223372037",          // wraps to about -292 years
		"18446744074",         // wraps to +290ms
		"9223372036854775807", // max int64
	} {
		t.Run(ttl, func(t *testing.T) {
			before := e.sideEffects()
			body := `{"audience":{"registration_id":["` + rid + `"]},"message":{"content":"x"},"options":{"time_to_live":` + ttl + `}}`
			e.push(t, a, body).wantError(t, http.StatusBadRequest, "invalid_field", "time_to_live", "864000")
			e.wantNoChange(t, before)
		})
	}
}

func TestPushPayloadLimit(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a := e.createApp(t)
	rid := e.registerDevice(t, a.Key).RID
	const limit = 4096
	extras := func(n int) string { // a compact JSON object of n bytes (n >= 9)
		return `{"k":"` + strings.Repeat("v", n-8) + `"}`
	}
	for _, tc := range []struct {
		name    string
		message map[string]any
		size    int
	}{
		{"content", map[string]any{"content": strings.Repeat("c", limit)}, limit},
		{"title and content", map[string]any{"title": strings.Repeat("t", 1000), "content": strings.Repeat("c", limit-1000)}, limit},
		{"all three", map[string]any{"title": strings.Repeat("t", 1000), "content": strings.Repeat("c", 1000), "extras": json.RawMessage(extras(limit - 2000))}, limit},
		{"multibyte", map[string]any{"content": strings.Repeat("演", limit/3) + "a"}, limit},
		{"extras counted compact", map[string]any{"content": "c", "extras": json.RawMessage(" { \"k\" :\n\"" + strings.Repeat("v", limit-1-8) + "\" } ")}, limit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := map[string]any{"audience": map[string]any{"registration_id": []string{rid}}, "message": tc.message}
			e.pushOK(t, a, body)

			// One more byte of content is too much.
			tc.message["content"] = tc.message["content"].(string) + "x"
			before := e.sideEffects()
			e.push(t, a, body).wantError(t, http.StatusRequestEntityTooLarge, "payload_too_large", fmt.Sprint(tc.size+1), "4096")
			e.wantNoChange(t, before)
		})
	}
}

func TestPushBodyLimit(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a := e.createApp(t)
	rid := e.registerDevice(t, a.Key).RID
	object := `{"audience":{"registration_id":["` + rid + `"]},"message":{"content":"x"}}`
	const limit = 64 << 10
	for _, tc := range []struct {
		name string
		body string
		ok   bool
	}{
		{"exactly the limit", object + strings.Repeat(" ", limit-len(object)), true},
		{"one byte over, in whitespace", object + strings.Repeat(" ", limit-len(object)+1), false},
		{"leading whitespace", strings.Repeat("\n", limit) + object, false},
		{"long id list", `{"audience":{"registration_id":["` + strings.Repeat(`x","`, limit/4) + `x"]},"message":{"content":"x"}}`, false},
		{"long content", `{"audience":{"registration_id":["` + rid + `"]},"message":{"content":"` + strings.Repeat("c", limit) + `"}}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.sideEffects()
			r := e.push(t, a, tc.body)
			if tc.ok {
				r.wantOK(t, http.StatusOK, nil)
				return
			}
			r.wantError(t, http.StatusRequestEntityTooLarge, "request_too_large", "65536")
			e.wantNoChange(t, before)
		})
	}
}

func TestPushManyRecipients(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a := e.createApp(t)
	rids := make([]string, 1001)
	ctx := context.Background()
	for i := range rids {
		rids[i] = fmt.Sprintf("%020x", i+1)
		if err := e.data.CreateDevice(ctx, dataservice.Device{RegistrationID: rids[i], AppKey: a.Key, Platform: "ios", Created: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("1000 distinct, listed twice", func(t *testing.T) {
		audience := append(slices.Clone(rids[:1000]), rids[:1000]...)
		id := e.pushOK(t, a, pushBody(audience, "all"))
		rep, err := e.data.Report(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Targeted != 1000 {
			t.Errorf("targeted = %d, want 1000", rep.Targeted)
		}
		if got := e.receipts.sums(id)[dataservice.CounterStoredOffline]; got != 1000 {
			t.Errorf("stored_offline receipts = %d, want 1000", got)
		}
		for _, rid := range []string{rids[0], rids[999]} {
			if !e.inboxHas(t, rid, id) {
				t.Errorf("no inbox copy for %s", rid)
			}
		}
		if e.inboxHas(t, rids[1000], id) {
			t.Errorf("inbox copy for %s, which was not addressed", rids[1000])
		}
	})

	t.Run("1001 distinct", func(t *testing.T) {
		before := e.sideEffects()
		e.push(t, a, pushBody(rids, "all")).wantError(t, http.StatusBadRequest, "too_many_registration_ids", "1001", "1000")
		e.wantNoChange(t, before)
	})
}

// TestPushUnknownRecipients checks that a push naming any id that is not a
// device of the app is refused whole: bad input loses nothing and changes
// nothing.
func TestPushUnknownRecipients(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a, b := e.createApp(t), e.createApp(t)
	own := e.registerDevices(t, a.Key, 2)
	e.connect(t, own[0], connectorA)
	foreign := e.registerDevice(t, b.Key).RID
	e.connect(t, foreign, connectorA)
	missing := "ffffffffffffffffffff"
	many := make([]string, 12)
	for i := range many {
		many[i] = fmt.Sprintf("missing-%02d", i)
	}
	for _, tc := range []struct {
		name     string
		audience []string
		hints    []string
	}{
		{"another app's device", []string{foreign}, []string{foreign, "nothing was sent"}},
		{"nonexistent", []string{missing}, []string{missing}},
		{"mixed with own devices", []string{own[0], foreign, own[1], missing}, []string{"2 registration ids", foreign, missing}},
		{"more than ten", append([]string{own[0]}, many...), []string{"12 registration ids", many[0], many[9], "and more"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.sideEffects()
			msg := e.push(t, a, pushBody(tc.audience, "nope")).wantError(t, http.StatusBadRequest, "unknown_registration_id", tc.hints...)
			if strings.Contains(msg, own[0]) || strings.Contains(msg, own[1]) {
				t.Errorf("message %q names the app's own devices as unknown", msg)
			}
			e.wantNoChange(t, before)
			for _, rid := range append(slices.Clone(own), foreign) {
				if n := e.inboxLen(t, rid); n != 0 {
					t.Errorf("%d inbox copies for %s after a refused push", n, rid)
				}
			}
		})
	}
}

func TestPushErrors(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a := e.createApp(t)
	rid := e.registerDevice(t, a.Key).RID
	aud := `"audience":{"registration_id":["` + rid + `"]}`
	msg := `"message":{"content":"x"}`
	valid := `{` + aud + `,` + msg + `}`
	for _, tc := range []struct {
		name   string
		body   string
		status int
		code   string
		hints  []string
	}{
		// Unknown fields, wherever they are.
		{"unknown top-level field", `{` + aud + `,` + msg + `,"sendno":1}`, 400, "unknown_field", []string{`"sendno"`}},
		{"unknown audience field", `{"audience":{"registration_id":["` + rid + `"],"tags":["vip"]},` + msg + `}`, 400, "unknown_field", []string{"tags", "kind"}},
		{"unknown message field", `{` + aud + `,"message":{"content":"x","alert":"y"}}`, 400, "unknown_field", []string{`"alert"`}},
		{"unknown options field", `{` + aud + `,` + msg + `,"options":{"ttl":60}}`, 400, "unknown_field", []string{`"ttl"`}},
		{"jpush notification", `{` + aud + `,"notification":{"alert":"x"}}`, 400, "unknown_field", []string{`"notification"`}},

		// Not JSON, or more than one value.
		{"empty body", ``, 400, "invalid_json", []string{"empty"}},
		{"whitespace body", "  \n\t", 400, "invalid_json", []string{"empty"}},
		{"not json", `audience=x`, 400, "invalid_json", []string{"malformed"}},
		{"truncated", `{` + aud + `,"message":{"content":"x"`, 400, "invalid_json", []string{"ends"}},
		{"bad delimiter", `{"audience":{]}`, 400, "invalid_json", nil},
		{"single quotes", `{'audience':1}`, 400, "invalid_json", nil},
		{"trailing comma", `{` + aud + `,` + msg + `,}`, 400, "invalid_json", nil},
		{"trailing garbage", valid + ` x`, 400, "invalid_json", []string{"exactly one JSON object"}},
		{"trailing object", valid + `{}`, 400, "invalid_json", []string{"exactly one JSON object"}},
		{"trailing bracket", valid + `]`, 400, "invalid_json", []string{"exactly one JSON object"}},
		{"trailing number", valid + "\n1", 400, "invalid_json", []string{"exactly one JSON object"}},

		// Wrong types.
		{"body is an array", `[` + valid + `]`, 400, "invalid_field", []string{"object"}},
		{"body is a string", `"hello"`, 400, "invalid_field", []string{"object"}},
		{"audience a string but all", `{"audience":"everyone",` + msg + `}`, 400, "invalid_field", []string{"audience", "all"}},
		{"registration_id a string", `{"audience":{"registration_id":"` + rid + `"},` + msg + `}`, 400, "invalid_field", []string{"registration_id", "array"}},
		{"registration_id numbers", `{"audience":{"registration_id":[1,2]},` + msg + `}`, 400, "invalid_field", []string{"registration_id", "string"}},
		{"message a string", `{` + aud + `,"message":"hi"}`, 400, "invalid_field", []string{"message", "object"}},
		{"content a number", `{` + aud + `,"message":{"content":5}}`, 400, "invalid_field", []string{"content", "string"}},
		{"title a bool", `{` + aud + `,"message":{"title":true,"content":"x"}}`, 400, "invalid_field", []string{"title", "string"}},
		{"options an array", `{` + aud + `,` + msg + `,"options":[]}`, 400, "invalid_field", []string{"options", "object"}},
		{"ttl a string", `{` + aud + `,` + msg + `,"options":{"time_to_live":"60"}}`, 400, "invalid_field", []string{"time_to_live", "number"}},
		{"ttl a fraction", `{` + aud + `,` + msg + `,"options":{"time_to_live":1.5}}`, 400, "invalid_field", []string{"time_to_live"}},
		{"ttl huge", `{` + aud + `,` + msg + `,"options":{"time_to_live":1e400}}`, 400, "invalid_field", []string{"time_to_live"}},
		{"ttl beyond int64", `{` + aud + `,` + msg + `,"options":{"time_to_live":99999999999999999999}}`, 400, "invalid_field", []string{"time_to_live"}},

		// Missing parts.
		{"empty object", `{}`, 400, "missing_field", []string{"audience"}},
		{"null body", `null`, 400, "missing_field", []string{"audience"}},
		{"no audience", `{` + msg + `}`, 400, "missing_field", []string{"audience"}},
		{"null audience", `{"audience":null,` + msg + `}`, 400, "missing_field", []string{"audience"}},
		{"empty audience", `{"audience":{},` + msg + `}`, 400, "missing_field", []string{"registration_id"}},
		{"empty id list", `{"audience":{"registration_id":[]},` + msg + `}`, 400, "missing_field", []string{"registration_id"}},
		{"no message", `{` + aud + `}`, 400, "missing_field", []string{"message"}},
		{"empty message", `{` + aud + `,"message":{}}`, 400, "missing_field", []string{"content"}},
		{"empty content", `{` + aud + `,"message":{"title":"t","content":""}}`, 400, "missing_field", []string{"content"}},

		// Bad values.
		{"empty id", `{"audience":{"registration_id":["` + rid + `",""]},` + msg + `}`, 400, "invalid_field", []string{"registration_id[1]"}},
		{"null id", `{"audience":{"registration_id":[null]},` + msg + `}`, 400, "invalid_field", []string{"registration_id[0]"}},
		{"id of 65 characters", `{"audience":{"registration_id":["` + strings.Repeat("a", 65) + `"]},` + msg + `}`, 400, "invalid_field", []string{"registration_id[0]", "64"}},
		{"extras an array", `{` + aud + `,"message":{"content":"x","extras":[1]}}`, 400, "invalid_field", []string{"extras", "object"}},
		{"extras a string", `{` + aud + `,"message":{"content":"x","extras":"{}"}}`, 400, "invalid_field", []string{"extras", "object"}},
		{"extras a number", `{` + aud + `,"message":{"content":"x","extras":1}}`, 400, "invalid_field", []string{"extras", "object"}},
		{"extras a bool", `{` + aud + `,"message":{"content":"x","extras":false}}`, 400, "invalid_field", []string{"extras", "object"}},
		{"ttl negative", `{` + aud + `,` + msg + `,"options":{"time_to_live":-1}}`, 400, "invalid_field", []string{"time_to_live", "-1", "864000"}},
		{"ttl over ten days", `{` + aud + `,` + msg + `,"options":{"time_to_live":864001}}`, 400, "invalid_field", []string{"time_to_live", "864001", "864000"}},
		{"ttl min int64", `{` + aud + `,` + msg + `,"options":{"time_to_live":-9223372036854775808}}`, 400, "invalid_field", []string{"time_to_live"}},

		// Limits.
		{"too many ids", `{"audience":{"registration_id":["` + strings.Join(seq("r%d", 1001), `","`) + `"]},` + msg + `}`, 400, "too_many_registration_ids", []string{"1001", "1000"}},
		{"payload too large", `{` + aud + `,"message":{"content":"` + strings.Repeat("x", 4097) + `"}}`, 413, "payload_too_large", []string{"4097", "4096"}},
		{"body too large", `{` + aud + `,"message":{"content":"` + strings.Repeat("x", 65<<10) + `"}}`, 413, "request_too_large", []string{"65536"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.sideEffects()
			e.push(t, a, tc.body).wantError(t, tc.status, tc.code, tc.hints...)
			e.wantNoChange(t, before)
			if n := e.inboxLen(t, rid); n != 0 {
				t.Errorf("%d inbox copies after a refused push", n)
			}
		})
	}
}

// TestPushConfig checks that the limits of Config apply.
func TestPushConfig(t *testing.T) {
	e := newEnv(t, gateway.Config{MaxBody: 512, MaxPayload: 10, MaxRecipients: 2, DefaultTTL: time.Minute, MaxTTL: time.Hour})
	a := e.createApp(t)
	rids := e.registerDevices(t, a.Key, 3)
	for _, tc := range []struct {
		name   string
		body   any
		status int
		code   string
	}{
		{"payload at limit", pushBody(rids[:2], "0123456789"), 200, ""},
		{"payload over", pushBody(rids[:2], "0123456789a"), 413, "payload_too_large"},
		{"too many", pushBody(rids, "x"), 400, "too_many_registration_ids"},
		{"ttl at max", map[string]any{"audience": map[string]any{"registration_id": rids[:1]}, "message": map[string]any{"content": "x"}, "options": map[string]any{"time_to_live": 3600}}, 200, ""},
		{"ttl over max", map[string]any{"audience": map[string]any{"registration_id": rids[:1]}, "message": map[string]any{"content": "x"}, "options": map[string]any{"time_to_live": 3601}}, 400, "invalid_field"},
		{"body over", `{"audience":{"registration_id":["` + rids[0] + `"]},"message":{"content":"x"}}` + strings.Repeat(" ", 512), 413, "request_too_large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.sideEffects()
			r := e.push(t, a, tc.body)
			if tc.status == 200 {
				r.wantOK(t, 200, nil)
				return
			}
			r.wantError(t, tc.status, tc.code)
			e.wantNoChange(t, before)
		})
	}
	t.Run("default ttl", func(t *testing.T) {
		id := e.pushOK(t, a, pushBody(rids[:1], "x"))
		if got := e.message(t, id).TTL; got != time.Minute {
			t.Errorf("TTL = %v, want the configured default of 1m", got)
		}
	})
}

// TestPushConcurrent pushes from many goroutines: every push gets its own
// id and its own stored message.
func TestPushConcurrent(t *testing.T) {
	e := newEnv(t, gateway.Config{})
	a := e.createApp(t)
	rids := e.registerDevices(t, a.Key, 4)
	e.connect(t, rids[0], connectorA)
	body, err := json.Marshal(pushBody(rids, "concurrent"))
	if err != nil {
		t.Fatal(err)
	}
	const workers, per = 8, 10
	idCh := make(chan uint64, workers*per)
	errCh := make(chan error, workers)
	for range workers {
		go func() {
			for range per {
				var out struct {
					MsgID string `json:"msg_id"`
				}
				req, err := http.NewRequest("POST", e.srv.URL+"/v1/push", bytes.NewReader(body))
				if err != nil {
					errCh <- err
					return
				}
				req.Header.Set("Authorization", a.auth())
				resp, err := e.srv.Client().Do(req)
				if err != nil {
					errCh <- err
					return
				}
				err = json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || err != nil {
					errCh <- fmt.Errorf("push: status %d, %v", resp.StatusCode, err)
					return
				}
				var id uint64
				if _, err := fmt.Sscan(out.MsgID, &id); err != nil {
					errCh <- err
					return
				}
				idCh <- id
			}
			errCh <- nil
		}()
	}
	for range workers {
		if err := <-errCh; err != nil {
			t.Fatal(err)
		}
	}
	close(idCh)
	seen := map[uint64]bool{}
	for id := range idCh {
		if seen[id] {
			t.Errorf("msg_id %d returned twice", id)
		}
		seen[id] = true
		if m := e.message(t, id); m.Content != "concurrent" {
			t.Errorf("message %d = %+v", id, m)
		}
	}
	if len(seen) != workers*per {
		t.Errorf("%d distinct ids, want %d", len(seen), workers*per)
	}
	if n := e.inboxLen(t, rids[3]); n != workers*per {
		t.Errorf("%d inbox copies, want %d", n, workers*per)
	}
}

// seq returns n strings formatted from format and 0..n-1.
func seq(format string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(format, i)
	}
	return out
}
