package remote

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

var _ dataservice.ScheduleStore = (*Client)(nil)

// Request and answer bodies of the dataservice.ScheduleStore endpoints.
// Schedules are not cached: they are compare-and-set records that gateways
// race to fire, and must be read fresh.
type (
	// scheduleBody carries a schedule with its generation, which Schedule
	// leaves out of its JSON form.
	scheduleBody struct {
		Schedule   dataservice.Schedule
		Generation uint32
	}
	scheduleKeyReq  struct{ App, ID string }
	dueSchedulesReq struct {
		Until time.Time
		After string
		Limit int
	}
	dueSchedulesResp struct {
		Schedules []scheduleBody
		Next      string
	}
)

func toScheduleBody(s dataservice.Schedule) scheduleBody {
	return scheduleBody{Schedule: s, Generation: s.Generation}
}

func (b scheduleBody) schedule() dataservice.Schedule {
	s := b.Schedule
	s.Generation = b.Generation
	return s
}

func toScheduleBodies(ss []dataservice.Schedule) []scheduleBody {
	out := make([]scheduleBody, len(ss))
	for i, s := range ss {
		out[i] = toScheduleBody(s)
	}
	return out
}

func fromScheduleBodies(bs []scheduleBody) []dataservice.Schedule {
	out := make([]dataservice.Schedule, len(bs))
	for i, b := range bs {
		out[i] = b.schedule()
	}
	return out
}

// routeSchedules serves the dataservice.ScheduleStore methods.
func (s *Server) routeSchedules() {
	d := s.data
	handle(s, domainPath+"create_schedule", func(ctx context.Context, q *scheduleBody) (scheduleBody, error) {
		sc, err := d.CreateSchedule(ctx, q.schedule())
		return toScheduleBody(sc), err
	})
	handle(s, domainPath+"schedule", func(ctx context.Context, q *scheduleKeyReq) (scheduleBody, error) {
		sc, err := d.Schedule(ctx, q.App, q.ID)
		return toScheduleBody(sc), err
	})
	handle(s, domainPath+"schedules", func(ctx context.Context, q *pageReq) ([]scheduleBody, error) {
		ss, err := d.Schedules(ctx, q.App, q.After, q.Limit)
		return toScheduleBodies(ss), err
	})
	handle(s, domainPath+"update_schedule", func(ctx context.Context, q *scheduleBody) (scheduleBody, error) {
		sc, err := d.UpdateSchedule(ctx, q.schedule())
		return toScheduleBody(sc), err
	})
	handle(s, domainPath+"delete_schedule", func(ctx context.Context, q *scheduleKeyReq) (bool, error) {
		return d.DeleteSchedule(ctx, q.App, q.ID)
	})
	handle(s, domainPath+"due_schedules", func(ctx context.Context, q *dueSchedulesReq) (dueSchedulesResp, error) {
		ss, next, err := d.DueSchedules(ctx, q.Until, q.After, q.Limit)
		return dueSchedulesResp{Schedules: toScheduleBodies(ss), Next: next}, err
	})
}

// checkSchedule fails like the service on a schedule whose strings are
// not UTF-8, or whose Spec is not JSON, which the JSON body could not
// carry as they are.
func checkSchedule(op string, sc dataservice.Schedule) error {
	if err := checkUTF8(op, []string{sc.AppKey, sc.ID, sc.Name, sc.Owner}); err != nil {
		return err
	}
	if len(sc.Spec) > 0 && !json.Valid(sc.Spec) {
		return fmt.Errorf("remote: %s: %w: schedule spec is not valid JSON", op, dataservice.ErrInvalid)
	}
	return nil
}

// CreateSchedule implements dataservice.ScheduleStore.
func (c *Client) CreateSchedule(ctx context.Context, sc dataservice.Schedule) (dataservice.Schedule, error) {
	if err := checkSchedule("create_schedule", sc); err != nil {
		return dataservice.Schedule{}, err
	}
	var b scheduleBody
	if err := c.write(ctx, "create_schedule", toScheduleBody(sc), &b); err != nil {
		return dataservice.Schedule{}, err
	}
	return b.schedule(), nil
}

// Schedule implements dataservice.ScheduleStore.
func (c *Client) Schedule(ctx context.Context, app, id string) (dataservice.Schedule, error) {
	if err := checkUTF8("schedule", []string{app, id}); err != nil {
		return dataservice.Schedule{}, err
	}
	var b scheduleBody
	if err := c.read(ctx, "schedule", scheduleKeyReq{App: app, ID: id}, &b); err != nil {
		return dataservice.Schedule{}, err
	}
	return b.schedule(), nil
}

// Schedules implements dataservice.ScheduleStore.
func (c *Client) Schedules(ctx context.Context, app, after string, limit int) ([]dataservice.Schedule, error) {
	if err := checkUTF8("schedules", []string{app, after}); err != nil {
		return nil, err
	}
	var bs []scheduleBody
	if err := c.read(ctx, "schedules", pageReq{App: app, After: after, Limit: limit}, &bs); err != nil {
		return nil, err
	}
	return fromScheduleBodies(bs), nil
}

// UpdateSchedule implements dataservice.ScheduleStore.
func (c *Client) UpdateSchedule(ctx context.Context, sc dataservice.Schedule) (dataservice.Schedule, error) {
	if err := checkSchedule("update_schedule", sc); err != nil {
		return dataservice.Schedule{}, err
	}
	var b scheduleBody
	if err := c.write(ctx, "update_schedule", toScheduleBody(sc), &b); err != nil {
		return dataservice.Schedule{}, err
	}
	return b.schedule(), nil
}

// DeleteSchedule implements dataservice.ScheduleStore.
func (c *Client) DeleteSchedule(ctx context.Context, app, id string) (bool, error) {
	if err := checkUTF8("delete_schedule", []string{app, id}); err != nil {
		return false, err
	}
	var existed bool
	err := c.write(ctx, "delete_schedule", scheduleKeyReq{App: app, ID: id}, &existed)
	return existed, err
}

// DueSchedules implements dataservice.ScheduleStore. It is a read: the entries
// it deletes are stale, so a retried call finds the same schedules.
func (c *Client) DueSchedules(ctx context.Context, until time.Time, after string, limit int) ([]dataservice.Schedule, string, error) {
	if err := checkUTF8("due_schedules", []string{after}); err != nil {
		return nil, "", err
	}
	var r dueSchedulesResp
	if err := c.read(ctx, "due_schedules", dueSchedulesReq{Until: until, After: after, Limit: limit}, &r); err != nil {
		return nil, "", err
	}
	return fromScheduleBodies(r.Schedules), r.Next, nil
}
