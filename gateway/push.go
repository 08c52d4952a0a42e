package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"time"

	"github.com/heraldpush/herald/actors"
	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway/api"
	"github.com/heraldpush/herald/gateway/audience"
	"github.com/heraldpush/herald/gateway/push"
	"github.com/heraldpush/herald/internal/ids"
	"github.com/heraldpush/herald/internal/metrics"
)

type pushResponse struct {
	MsgID string `json:"msg_id"`
}

func (g *Gateway) push(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	var req push.Request
	if err := api.DecodeBody(w, r, g.cfg.MaxBody, &req); err != nil {
		return err
	}
	plan, err := g.limits.Plan(&req)
	if err != nil {
		return err
	}
	id, err := g.submit(r.Context(), app, plan)
	if err != nil {
		return err
	}
	msgID := ids.FormatMessageID(id)
	api.NoteTarget(r, "msg_id", msgID) // audited when sent by a person
	api.WriteJSON(w, http.StatusOK, pushResponse{MsgID: msgID})
	return nil
}

// validatePushRequest checks a push without sending it and estimates its
// audience.
func (g *Gateway) validatePushRequest(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	var req push.Request
	if err := api.DecodeBody(w, r, g.cfg.MaxBody, &req); err != nil {
		return err
	}
	plan, err := g.limits.Plan(&req)
	if err != nil {
		return err
	}
	if plan.Inline() {
		if _, err := push.Listed(r.Context(), g.data, app, plan.Audience); err != nil {
			return err
		}
	}
	est, err := plan.Audience.Estimate(r.Context(), g.data, app.Key)
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
	est, err := aud.OnPlatforms(platforms).Estimate(r.Context(), g.data, app.Key)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, est)
	return nil
}

// submit stores a push and starts sending it: at once for a list of
// devices (the call waits until the connectors took it), in a task for
// everything else. It returns the message id; a push whose cid was used
// within 24 h returns that push's id and sends nothing.
func (g *Gateway) submit(ctx context.Context, app *dataservice.App, plan *push.Plan) (_ uint64, err error) {
	defer func(start time.Time) { countPush(plan, start, err) }(metrics.Now())
	if plan.Inline() {
		rids, err := push.Listed(ctx, g.data, app, plan.Audience)
		if err != nil {
			return 0, err
		}
		plan.Recipients = rids
	}
	id, how := g.ids.Next(), newPush
	if plan.CID != "" {
		bound, fresh, err := g.data.ReserveCID(ctx, app.Key, plan.CID, id, push.CIDLifetime)
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
		if !fresh && plan.Inline() {
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
// what a retry can check. A list sent inline goes to plan.Recipients, the
// devices submit found on the push's platforms.
func (g *Gateway) send(ctx context.Context, app *dataservice.App, plan *push.Plan, id uint64, how sending) error {
	inline := plan.Inline() && how != firing
	var targeted int64
	if plan.Broadcast() || plan.Spread > 0 {
		est, err := plan.Audience.Estimate(ctx, g.data, app.Key)
		if err != nil {
			return err
		}
		targeted = est.Count
		if plan.Spread > 0 {
			plan.Rate = max(1, int(math.Ceil(float64(est.Count)/plan.Spread.Seconds())))
		}
	} else if !inline {
		// Fail before storing anything if the audience names what does
		// not exist (a segment).
		if err := audience.NewResolver(g.data, app.Key, plan.Audience, plan.Local).Prepare(ctx); err != nil {
			return err
		}
	}

	msg := plan.Message
	msg.ID = id
	msg.AppKey = app.Key
	msg.Created = time.Now()
	msg.Broadcast = plan.Broadcast()
	aud, err := json.Marshal(plan.Audience)
	if err != nil {
		return err
	}
	msg.Audience = aud

	var recipients []string
	if inline {
		// The listed devices on the push's platforms: the message is
		// stored for them (and counted targeted) and sent to them.
		recipients = plan.Recipients
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
	rate, spec := plan.Rate, plan.Local
	if msg.Broadcast {
		rate, spec = 0, audience.LocalTime{}
	}
	// A task created before runs (or is resumed) where it is.
	if err := g.tasks.create(ctx, msg, rate, spec, targeted); err != nil && !errors.Is(err, dataservice.ErrExists) {
		return err
	}
	return nil
}

// pusher is the push path as the /v3 face sees it (jpush.Pusher).
type pusher struct{ g *Gateway }

func (p pusher) Submit(ctx context.Context, app *dataservice.App, plan *push.Plan) (uint64, error) {
	return p.g.submit(ctx, app, plan)
}

func (p pusher) Withdraw(ctx context.Context, m *dataservice.Message) error {
	_, err := p.g.tasks.cancel(ctx, m.ID)
	if errors.Is(err, dataservice.ErrNotFound) {
		err = p.g.withdrawListed(ctx, m) // sent without a task
	}
	return err
}

// firingSender sends schedules' firings (schedule.Sender).
type firingSender struct{ g *Gateway }

func (s firingSender) SendFiring(ctx context.Context, app *dataservice.App, plan *push.Plan, id uint64) error {
	return s.g.send(ctx, app, plan, id, firing)
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
