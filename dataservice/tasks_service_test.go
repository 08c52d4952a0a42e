package dataservice

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestTaskRecordKeepsSpecVerbatim(t *testing.T) {
	task := Task{
		ID: 42, AppKey: "app", State: TaskCanceling, Cursor: "c", Targeted: 3,
		Spec:       json.RawMessage(`{"html":"<a href=\"x\">&amp;</a>","n":1}`),
		Error:      "<&>",
		LeaseUntil: time.UnixMilli(1_700_000_000_000).UTC(),
		Generation: 9,
	}
	v, err := encodeTask(&task)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(v, task.Spec) || bytes.Contains(v, []byte(`\u003c`)) || bytes.HasSuffix(v, []byte("\n")) {
		t.Fatalf("task record %s does not hold Spec verbatim", v)
	}
	if bytes.Contains(v, []byte("generation")) || bytes.Contains(v, []byte(`"9"`)) {
		t.Fatalf("task record %s stores the generation", v)
	}
	got, err := decodeTask(42, Record{Value: v, Generation: 5})
	if err != nil || got.Generation != 5 || string(got.Spec) != string(task.Spec) || got.Error != task.Error || !got.LeaseUntil.Equal(task.LeaseUntil) {
		t.Fatalf("decodeTask = %+v, %v", got, err)
	}
	task.Spec = json.RawMessage(`{"unterminated":`)
	if _, err := encodeTask(&task); !errors.Is(err, ErrInvalid) {
		t.Fatalf("encodeTask of a bad Spec: %v, want ErrInvalid", err)
	}
	if _, err := decodeTask(1, Record{Value: []byte("{"), Generation: 1}); err == nil {
		t.Fatal("decodeTask of a corrupt record: no error")
	}
}

func TestFinishedTaskLivesPastItsMessage(t *testing.T) {
	ctx := context.Background()
	now := time.UnixMilli(1_700_000_000_000)
	for _, tc := range []struct {
		name    string
		message *Message
		want    time.Duration
	}{
		{"message alive", &Message{ID: 7, AppKey: "app", TTL: 2 * time.Hour, Created: now.Add(-time.Hour)}, time.Hour + ReportRetention},
		{"message gone", nil, ReportRetention},
		{"clocks disagree", &Message{ID: 7, AppKey: "app", TTL: time.Hour, Created: now.Add(-time.Hour - ReportRetention - time.Hour)}, time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newCountingStore()
			s := New(st)
			s.now = func() time.Time { return now }
			if tc.message != nil {
				st.put(KindMessage, messageKey(7), encodeMessage(tc.message), WriteOptions{})
			}
			task := Task{ID: 7, AppKey: "app", State: TaskRunning}
			st.put(KindTask, taskKey(7), []byte(`{}`), WriteOptions{})
			task.Generation = 1
			task.State = TaskDone
			if _, err := s.UpdateTask(ctx, task); err != nil {
				t.Fatal(err)
			}
			if got := st.opts[string(KindTask)+":"+taskKey(7)]; got.TTL != tc.want || got.Generation != 1 {
				t.Fatalf("finished task written with %+v, want TTL %v at generation 1", got, tc.want)
			}
			if calls := st.Calls(); !slices.Contains(calls, "Delete") {
				t.Fatalf("the active entry was not deleted: calls %q", calls)
			}
		})
	}
}
