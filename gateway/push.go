package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/heraldpush/herald/actors"
	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway/api"
	"github.com/heraldpush/herald/gateway/audience"
	"github.com/heraldpush/herald/internal/ids"
)

// pushRequest is the body of POST /v1/push and /v1/push/validate.
type pushRequest struct {
	// Platform restricts the audience to devices on some platforms:
	// "all" (the default) or a list; parsePlatform reads it.
	Platform json.RawMessage    `json:"platform"`
	Audience *audience.Audience `json:"audience"`
	Message  *pushMessage       `json:"message"`
	Options  *pushOptions       `json:"options"`
}

type pushMessage struct {
	Title   string          `json:"title"`
	Content string          `json:"content"`
	Extras  json.RawMessage `json:"extras"`
}

type pushOptions struct {
	// TimeToLive is in seconds; nil means the default, 0 online only.
	TimeToLive *int64 `json:"time_to_live"`
	// Rate bounds the sending, in messages per second.
	Rate *int64 `json:"rate"`
	// BigPushDuration spreads the sending over this many minutes.
	BigPushDuration *int64 `json:"big_push_duration"`
	// Priority is "normal" (the default) or "high".
	Priority *string `json:"priority"`
	// CollapseID makes the message replace an undelivered older one with
	// the same collapse id on each device.
	CollapseID string `json:"collapse_id"`
	// CID is an idempotency key: the same cid within 24 h returns the
	// same msg_id and sends nothing twice.
	CID string `json:"cid"`
}

type pushResponse struct {
	MsgID string `json:"msg_id"`
}

// collapseIDRules says what dataservice.CheckCollapseID accepts: APNs'
// limit, so a collapse id can be passed on as apns-collapse-id.
var collapseIDRules = fmt.Sprintf("1 to %d bytes of UTF-8 without '/' or control characters", dataservice.MaxCollapseIDLen)

// Limits of the options.
const (
	maxRate            = 1_000_000
	maxBigPushDuration = 1440 // minutes, as JPush
	cidTTL             = 24 * time.Hour
)

// pushPlan is a validated push.
type pushPlan struct {
	audience audience.Audience // canonical
	msg      *dataservice.Message
	rate     int           // messages per second; 0 for no bound
	spread   time.Duration // big_push_duration
	cid      string
	spec     audience.LocalTime
	// recipients are, for a push sent inline, the listed devices on its
	// platforms: what submit found with checkListed.
	recipients []string
}

// inline reports a push sent while the API call waits, without a task: a
// list of devices (on some platforms or any), sent as fast as possible.
func (p *pushPlan) inline() bool {
	return p.audience.ListedOnly() && p.rate == 0 && p.spread == 0 && p.spec == (audience.LocalTime{})
}

// broadcast reports a push stored once for the app and fanned out by the
// connectors: "all", as fast as possible. A paced "all" goes device by
// device instead, as the connectors cannot pace a fan-out; so does "all"
// on some platforms (its audience is not All: see Audience.onPlatforms),
// as the connectors do not know the devices' platforms.
func (p *pushPlan) broadcast() bool {
	return p.audience.All && p.rate == 0 && p.spread == 0 && p.spec == (audience.LocalTime{})
}

func (g *Gateway) push(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	var req pushRequest
	if err := api.DecodeBody(w, r, g.cfg.MaxBody, &req); err != nil {
		return err
	}
	plan, err := g.planPush(&req)
	if err != nil {
		return err
	}
	id, err := g.submit(r.Context(), app, plan)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, pushResponse{MsgID: ids.FormatMessageID(id)})
	return nil
}

