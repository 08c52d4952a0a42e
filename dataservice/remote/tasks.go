package remote

import (
	"context"

	"github.com/heraldpush/herald/dataservice"
)

var _ dataservice.TaskStore = (*Client)(nil)

// Request and answer bodies of the dataservice.TaskStore endpoints.
// Tasks are not cached: they are compare-and-set records that must be
// read fresh.
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
)

func toTaskBody(t dataservice.Task) taskBody { return taskBody{Task: t, Generation: t.Generation} }

func (b taskBody) task() dataservice.Task {
	t := b.Task
	t.Generation = b.Generation
	return t
}

// routeTasks serves the dataservice.TaskStore methods.
func (s *Server) routeTasks() {
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
}

// CreateTask implements dataservice.TaskStore.
func (c *Client) CreateTask(ctx context.Context, t dataservice.Task) error {
	if err := checkUTF8("create_task", []string{t.AppKey}); err != nil {
		return err
	}
	return c.write(ctx, "create_task", toTaskBody(t), &empty{})
}

// Task implements dataservice.TaskStore.
func (c *Client) Task(ctx context.Context, id uint64) (dataservice.Task, error) {
	var b taskBody
	if err := c.read(ctx, "task", idReq{ID: id}, &b); err != nil {
		return dataservice.Task{}, err
	}
	return b.task(), nil
}

// UpdateTask implements dataservice.TaskStore.
func (c *Client) UpdateTask(ctx context.Context, t dataservice.Task) (uint32, error) {
	if err := checkUTF8("update_task", []string{t.AppKey}); err != nil {
		return 0, err
	}
	var gen uint32
	err := c.write(ctx, "update_task", toTaskBody(t), &gen)
	return gen, err
}

// ActiveTasks implements dataservice.TaskStore.
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
