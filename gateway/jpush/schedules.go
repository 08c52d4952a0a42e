package jpush

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway/api"
	"github.com/heraldpush/herald/gateway/audience"
	"github.com/heraldpush/herald/gateway/push"
	"github.com/heraldpush/herald/gateway/schedule"
	"github.com/heraldpush/herald/internal/ids"
)

// JPush's schedule API over Herald's schedules (schedules.go): the trigger
// is the same JSON, read by default in JPush's time zone (Beijing time);
// the push is JPush's push object, turned into the /v1 push the schedule
// fires (as POST /v3/push turns it) and kept as sent, to be shown as sent.

// scheduleZone is the zone JPush reads schedule times in, unless the
// trigger names another with Herald's time_zone.
const scheduleZone = "Asia/Shanghai"

// schedulePage is the size of a page of GET /v3/schedules, as JPush.
const schedulePage = 50

// scheduleKeys are the keys of a schedule object; cid is accepted and
// ignored (Herald's schedules have no idempotency key).
var scheduleKeys = map[string]bool{"name": true, "enabled": true, "trigger": true, "push": true, "cid": true}

// scheduleView is a schedule as JPush shows it.
type scheduleView struct {
	ScheduleID string               `json:"schedule_id"`
	Name       string               `json:"name"`
	Enabled    bool                 `json:"enabled"`
	Trigger    schedule.TriggerJSON `json:"trigger"`
	Push       json.RawMessage      `json:"push"`
}

// decodeJPushSchedule reads a schedule object into def, changing only
// the sections the body has (all of them for a new schedule), and says
// whether it had any.
func decodeJPushSchedule(b []byte, def *schedule.Def) (bool, error) {
	obj, err := object(b, "the schedule")
	if err != nil {
		return false, err
	}
	changed := false
	for k, v := range obj {
		if !scheduleKeys[k] {
			return false, errorf(kindInvalid, "%q is not a key of a schedule; it has name, enabled, trigger and push", k)
		}
		if isNull(v) || k == "cid" {
			continue
		}
		changed = true
		switch k {
		case "name":
			if def.Name, err = str(v, "name"); err != nil {
				return false, err
			}
		case "enabled":
			if err := json.Unmarshal(v, &def.Enabled); err != nil {
				return false, errorf(kindInvalid, "enabled must be true or false")
			}
		case "trigger":
			if def.Trigger, err = decodeJPushTrigger(v); err != nil {
				return false, err
			}
		case "push":
			if def.Push, def.Source, err = schedulePush(v); err != nil {
				return false, err
			}
		}
	}
	return changed, nil
}

// decodeJPushTrigger reads JPush's trigger, with Herald's time_zone and
// zone_type beside single and periodical; times are read in Beijing time
// unless time_zone says otherwise.
func decodeJPushTrigger(raw json.RawMessage) (schedule.Trigger, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var tj schedule.TriggerJSON
	if err := dec.Decode(&tj); err != nil {
		err = api.BodyError(err, int64(len(raw)))
		var ae *api.Error
		if errors.As(err, &ae) {
			return schedule.Trigger{}, errorf(kindInvalid, "trigger: %s", ae.Message)
		}
		return schedule.Trigger{}, err
	}
	if tj.TimeZone == "" {
		tj.TimeZone = scheduleZone
	}
	return tj.Trigger()
}

// schedulePush turns a schedule's JPush push object into the /v1 push
// it fires, and returns both. What JPush ignores in a schedule's push
// (cid, sendno) is dropped; override_msg_id has no meaning for a push not
// sent yet and is refused.
func schedulePush(raw json.RawMessage) (body, source json.RawMessage, err error) {
	req, err := decodeJPushPush(raw)
	if err != nil {
		return nil, nil, err
	}
	if req.overrideID != 0 {
		return nil, nil, errorf(kindInvalid, "push.options.override_msg_id is not supported in a schedule")
	}
	msg, err := req.heraldMessage()
	if err != nil {
		return nil, nil, err
	}
	platforms, err := req.heraldPlatforms()
	if err != nil {
		return nil, nil, err
	}
	opts := map[string]any{}
	if o := req.options; o.TimeToLive != nil {
		opts["time_to_live"] = *o.TimeToLive
	}
	if o := req.options; o.BigPushDuration != nil {
		opts["big_push_duration"] = *o.BigPushDuration
	}
	if c := req.options.CollapseID; c != "" {
		opts["collapse_id"] = c
	}
	v1 := struct {
		Platform []string          `json:"platform,omitempty"`
		Audience audience.Audience `json:"audience"`
		Message  *push.Message     `json:"message"`
		Options  map[string]any    `json:"options,omitempty"`
	}{platforms, req.audience, msg, opts}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v1); err != nil {
		return nil, nil, errorf(kindInvalid, "push: %v", err)
	}
	var src bytes.Buffer
	if err := json.Compact(&src, raw); err != nil {
		return nil, nil, errorf(kindInvalid, "push: %v", err)
	}
	return bytes.TrimSpace(buf.Bytes()), src.Bytes(), nil
}