// validatePushRequest checks a push without sending it and estimates its
// audience.
func (g *Gateway) validatePushRequest(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	var req pushRequest
	if err := api.DecodeBody(w, r, g.cfg.MaxBody, &req); err != nil {
		return err
	}
	plan, err := g.planPush(&req)
	if err != nil {
		return err
	}
	if plan.inline() {
		if _, err := g.checkListed(r.Context(), app, plan.audience); err != nil {
			return err
		}
	}
	est, err := g.estimate(r.Context(), app, plan.audience)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, struct {
		Valid bool `json:"valid"`
		audience.Estimate
	}{true, est})
	return nil
}

type estimateRequest struct {
	Platform json.RawMessage    `json:"platform"`
	Audience *audience.Audience `json:"audience"`
}

// estimateAudience sizes an audience before a push is sent.
func (g *Gateway) estimateAudience(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	var req estimateRequest
	if err := api.DecodeBody(w, r, g.cfg.MaxBody, &req); err != nil {
		return err
	}
	if req.Audience == nil {
		return api.Errorf(http.StatusBadRequest, "missing_field", `audience is required, e.g. {"audience": {"tag": ["vip"]}}`)
	}
	aud, err := req.Audience.Validate(g.cfg.MaxRecipients)
	if err != nil {
		return err
	}
	platforms, err := audience.ParsePlatform(req.Platform)
	if err != nil {
		return err
	}
	est, err := g.estimate(r.Context(), app, aud.OnPlatforms(platforms))
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, est)
	return nil
}

func (g *Gateway) estimate(ctx context.Context, app *dataservice.App, aud audience.Audience) (audience.Estimate, error) {
	if aud.All {
		n, err := g.data.AppDeviceCount(ctx, app.Key)
		return audience.Estimate{Count: n, Exact: true}, err
	}
	r := audience.NewResolver(g.data, app.Key, aud, audience.LocalTime{})
	if err := r.Prepare(ctx); err != nil {
		return audience.Estimate{}, err
	}
	return r.Estimate(ctx)
}

// planPush checks a push request and returns what to send.
func (g *Gateway) planPush(req *pushRequest) (*pushPlan, error) {
	if req.Audience == nil {
		return nil, api.Errorf(http.StatusBadRequest, "missing_field", `audience is required: "all", or e.g. {"registration_id": ["…"]}`)
	}
	aud, err := req.Audience.Validate(g.cfg.MaxRecipients)
	if err != nil {
		return nil, err
	}
	platforms, err := audience.ParsePlatform(req.Platform)
	if err != nil {
		return nil, err
	}
	aud = aud.OnPlatforms(platforms)
	if req.Message == nil {
		return nil, api.Errorf(http.StatusBadRequest, "missing_field", "message is required, e.g. {\"content\": \"hello\"}")
	}
	m := req.Message
	if m.Content == "" {
		return nil, api.Errorf(http.StatusBadRequest, "missing_field", "message.content is required and must not be empty")
	}
	var extras json.RawMessage
	if len(m.Extras) > 0 && !bytes.Equal(m.Extras, []byte("null")) {
		trimmed := bytes.TrimSpace(m.Extras)
		if trimmed[0] != '{' {
			return nil, api.Errorf(http.StatusBadRequest, "invalid_field", "message.extras must be a JSON object")
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, trimmed); err != nil {
			return nil, api.Errorf(http.StatusBadRequest, "invalid_field", "message.extras is not valid JSON: %v", err)
		}
		extras = buf.Bytes()
	}
	if size := len(m.Title) + len(m.Content) + len(extras); size > g.cfg.MaxPayload {
		return nil, api.Errorf(http.StatusRequestEntityTooLarge, "payload_too_large",
			"message title, content and extras take %d bytes; at most %d are allowed — shorten them or send a link", size, g.cfg.MaxPayload)
	}
	plan := &pushPlan{audience: aud, msg: &dataservice.Message{Title: m.Title, Content: m.Content, Extras: extras, TTL: g.cfg.DefaultTTL}}
	if o := req.Options; o != nil {
		if err := g.applyOptions(plan, o); err != nil {
			return nil, err
		}
	}
	return plan, nil
}

