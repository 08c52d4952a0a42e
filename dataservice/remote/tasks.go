package remote

import (
	"context"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

var _ dataservice.PushData = (*Client)(nil)

// Request and answer bodies of the dataservice.PushData endpoints. None of
// what they read is cached: tasks, cursors and idempotency keys are
// compare-and-set records that must be read fresh.
type (
	// taskBody carries a task with its generation, which Task leaves out
	// of its JSON form.
	taskBody struct {
		Task       dataservice.Task
		Generation uint32
	}
	activeTasksReq struct {
		After uint64
		Limit int
	}
	saveCopiesReq struct {
		Message *dataservice.Message
		RIDs    []string
	}
	saveBroadcastReq struct {
		Message  *dataservice.Message
		Targeted int64
	}
	appBroadcastsReq struct {
		App   string
		After uint64
		Limit int
	}
	appIDReq struct {
		App string
		ID  uint64
	}
	cursorsReq    struct{ Cursors []dataservice.BroadcastCursor }
	reserveCIDReq struct {
		App, CID string
		ID       uint64
		TTL      time.Duration
	}
	reserveCIDResp struct {
		ID    uint64
		Bound bool
	}
	appReqOnly struct{ App string }
)

func toTaskBody(t dataservice.Task) taskBody { return taskBody{Task: t, Generation: t.Generation} }

func (b taskBody) task() dataservice.Task {
	t := b.Task
	t.Generation = b.Generation
	return t
}

// routePush serves the dataservice.PushData methods.
func (s *Server) routePush() {
	d := s.data
	handle(s, domainPath+"create_task", func(ctx context.Context, q *taskBody) (empty, error) {
		return empty{}, d.CreateTask(ctx, q.task())
	})
	handle(s, domainPath+"task", func(ctx context.Context, q *idReq) (taskBody, error) {
		t, err := d.Task(ctx, q.ID)
		return toTaskBody(t), err
	})
	handle(s, domainPath+"update_task", func(ctx context.Context, q *taskBody) (uint32, error) {
		return d.UpdateTask(ctx, q.task())
	})
	handle(s, domainPath+"active_tasks", func(ctx context.Context, q *activeTasksReq) ([]taskBody, error) {
		ts, err := d.ActiveTasks(ctx, q.After, q.Limit)
		out := make([]taskBody, len(ts))
		for i, t := range ts {
			out[i] = toTaskBody(t)
		}
		return out, err
	})
	handle(s, domainPath+"save_copies", func(ctx context.Context, q *saveCopiesReq) (empty, error) {
		return empty{}, d.SaveCopies(ctx, q.Message, q.RIDs)
	})
	handle(s, domainPath+"save_broadcast", func(ctx context.Context, q *saveBroadcastReq) (empty, error) {
		return empty{}, d.SaveBroadcast(ctx, q.Message, q.Targeted)
	})
	handleEach(s, domainPath+"app_broadcasts_each", func(ctx context.Context, q *appBroadcastsReq) ([]uint64, error) {
		return d.AppBroadcasts(ctx, q.App, q.After, q.Limit)
	})
	handle(s, domainPath+"remove_broadcast", func(ctx context.Context, q *appIDReq) (bool, error) {
		return d.RemoveBroadcast(ctx, q.App, q.ID)
	})
	handle(s, domainPath+"broadcast_cursors", func(ctx context.Context, q *ridsReq) ([]dataservice.BroadcastCursor, error) {
		return d.BroadcastCursors(ctx, q.RIDs)
	})
	handle(s, domainPath+"put_broadcast_cursors", func(ctx context.Context, q *cursorsReq) ([]bool, error) {
		return d.PutBroadcastCursors(ctx, q.Cursors)
	})
	handle(s, domainPath+"reserve_cid", func(ctx context.Context, q *reserveCIDReq) (reserveCIDResp, error) {
		id, bound, err := d.ReserveCID(ctx, q.App, q.CID, q.ID, q.TTL)
		return reserveCIDResp{ID: id, Bound: bound}, err
	})
	handle(s, domainPath+"app_device_count", func(ctx context.Context, q *appReqOnly) (int64, error) {
		return d.AppDeviceCount(ctx, q.App)
	})
	handle(s, domainPath+"last_active", func(ctx context.Context, q *ridsReq) ([]time.Time, error) {
		return d.LastActive(ctx, q.RIDs)
	})
}

// messageStrings are the strings of a message the service validates as
// UTF-8, which JSON would otherwise carry as U+FFFD and make valid.
func messageStrings(m *dataservice.Message) []string {
	if m == nil {
		return nil
	}
	return []string{m.AppKey, m.CollapseID}
}

// CreateTask implements dataservice.PushData.
func (c *Client) CreateTask(ctx context.Context, t dataservice.Task) error {
	if err := checkUTF8("create_task", []string{t.AppKey}); err != nil {
		return err
	}
	return c.write(ctx, "create_task", toTaskBody(t), &empty{})
}

// Task implements dataservice.PushData.
func (c *Client) Task(ctx context.Context, id uint64) (dataservice.Task, error) {
	var b taskBody
	if err := c.read(ctx, "task", idReq{ID: id}, &b); err != nil {
		return dataservice.Task{}, err
	}
	return b.task(), nil
}

// UpdateTask implements dataservice.PushData.
func (c *Client) UpdateTask(ctx context.Context, t dataservice.Task) (uint32, error) {
	if err := checkUTF8("update_task", []string{t.AppKey}); err != nil {
		return 0, err
	}
	var gen uint32
	err := c.write(ctx, "update_task", toTaskBody(t), &gen)
	return gen, err
}

// ActiveTasks implements dataservice.PushData.
func (c *Client) ActiveTasks(ctx context.Context, after uint64, limit int) ([]dataservice.Task, error) {
	var bs []taskBody
	if err := c.read(ctx, "active_tasks", activeTasksReq{After: after, Limit: limit}, &bs); err != nil {
		return nil, err
	}
	out := make([]dataservice.Task, len(bs))
	for i, b := range bs {
		out[i] = b.task()
	}
	return out, nil
}

// SaveCopies implements dataservice.PushData.
func (c *Client) SaveCopies(ctx context.Context, m *dataservice.Message, rids []string) error {
	if err := checkUTF8("save_copies", messageStrings(m), rids); err != nil {
		return err
	}
	return c.write(ctx, "save_copies", saveCopiesReq{Message: m, RIDs: rids}, &empty{})
}

// SaveBroadcast implements dataservice.PushData.
func (c *Client) SaveBroadcast(ctx context.Context, m *dataservice.Message, targeted int64) error {
	if err := checkUTF8("save_broadcast", messageStrings(m)); err != nil {
		return err
	}
	return c.write(ctx, "save_broadcast", saveBroadcastReq{Message: m, Targeted: targeted}, &empty{})
}

// AppBroadcasts implements dataservice.PushData.
func (c *Client) AppBroadcasts(ctx context.Context, app string, after uint64, limit int) ([]uint64, error) {
	if err := checkUTF8("app_broadcasts", []string{app}); err != nil {
		return nil, err
	}
	// Each connecting device asks for the broadcasts it missed; concurrent
	// asks go out together.
	return callEach(ctx, c.broadcastReads, "app_broadcasts", appBroadcastsReq{App: app, After: after, Limit: limit})
}

// RemoveBroadcast implements dataservice.PushData.
func (c *Client) RemoveBroadcast(ctx context.Context, app string, id uint64) (bool, error) {
	if err := checkUTF8("remove_broadcast", []string{app}); err != nil {
		return false, err
	}
	var existed bool
	err := c.write(ctx, "remove_broadcast", appIDReq{App: app, ID: id}, &existed)
	return existed, err
}

// BroadcastCursors implements dataservice.PushData.
func (c *Client) BroadcastCursors(ctx context.Context, rids []string) ([]dataservice.BroadcastCursor, error) {
	if err := checkUTF8("broadcast_cursors", rids); err != nil {
		return nil, err
	}
	// Each connecting device asks for its own cursor; concurrent asks go
	// out together.
	return c.cursorReads.call(ctx, rids)
}

// readCursors is one broadcast_cursors call, for cursorReads.
func (c *Client) readCursors(ctx context.Context, rids []string) ([]dataservice.BroadcastCursor, error) {
	var out []dataservice.BroadcastCursor
	if err := c.read(ctx, "broadcast_cursors", ridsReq{RIDs: rids}, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// PutBroadcastCursors implements dataservice.PushData.
func (c *Client) PutBroadcastCursors(ctx context.Context, cursors []dataservice.BroadcastCursor) ([]bool, error) {
	rids := make([]string, len(cursors))
	for i, cur := range cursors {
		rids[i] = cur.RegistrationID
	}
	if err := checkUTF8("put_broadcast_cursors", rids); err != nil {
		return nil, err
	}
	var out []bool
	if err := c.write(ctx, "put_broadcast_cursors", cursorsReq{Cursors: cursors}, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// ReserveCID implements dataservice.PushData.
func (c *Client) ReserveCID(ctx context.Context, app, cid string, id uint64, ttl time.Duration) (uint64, bool, error) {
	if err := checkUTF8("reserve_cid", []string{app, cid}); err != nil {
		return 0, false, err
	}
	var r reserveCIDResp
	if err := c.write(ctx, "reserve_cid", reserveCIDReq{App: app, CID: cid, ID: id, TTL: ttl}, &r); err != nil {
		return 0, false, err
	}
	return r.ID, r.Bound, nil
}

// AppDeviceCount implements dataservice.PushData.
func (c *Client) AppDeviceCount(ctx context.Context, app string) (int64, error) {
	if err := checkUTF8("app_device_count", []string{app}); err != nil {
		return 0, err
	}
	var n int64
	err := c.read(ctx, "app_device_count", appReqOnly{App: app}, &n)
	return n, err
}

// LastActive implements dataservice.PushData.
func (c *Client) LastActive(ctx context.Context, rids []string) ([]time.Time, error) {
	if err := checkUTF8("last_active", rids); err != nil {
		return nil, err
	}
	var out []time.Time
	if err := c.read(ctx, "last_active", ridsReq{RIDs: rids}, &out); err != nil {
		return nil, err
	}
	return out, nil
}
