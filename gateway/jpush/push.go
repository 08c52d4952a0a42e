package jpush

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway/api"
	"github.com/heraldpush/herald/gateway/audience"
	"github.com/heraldpush/herald/gateway/push"
	"github.com/heraldpush/herald/internal/h2c"
	"github.com/heraldpush/herald/internal/ids"
)

// JPush's push object, and how it maps onto Herald's push (docs/jpush.md
// says it at length):
//
//   - platform: "all", or a list that restricts the push to the devices on
//     those platforms (heraldPlatformOf maps JPush's names onto
//     Herald's; winphone has no Herald devices and matches none); the
//     list also chooses which platform's notification to send.
//   - audience: Herald's audience.Audience, which has JPush's shape; abtest and
//     unknown kinds are rejected.
//   - notification: Herald sends one message to every platform, so it
//     takes the notification of one platform — the first of android, ios,
//     hmos, quickapp, winphone that the push targets and that has an alert
//     (its own, or notification.alert): title and alert become the
//     message's title and content; the extras of every targeted platform
//     are merged into the message's extras (the chosen platform's win).
//   - message (custom message): the message's title, content and extras
//     when there is no notification; otherwise it travels in the extras.
//   - extras always carry the reserved key "_jpush": {"type":
//     "notification" or "message", …} with what the three fields cannot
//     hold (the custom message beside a notification, its content_type,
//     the override_msg_id).
//   - options: sendno is echoed; time_to_live, big_push_duration and
//     apns_collapse_id (as collapse_id) map to Herald's options;
//     override_msg_id withdraws the undelivered copies of the overridden
//     message; the rest is accepted and ignored.
//   - cid: Herald's idempotency key.

// reservedExtra is the key of the extras the /v3 face adds.
const reservedExtra = "_jpush"

// v3Platforms are JPush's platforms, in the order the notification to
// send is chosen in.
var v3Platforms = []string{"android", "ios", "hmos", "quickapp", "winphone"}

// heraldPlatformOf maps JPush's platforms onto the Herald platforms
// whose devices they are; a platform with no Herald devices (winphone:
// no Herald SDK runs there) maps to none.
var heraldPlatformOf = map[string]string{"android": "android", "ios": "ios", "hmos": "hmos", "quickapp": "quickapp", "winphone": ""}

// topKeys are the keys a push object may have: those Herald maps, and
// those it accepts and ignores (JPush's SMS, vendor-channel, in-app
// message and callback parts). Any other key is JPush's error 1009.
var topKeys = map[string]bool{
	"platform": true, "audience": true, "notification": true, "message": true, "options": true, "cid": true,
	"sms_message": true, "notification_3rd": true, "inapp_message": true, "callback": true,
}

// pushRequest is a decoded push object.
type pushRequest struct {
	sendno       string
	platforms    []string // the targeted platforms, in v3Platforms order
	allPlatforms bool     // platform is "all": no device is left out
	audience     audience.Audience
	notification *notification
	message      *message
	options      push.Options
	overrideID   uint64
}

// note is one platform's notification.
type note struct {
	alert  *string // its own alert; nil to use notification.alert
	title  string
	extras map[string]json.RawMessage
}

type notification struct {
	alert     *string
	platforms map[string]*note
}

type message struct {
	Content     string                     `json:"msg_content"`
	Title       string                     `json:"title,omitempty"`
	ContentType string                     `json:"content_type,omitempty"`
	Extras      map[string]json.RawMessage `json:"extras,omitempty"`
}

// pushResponse is JPush's answer to a push: sendno as given (0 if
// none), and the message id.
type pushResponse struct {
	SendNo string `json:"sendno"`
	MsgID  string `json:"msg_id"`
}

// readJPushBody reads a request body of at most limit bytes whose
// strings are valid UTF-8 without NUL characters (api.InvalidString).
func readJPushBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var (
			mbe *http.MaxBytesError
			bte *h2c.BodyTimeoutError
		)
		switch {
		case errors.As(err, &mbe):
			return nil, errorf(kindTooBig, "the body is over %d bytes", limit)
		case errors.As(err, &bte):
			e := errorf(kindInvalid, "the body did not arrive within %v of the request's headers; send it at once", bte.Timeout)
			e.status = http.StatusRequestTimeout
			return nil, e
		}
		return nil, errorf(kindInvalid, "the body could not be read: %v", err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, errorf(kindMissing, "the body is empty; send a JSON object")
	}
	if path, problem, found := api.InvalidString(b); found {
		return nil, errorf(kindInvalid, "%s %s; strings must be valid UTF-8 without NUL characters", path, problem)
	}
	return b, nil
}