func (g *Gateway) applyOptions(plan *pushPlan, o *pushOptions) error {
	if o.TimeToLive != nil {
		s := *o.TimeToLive
		if s < 0 || s > int64(g.cfg.MaxTTL/time.Second) { // compared in seconds: s*time.Second could overflow
			return api.Errorf(http.StatusBadRequest, "invalid_field",
				"options.time_to_live must be 0 (online only) to %d seconds; got %d", int64(g.cfg.MaxTTL/time.Second), s)
		}
		plan.msg.TTL = time.Duration(s) * time.Second
	}
	if o.Rate != nil && o.BigPushDuration != nil {
		return api.Errorf(http.StatusBadRequest, "invalid_field", "give options.rate or options.big_push_duration, not both")
	}
	if o.Rate != nil {
		if *o.Rate < 1 || *o.Rate > maxRate {
			return api.Errorf(http.StatusBadRequest, "invalid_field", "options.rate is messages per second, 1 to %d; got %d", maxRate, *o.Rate)
		}
		plan.rate = int(*o.Rate)
	}
	if o.BigPushDuration != nil {
		if *o.BigPushDuration < 1 || *o.BigPushDuration > maxBigPushDuration {
			return api.Errorf(http.StatusBadRequest, "invalid_field", "options.big_push_duration is minutes, 1 to %d; got %d", maxBigPushDuration, *o.BigPushDuration)
		}
		plan.spread = time.Duration(*o.BigPushDuration) * time.Minute
	}
	if o.Priority != nil {
		switch *o.Priority {
		case "normal":
		case "high":
			plan.msg.Priority = dataservice.PriorityHigh
		default:
			return api.Errorf(http.StatusBadRequest, "invalid_field", `options.priority must be "normal" or "high"; got %q`, *o.Priority)
		}
	}
	if o.CollapseID != "" {
		if dataservice.CheckCollapseID(o.CollapseID) != nil {
			return api.Errorf(http.StatusBadRequest, "invalid_field", "options.collapse_id must be %s", collapseIDRules)
		}
		if plan.msg.TTL == 0 {
			return api.Errorf(http.StatusBadRequest, "invalid_field", "options.collapse_id needs a time_to_live above 0: online-only messages are never stored to be replaced")
		}
		plan.msg.CollapseID = o.CollapseID
	}
	if o.CID != "" {
		if len(o.CID) > 64 || strings.ContainsAny(o.CID, "/") || strings.IndexFunc(o.CID, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
			return api.Errorf(http.StatusBadRequest, "invalid_field", "options.cid must be 1 to 64 printable characters without '/'")
		}
		plan.cid = o.CID
	}
	return nil
}

// checkListed fails unless every device aud lists is one of app's, and
// returns those on aud's platforms: the devices a push to aud targets.
func (g *Gateway) checkListed(ctx context.Context, app *dataservice.App, aud audience.Audience) ([]string, error) {
	rids := aud.RegistrationID
	devices, err := g.data.Devices(ctx, rids)
	if err != nil {
		return nil, err
	}
	var unknown, targeted []string
	for i, d := range devices {
		switch {
		case !d.Exists() || d.AppKey != app.Key:
			unknown = append(unknown, rids[i])
		case aud.PlatformAllows(d.Platform):
			targeted = append(targeted, rids[i])
		}
	}
	if len(unknown) > 0 {
		shown := unknown[:min(len(unknown), 10)]
		more := ""
		if len(unknown) > len(shown) {
			more = " and more"
		}
		return nil, api.Errorf(http.StatusBadRequest, "unknown_registration_id",
			"%d registration ids are not devices of this app: %s%s; remove them and send again (nothing was sent)",
			len(unknown), strings.Join(shown, ", "), more)
	}
	return targeted, nil
}