// scheduleError turns the core's unknown schedule into JPush's.
func scheduleError(err error, id string) error {
	var ae *api.Error
	if errors.As(err, &ae) && ae.Code == "unknown_schedule" {
		return errorf(kindNotFound, "this app has no schedule with schedule_id %q; GET /v3/schedules lists them", api.Truncate(id, 64))
	}
	return err
}

// viewJPushSchedule renders s as JPush does: its trigger without Herald's
// zone fields when they are JPush's defaults, its push as it was sent
// (the /v1 push, for a schedule made through /v1).
func viewJPushSchedule(s dataservice.Schedule) (scheduleView, error) {
	def, err := schedule.ReadDef(s)
	if err != nil {
		return scheduleView{}, err
	}
	tj := def.Trigger.JSON()
	if tj.ZoneType == schedule.ZoneFixed {
		tj.ZoneType = ""
		if tj.TimeZone == scheduleZone {
			tj.TimeZone = ""
		}
	}
	shown := def.Source
	if len(shown) == 0 {
		shown = def.Push
	}
	return scheduleView{ScheduleID: s.ID, Name: s.Name, Enabled: s.Enabled, Trigger: tj, Push: shown}, nil
}

// createSchedule is POST /v3/schedules → {"schedule_id", "name"}.
func (f *Face) createSchedule(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	b, err := readJPushBody(w, r, f.cfg.MaxBody)
	if err != nil {
		return err
	}
	def := schedule.Def{Enabled: true}
	if _, err := decodeJPushSchedule(b, &def); err != nil {
		return err
	}
	switch {
	case def.Trigger.Single == nil && def.Trigger.Periodical == nil:
		return errorf(kindMissing, `trigger is required: {"single": {"time": "YYYY-MM-DD HH:MM:SS"}} or {"periodical": {…}}`)
	case def.Push == nil:
		return errorf(kindMissing, "push is required: a push object, as POST /v3/push takes")
	}
	s, err := f.schedules.Create(r.Context(), app, def)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, map[string]string{"schedule_id": s.ID, "name": s.Name})
	return nil
}

// listPage is how many schedules listSchedules reads from the store at a
// time: with the page's schedules, all it holds of them at once.
const listPage = 50

// listed is what listSchedules keeps of each valid schedule it reads, to
// order them by creation without holding them.
type listed struct {
	created time.Time
	id      string
}

