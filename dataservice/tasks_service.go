package dataservice

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

var _ TaskStore = (*Service)(nil)

// Keys of tasks. Ids in keys are zero-padded decimal (idKey), so that
// byte order of keys is numeric order of ids.
//
//	KindTask task/<id>    → Task, JSON
//	KindTask active/<id>  → nothing: the task is not finished
const (
	taskGroup   = "task/"
	activeGroup = "active/"
)

func taskKey(id uint64) string { return taskGroup + idKey(id) }

func activeKey(id uint64) string { return activeGroup + idKey(id) }

// Tasks are written once per checkpoint, not on a hot path: JSON, which
// keeps their many optional fields easy to evolve.

// checkTask validates a task before it is written.
func checkTask(t *Task) error {
	if t.ID == 0 {
		return fmt.Errorf("%w: zero task id", ErrInvalid)
	}
	if err := checkAppKey(t.AppKey); err != nil {
		return err
	}
	switch t.State {
	case TaskRunning, TaskCanceling, TaskDone, TaskCanceled, TaskFailed:
	default:
		return fmt.Errorf("%w: unknown task state %q", ErrInvalid, t.State)
	}
	if t.Targeted < 0 || t.Rate < 0 {
		return fmt.Errorf("%w: negative targeted (%d) or rate (%d)", ErrInvalid, t.Targeted, t.Rate)
	}
	return nil
}

func encodeTask(t *Task) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // Spec and Error hold caller bytes: keep them verbatim
	if err := enc.Encode(t); err != nil {
		return nil, fmt.Errorf("%w: encode task %d: %v", ErrInvalid, t.ID, err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}), nil
}

func decodeTask(id uint64, r Record) (Task, error) {
	var t Task
	if err := json.Unmarshal(r.Value, &t); err != nil {
		return Task{}, fmt.Errorf("dataservice: decode task %d: %w", id, err)
	}
	t.ID, t.Generation = id, r.Generation
	return t, nil
}

// finishedTaskTTL is how long a finished task lives: ReportRetention past
// its message's expiry, or past now if its message is gone.
func (s *Service) finishedTaskTTL(ctx context.Context, id uint64) (time.Duration, error) {
	now := s.now()
	until := now.Add(ReportRetention)
	r, err := s.store.Get(ctx, KindMessage, messageKey(id))
	switch {
	case err == nil:
		m, err := decodeMessage(id, r.Value)
		if err != nil {
			return 0, err
		}
		until = m.Expires().Add(ReportRetention)
	case !errors.Is(err, ErrNotFound):
		return 0, fmt.Errorf("message of task %d: %w", id, err)
	}
	// The floor only matters for clocks that disagree on when the
	// message expires.
	return min(max(until.Sub(now), time.Minute), MaxTTL), nil
}

// CreateTask implements TaskStore: the task record and its active entry in
// one batch, both create-only. A create that failed half-way and is
// retried finds its task (ErrExists) or writes it; an active entry that
// exists already (from such a failed attempt) is no error.
func (s *Service) CreateTask(ctx context.Context, t Task) error {
	if err := checkTask(&t); err != nil {
		return fmt.Errorf("create task %d: %w", t.ID, err)
	}
	v, err := encodeTask(&t)
	if err != nil {
		return fmt.Errorf("create task: %w", err)
	}
	if TaskFinished(t.State) {
		ttl, err := s.finishedTaskTTL(ctx, t.ID)
		if err != nil {
			return fmt.Errorf("create task: %w", err)
		}
		if _, err := s.store.Put(ctx, KindTask, taskKey(t.ID), v, WriteOptions{TTL: ttl, CreateOnly: true}); err != nil {
			return fmt.Errorf("create task %d: %w", t.ID, err)
		}
		return nil
	}
	errs, err := PerWrite(s.store.PutMany(ctx, []Write{
		{Kind: KindTask, Key: taskKey(t.ID), Value: v, Options: WriteOptions{CreateOnly: true}},
		{Kind: KindTask, Key: activeKey(t.ID), Value: []byte{}, Options: WriteOptions{CreateOnly: true}},
	}), 2)
	if err == nil {
		err = errs[0]
	}
	if err != nil {
		return fmt.Errorf("create task %d: %w", t.ID, err)
	}
	return nil
}

