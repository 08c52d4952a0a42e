package push

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway/api"
	"github.com/heraldpush/herald/gateway/audience"
)

// Request is the body of POST /v1/push and /v1/push/validate, and the
// push of a schedule.
type Request struct {
	// Platform restricts the audience to devices on some platforms:
	// "all" (the default) or a list; audience.ParsePlatform reads it.
	Platform json.RawMessage    `json:"platform"`
	Audience *audience.Audience `json:"audience"`
	Message  *Message           `json:"message"`
	Options  *Options           `json:"options"`
}

// Message is what a push says: at least a content.
type Message struct {
	Title   string          `json:"title"`
	Content string          `json:"content"`
	Extras  json.RawMessage `json:"extras"`
}

// Options are how a push is sent.
type Options struct {
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

// CollapseIDRules says what dataservice.CheckCollapseID accepts: APNs'
// limit, so a collapse id can be passed on as apns-collapse-id.
var CollapseIDRules = fmt.Sprintf("1 to %d bytes of UTF-8 without '/' or control characters", dataservice.MaxCollapseIDLen)

// Limits of the options.
const (
	maxRate            = 1_000_000
	maxBigPushDuration = 1440 // minutes, as JPush
)

// CIDLifetime is how long a cid names its push: the same cid within it
// returns the same msg_id and sends nothing again.
const CIDLifetime = 24 * time.Hour

// Plan is a validated push: what to store and how to send it.
type Plan struct {
	// Audience is canonical: lists sorted, without duplicates, with the
	// push's platforms.
	Audience audience.Audience
	// Message is the message to store: its body, time to live, priority
	// and collapse id (the sender sets its id, app and times).
	Message *dataservice.Message
	Rate    int           // messages per second; 0 for no bound
	Spread  time.Duration // big_push_duration
	CID     string
	// Local narrows the audience to devices whose clocks show a
	// schedule's time (a firing in each device's local time).
	Local audience.LocalTime
	// Recipients are, for a push sent inline, the listed devices on its
	// platforms: what the sender found with Listed.
	Recipients []string
}

// Inline reports a push sent while the API call waits, without a task: a
// list of devices (on some platforms or any), sent as fast as possible.
func (p *Plan) Inline() bool {
	return p.Audience.ListedOnly() && p.Rate == 0 && p.Spread == 0 && p.Local == (audience.LocalTime{})
}

// Broadcast reports a push stored once for the app and fanned out by the
// connectors: "all", as fast as possible. A paced "all" goes device by
// device instead, as the connectors cannot pace a fan-out; so does "all"
// on some platforms (its audience is not All: see Audience.OnPlatforms),
// as the connectors do not know the devices' platforms.
func (p *Plan) Broadcast() bool {
	return p.Audience.All && p.Rate == 0 && p.Spread == 0 && p.Local == (audience.LocalTime{})
}

// Limits bound what a push may be.
type Limits struct {
	// MaxPayload bounds a message: title, content and extras together.
	MaxPayload int
	// MaxRecipients bounds the registration ids of one push.
	MaxRecipients int
	// DefaultTTL applies when a push gives no time_to_live.
	DefaultTTL time.Duration
	// MaxTTL bounds time_to_live.
	MaxTTL time.Duration
}

// Plan checks a push request against the limits and returns what to
// send. What can only be checked against the store (the listed devices,
// a segment) is checked by Listed and by preparing the audience's
// resolver.
func (l Limits) Plan(req *Request) (*Plan, error) {
	if req.Audience == nil {
		return nil, api.Errorf(http.StatusBadRequest, "missing_field", `audience is required: "all", or e.g. {"registration_id": ["…"]}`)
	}
	aud, err := req.Audience.Validate(l.MaxRecipients)
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
	if size := len(m.Title) + len(m.Content) + len(extras); size > l.MaxPayload {
		return nil, api.Errorf(http.StatusRequestEntityTooLarge, "payload_too_large",
			"message title, content and extras take %d bytes; at most %d are allowed — shorten them or send a link", size, l.MaxPayload)
	}
	plan := &Plan{Audience: aud, Message: &dataservice.Message{Title: m.Title, Content: m.Content, Extras: extras, TTL: l.DefaultTTL}}
	if o := req.Options; o != nil {
		if err := l.applyOptions(plan, o); err != nil {
			return nil, err
		}
	}
	return plan, nil
}

func (l Limits) applyOptions(plan *Plan, o *Options) error {
	if o.TimeToLive != nil {
		s := *o.TimeToLive
		if s < 0 || s > int64(l.MaxTTL/time.Second) { // compared in seconds: s*time.Second could overflow
			return api.Errorf(http.StatusBadRequest, "invalid_field",
				"options.time_to_live must be 0 (online only) to %d seconds; got %d", int64(l.MaxTTL/time.Second), s)
		}
		plan.Message.TTL = time.Duration(s) * time.Second
	}
	if o.Rate != nil && o.BigPushDuration != nil {
		return api.Errorf(http.StatusBadRequest, "invalid_field", "give options.rate or options.big_push_duration, not both")
	}
	if o.Rate != nil {
		if *o.Rate < 1 || *o.Rate > maxRate {
			return api.Errorf(http.StatusBadRequest, "invalid_field", "options.rate is messages per second, 1 to %d; got %d", maxRate, *o.Rate)
		}
		plan.Rate = int(*o.Rate)
	}
	if o.BigPushDuration != nil {
		if *o.BigPushDuration < 1 || *o.BigPushDuration > maxBigPushDuration {
			return api.Errorf(http.StatusBadRequest, "invalid_field", "options.big_push_duration is minutes, 1 to %d; got %d", maxBigPushDuration, *o.BigPushDuration)
		}
		plan.Spread = time.Duration(*o.BigPushDuration) * time.Minute
	}
	if o.Priority != nil {
		switch *o.Priority {
		case "normal":
		case "high":
			plan.Message.Priority = dataservice.PriorityHigh
		default:
			return api.Errorf(http.StatusBadRequest, "invalid_field", `options.priority must be "normal" or "high"; got %q`, *o.Priority)
		}
	}
	if o.CollapseID != "" {
		if dataservice.CheckCollapseID(o.CollapseID) != nil {
			return api.Errorf(http.StatusBadRequest, "invalid_field", "options.collapse_id must be %s", CollapseIDRules)
		}
		if plan.Message.TTL == 0 {
			return api.Errorf(http.StatusBadRequest, "invalid_field", "options.collapse_id needs a time_to_live above 0: online-only messages are never stored to be replaced")
		}
		plan.Message.CollapseID = o.CollapseID
	}
	if o.CID != "" {
		if len(o.CID) > 64 || strings.ContainsAny(o.CID, "/") || strings.IndexFunc(o.CID, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
			return api.Errorf(http.StatusBadRequest, "invalid_field", "options.cid must be 1 to 64 printable characters without '/'")
		}
		plan.CID = o.CID
	}
	return nil
}

// DeviceReader reads device records.
type DeviceReader interface {
	Devices(ctx context.Context, rids []string) ([]dataservice.Device, error)
}

// Listed fails unless every device aud lists is one of app's, and
// returns those on aud's platforms: the devices a push to aud targets.
func Listed(ctx context.Context, data DeviceReader, app *dataservice.App, aud audience.Audience) ([]string, error) {
	rids := aud.RegistrationID
	devices, err := data.Devices(ctx, rids)
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

// Decode reads a stored or submitted push body as POST /v1/push does:
// strictly, exactly one JSON object.
func Decode(raw json.RawMessage) (*Request, error) {
	if len(bytes.TrimSpace(raw)) == 0 || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return nil, api.Errorf(http.StatusBadRequest, "missing_field", `push is required: the body POST /v1/push takes, e.g. {"audience": "all", "message": {"content": "hello"}}`)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var req Request
	if err := dec.Decode(&req); err != nil {
		if te := (*json.UnmarshalTypeError)(nil); errors.As(err, &te) && te.Field == "" {
			return nil, api.Errorf(http.StatusBadRequest, "invalid_field", "push must be an object, the body POST /v1/push takes; got JSON %s", te.Value)
		}
		return nil, api.BodyError(err, int64(len(raw)))
	}
	if dec.More() {
		return nil, api.Errorf(http.StatusBadRequest, "invalid_json", "push must be one JSON object")
	}
	return &req, nil
}
