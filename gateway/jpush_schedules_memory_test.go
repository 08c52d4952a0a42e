package gateway_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/gateway"
)

// GET /v3/schedules holds a bounded part of the app's schedules, however
// many it has and however many lists run at once: the 20,002
// schedules and 4 concurrent lists took 784 MB, as each list loaded them
// all. Here 2,000 schedules of 16 KiB each (32 MiB) are listed 4 times at
// once, and the heap may grow by less than the schedules weigh together
// (loading them all, each list alone would hold them all).
func TestJPushScheduleListMemoryStaysBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 32 MiB of schedules")
	}
	const (
		count = 2000
		pad   = 16 << 10
		lists = 4
	)
	e := newEnv(t, gateway.Config{ScheduleScan: time.Hour, MaxSchedules: -1})
	a := e.createApp(t)
	later := beijing(time.Now().Add(48 * time.Hour))
	e.v3(t, a, "POST", "/v3/schedules", map[string]any{"name": "template", "enabled": true,
		"trigger": map[string]any{"single": map[string]any{"time": later}},
		"push":    map[string]any{"platform": "all", "audience": "all", "notification": map[string]any{"alert": "hi"}}}).wantOK(t, http.StatusOK, nil)
	ctx := context.Background()
	ss, err := e.data.Schedules(ctx, a.Key, "", 1)
	if err != nil || len(ss) != 1 {
		t.Fatalf("the template: %v, %v", ss, err)
	}
	// Copies of the template's record, each with a key in its spec the
	// gateway ignores that makes it weigh pad bytes more, written in
	// batches straight to the store.
	rec, err := e.store.Get(ctx, dataservice.KindSchedule, a.Key+"/"+ss[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(rec.Value, &fields); err != nil {
		t.Fatal(err)
	}
	var spec map[string]json.RawMessage
	if err := json.Unmarshal(fields["spec"], &spec); err != nil {
		t.Fatal(err)
	}
	spec["padding"], _ = json.Marshal(strings.Repeat("x", pad))
	fields["spec"], _ = json.Marshal(spec)
	heavy, _ := json.Marshal(fields)
	for i := 0; i < count; i += 100 {
		var ws []dataservice.Write
		for j := i; j < min(count, i+100); j++ {
			ws = append(ws, dataservice.Write{Kind: dataservice.KindSchedule, Key: fmt.Sprintf("%s/00000000-0000-4000-8000-%012d", a.Key, j), Value: heavy})
		}
		if err := e.store.PutMany(ctx, ws); err != nil {
			t.Fatal(err)
		}
	}

	// A low GOGC makes the heap follow what is live, not what is garbage.
	defer debug.SetGCPercent(debug.SetGCPercent(10))
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapAlloc, ms.HeapAlloc
	stop, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapAlloc)
			}
		}
	}()
	var wg sync.WaitGroup
	pages := make([]struct {
		TotalCount int `json:"total_count"`
		TotalPages int `json:"total_pages"`
		Schedules  []jpushScheduleView
	}, lists)
	for i := range lists {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.v3(t, a, "GET", fmt.Sprintf("/v3/schedules?page=%d", 1+i*6), nil).wantOK(t, http.StatusOK, &pages[i])
		}()
	}
	wg.Wait()
	close(stop)
	<-sampled
	for i, p := range pages {
		want := min(50, count+1-i*6*50)
		if p.TotalCount != count+1 || p.TotalPages != (count+1+49)/50 || len(p.Schedules) != want {
			t.Fatalf("page %d: total_count %d, total_pages %d, %d schedules; want %d, %d, %d", 1+i*6, p.TotalCount, p.TotalPages, len(p.Schedules), count+1, (count+1+49)/50, want)
		}
	}
	grown := int64(peak) - int64(base)
	t.Logf("heap grew by %.1f MiB listing %d schedules of %d KiB, %d lists at once", float64(grown)/(1<<20), count, pad>>10, lists)
	if limit := int64(count * pad); grown > limit {
		t.Fatalf("the heap grew by %d MiB while listing; at most %d MiB are allowed (the schedules weigh %d MiB)", grown>>20, limit>>20, count*pad>>20)
	}
}