// Task implements TaskStore.
func (s *Service) Task(ctx context.Context, id uint64) (Task, error) {
	r, err := s.store.Get(ctx, KindTask, taskKey(id))
	if err != nil {
		return Task{}, fmt.Errorf("task %d: %w", id, err)
	}
	return decodeTask(id, r)
}

// UpdateTask implements TaskStore: one compare-and-set of the task record;
// for a final state, with the task's retention as TTL, after reading the
// message for its expiry, and followed by the deletion of the active
// entry. If that deletion fails the update still succeeded: ActiveTasks
// skips and deletes the entry of a finished task.
func (s *Service) UpdateTask(ctx context.Context, t Task) (uint32, error) {
	if err := checkTask(&t); err != nil {
		return 0, fmt.Errorf("update task %d: %w", t.ID, err)
	}
	if t.Generation == 0 {
		return 0, fmt.Errorf("update task %d: %w: no generation (update a task read with Task or ActiveTasks)", t.ID, ErrInvalid)
	}
	v, err := encodeTask(&t)
	if err != nil {
		return 0, fmt.Errorf("update task: %w", err)
	}
	final := TaskFinished(t.State)
	opts := WriteOptions{Generation: t.Generation}
	if final {
		if opts.TTL, err = s.finishedTaskTTL(ctx, t.ID); err != nil {
			return 0, fmt.Errorf("update task: %w", err)
		}
	}
	gen, err := s.store.Put(ctx, KindTask, taskKey(t.ID), v, opts)
	if errors.Is(err, ErrGenerationMismatch) {
		// A conditional write of a missing record mismatches too: tell
		// the two apart.
		if _, gerr := s.store.Get(ctx, KindTask, taskKey(t.ID)); errors.Is(gerr, ErrNotFound) {
			err = gerr
		}
	}
	if err != nil {
		return 0, fmt.Errorf("update task %d: %w", t.ID, err)
	}
	if final {
		// Best effort, see above.
		_, _ = s.store.Delete(ctx, KindTask, activeKey(t.ID), 0)
	} else if _, err := s.store.Put(ctx, KindTask, activeKey(t.ID), []byte{}, WriteOptions{}); err != nil {
		// Listed again if it was finished; a no-op rewrite otherwise.
		return 0, fmt.Errorf("update task %d: active entry: %w", t.ID, err)
	}
	return gen, nil
}

// ActiveTasks implements TaskStore: a Scan of the active entries, then a
// GetMany of their tasks. Entries whose task is missing (a CreateTask in
// flight, or a task expired after a crash) are skipped; entries of
// finished tasks (a delete of UpdateTask that failed, or a CreateTask of
// a finished task retried) are skipped and deleted. Skipped entries are
// made up for by reading further, so that a short page means the end.
func (s *Service) ActiveTasks(ctx context.Context, after uint64, limit int) ([]Task, error) {
	if err := checkPage(limit); err != nil {
		return nil, fmt.Errorf("active tasks: %w", err)
	}
	from := ""
	if after > 0 {
		from = activeKey(after)
	}
	out := make([]Task, 0, min(limit, 256))
	for len(out) < limit {
		want := limit - len(out)
		entries, err := s.store.Scan(ctx, KindTask, activeGroup, from, want)
		if err != nil {
			return nil, fmt.Errorf("active tasks: %w", err)
		}
		if len(entries) == 0 {
			break
		}
		ids := make([]uint64, len(entries))
		keys := make([]string, len(entries))
		for i, e := range entries {
			id, ok := parseIDKey(e.Key[len(activeGroup):])
			if !ok {
				return nil, fmt.Errorf("dataservice: corrupt active task entry %q", e.Key)
			}
			ids[i], keys[i] = id, taskKey(id)
		}
		recs, err := s.store.GetMany(ctx, KindTask, keys)
		if err != nil {
			return nil, fmt.Errorf("active tasks: %w", err)
		}
		for i, r := range recs {
			if !r.Exists() {
				continue
			}
			t, err := decodeTask(ids[i], r)
			if err != nil {
				return nil, err
			}
			if TaskFinished(t.State) {
				// Only this entry, as read: best effort, the next call
				// tries again.
				_, _ = s.store.Delete(ctx, KindTask, entries[i].Key, entries[i].Generation)
				continue
			}
			out = append(out, t)
		}
		if len(entries) < want {
			break
		}
		from = entries[len(entries)-1].Key
	}
	return out, nil
}
