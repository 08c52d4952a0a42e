package gateway

// The schedules API of the /v1 face: its request and answer shapes over
// package schedule, which validates, stores and fires schedules. Every
// call is authenticated as an app and sees only that app's schedules.

import (
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway/api"
	"github.com/heraldpush/herald/gateway/schedule"
	"github.com/heraldpush/herald/internal/ids"
)

// scheduleRequest is the body of POST /v1/schedules and PUT
// /v1/schedules/{schedule_id}: the whole definition.
type scheduleRequest struct {
	Name string `json:"name"`
	// Enabled is true when absent.
	Enabled *bool                 `json:"enabled"`
	Trigger *schedule.TriggerJSON `json:"trigger"`
	// Push is read by decodePush, after the trigger, for messages that
	// name it.
	Push json.RawMessage `json:"push"`
}

// def returns the definition the body gives, its trigger validated.
func (req *scheduleRequest) def() (schedule.Def, error) {
	t, err := req.Trigger.Trigger()
	if err != nil {
		return schedule.Def{}, err
	}
	def := schedule.Def{Name: req.Name, Enabled: req.Enabled == nil || *req.Enabled, Trigger: t, Push: req.Push}
	return def, nil
}

// scheduleView is a schedule as the /v1 API shows it.
type scheduleView struct {
	ScheduleID string               `json:"schedule_id"`
	Name       string               `json:"name"`
	Enabled    bool                 `json:"enabled"`
	Trigger    schedule.TriggerJSON `json:"trigger"`
	Push       json.RawMessage      `json:"push"`
	// NextFire is when the schedule fires next, null if never again;
	// NextUTCOffset the UTC offset of the devices that firing reaches
	// (zone_type "device" only).
	NextFire      *time.Time `json:"next_fire"`
	NextUTCOffset string     `json:"next_utc_offset,omitempty"`
	// Firings are the latest past firings, newest first.
	Firings []firingView `json:"firings"`
	// Missed counts firings skipped because no gateway ran in time.
	Missed  int64     `json:"missed"`
	Created time.Time `json:"created"`
	Updated time.Time `json:"updated"`
}

// firingView is a past firing: the message it sent (read its report at
// GET /v1/messages/{msg_id}), or why it sent none.
type firingView struct {
	Time      time.Time `json:"time"`
	UTCOffset string    `json:"utc_offset,omitempty"`
	MsgID     string    `json:"msg_id,omitempty"`
	Error     string    `json:"error,omitempty"`
}

func viewSchedule(s dataservice.Schedule) (scheduleView, error) {
	def, err := schedule.ReadDef(s)
	if err != nil {
		return scheduleView{}, err
	}
	v := scheduleView{
		ScheduleID: s.ID, Name: s.Name, Enabled: s.Enabled, Trigger: def.Trigger.JSON(), Push: def.Push,
		Firings: make([]firingView, 0, len(s.Fired)), Missed: s.Missed, Created: s.Created.UTC(), Updated: s.Updated.UTC(),
	}
	if s.Next != nil {
		at := s.Next.At.UTC()
		v.NextFire, v.NextUTCOffset = &at, schedule.FormatOffset(s.Next.UTCOffset)
	}
	for _, f := range slices.Backward(s.Fired) {
		fv := firingView{Time: f.At.UTC(), UTCOffset: schedule.FormatOffset(f.UTCOffset), Error: f.Error}
		if f.MsgID != 0 {
			fv.MsgID = ids.FormatMessageID(f.MsgID)
		}
		v.Firings = append(v.Firings, fv)
	}
	return v, nil
}

func (g *Gateway) writeSchedule(w http.ResponseWriter, status int, s dataservice.Schedule) error {
	v, err := viewSchedule(s)
	if err != nil {
		return err
	}
	api.WriteJSON(w, status, v)
	return nil
}

// readScheduleRequest decodes and validates the body of POST and PUT.
func (g *Gateway) readScheduleRequest(w http.ResponseWriter, r *http.Request) (schedule.Def, error) {
	var req scheduleRequest
	if err := api.DecodeBody(w, r, g.cfg.MaxBody, &req); err != nil {
		return schedule.Def{}, err
	}
	return req.def()
}

func (g *Gateway) createSchedule(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	def, err := g.readScheduleRequest(w, r)
	if err != nil {
		return err
	}
	s, err := g.schedules.Create(r.Context(), app, def)
	if err != nil {
		return err
	}
	api.NoteTarget(r, "schedule_id", s.ID)
	return g.writeSchedule(w, http.StatusCreated, s)
}

type schedulesResponse struct {
	Schedules []scheduleView `json:"schedules"`
	Next      *string        `json:"next,omitempty"`
}

func validScheduleID(s string) bool { return dataservice.CheckScheduleID(s) == nil }

func (g *Gateway) listSchedules(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	after, limit, err := api.Page(r, validScheduleID)
	if err != nil {
		return err
	}
	ss, next, err := g.schedules.List(r.Context(), app, after, limit)
	if err != nil {
		return err
	}
	resp := schedulesResponse{Schedules: make([]scheduleView, 0, len(ss)), Next: next}
	for _, s := range ss {
		v, err := viewSchedule(s)
		if err != nil {
			return err
		}
		resp.Schedules = append(resp.Schedules, v)
	}
	api.WriteJSON(w, http.StatusOK, resp)
	return nil
}

func (g *Gateway) scheduleInfo(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	s, err := g.schedules.Get(r.Context(), app, r.PathValue("schedule_id"))
	if err != nil {
		return err
	}
	return g.writeSchedule(w, http.StatusOK, s)
}

func (g *Gateway) updateSchedule(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	def, err := g.readScheduleRequest(w, r)
	if err != nil {
		return err
	}
	s, err := g.schedules.Replace(r.Context(), app, r.PathValue("schedule_id"), def)
	if err != nil {
		return err
	}
	return g.writeSchedule(w, http.StatusOK, s)
}

func (g *Gateway) deleteSchedule(w http.ResponseWriter, r *http.Request, app *dataservice.App) error {
	if err := g.schedules.Delete(r.Context(), app, r.PathValue("schedule_id")); err != nil {
		return err
	}
	api.WriteJSON(w, http.StatusOK, struct{}{})
	return nil
}
