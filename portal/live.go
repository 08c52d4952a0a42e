package portal

import (
	"container/list"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// The live delivery funnel: while a message page listens
// (GET …/messages/{id}/events, server-sent events), the portal reads the
// message's report every Config.Poll and sends it on when it changed, and
// at least once a second, until the message is finished. What it read is
// kept (history) so that a page opened later draws the curve from the
// first time the portal watched the message, not from when it opened.

// sample is the report of a message at a moment.
type sample struct {
	T int64 `json:"t"` // Unix milliseconds
	report
}

// liveEvent is the data of a "report" event.
type liveEvent struct {
	sample
	State    string `json:"state,omitempty"`
	Finished bool   `json:"finished"`
}

// Bounds of the history: how many messages, and how many samples of each
// (at one a second when nothing changes, and up to two a second while it
// does: about half an hour to an hour of a send).
const (
	historyMessages = 1000
	historySamples  = 3600
)

// history keeps the latest samples of the messages watched recently,
// dropping the message watched least recently beyond its bound. It is
// safe for concurrent use.
type history struct {
	maxMessages, maxSamples int

	mu    sync.Mutex // guards order and byKey
	order *list.List // of *series, most recently watched first
	byKey map[string]*list.Element
}

type series struct {
	key     string
	samples []sample
}

func newHistory(maxMessages, maxSamples int) *history {
	return &history{maxMessages: maxMessages, maxSamples: maxSamples, order: list.New(), byKey: map[string]*list.Element{}}
}

// add records s for key unless it says nothing new: the same counters
// less than a second after the last sample, or an older time.
func (h *history) add(key string, s sample) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.byKey[key]
	if !ok {
		e = h.order.PushFront(&series{key: key})
		h.byKey[key] = e
		if h.order.Len() > h.maxMessages {
			last := h.order.Back()
			h.order.Remove(last)
			delete(h.byKey, last.Value.(*series).key)
		}
	} else {
		h.order.MoveToFront(e)
	}
	sr := e.Value.(*series)
	if n := len(sr.samples); n > 0 {
		last := sr.samples[n-1]
		if s.T <= last.T || s.report == last.report && s.T-last.T < 1000 {
			return
		}
	}
	if len(sr.samples) >= h.maxSamples {
		// Keep the first sample (the start of the curve) and drop the
		// second: the curve stays anchored and bounded.
		sr.samples = append(sr.samples[:1], sr.samples[2:]...)
	}
	sr.samples = append(sr.samples, s)
}

// get returns a copy of the samples of key.
func (h *history) get(key string) []sample {
	h.mu.Lock()
	defer h.mu.Unlock()
	e, ok := h.byKey[key]
	if !ok {
		return nil
	}
	return append([]sample(nil), e.Value.(*series).samples...)
}

// maxStream is how long one event stream lasts; the browser's EventSource
// then connects again (after the retry the stream announced), which
// checks the session anew.
const maxStream = 30 * time.Minute

// messageEvents streams a message's report as server-sent events:
// "history" (the samples kept, once), "report" (each change, and at least
// once a second), "done" when the message is finished, "failure" if the
// gateway refuses (the session ended, the message is not the app's).
func (p *Portal) messageEvents(w http.ResponseWriter, r *http.Request, s *session) {
	id := r.PathValue("id")
	ctx := r.Context()
	item, listed, err := p.readMessage(r, s, id)
	if err != nil {
		p.fail(w, r, s, err)
		return
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // tell proxies not to hold events back
	w.WriteHeader(http.StatusOK)
	key := s.app.AppKey + "/" + id
	send := func(event string, data any) bool {
		b, err := json.Marshal(data)
		if err != nil {
			return false
		}
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", event, b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if _, err := fmt.Fprint(w, "retry: 2000\n\n"); err != nil {
		return
	}
	now := time.Now()
	first := sample{T: now.UnixMilli(), report: item.report}
	p.history.add(key, first)
	if !send("history", p.history.get(key)) {
		return
	}
	ticker := time.NewTicker(p.cfg.Poll)
	defer ticker.Stop()
	deadline := now.Add(maxStream)
	var lastSent time.Time
	var last liveEvent
	for {
		now := time.Now()
		ev := liveEvent{sample: sample{T: now.UnixMilli(), report: item.report}, State: item.State, Finished: finished(item, listed, now)}
		if lastSent.IsZero() || ev.report != last.report || ev.State != last.State || ev.Finished || now.Sub(lastSent) >= time.Second {
			if !send("report", ev) {
				return
			}
			last, lastSent = ev, now
		}
		if ev.Finished {
			send("done", struct{}{})
			return
		}
		if now.After(deadline) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-p.closing:
			return
		case <-ticker.C:
		}
		next, nextListed, err := p.readMessage(r, s, id)
		if err != nil {
			ae := asAPIError(err)
			if ae.Status >= 400 && ae.Status < 500 {
				send("failure", map[string]string{"code": ae.Code, "message": ae.Message})
				return
			}
			continue // the gateway is away for a moment: try again
		}
		item, listed = next, nextListed
		p.history.add(key, sample{T: time.Now().UnixMilli(), report: item.report})
	}
}