// object decodes raw as a JSON object; what names it in errors.
func object(raw json.RawMessage, what string) (map[string]json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, errorf(kindInvalid, "%s is not valid JSON: %v (at byte %d)", what, se, se.Offset)
		}
		return nil, errorf(kindInvalid, "%s must be a JSON object", what)
	}
	return m, nil
}

// isNull reports an absent or null value: JPush treats both as absent.
func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}

func str(raw json.RawMessage, path string) (string, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", errorf(kindInvalid, "%s must be a string", path)
	}
	return s, nil
}

func strs(raw json.RawMessage, path string) ([]string, error) {
	var s []string
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, errorf(kindInvalid, "%s must be an array of strings", path)
	}
	return s, nil
}

// integer reads a JSON integer; strings of digits are taken too, as
// JPush's SDKs send some numbers as strings.
func integer(raw json.RawMessage, path string) (int64, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err == nil {
			raw = []byte(s)
		}
	}
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return 0, errorf(kindInvalid, "%s must be a whole number; got %s", path, api.Truncate(string(raw), 40))
	}
	return n, nil
}

// extras reads an extras object.
func extras(raw json.RawMessage, path string) (map[string]json.RawMessage, error) {
	if isNull(raw) {
		return nil, nil
	}
	m, err := object(raw, path)
	if err != nil {
		return nil, err
	}
	if _, ok := m[reservedExtra]; ok {
		return nil, errorf(kindInvalid, "%s.%s is reserved: Herald puts what JPush's push object says beyond title, content and extras there; rename the key", path, reservedExtra)
	}
	return m, nil
}

