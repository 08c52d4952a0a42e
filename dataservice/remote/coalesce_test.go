package remote

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// echo answers each key with its upper case and records the batches.
type echo struct {
	mu      sync.Mutex
	batches [][]string
	gate    chan struct{} // if set, each batch waits for a value
	err     error
	short   bool // answers one value too few
}

func (e *echo) do(ctx context.Context, keys []string) ([]string, error) {
	e.mu.Lock()
	e.batches = append(e.batches, slices.Clone(keys))
	e.mu.Unlock()
	if e.gate != nil {
		select {
		case <-e.gate:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if e.err != nil {
		return nil, e.err
	}
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, strings.ToUpper(k))
	}
	if e.short {
		out = out[1:]
	}
	return out, nil
}

func (e *echo) seen() [][]string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.batches)
}

// waitFor polls cond until it holds or the test's patience ends.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func (c *coalescer[K, V]) queued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiting)
}

func TestCoalescerBatchesCallsMadeWhileOneIsInFlight(t *testing.T) {
	e := &echo{gate: make(chan struct{})}
	c := newCoalescer(100, e.do)
	ctx := context.Background()

	first := make(chan []string)
	go func() {
		out, err := c.call(ctx, []string{"a"})
		if err != nil {
			t.Error(err)
		}
		first <- out
	}()
	waitFor(t, "the first batch", func() bool { return len(e.seen()) == 1 })

	// Ten calls while the first is in flight: one batch, in call order.
	const n = 10
	results := make([][]string, n)
	var wg sync.WaitGroup
	for i := range n {
		waitFor(t, "the previous call to queue", func() bool { return c.queued() == i })
		wg.Go(func() {
			out, err := c.call(ctx, []string{fmt.Sprint("k", i, "x"), fmt.Sprint("k", i, "y")})
			if err != nil {
				t.Error(err)
			}
			results[i] = out
		})
	}
	waitFor(t, "ten queued calls", func() bool { return c.queued() == n })
	e.gate <- struct{}{} // the first batch
	if got := <-first; !slices.Equal(got, []string{"A"}) {
		t.Errorf("first call got %v", got)
	}
	e.gate <- struct{}{} // the second
	wg.Wait()

	batches := e.seen()
	if len(batches) != 2 || len(batches[1]) != 2*n {
		t.Fatalf("batches %v; want the first call alone, then the ten together", batches)
	}
	for i, got := range results {
		want := []string{fmt.Sprint("K", i, "X"), fmt.Sprint("K", i, "Y")}
		if !slices.Equal(got, want) {
			t.Errorf("call %d got %v, want %v", i, got, want)
		}
		if len(got) > 0 && cap(got) != len(got) {
			t.Errorf("call %d may append into its neighbour's answers (cap %d)", i, cap(got))
		}
	}
}

func TestCoalescerKeepsBatchesWithinMax(t *testing.T) {
	e := &echo{gate: make(chan struct{})}
	c := newCoalescer(4, e.do)
	ctx := context.Background()
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = c.call(ctx, []string{"a", "b", "c", "d", "e", "f"}) }) // more than max: alone
	waitFor(t, "the first batch", func() bool { return len(e.seen()) == 1 })
	for i := range 3 {
		waitFor(t, "the previous call to queue", func() bool { return c.queued() == i })
		wg.Go(func() { _, _ = c.call(ctx, []string{"x", "y"}) })
	}
	waitFor(t, "three queued calls", func() bool { return c.queued() == 3 })
	for range 3 {
		e.gate <- struct{}{}
	}
	wg.Wait()
	var sizes []int
	for _, b := range e.seen() {
		sizes = append(sizes, len(b))
	}
	if !slices.Equal(sizes, []int{6, 4, 2}) {
		t.Errorf("batch sizes %v, want [6 4 2]", sizes)
	}
}

func TestCoalescerFailures(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name string
		e    *echo
		want string
	}{
		{"the call fails", &echo{err: boom}, "boom"},
		{"too few answers", &echo{short: true}, "1 answers to 2 keys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCoalescer(100, tt.e.do)
			if _, err := c.call(context.Background(), []string{"a", "b"}); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err %v, want one saying %q", err, tt.want)
			}
		})
	}
}

func TestCoalescerCallerThatGivesUpLeavesTheOthers(t *testing.T) {
	e := &echo{gate: make(chan struct{})}
	c := newCoalescer(100, e.do)
	bg := context.Background()
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = c.call(bg, []string{"first"}) })
	waitFor(t, "the first batch", func() bool { return len(e.seen()) == 1 })

	ctx, cancel := context.WithCancel(bg)
	gaveUp := make(chan error)
	go func() {
		_, err := c.call(ctx, []string{"impatient"})
		gaveUp <- err
	}()
	waitFor(t, "the impatient call to queue", func() bool { return c.queued() == 1 })
	var patient []string
	wg.Go(func() {
		out, err := c.call(bg, []string{"patient"})
		if err != nil {
			t.Error(err)
		}
		patient = out
	})
	waitFor(t, "the patient call to queue", func() bool { return c.queued() == 2 })
	cancel()
	if err := <-gaveUp; !errors.Is(err, context.Canceled) {
		t.Errorf("the impatient call returned %v, want context.Canceled", err)
	}
	e.gate <- struct{}{}
	e.gate <- struct{}{}
	wg.Wait()
	if !slices.Equal(patient, []string{"PATIENT"}) {
		t.Errorf("the patient call got %v", patient)
	}
	if b := e.seen(); len(b) != 2 || !slices.Equal(b[1], []string{"patient"}) {
		t.Errorf("batches %v; the second should hold only the patient call", b)
	}
	if _, err := c.call(ctx, []string{"late"}); !errors.Is(err, context.Canceled) {
		t.Errorf("a call with a done context returned %v", err)
	}
}
