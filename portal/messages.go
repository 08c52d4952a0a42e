package portal

import (
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// messagePage is how many messages a page of the list shows.
const messagePage = 50

// messagesView is the messages page's data.
type messagesView struct {
	Filter   *form
	Messages []messageItem
	// Next is the link to the next (older) page; empty on the last.
	Next string
	// First is the link to the first page, when this is not it.
	First string
	Err   *apiError
}

// messages lists the app's messages, newest first, filtered and paged by
// the gateway (GET /v1/messages).
func (p *Portal) messages(w http.ResponseWriter, r *http.Request, s *session) {
	in := r.URL.Query()
	f := newForm(url.Values{})
	q := url.Values{"limit": {strconv.Itoa(messagePage)}}
	for _, k := range []string{"state", "broadcast"} {
		if v := in.Get(k); v != "" {
			f.V.Set(k, v)
			q.Set(k, v)
		}
	}
	// from and to are dates (UTC days, to included).
	for _, k := range []string{"from", "to"} {
		v := in.Get(k)
		if v == "" {
			continue
		}
		f.V.Set(k, v)
		d, err := time.Parse("2006-01-02", v)
		if err != nil {
			f.E[k] = k + " must be a date, YYYY-MM-DD"
			continue
		}
		if k == "to" {
			d = d.AddDate(0, 0, 1)
		}
		q.Set(k, d.Format(time.RFC3339))
	}
	if a := in.Get("after"); a != "" {
		q.Set("after", a)
	}
	v := &messagesView{Filter: f}
	if len(f.E) == 0 {
		var list messageList
		if err := s.api.get(r.Context(), "/v1/messages", q, &list); err != nil {
			ae := asAPIError(err)
			if ae.Status != http.StatusBadRequest {
				p.fail(w, r, s, err)
				return
			}
			f.setError(ae, fieldMap{"from": "from", "to": "to", "state": "state", "broadcast": "broadcast"})
		} else {
			v.Messages = list.Messages
			if list.Next != "" {
				next := cloneValues(f.V)
				next.Set("after", list.Next)
				v.Next = appPath(s, "messages") + "?" + next.Encode()
			}
		}
	}
	if in.Get("after") != "" {
		v.First = appPath(s, "messages")
		if len(f.V) > 0 {
			v.First += "?" + f.V.Encode()
		}
	}
	p.render(w, r, http.StatusOK, "messages", &view{Title: "Messages", S: s, Active: "messages", Notice: notice(r), Data: v})
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// messageView is the message page's data.
type messageView struct {
	Item messageItem
	// Listed is false for a message the listing no longer shows (older
	// than its horizon): only its counters are known.
	Listed bool
	Live   bool // its funnel may still change
	Events string
}

// readMessage returns message id of the session's app: its item in the
// listing (state, title, audience and counters: GET
// /v1/messages?after=id+1&limit=1, the listing's page that starts at it),
// or, for a message the listing does not show, its report alone.
func (p *Portal) readMessage(r *http.Request, s *session, id string) (messageItem, bool, error) {
	n, err := strconv.ParseUint(id, 10, 64)
	if err != nil || n == 0 || n == ^uint64(0) {
		return messageItem{}, false, &apiError{Status: http.StatusNotFound, Code: "unknown_msg_id", Message: "There is no message " + strconv.Quote(id) + "."}
	}
	var list messageList
	q := url.Values{"after": {strconv.FormatUint(n+1, 10)}, "limit": {"1"}}
	if err := s.api.get(r.Context(), "/v1/messages", q, &list); err != nil {
		return messageItem{}, false, err
	}
	if len(list.Messages) == 1 && list.Messages[0].MsgID == id {
		return list.Messages[0], true, nil
	}
	item := messageItem{MsgID: id}
	if err := s.api.get(r.Context(), "/v1/messages/"+seg(id), nil, &item.report); err != nil {
		return messageItem{}, false, err
	}
	return item, false, nil
}

// message shows one message: what it was, its live funnel and chart, and
// a cancel button.
func (p *Portal) message(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	item, listed, err := p.readMessage(r, s, id)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	v := &messageView{Item: item, Listed: listed, Live: !finished(item, listed, time.Now()),
		Events: appPath(s, "messages/"+seg(id)+"/events")}
	p.render(w, r, http.StatusOK, "message", &view{Title: "Message " + id, S: s, Active: "messages", Notice: notice(r), Data: v})
}

// cancelMessage cancels a message (DELETE /v1/messages/{id}).
func (p *Portal) cancelMessage(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	if err := s.api.call(r.Context(), http.MethodDelete, "/v1/messages/"+seg(id), nil, nil, nil); err != nil {
		p.fail(w, r, s, err)
		return
	}
	http.Redirect(w, r, appPath(s, "messages/"+seg(id))+"?ok=cancel", http.StatusSeeOther)
}

// finished reports whether a message's funnel can change no more: its
// sending ended and every copy reached an end (or could not, being
// online only, or expired).
func finished(m messageItem, listed bool, now time.Time) bool {
	if !listed {
		return true // beyond the listing's horizon: long over
	}
	switch m.State {
	case stateRunning, stateCanceling:
		return false
	}
	if m.TimeToLive == 0 || m.ended() >= m.Targeted {
		return true
	}
	// Copies may wait for offline devices until their time to live
	// ends; the report settles a little after.
	return now.After(m.Created.Add(time.Duration(m.TimeToLive)*time.Second + time.Minute))
}