// decodeJPushPush reads and checks a push object; what can only be
// checked against the store (devices, the overridden message) is left to
// planJPush.
func decodeJPushPush(b []byte) (*pushRequest, error) {
	top, err := object(b, "the push object")
	if err != nil {
		return nil, err
	}
	for k := range top {
		if !topKeys[k] {
			return nil, errorf(kindUnsupportedKey, "%q is not a key of the push object; it has platform, audience, notification, message, options and cid", k)
		}
	}
	req := &pushRequest{sendno: "0"}
	if req.platforms, req.allPlatforms, err = decodeJPushPlatform(top["platform"]); err != nil {
		return nil, err
	}
	if req.audience, err = decodeJPushAudience(top["audience"]); err != nil {
		return nil, err
	}
	if !isNull(top["notification"]) {
		if req.notification, err = decodeJPushNotification(top["notification"]); err != nil {
			return nil, err
		}
	}
	if !isNull(top["message"]) {
		if req.message, err = decodeJPushMessage(top["message"]); err != nil {
			return nil, err
		}
	}
	if req.notification == nil && req.message == nil {
		return nil, errorf(kindMissing, `give notification (e.g. {"alert": "Hi"}) or message (e.g. {"msg_content": "Hi"}), or both`)
	}
	if !isNull(top["options"]) {
		if err := decodeJPushOptions(top["options"], req); err != nil {
			return nil, err
		}
	}
	if !isNull(top["cid"]) {
		cid, err := str(top["cid"], "cid")
		if err != nil {
			return nil, err
		}
		if cid != "" && (len(cid) > 64 || strings.ContainsAny(cid, "/") || strings.IndexFunc(cid, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0) {
			return nil, errorf(kindInvalid, "cid must be 1 to 64 printable characters without '/', such as those GET /v3/push/cid returns")
		}
		req.options.CID = cid
	}
	return req, nil
}

// decodeJPushPlatform reads platform: the JPush platforms it names, in
// v3Platforms order, and whether it is "all".
func decodeJPushPlatform(raw json.RawMessage) ([]string, bool, error) {
	if isNull(raw) {
		return nil, false, errorf(kindMissing, `platform is required: "all" or a list such as ["android", "ios"]`)
	}
	var all string
	if json.Unmarshal(raw, &all) == nil {
		if all != "all" {
			return nil, false, errorf(kindInvalid, `platform must be "all" or a list such as ["android", "ios"]; got %q`, all)
		}
		return v3Platforms, true, nil
	}
	list, err := strs(raw, "platform")
	if err != nil {
		return nil, false, err
	}
	if len(list) == 0 {
		return nil, false, errorf(kindInvalid, `platform lists no platform; give "all" or some of %s`, strings.Join(v3Platforms, ", "))
	}
	for i, p := range list {
		if !slices.Contains(v3Platforms, p) {
			return nil, false, errorf(kindInvalid, "platform[%d] is %q; platforms are %s", i, p, strings.Join(v3Platforms, ", "))
		}
	}
	var out []string
	for _, p := range v3Platforms {
		if slices.Contains(list, p) {
			out = append(out, p)
		}
	}
	return out, false, nil
}

// heraldPlatforms returns the Herald platforms the push is restricted to,
// sorted, as Audience.Platform holds them: nil for "all". A list of
// platforms none of which has Herald devices (winphone alone) fails with
// 1011 (8100 in a schedule), as a push whose audience has no device.
func (req *pushRequest) heraldPlatforms() ([]string, error) {
	if req.allPlatforms {
		return nil, nil
	}
	var out []string
	for _, p := range req.platforms {
		if h := heraldPlatformOf[p]; h != "" {
			out = append(out, h)
		}
	}
	if len(out) == 0 {
		return nil, errorf(kindNoTarget, "cannot find user by this audience: platform names only %s, and Herald has no devices there", strings.Join(req.platforms, ", "))
	}
	return api.Distinct(out), nil
}

// audienceKinds are the audience kinds Herald has; abtest is JPush's
// and refused (it would change who gets the push).
var audienceKinds = []string{"tag", "tag_and", "tag_not", "alias", "registration_id", "segment"}

func decodeJPushAudience(raw json.RawMessage) (audience.Audience, error) {
	if isNull(raw) {
		return audience.Audience{}, errorf(kindMissing, `audience is required: "all" or e.g. {"tag": ["vip"]}`)
	}
	var all string
	if json.Unmarshal(raw, &all) == nil {
		if all != "all" {
			return audience.Audience{}, errorf(kindInvalid, `audience must be "all" or an object such as {"tag": ["vip"]}; got %q`, all)
		}
		return audience.Audience{All: true}, nil
	}
	obj, err := object(raw, "audience")
	if err != nil {
		return audience.Audience{}, errorf(kindInvalid, `audience must be "all" or an object such as {"tag": ["vip"]}`)
	}
	lists := map[string][]string{}
	for k, v := range obj {
		if k == "abtest" {
			if ab, err := strs(v, "audience.abtest"); err != nil || len(ab) > 0 {
				return audience.Audience{}, errorf(kindInvalid, "audience.abtest is not supported: Herald has no A/B tests; target the groups with tags or segments")
			}
			continue
		}
		if !slices.Contains(audienceKinds, k) {
			return audience.Audience{}, errorf(kindInvalid, "audience.%s is not an audience kind; kinds are %s", k, strings.Join(audienceKinds, ", "))
		}
		if isNull(v) {
			continue
		}
		if lists[k], err = strs(v, "audience."+k); err != nil {
			return audience.Audience{}, err
		}
	}
	return audience.Audience{
		RegistrationID: lists["registration_id"], Alias: lists["alias"], Tag: lists["tag"],
		TagAnd: lists["tag_and"], TagNot: lists["tag_not"], Segment: lists["segment"],
	}, nil
}

func decodeJPushNotification(raw json.RawMessage) (*notification, error) {
	obj, err := object(raw, "notification")
	if err != nil {
		return nil, err
	}
	n := &notification{platforms: map[string]*note{}}
	if v := obj["alert"]; !isNull(v) {
		a, err := str(v, "notification.alert")
		if err != nil {
			return nil, err
		}
		n.alert = &a
	}
	for _, p := range v3Platforms {
		v := obj[p]
		if isNull(v) {
			continue
		}
		path := "notification." + p
		po, err := object(v, path)
		if err != nil {
			return nil, err
		}
		note := &note{}
		if a := po["alert"]; !isNull(a) {
			if p == "ios" && bytes.HasPrefix(bytes.TrimSpace(a), []byte("{")) {
				// APNs' alert dictionary: its title and body.
				var d struct {
					Title *string `json:"title"`
					Body  *string `json:"body"`
				}
				if err := json.Unmarshal(a, &d); err != nil {
					return nil, errorf(kindInvalid, "notification.ios.alert: title and body must be strings")
				}
				note.alert = d.Body
				if d.Title != nil {
					note.title = *d.Title
				}
			} else {
				s, err := str(a, path+".alert")
				if err != nil {
					return nil, err
				}
				note.alert = &s
			}
		}
		if t := po["title"]; !isNull(t) && p != "ios" {
			if note.title, err = str(t, path+".title"); err != nil {
				return nil, err
			}
		}
		if note.extras, err = extras(po["extras"], path+".extras"); err != nil {
			return nil, err
		}
		n.platforms[p] = note
	}
	return n, nil
}

func decodeJPushMessage(raw json.RawMessage) (*message, error) {
	obj, err := object(raw, "message")
	if err != nil {
		return nil, err
	}
	if len(obj) == 0 {
		return nil, nil // {} is no message (JPush's schedule examples send one beside a notification)
	}
	m := &message{}
	for _, f := range []struct {
		key string
		dst *string
	}{{"msg_content", &m.Content}, {"title", &m.Title}, {"content_type", &m.ContentType}} {
		if v := obj[f.key]; !isNull(v) {
			if *f.dst, err = str(v, "message."+f.key); err != nil {
				return nil, err
			}
		}
	}
	if m.Content == "" {
		return nil, errorf(kindMissing, "message.msg_content is required and must not be empty")
	}
	if m.Extras, err = extras(obj["extras"], "message.extras"); err != nil {
		return nil, err
	}
	return m, nil
}

// decodeJPushOptions reads the options Herald maps; JPush's others
// (apns_production, third_party_channel, classification, …) are accepted
// and ignored.
func decodeJPushOptions(raw json.RawMessage, req *pushRequest) error {
	obj, err := object(raw, "options")
	if err != nil {
		return err
	}
	if v := obj["sendno"]; !isNull(v) {
		n, err := integer(v, "options.sendno")
		if err != nil {
			return err
		}
		if n < 0 {
			return errorf(kindInvalid, "options.sendno must not be negative; got %d", n)
		}
		req.sendno = strconv.FormatInt(n, 10)
	}
	for _, f := range []struct {
		key string
		dst **int64
	}{{"time_to_live", &req.options.TimeToLive}, {"big_push_duration", &req.options.BigPushDuration}} {
		if v := obj[f.key]; !isNull(v) {
			n, err := integer(v, "options."+f.key)
			if err != nil {
				return err
			}
			*f.dst = &n
		}
	}
	if v := obj["override_msg_id"]; !isNull(v) {
		n, err := integer(v, "options.override_msg_id")
		if err != nil || n <= 0 {
			return errorf(kindInvalid, "options.override_msg_id must be the msg_id of a push of this app")
		}
		req.overrideID = uint64(n)
	}
	if v := obj["apns_collapse_id"]; !isNull(v) {
		c, err := str(v, "options.apns_collapse_id")
		if err != nil {
			return err
		}
		if c != "" {
			if dataservice.CheckCollapseID(c) != nil {
				return errorf(kindInvalid, "options.apns_collapse_id must be %s", push.CollapseIDRules)
			}
			req.options.CollapseID = c
		}
	}
	if v := obj["apns_production"]; !isNull(v) {
		var b bool
		var s string
		if json.Unmarshal(v, &b) != nil && (json.Unmarshal(v, &s) != nil || (s != "true" && s != "false")) {
			return errorf(kindInvalid, "options.apns_production must be true or false")
		}
	}
	if t := req.options.TimeToLive; t != nil && *t == 0 && req.options.CollapseID != "" {
		return errorf(kindInvalid, "options.apns_collapse_id needs a time_to_live above 0: online-only messages are never stored to be replaced")
	}
	return nil
}

// heraldMessage builds what Herald sends: title, content and extras
// (docs/jpush.md, "Notification and message").
func (req *pushRequest) heraldMessage() (*push.Message, error) {
	meta := map[string]any{}
	var title, content string
	var extras map[string]json.RawMessage
	note := req.pickNotification()
	switch {
	case note != nil:
		title, content, extras = note.title, *note.alert, note.extras
		meta["type"] = "notification"
		if req.message != nil {
			meta["message"] = req.message
		}
	case req.message != nil:
		title, content, extras = req.message.Title, req.message.Content, req.message.Extras
		meta["type"] = "message"
		if req.message.ContentType != "" {
			meta["content_type"] = req.message.ContentType
		}
	default:
		return nil, errorf(kindMissing, "the notification has no alert for the targeted platforms (%s): give notification.alert, or the alert of a platform", strings.Join(req.platforms, ", "))
	}
	if req.overrideID != 0 {
		meta["override_msg_id"] = ids.FormatMessageID(req.overrideID)
	}
	all := make(map[string]any, len(extras)+1)
	for k, v := range extras {
		all[k] = v
	}
	all[reservedExtra] = meta
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(all); err != nil {
		return nil, errorf(kindInvalid, "extras do not encode: %v", err)
	}
	return &push.Message{Title: title, Content: content, Extras: bytes.TrimSpace(buf.Bytes())}, nil
}

// pickNotification returns the notification Herald sends: that of the
// first targeted platform with a non-empty alert, with the extras of
// every targeted platform merged in (its own win); nil if none has one.
func (req *pushRequest) pickNotification() *note {
	n := req.notification
	if n == nil {
		return nil
	}
	var chosen string
	var alert *string
	for _, p := range req.platforms {
		a := n.alert
		if note := n.platforms[p]; note != nil && note.alert != nil {
			a = note.alert
		}
		if a != nil && *a != "" {
			chosen, alert = p, a
			break
		}
	}
	if alert == nil {
		return nil
	}
	out := &note{alert: alert, extras: map[string]json.RawMessage{}}
	if note := n.platforms[chosen]; note != nil {
		out.title = note.title
	}
	for _, p := range append([]string{chosen}, req.platforms...) {
		if note := n.platforms[p]; note != nil {
			for k, v := range note.extras {
				if _, ok := out.extras[k]; !ok {
					out.extras[k] = v
				}
			}
		}
	}
	return out
}

// checkedPush is a checked push: Herald's plan, and what the /v3 face does
// beside it.
type checkedPush struct {
	*push.Plan
	sendno   string
	override *dataservice.Message // the message options.override_msg_id names
}

// planJPush checks a push object against Herald's rules and the app's
// devices. Like JPush, it fails with 1011 when the audience has no device.
func (f *Face) planJPush(ctx context.Context, app *dataservice.App, req *pushRequest) (*checkedPush, error) {
	msg, err := req.heraldMessage()
	if err != nil {
		return nil, err
	}
	if size := len(msg.Title) + len(msg.Content) + len(msg.Extras); size > f.limits.MaxPayload {
		return nil, errorf(kindTooBig, "the notification and message take %d bytes as Herald sends them (title, alert, extras); at most %d are allowed", size, f.limits.MaxPayload)
	}
	plan, err := f.limits.Plan(&push.Request{Audience: &req.audience, Message: msg, Options: &req.options})
	if err != nil {
		return nil, err
	}
	platforms, err := req.heraldPlatforms()
	if err != nil {
		return nil, err
	}
	plan.Audience = plan.Audience.OnPlatforms(platforms)
	jp := &checkedPush{Plan: plan, sendno: req.sendno}
	if req.overrideID != 0 {
		m, err := f.data.Message(ctx, req.overrideID)
		if err != nil && !api.IsNotFound(err) {
			return nil, err
		}
		if err != nil || m.AppKey != app.Key || time.Since(m.Created) > 24*time.Hour {
			return nil, errorf(kindInvalid, "options.override_msg_id %d is not a message this app pushed within the last day; nothing was sent", req.overrideID)
		}
		jp.override = &m
	}
	aud := &plan.Audience
	if len(aud.RegistrationID) > 0 {
		// As JPush: registration ids that are not the app's are dropped;
		// if none is left, nothing is sent.
		devices, err := f.data.Devices(ctx, aud.RegistrationID)
		if err != nil {
			return nil, err
		}
		kept := aud.RegistrationID[:0:0]
		for i, d := range devices {
			if d.Exists() && d.AppKey == app.Key {
				kept = append(kept, aud.RegistrationID[i])
			}
		}
		if len(kept) == 0 {
			return nil, errorf(kindNoTarget, "cannot find user by this audience: none of the %d registration ids is a device of this app", len(aud.RegistrationID))
		}
		aud.RegistrationID = kept
	}
	if !aud.OnlyRegistrationIDs() {
		est, err := aud.Estimate(ctx, f.data, app.Key)
		if err != nil {
			return nil, err
		}
		if est.Exact && est.Count == 0 {
			if len(aud.Platform) > 0 {
				return nil, errorf(kindNoTarget, "cannot find user by this audience: it has no device of this app on %s", strings.Join(req.platforms, ", "))
			}
			return nil, errorf(kindNoTarget, "cannot find user by this audience: it has no device of this app")
		}
	}
	return jp, nil
}

// decodeAndPlanJPush reads a push request and plans it.
func (f *Face) decodeAndPlanJPush(w http.ResponseWriter, r *http.Request, app *dataservice.App) (*checkedPush, error) {
	b, err := readJPushBody(w, r, f.cfg.MaxBody)
	if err != nil {
		return nil, err
	}
	req, err := decodeJPushPush(b)
	if err != nil {
		return nil, err
	}
	return f.planJPush(r.Context(), app, req)
}

// push is POST /v3/push.
func (f *Face) push(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	plan, err := f.decodeAndPlanJPush(w, r, app)
	if err != nil {
		return err
	}
	ctx := r.Context()
	id, err := f.pusher.Submit(ctx, app, plan.Plan)
	if err != nil {
		return err
	}
	if fresh := id == plan.Message.ID; fresh && plan.override != nil {
		f.withdrawOverridden(ctx, plan.override)
	}
	api.WriteJSON(w, http.StatusOK, pushResponse{SendNo: plan.sendno, MsgID: ids.FormatMessageID(id)})
	return nil
}

// withdrawOverridden withdraws the undelivered copies of a message a new
// push overrides, as DELETE /v1/messages/{msg_id} does. The new push is
// sent already: a failure is logged, and the old message may still reach
// devices.
func (f *Face) withdrawOverridden(ctx context.Context, m *dataservice.Message) {
	if err := f.pusher.Withdraw(ctx, m); err != nil {
		f.log.Warn("withdrawing an overridden message failed; devices may still get it", "msg_id", m.ID, "err", err)
	}
}

// validate is POST /v3/push/validate: the checks of a push, and
// nothing sent.
func (f *Face) validate(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	plan, err := f.decodeAndPlanJPush(w, r, app)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, pushResponse{SendNo: plan.sendno, MsgID: "0"})
	return nil
}

// maxCIDs bounds the count of GET /v3/push/cid, as JPush.
const maxCIDs = 1000

// cids is GET /v3/push/cid: fresh idempotency keys of JPush's shape,
// {app_key}-{uuid}. Herald keeps no pool: any key of the right form is
// accepted as cid, these are only unique.
func (f *Face) cids(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	q := r.URL.Query()
	count := 1
	if s := q.Get("count"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxCIDs {
			return errorf(kindInvalid, "count must be a whole number from 1 to %d; got %q", maxCIDs, s)
		}
		count = n
	}
	if t := q.Get("type"); t != "" && t != "push" && t != "schedule" {
		return errorf(kindInvalid, `type must be "push" or "schedule"; got %q`, t)
	}
	list := make([]string, count)
	for i := range list {
		list[i] = app.Key + "-" + newUUID()
	}
	api.WriteJSON(w, http.StatusOK, map[string][]string{"cidlist": list})
	return nil
}

// newUUID returns a random UUID (version 4) in its textual form.
func newUUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
