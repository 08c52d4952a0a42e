package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway/api"
	"github.com/heraldpush/herald/gateway/audience"
	"github.com/heraldpush/herald/internal/ids"
)

// Reports: a message's counters (GET /v1/messages/{msg_id}), what happened
// to it on one device (…/devices/{registration_id}), and the list of an
// app's messages (GET /v1/messages). Every call sees the app's own
// messages and devices only: another app's are as unknown as those that
// do not exist. MessageDeviceStatus and ListMessages serve other API faces
// (JPush's /v3) too.

// ErrUnknownMessage is the error of the report functions for a message the
// app does not have (it never existed, its report has expired, or it is
// another app's).
var ErrUnknownMessage = errors.New("gateway: the app has no such message")

type reportResponse struct {
	MsgID string `json:"msg_id"`
	dataservice.Report
}

// parseMsgID reads the msg_id path parameter.
func parseMsgID(r *http.Request) (uint64, error) {
	id, err := ids.ParseMessageID(r.PathValue("msg_id"))
	if err != nil {
		return 0, api.Errorf(http.StatusBadRequest, "invalid_parameter", "msg_id must be the decimal id returned by POST /v1/push")
	}
	return id, nil
}

// unknownMessage is the API's answer for ErrUnknownMessage.
func unknownMessage(id uint64) error {
	return api.Errorf(http.StatusNotFound, "unknown_msg_id", "this app has no message %d", id)
}

// appMessage returns message id of app, or ErrUnknownMessage.
func (g *Gateway) appMessage(ctx context.Context, app *dataservice.App, id uint64) (dataservice.Message, error) {
	m, err := g.data.Message(ctx, id)
	if api.IsNotFound(err) || err == nil && m.AppKey != app.Key {
		return dataservice.Message{}, fmt.Errorf("message %d: %w", id, ErrUnknownMessage)
	}
	return m, err
}

func (g *Gateway) messageReport(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	id, err := parseMsgID(r)
	if err != nil {
		return err
	}
	if _, err := g.appMessage(r.Context(), app, id); err != nil {
		if errors.Is(err, ErrUnknownMessage) {
			return unknownMessage(id)
		}
		return err
	}
	rep, err := g.data.Report(r.Context(), id)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, reportResponse{MsgID: ids.FormatMessageID(id), Report: rep})
	return nil
}

// DeviceState is where one message is on one device.
type DeviceState string

// Device states, from the most advanced: a message clicked was delivered,
// one delivered was sent.
const (
	// DeviceClicked: the user opened the notification (the device sent
	// CLICK).
	DeviceClicked DeviceState = "clicked"
	// DeviceDelivered: the device acknowledged the message.
	DeviceDelivered DeviceState = "delivered"
	// DeviceFailed: the device never acknowledged it within the
	// redelivery cap; it was dropped.
	DeviceFailed DeviceState = "failed"
	// DeviceSent: written to the device's connection and not (yet)
	// acknowledged; for an online-only message (time_to_live 0), which
	// is never acknowledged, the final state.
	DeviceSent DeviceState = "sent"
	// DevicePending: stored for the device, which has not been sent it
	// yet: it is offline (stored_offline in the report), or about to be
	// sent.
	DevicePending DeviceState = "pending"
	// DeviceExpired: its time to live ran out before the device had it
	// (for an online-only message: the device was offline when it was
	// sent).
	DeviceExpired DeviceState = "expired"
	// DeviceWithdrawn: a cancel took it back before the device had it.
	DeviceWithdrawn DeviceState = "withdrawn"
	// DeviceReplaced: a newer message with the same collapse_id replaced
	// it before the device had it.
	DeviceReplaced DeviceState = "replaced"
	// DeviceNotTargeted: the device is not in the message's audience
	// (a registration_id list without it; a device registered after an
	// "all" push). For audiences resolved from tags, aliases or segments
	// Herald keeps no list of the devices: a device with no trace of the
	// message is reported not_targeted, which also covers one a running
	// task has not reached yet, and one whose copy was withdrawn,
	// replaced or expired before it was ever sent.
	DeviceNotTargeted DeviceState = "not_targeted"
	// DeviceUnknown: no device of the app has this registration id.
	DeviceUnknown DeviceState = "unknown_device"
)