// submit stores a push and starts sending it: at once for a list of
// devices (the call waits until the connectors took it), in a task for
// everything else. It returns the message id; a push whose cid was used
// within 24 h returns that push's id and sends nothing.
func (g *Gateway) submit(ctx context.Context, app *dataservice.App, plan *pushPlan) (uint64, error) {
	if plan.inline() {
		rids, err := g.checkListed(ctx, app, plan.audience)
		if err != nil {
			return 0, err
		}
		plan.recipients = rids
	}
	id, how := g.ids.Next(), newPush
	if plan.cid != "" {
		bound, fresh, err := g.data.ReserveCID(ctx, app.Key, plan.cid, id, cidTTL)
		if err != nil {
			return 0, err
		}
		// A cid seen before names the push it started; send goes on
		// with it where that call stopped (it may have died before
		// storing anything) and sends nothing that was sent already.
		id = bound
		if !fresh {
			how = retriedPush
		}
		if !fresh && plan.inline() {
			// Sent inline by that call once it is stored: storing it
			// again would bring back the inbox copies its devices
			// acknowledged since.
			switch _, err := g.data.Message(ctx, id); {
			case err == nil:
				return id, nil
			case !errors.Is(err, dataservice.ErrNotFound):
				return 0, err
			}
		}
	}
	return id, g.send(ctx, app, plan, id, how)
}

// sending says where the id a call to send gets comes from.
type sending uint8

const (
	// newPush: the id was generated for this push, nothing is stored
	// under it.
	newPush sending = iota
	// retriedPush: a cid seen before gave the id of the push it started,
	// which may be stored.
	retriedPush
	// firing: a schedule's firing, perhaps taken over after a crash.
	firing
)

// send stores and sends the push of plan as message id. It is idempotent:
// called again with the same id (a retried cid, a schedule's firing taken
// over after a crash), it finishes what an earlier call did not and sends
// nothing twice, as the message and its task are created only once. A
// firing sends even a list of devices through a task, whose creation is
// what a retry can check. A list sent inline goes to plan.recipients, the
// devices submit found on the push's platforms.
func (g *Gateway) send(ctx context.Context, app *dataservice.App, plan *pushPlan, id uint64, how sending) error {
	inline := plan.inline() && how != firing
	var targeted int64
	if plan.broadcast() || plan.spread > 0 {
		est, err := g.estimate(ctx, app, plan.audience)
		if err != nil {
			return err
		}
		targeted = est.Count
		if plan.spread > 0 {
			plan.rate = max(1, int(math.Ceil(float64(est.Count)/plan.spread.Seconds())))
		}
	} else if !inline {
		// Fail before storing anything if the audience names what does
		// not exist (a segment).
		if err := audience.NewResolver(g.data, app.Key, plan.audience, plan.spec).Prepare(ctx); err != nil {
			return err
		}
	}

	msg := plan.msg
	msg.ID = id
	msg.AppKey = app.Key
	msg.Created = time.Now()
	msg.Broadcast = plan.broadcast()
	aud, err := json.Marshal(plan.audience)
	if err != nil {
		return err
	}
	msg.Audience = aud

	var recipients []string
	if inline {
		// The listed devices on the push's platforms: the message is
		// stored for them (and counted targeted) and sent to them.
		recipients = plan.recipients
	}
	// Store first: once the message is stored, it survives a crash and
	// reaches offline devices when they come back.
	switch {
	case msg.Broadcast:
		err = g.data.SaveBroadcast(ctx, msg, targeted)
	case how == newPush:
		err = g.data.SaveNewMessage(ctx, msg, recipients)
	default:
		err = g.data.SaveMessage(ctx, msg, recipients)
	}
	if errors.Is(err, dataservice.ErrExists) {
		if inline {
			// Stored, and so sent, by the first call: its devices
			// have it or get it from their inbox.
			return nil
		}
		// Go on with what the first call stored.
		stored, err := g.data.Message(ctx, id)
		if err != nil {
			return err
		}
		msg = &stored
	} else if err != nil {
		return err
	}

	if inline {
		if len(recipients) == 0 {
			return nil // no listed device is on the push's platforms
		}
		res, err := g.system.Root.RequestFuture(g.router, &actors.Route{Msg: msg, RIDs: recipients}, time.Minute).Result()
		if err == nil {
			if routed, ok := res.(*actors.Routed); ok && routed.Err != nil {
				err = routed.Err
			}
		}
		if err != nil {
			// Stored already: devices still get it from their inbox.
			g.log.Warn("routing push to connectors failed; devices will get it on reconnect", "msg_id", msg.ID, "err", err)
		}
		return nil
	}
	rate, spec := plan.rate, plan.spec
	if msg.Broadcast {
		rate, spec = 0, audience.LocalTime{}
	}
	// A task created before runs (or is resumed) where it is.
	if err := g.tasks.create(ctx, msg, rate, spec, targeted); err != nil && !errors.Is(err, dataservice.ErrExists) {
		return err
	}
	return nil
}

