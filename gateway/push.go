package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/internal/ids"
)

// pushRequest is the body of POST /v1/push.
type pushRequest struct {
	Audience *audience    `json:"audience"`
	Message  *pushMessage `json:"message"`
	Options  *pushOptions `json:"options"`
}

type audience struct {
	RegistrationID []string `json:"registration_id"`
}

type pushMessage struct {
	Title   string          `json:"title"`
	Content string          `json:"content"`
	Extras  json.RawMessage `json:"extras"`
}

type pushOptions struct {
	// TimeToLive is in seconds; nil means the default, 0 online only.
	TimeToLive *int64 `json:"time_to_live"`
}

type pushResponse struct {
	MsgID string `json:"msg_id"`
}

func (g *Gateway) push(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	var req pushRequest
	if err := decodeBody(w, r, g.cfg.MaxBody, &req); err != nil {
		return err
	}
	rids, msg, err := g.validatePush(&req)
	if err != nil {
		return err
	}
	ctx := r.Context()
	devices, err := g.data.Devices(ctx, rids)
	if err != nil {
		return err
	}
	var unknown []string
	for i, d := range devices {
		if !d.Exists() || d.AppKey != app.Key {
			unknown = append(unknown, rids[i])
		}
	}
	if len(unknown) > 0 {
		shown := unknown[:min(len(unknown), 10)]
		more := ""
		if len(unknown) > len(shown) {
			more = " and more"
		}
		return errorf(http.StatusBadRequest, "unknown_registration_id",
			"%d registration ids are not devices of this app: %s%s; remove them and send again (nothing was sent)",
			len(unknown), strings.Join(shown, ", "), more)
	}

	msg.ID = g.ids.Next()
	msg.AppKey = app.Key
	msg.Created = time.Now()
	// Store first: once SaveMessage returns, the message survives a crash
	// and reaches offline devices when they come back.
	if err := g.data.SaveMessage(ctx, msg, rids); err != nil {
		return err
	}
	if err := g.route(ctx, msg, rids); err != nil {
		// Stored already: devices still get it from their inbox.
		g.log.Warn("routing push to connectors failed; devices will get it on reconnect", "msg_id", msg.ID, "err", err)
	}
	writeJSON(w, http.StatusOK, pushResponse{MsgID: ids.FormatMessageID(msg.ID)})
	return nil
}

// validatePush checks a push request and returns its distinct recipients
// and message.
func (g *Gateway) validatePush(req *pushRequest) ([]string, *dataservice.Message, error) {
	if req.Audience == nil {
		return nil, nil, errorf(http.StatusBadRequest, "missing_field", "audience is required, e.g. {\"registration_id\": [\"…\"]}")
	}
	if len(req.Audience.RegistrationID) == 0 {
		return nil, nil, errorf(http.StatusBadRequest, "missing_field", "audience.registration_id must list at least one registration id")
	}
	seen := make(map[string]struct{}, len(req.Audience.RegistrationID))
	rids := make([]string, 0, len(req.Audience.RegistrationID))
	for i, rid := range req.Audience.RegistrationID {
		if !validID(rid) {
			return nil, nil, errorf(http.StatusBadRequest, "invalid_field", "audience.registration_id[%d] must be 1 to 64 bytes of UTF-8", i)
		}
		if _, dup := seen[rid]; !dup {
			seen[rid] = struct{}{}
			rids = append(rids, rid)
		}
	}
	if len(rids) > g.cfg.MaxRecipients {
		return nil, nil, errorf(http.StatusBadRequest, "too_many_registration_ids",
			"audience.registration_id lists %d devices; at most %d per push — split it into several pushes", len(rids), g.cfg.MaxRecipients)
	}
	if req.Message == nil {
		return nil, nil, errorf(http.StatusBadRequest, "missing_field", "message is required, e.g. {\"content\": \"hello\"}")
	}
	m := req.Message
	if m.Content == "" {
		return nil, nil, errorf(http.StatusBadRequest, "missing_field", "message.content is required and must not be empty")
	}
	var extras json.RawMessage
	if len(m.Extras) > 0 && !bytes.Equal(m.Extras, []byte("null")) {
		trimmed := bytes.TrimSpace(m.Extras)
		if trimmed[0] != '{' {
			return nil, nil, errorf(http.StatusBadRequest, "invalid_field", "message.extras must be a JSON object")
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, trimmed); err != nil {
			return nil, nil, errorf(http.StatusBadRequest, "invalid_field", "message.extras is not valid JSON: %v", err)
		}
		extras = buf.Bytes()
	}
	if size := len(m.Title) + len(m.Content) + len(extras); size > g.cfg.MaxPayload {
		return nil, nil, errorf(http.StatusRequestEntityTooLarge, "payload_too_large",
			"message title, content and extras take %d bytes; at most %d are allowed — shorten them or send a link", size, g.cfg.MaxPayload)
	}
	ttl := g.cfg.DefaultTTL
	if req.Options != nil && req.Options.TimeToLive != nil {
		s := *req.Options.TimeToLive
		if s < 0 || s > int64(g.cfg.MaxTTL/time.Second) { // compared in seconds: s*time.Second could overflow
			return nil, nil, errorf(http.StatusBadRequest, "invalid_field",
				"options.time_to_live must be 0 (online only) to %d seconds; got %d", int64(g.cfg.MaxTTL/time.Second), s)
		}
		ttl = time.Duration(s) * time.Second
	}
	return rids, &dataservice.Message{Title: m.Title, Content: m.Content, Extras: extras, TTL: ttl}, nil
}

// route hands a stored message to the connectors holding its recipients.
// Recipients without a session are offline: their copy waits in the inbox.
func (g *Gateway) route(ctx context.Context, msg *dataservice.Message, rids []string) error {
	sessions, err := g.data.Sessions(ctx, rids)
	if err != nil {
		g.countOffline(msg, int64(len(rids)))
		return err
	}
	byConnector := make(map[string][]string)
	var offline int64
	for i, s := range sessions {
		if !s.Exists() {
			offline++
			continue
		}
		byConnector[s.Connector] = append(byConnector[s.Connector], rids[i])
	}
	var firstErr error
	for id, group := range byConnector {
		c, ok := g.cluster.Connector(id)
		if !ok {
			offline += int64(len(group))
			continue
		}
		if err := c.Deliver(ctx, msg, group); err != nil {
			offline += int64(len(group))
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	g.countOffline(msg, offline)
	return firstErr
}

// countOffline records recipients found offline: their copies wait in the
// inbox, or, for online-only messages, expire.
func (g *Gateway) countOffline(msg *dataservice.Message, n int64) {
	if n == 0 {
		return
	}
	c := dataservice.CounterStoredOffline
	if msg.TTL == 0 {
		c = dataservice.CounterExpired
	}
	g.receipts.Add(msg.ID, c, n)
}