// DeviceStatus is what happened to one message on one device: the answer
// of GET /v1/messages/{msg_id}/devices/{registration_id}.
type DeviceStatus struct {
	MsgID          string      `json:"msg_id"`
	RegistrationID string      `json:"registration_id"`
	State          DeviceState `json:"state"`
	// Attempts counts the writes of the message to the device's
	// connections, as far as they are recorded (counts of a copy in
	// flight on a connector reach the store when its device actor
	// retires).
	Attempts int `json:"attempts"`
	// When the message was first written to the device, acknowledged,
	// opened, dropped; absent if that did not happen.
	SentAt      *time.Time `json:"sent_at,omitempty"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
	ClickedAt   *time.Time `json:"clicked_at,omitempty"`
	FailedAt    *time.Time `json:"failed_at,omitempty"`
}

// MessageDeviceStatus returns what happened to message id of app on each
// device of rids (1 to dataservice.MaxReceiptDevices registration ids), in
// order. A registration id that names no device of app gets
// DeviceUnknown. The error wraps ErrUnknownMessage if app has no message
// id.
func (g *Gateway) MessageDeviceStatus(ctx context.Context, app *dataservice.App, id uint64, rids []string) ([]DeviceStatus, error) {
	if len(rids) == 0 || len(rids) > dataservice.MaxReceiptDevices {
		return nil, api.Errorf(http.StatusBadRequest, "invalid_parameter", "ask for 1 to %d registration ids at once; got %d", dataservice.MaxReceiptDevices, len(rids))
	}
	m, err := g.appMessage(ctx, app, id)
	if err != nil {
		return nil, err
	}
	out := make([]DeviceStatus, len(rids))
	var known []string // valid ids, for the store
	for i, rid := range rids {
		out[i] = DeviceStatus{MsgID: ids.FormatMessageID(id), RegistrationID: rid, State: DeviceUnknown}
		if api.ValidID(rid) {
			known = append(known, rid)
		}
	}
	if len(known) == 0 {
		return out, nil
	}
	devs, err := g.data.Devices(ctx, known)
	if err != nil {
		return nil, err
	}
	receipts, err := g.data.MessageReceipts(ctx, id, known)
	if err != nil {
		if api.IsNotFound(err) { // its report expired meanwhile
			return nil, fmt.Errorf("message %d: %w", id, ErrUnknownMessage)
		}
		return nil, err
	}
	var task *dataservice.Task
	if t, err := g.data.Task(ctx, id); err == nil {
		task = &t
	} else if !api.IsNotFound(err) {
		return nil, err
	}
	var aud *audience.Audience
	if len(m.Audience) > 0 {
		var a audience.Audience
		if json.Unmarshal(m.Audience, &a) == nil {
			aud = &a
		}
	}
	now := time.Now()
	byRID := make(map[string]int, len(known))
	for i, rid := range known {
		byRID[rid] = i
	}
	for i := range out {
		k, ok := byRID[out[i].RegistrationID]
		if !ok || !devs[k].Exists() || devs[k].AppKey != app.Key {
			continue
		}
		rc := &receipts[k]
		out[i].State = deviceState(&m, task, &devs[k], rc, aud, now)
		out[i].Attempts = rc.Attempts
		out[i].SentAt, out[i].DeliveredAt = timeOrNil(rc.SentAt), timeOrNil(rc.DeliveredAt)
		out[i].ClickedAt, out[i].FailedAt = timeOrNil(rc.ClickedAt), timeOrNil(rc.FailedAt)
	}
	return out, nil
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// targeting says whether a device is in an audience: yes, no, or that the
// audience alone does not tell.
type targeting int

const (
	targetUnknown targeting = iota
	targetYes
	targetNo
)

// targeted tells whether dev is in the audience of m, as far as the
// audience alone tells: devices of an "all" push are those registered
// before it; a registration_id list names its devices (and, with other
// kinds, excludes every other device).
func targeted(m *dataservice.Message, dev *dataservice.Device, aud *audience.Audience) targeting {
	if m.Broadcast || aud != nil && aud.All {
		if m.ID >= ids.FirstAt(dev.Created) {
			return targetYes
		}
		return targetNo
	}
	if aud == nil || len(aud.RegistrationID) == 0 {
		return targetUnknown
	}
	if !slices.Contains(aud.RegistrationID, dev.RegistrationID) {
		return targetNo
	}
	if aud.OnlyRegistrationIDs() {
		return targetYes
	}
	return targetUnknown
}

// deviceState derives where m is on dev from what was recorded (rc), m's
// task (nil if it was sent without one) and audience (nil if unknown), at
// now.
func deviceState(m *dataservice.Message, task *dataservice.Task, dev *dataservice.Device, rc *dataservice.DeviceReceipts,
	aud *audience.Audience, now time.Time) DeviceState {
	switch {
	case !rc.ClickedAt.IsZero():
		return DeviceClicked
	case !rc.DeliveredAt.IsZero():
		return DeviceDelivered
	case !rc.FailedAt.IsZero():
		return DeviceFailed
	}
	canceled := task != nil && (task.State == dataservice.TaskCanceling || task.State == dataservice.TaskCanceled)
	expired := m.TTL > 0 && !now.Before(m.Expires().Add(dataservice.AckGrace))
	sending := task != nil && !dataservice.TaskFinished(task.State) // the task may still reach the device
	sent := !rc.SentAt.IsZero() || rc.BroadcastSent
	if sent || rc.Pending { // the device has, or had, a copy
		switch {
		case sent && m.TTL == 0:
			return DeviceSent // online only: never acknowledged
		case expired:
			return DeviceExpired
		case !sent:
			return DevicePending
		case !rc.Pending && canceled:
			return DeviceWithdrawn
		}
		return DeviceSent // awaiting the acknowledgement, or its record
	}
	if targeted(m, dev, aud) != targetYes {
		return DeviceNotTargeted // see DeviceNotTargeted for audiences that do not tell
	}
	switch {
	case canceled:
		return DeviceWithdrawn
	case m.TTL == 0 && sending:
		return DevicePending // the fan-out may still reach it
	case m.TTL == 0, expired:
		return DeviceExpired
	case m.Broadcast && rc.BroadcastAcked:
		return DeviceExpired // skipped: its cursor passed it while it was not listed
	case m.Broadcast:
		return DevicePending // it gets it when it connects
	case m.CollapseID != "":
		return DeviceReplaced
	}
	// A listed device whose copy is gone though it was never sent: only a
	// cancel of a push sent without a task removes it so.
	return DeviceWithdrawn
}

func (g *Gateway) messageDevice(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	id, err := parseMsgID(r)
	if err != nil {
		return err
	}
	rid := r.PathValue("registration_id")
	st, err := g.MessageDeviceStatus(r.Context(), app, id, []string{rid})
	if errors.Is(err, ErrUnknownMessage) {
		return unknownMessage(id)
	}
	if err != nil {
		return err
	}
	if st[0].State == DeviceUnknown {
		return api.Errorf(http.StatusNotFound, "unknown_registration_id", "this app has no device with registration_id %q; devices register with POST /v1/devices", rid)
	}
	api.WriteJSON(w, http.StatusOK, st[0])
	return nil
}

// AudienceSummary describes a message's audience in a listing: the kinds
// of the push's audience, with lists of devices and aliases (up to a
// thousand) reduced to their lengths.
type AudienceSummary struct {
	All             bool     `json:"all,omitempty"`
	RegistrationIDs int      `json:"registration_ids,omitempty"`
	Aliases         int      `json:"aliases,omitempty"`
	Tag             []string `json:"tag,omitempty"`
	TagAnd          []string `json:"tag_and,omitempty"`
	TagNot          []string `json:"tag_not,omitempty"`
	Segment         []string `json:"segment,omitempty"`
}

func summarize(m *dataservice.Message) AudienceSummary {
	if m.Broadcast {
		return AudienceSummary{All: true}
	}
	var a audience.Audience
	if len(m.Audience) == 0 || json.Unmarshal(m.Audience, &a) != nil {
		return AudienceSummary{}
	}
	return AudienceSummary{All: a.All, RegistrationIDs: len(a.RegistrationID), Aliases: len(a.Alias),
		Tag: a.Tag, TagAnd: a.TagAnd, TagNot: a.TagNot, Segment: a.Segment}
}

// MessageItem is one message of GET /v1/messages: its id, when it was
// created, its options and audience, where its sending is, and its report.
type MessageItem struct {
	MsgID      string          `json:"msg_id"`
	Created    time.Time       `json:"created"`
	Title      string          `json:"title,omitempty"`
	TimeToLive int64           `json:"time_to_live"` // seconds
	Broadcast  bool            `json:"broadcast"`
	Audience   AudienceSummary `json:"audience"`
	// State is the state of the message's task: running, canceling,
	// done, canceled or failed; done for a push sent at once.
	State dataservice.TaskState `json:"state"`
	dataservice.Report
}

// MessageList is a page of GET /v1/messages.
type MessageList struct {
	Messages []MessageItem `json:"messages"`
	// Next is the after of the next page; absent on the last page.
	Next *string `json:"next,omitempty"`
}

// ListMessages returns a page of app's messages, newest first (see
// dataservice.MessageQuery; its Limit must be 1 to
// dataservice.MaxMessagePage).
func (g *Gateway) ListMessages(ctx context.Context, app *dataservice.App, q dataservice.MessageQuery) (MessageList, error) {
	page, err := g.data.AppMessages(ctx, app.Key, q)
	if err != nil {
		return MessageList{}, err
	}
	out := MessageList{Messages: make([]MessageItem, len(page.Messages))}
	for i := range page.Messages {
		s := &page.Messages[i]
		m := &s.Message
		out.Messages[i] = MessageItem{
			MsgID: ids.FormatMessageID(m.ID), Created: m.Created.UTC(), Title: m.Title,
			TimeToLive: int64(m.TTL / time.Second), Broadcast: m.Broadcast, Audience: summarize(m),
			State: s.State, Report: s.Report,
		}
	}
	if page.Next != 0 {
		next := ids.FormatMessageID(page.Next)
		out.Next = &next
	}
	return out, nil
}

// messageQuery reads the parameters of GET /v1/messages.
func messageQuery(r *http.Request) (dataservice.MessageQuery, error) {
	q := r.URL.Query()
	mq := dataservice.MessageQuery{Limit: api.DefaultPage}
	if s := q.Get("after"); s != "" {
		id, err := ids.ParseMessageID(s)
		if err != nil {
			return mq, api.Errorf(http.StatusBadRequest, "invalid_parameter", "after must be the next value of the previous page (a msg_id)")
		}
		mq.After = id
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > dataservice.MaxMessagePage {
			return mq, api.Errorf(http.StatusBadRequest, "invalid_parameter", "limit must be a whole number from 1 to %d; got %q", dataservice.MaxMessagePage, s)
		}
		mq.Limit = n
	}
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"from", &mq.From}, {"to", &mq.To}} {
		s := q.Get(p.name)
		if s == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return mq, api.Errorf(http.StatusBadRequest, "invalid_parameter", "%s must be a time in RFC 3339 form, such as 2026-11-21T09:00:00Z; got %q", p.name, s)
		}
		*p.t = t
	}
	if !mq.From.IsZero() && !mq.To.IsZero() && !mq.From.Before(mq.To) {
		return mq, api.Errorf(http.StatusBadRequest, "invalid_parameter", "from must be before to")
	}
	switch s := q.Get("broadcast"); s {
	case "":
	case "true":
		mq.Broadcast = dataservice.OnlyBroadcasts
	case "false":
		mq.Broadcast = dataservice.ExcludeBroadcasts
	default:
		return mq, api.Errorf(http.StatusBadRequest, "invalid_parameter", "broadcast must be true or false; got %q", s)
	}
	switch s := dataservice.TaskState(q.Get("state")); s {
	case "", dataservice.TaskRunning, dataservice.TaskCanceling, dataservice.TaskDone, dataservice.TaskCanceled, dataservice.TaskFailed:
		mq.State = s
	default:
		return mq, api.Errorf(http.StatusBadRequest, "invalid_parameter", "state must be running, canceling, done, canceled or failed; got %q", s)
	}
	return mq, nil
}

func (g *Gateway) listMessages(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	q, err := messageQuery(r)
	if err != nil {
		return err
	}
	list, err := g.ListMessages(r.Context(), app, q)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, list)
	return nil
}
