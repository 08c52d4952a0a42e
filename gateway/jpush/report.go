package jpush

import (
	"context"
	"net/http"
	"strings"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway/api"
	"github.com/heraldpush/herald/internal/ids"
)

// JPush's delivery reports over Herald's. JPush splits deliveries by
// channel and platform; Herald counts those over its own connection,
// whatever the platform: they are JPush's "received over JPush's own
// channel" (android_received in /v3/received, jpush_received in
// /v3/received/detail). Herald has no vendor channels (APNs, FCM, …) yet,
// so their figures are null, which JPush answers for figures it has no
// data for. A message that is not the app's (or no longer kept) gets an
// entry with every figure null too.

// maxJPushMsgIDs bounds the msg_ids of one report call, as JPush.
const maxJPushMsgIDs = 100

// received is an entry of GET /v3/received.
type received struct {
	MsgID           uint64 `json:"msg_id"`
	AndroidReceived *int64 `json:"android_received"`
	IOSAPNSSent     *int64 `json:"ios_apns_sent"`
	IOSAPNSReceived *int64 `json:"ios_apns_received"`
	IOSMsgReceived  *int64 `json:"ios_msg_received"`
	WPMPNSSent      *int64 `json:"wp_mpns_sent"`
}

// receivedDetail is an entry of GET /v3/received/detail.
type receivedDetail struct {
	MsgID                 string `json:"msg_id"`
	JPushReceived         *int64 `json:"jpush_received"`
	AndroidPNSSent        *int64 `json:"android_pns_sent"`
	AndroidPNSReceived    *int64 `json:"android_pns_received"`
	IOSAPNSSent           *int64 `json:"ios_apns_sent"`
	IOSAPNSReceived       *int64 `json:"ios_apns_received"`
	IOSMsgReceived        *int64 `json:"ios_msg_received"`
	WPMPNSSent            *int64 `json:"wp_mpns_sent"`
	QuickappJPushReceived *int64 `json:"quickapp_jpush_received"`
	QuickappPNSSent       *int64 `json:"quickapp_pns_sent"`
	HMOSHMPNSSent         *int64 `json:"hmos_hmpns_sent"`
	HMOSHMPNSReceived     *int64 `json:"hmos_hmpns_received"`
}

// msgIDsParam reads the msg_ids parameter: decimal ids separated by
// commas.
func msgIDsParam(r *http.Request) ([]uint64, error) {
	s := r.URL.Query().Get("msg_ids")
	if s == "" {
		return nil, errorf(kindMissing, "msg_ids is required: the msg_id values pushes returned, separated by commas (at most %d)", maxJPushMsgIDs)
	}
	var out []uint64
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		id, err := ids.ParseMessageID(p)
		if err != nil {
			return nil, errorf(kindInvalid, "msg_ids: %q is not a msg_id; msg_ids are decimal numbers separated by commas", api.Truncate(p, 30))
		}
		out = append(out, id)
	}
	switch {
	case len(out) == 0:
		return nil, errorf(kindMissing, "msg_ids lists no msg_id")
	case len(out) > maxJPushMsgIDs:
		return nil, errorf(kindInvalid, "msg_ids lists %d ids; at most %d per call", len(out), maxJPushMsgIDs)
	}
	return out, nil
}

// receivedCounts returns, per id, how many devices received the
// message over Herald's connection: those that acknowledged it, or, for
// a message sent online only (which is never acknowledged), those it was
// written to. Nil for ids that are not the app's messages.
func (f *Face) receivedCounts(ctx context.Context, app *dataservice.App, msgIDs []uint64) ([]*int64, error) {
	msgs, err := f.data.Messages(ctx, msgIDs)
	if err != nil {
		return nil, err
	}
	out := make([]*int64, len(msgIDs))
	err = fanOut(ctx, len(msgIDs), func(ctx context.Context, i int) error {
		m := msgs[i]
		if m.ID == 0 || m.AppKey != app.Key {
			return nil
		}
		rep, err := f.data.Report(ctx, m.ID)
		if api.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		n := rep.Delivered
		if m.TTL == 0 {
			n = rep.Sent
		}
		out[i] = &n
		return nil
	})
	return out, err
}

// received is GET /v3/received?msg_ids=….
func (f *Face) received(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	msgIDs, err := msgIDsParam(r)
	if err != nil {
		return err
	}
	counts, err := f.receivedCounts(r.Context(), app, msgIDs)
	if err != nil {
		return err
	}
	out := make([]received, len(msgIDs))
	for i, id := range msgIDs {
		out[i] = received{MsgID: id, AndroidReceived: counts[i]}
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

// receivedDetail is GET /v3/received/detail?msg_ids=….
func (f *Face) receivedDetail(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	msgIDs, err := msgIDsParam(r)
	if err != nil {
		return err
	}
	counts, err := f.receivedCounts(r.Context(), app, msgIDs)
	if err != nil {
		return err
	}
	out := make([]receivedDetail, len(msgIDs))
	for i, id := range msgIDs {
		out[i] = receivedDetail{MsgID: ids.FormatMessageID(id), JPushReceived: counts[i]}
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}