// cancelResponse answers DELETE /v1/messages/{msg_id}.
type cancelResponse struct {
	MsgID string `json:"msg_id"`
	// State is canceling while the sending stops and undelivered copies
	// are withdrawn, then canceled.
	State dataservice.TaskState `json:"state"`
}

// cancelMessage stops a push and withdraws its undelivered copies.
func (g *Gateway) cancelMessage(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	id, err := ids.ParseMessageID(r.PathValue("msg_id"))
	if err != nil {
		return api.Errorf(http.StatusBadRequest, "invalid_parameter", "msg_id must be the decimal id returned by POST /v1/push")
	}
	ctx := r.Context()
	m, err := g.data.Message(ctx, id)
	if api.IsNotFound(err) || err == nil && m.AppKey != app.Key {
		return api.Errorf(http.StatusNotFound, "unknown_msg_id", "this app has no message %d", id)
	}
	if err != nil {
		return err
	}
	state, err := g.tasks.cancel(ctx, id)
	if errors.Is(err, dataservice.ErrNotFound) {
		// Sent at once, without a task: withdraw here.
		if err := g.withdrawListed(ctx, &m); err != nil {
			return err
		}
		state = dataservice.TaskCanceled
	} else if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusAccepted, cancelResponse{MsgID: ids.FormatMessageID(id), State: state})
	return nil
}

// withdrawListed withdraws a push sent to a list of devices without a
// task: connectors drop their copies, then the inbox copies go (counted
// withdrawn if they were still there).
func (g *Gateway) withdrawListed(ctx context.Context, m *dataservice.Message) error {
	res, err := g.system.Root.RequestFuture(g.router, &actors.Withdraw{ID: m.ID, Expires: m.Expires()}, time.Minute).Result()
	if err != nil {
		return err
	}
	if w, ok := res.(*actors.Withdrawn); ok && w.Err != nil {
		g.log.Warn("a connector did not take a withdrawal; its devices may still get the message", "msg_id", m.ID, "err", w.Err)
	}
	if m.TTL == 0 {
		return nil
	}
	var aud audience.Audience
	if err := json.Unmarshal(m.Audience, &aud); err != nil || len(aud.RegistrationID) == 0 {
		return nil // a message stored before audiences were kept: nothing to find its copies by
	}
	copies := make([]dataservice.InboxCopy, len(aud.RegistrationID))
	for i, rid := range aud.RegistrationID {
		copies[i] = dataservice.InboxCopy{RegistrationID: rid, MessageID: m.ID}
	}
	existed, err := g.data.RemoveInbox(ctx, copies)
	if err != nil {
		return err
	}
	var n int64
	for _, ok := range existed {
		if ok {
			n++
		}
	}
	if n > 0 {
		g.receipts.Add(m.ID, dataservice.CounterWithdrawn, n)
	}
	return nil
}