// listSchedules is GET /v3/schedules?page=N: the app's schedules that
// fire again (JPush's "valid" ones), oldest first, 50 a page.
//
// Schedule ids are random, so creation order is not the store's: the
// store is read listPage schedules at a time, keeping of each valid one
// its creation time and id only (tens of bytes, where a schedule with its
// push and past firings can weigh kilobytes), then the page's schedules
// are read again, one by one. Memory stays bounded by listPage schedules
// and the app's count of schedules (--max-schedules) times tens of bytes,
// however many requests run at once.
func (f *Face) listSchedules(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	pageNo := 1
	if s := r.URL.Query().Get("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return errorf(kindInvalid, "page must be a whole number from 1; got %q", s)
		}
		pageNo = n
	}
	ctx := r.Context()
	now := time.Now()
	var valid []listed
	after := ""
	for {
		ss, next, err := f.schedules.List(ctx, app, after, listPage)
		if err != nil {
			return err
		}
		for _, s := range ss {
			ok, err := fires(s, now)
			if err != nil {
				return err
			}
			if ok {
				valid = append(valid, listed{s.Created, s.ID})
			}
		}
		if next == nil {
			break
		}
		after = *next
	}
	slices.SortStableFunc(valid, func(a, b listed) int { return a.created.Compare(b.created) })
	out := struct {
		TotalCount int            `json:"total_count"`
		TotalPages int            `json:"total_pages"`
		Page       int            `json:"page"`
		Schedules  []scheduleView `json:"schedules"`
	}{TotalCount: len(valid), TotalPages: (len(valid) + schedulePage - 1) / schedulePage, Page: pageNo, Schedules: []scheduleView{}}
	from := min(len(valid), (pageNo-1)*schedulePage)
	for _, l := range valid[from:min(len(valid), from+schedulePage)] {
		s, err := f.schedules.Get(ctx, app, l.id)
		if ae := (*api.Error)(nil); errors.As(err, &ae) && ae.Status == http.StatusNotFound {
			continue // deleted since
		}
		if err != nil {
			return err
		}
		v, err := viewJPushSchedule(s)
		if err != nil {
			return err
		}
		out.Schedules = append(out.Schedules, v)
	}
	api.WriteJSON(w, http.StatusOK, out)
	return nil
}

// fires reports whether a schedule fires again (JPush's "valid"): an
// enabled one with a next firing, or a disabled one whose trigger has
// firings to come, were it enabled.
func fires(s dataservice.Schedule, now time.Time) (bool, error) {
	if s.Enabled {
		return s.Next != nil, nil
	}
	def, err := schedule.ReadDef(s)
	if err != nil {
		return false, err
	}
	_, ok := def.Trigger.First(now)
	return ok, nil
}

// getSchedule is GET /v3/schedules/{schedule_id}.
func (f *Face) getSchedule(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	id := r.PathValue("schedule_id")
	s, err := f.schedules.Get(r.Context(), app, id)
	if err != nil {
		return scheduleError(err, id)
	}
	v, err := viewJPushSchedule(s)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, v)
	return nil
}

// updateSchedule is PUT /v3/schedules/{schedule_id}: the sections
// the body has (name, enabled, trigger, push) replace the schedule's,
// each whole, as JPush.
func (f *Face) updateSchedule(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	b, err := readJPushBody(w, r, f.cfg.MaxBody)
	if err != nil {
		return err
	}
	ctx := r.Context()
	id := r.PathValue("schedule_id")
	cur, err := f.schedules.Get(ctx, app, id)
	if err != nil {
		return scheduleError(err, id)
	}
	def, err := schedule.ReadDef(cur)
	if err != nil {
		return err
	}
	def.Enabled = cur.Enabled
	changed, err := decodeJPushSchedule(b, &def)
	if err != nil {
		return err
	}
	if !changed {
		return errorf(kindMissing, "give at least one of name, enabled, trigger and push")
	}
	s, err := f.schedules.Replace(ctx, app, id, def)
	if err != nil {
		return scheduleError(err, id)
	}
	v, err := viewJPushSchedule(s)
	if err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, v)
	return nil
}

// deleteSchedule is DELETE /v3/schedules/{schedule_id}.
func (f *Face) deleteSchedule(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	id := r.PathValue("schedule_id")
	if err := f.schedules.Delete(r.Context(), app, id); err != nil {
		return scheduleError(err, id)
	}
	writeOK(w)
	return nil
}

// scheduleMsgIDs is GET /v3/schedules/{schedule_id}/msg_ids: the
// messages of its latest firings (dataservice.MaxScheduleFired), oldest
// first → {"count", "msgids"}.
func (f *Face) scheduleMsgIDs(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	id := r.PathValue("schedule_id")
	s, err := f.schedules.Get(r.Context(), app, id)
	if err != nil {
		return scheduleError(err, id)
	}
	list := []string{}
	for _, f := range s.Fired {
		if f.MsgID != 0 {
			list = append(list, ids.FormatMessageID(f.MsgID))
		}
	}
	api.WriteJSON(w, http.StatusOK, struct {
		Count  int      `json:"count"`
		MsgIDs []string `json:"msgids"`
	}{len(list), list})
	return nil
}
