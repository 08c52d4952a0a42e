package fleet_test

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/fleet"
	"github.com/heraldpush/herald/node/nodetest"
	"github.com/heraldpush/herald/sdk"
)

// workerEnv makes this test binary a fleet's worker process.
const workerEnv = "HERALD_FLEET_TEST_WORKER"

func TestMain(m *testing.M) {
	if os.Getenv(workerEnv) == "1" {
		os.Exit(fleet.WorkerMain(os.Stdin, os.Stdout, os.Stderr, nil))
	}
	os.Exit(m.Run())
}

// holders are the ways of holding a fleet's devices; every test of the
// Fleet interface runs against each.
var holders = []struct {
	name  string
	start func(t *testing.T, cfg fleet.Config, creds []sdk.Credentials, ends []sdk.Endpoints) fleet.Fleet
}{
	{"local", func(t *testing.T, cfg fleet.Config, creds []sdk.Credentials, ends []sdk.Endpoints) fleet.Fleet {
		f := fleet.NewLocal(cfg, creds, ends)
		t.Cleanup(f.Close)
		return f
	}},
	{"workers", func(t *testing.T, cfg fleet.Config, creds []sdk.Credentials, ends []sdk.Endpoints) fleet.Fleet {
		w, err := fleet.StartWorkers(fleet.WorkersConfig{
			Config:  cfg,
			Workers: 2,
			Command: func(int) *exec.Cmd {
				cmd := exec.Command(os.Args[0])
				cmd.Env = append(os.Environ(), workerEnv+"=1")
				cmd.Stderr = os.Stderr
				return cmd
			},
			Logf: t.Logf,
		}, creds, ends)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(w.Close)
		return w
	}},
}

// received collects what a fleet reports.
type received struct {
	mu       sync.Mutex
	arrivals map[uint64][]fleet.Arrival // by message id
	errs     []string
}

func newReceived() *received { return &received{arrivals: map[uint64][]fleet.Arrival{}} }

func (r *received) arrival(a fleet.Arrival) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.arrivals[a.ID] = append(r.arrivals[a.ID], a)
}

func (r *received) error(op string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errs = append(r.errs, op+": "+err.Error())
}

// devices returns the devices that got message id, in order, once per
// handler call.
func (r *received) devices(id uint64) []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var ds []int
	for _, a := range r.arrivals[id] {
		ds = append(ds, a.Device)
	}
	slices.Sort(ds)
	return ds
}

func (r *received) errors() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.errs)
}

// waitFor waits until exactly the devices of want got message id, once
// each.
func (r *received) waitFor(t *testing.T, id uint64, want []int) {
	t.Helper()
	nodetest.Eventually(t, 20*time.Second, func() bool { return slices.Equal(r.devices(id), want) }, func() string {
		return fmt.Sprintf("message %d reached devices %v, want %v; errors %v", id, r.devices(id), want, r.errors())
	})
}

func indexes(from, to int, keep func(int) bool) []int {
	var out []int
	for i := from; i < to; i++ {
		if keep == nil || keep(i) {
			out = append(out, i)
		}
	}
	return out
}

func push(t *testing.T, h *nodetest.Herald, app nodetest.App, audience any, extras string) uint64 {
	t.Helper()
	msg := map[string]any{"title": "fleet", "content": "test"}
	if extras != "" {
		msg["extras"] = jsonRaw(extras)
	}
	var out struct {
		MsgID string `json:"msg_id"`
	}
	h.Do(http.MethodPost, "/v1/push", nodetest.Basic(app), map[string]any{"audience": audience, "message": msg}, http.StatusOK, &out)
	id, err := strconv.ParseUint(out.MsgID, 10, 64)
	if err != nil {
		t.Fatalf("msg_id %q", out.MsgID)
	}
	return id
}

// acked waits until the server counts message id delivered to n devices,
// having their ACKs.
func acked(h *nodetest.Herald, app nodetest.App, id uint64, n int64) {
	h.WaitReport(app, strconv.FormatUint(id, 10), func(r nodetest.Report) bool { return r.Delivered == n })
}

type jsonRaw string

func (j jsonRaw) MarshalJSON() ([]byte, error) { return []byte(j), nil }

// stats syncs f and returns its counters once cond accepts them.
func stats(t *testing.T, f fleet.Fleet, what string, cond func(fleet.Stats) bool) fleet.Stats {
	t.Helper()
	var st fleet.Stats
	nodetest.Eventually(t, 20*time.Second, func() bool {
		f.Sync(t.Context())
		st = f.Stats()
		return cond(st)
	}, func() string { return fmt.Sprintf("%s: stats %+v", what, st) })
	return st
}

// A fleet registers and describes its devices, connects them from its
// source addresses, hands on what they receive, disconnects and connects
// ranges of them (the server keeps what was pushed meanwhile), churns and
// sends upstream, wherever its devices are held.
func TestFleet(t *testing.T) {
	h := nodetest.Start(t)
	sources, err := fleet.ParseSources("127.0.0.2-127.0.0.5")
	if err != nil {
		t.Fatal(err)
	}
	for _, holder := range holders {
		t.Run(holder.name, func(t *testing.T) {
			const n = 24
			ctx := t.Context()
			app := h.CreateApp()
			var registered atomic.Int64
			creds, ends, err := fleet.Register(ctx, fleet.Registration{
				Gateway: h.URL, AppKey: app.Key, MasterSecret: app.Secret, Concurrency: 8, Dispatch: true,
				Spec: func(i int) fleet.Spec {
					if i%3 == 0 {
						return fleet.Spec{Tags: []string{"third"}, Alias: "a" + strconv.Itoa(i)}
					}
					return fleet.Spec{}
				},
				OnRegistered: func(int) { registered.Add(1) },
			}, n)
			if err != nil {
				t.Fatal(err)
			}
			if len(creds) != n || len(ends) != n || registered.Load() != n || creds[n-1].RegistrationID == "" || len(ends[n-1].Addresses) == 0 {
				t.Fatalf("registered %d: %d credentials, %d endpoints", registered.Load(), len(creds), len(ends))
			}

			r := newReceived()
			f := holder.start(t, fleet.Config{Gateway: h.URL, Sources: sources, Concurrency: 8, MinBackoff: 100 * time.Millisecond,
				OnArrival: r.arrival, OnError: r.error}, creds, ends)
			if failed := f.Connect(ctx, 0, n); failed != 0 {
				t.Fatalf("%d devices failed to connect: %v", failed, r.errors())
			}
			stats(t, f, "all connected", func(s fleet.Stats) bool { return s.Connected == n })

			third := push(t, h, app, map[string]any{"tag": []string{"third"}}, "")
			r.waitFor(t, third, indexes(0, n, func(i int) bool { return i%3 == 0 }))
			alias := push(t, h, app, map[string]any{"alias": []string{"a3"}}, "")
			r.waitFor(t, alias, []int{3})
			// Every ACK reached the server before devices go away: it would
			// hand the message to their next connection again.
			acked(h, app, third, n/3)
			acked(h, app, alias, 1)

			if closed := f.Disconnect(ctx, n/2, n+5); closed != n/2 {
				t.Fatalf("Disconnect closed %d, want %d", closed, n/2)
			}
			stats(t, f, "half disconnected", func(s fleet.Stats) bool { return s.Connected == n/2 })
			all := push(t, h, app, "all", "")
			r.waitFor(t, all, indexes(0, n/2, nil))
			if failed := f.Connect(ctx, 0, n); failed != 0 {
				t.Fatalf("%d devices failed to connect again: %v", failed, r.errors())
			}
			r.waitFor(t, all, indexes(0, n, nil))
			acked(h, app, all, n)

			f.Churn(ctx, 4)
			stats(t, f, "churned", func(s fleet.Stats) bool { return s.Reconnects == 4 && s.Connected == n })

			f.Upstream(ctx, fleet.UpstreamPlan{T0: time.Now().Unix() + 1, Period: 2, Rounds: 1, GiveUp: time.Now().Add(10 * time.Second).UnixNano()})
			st := stats(t, f, "sent upstream", func(s fleet.Stats) bool { return s.UpAcked+s.UpErrors == n && s.Acked == s.SDKReceived })

			want := fleet.Stats{Devices: n, Connected: n, Welcomed: n + n/2, Reconnects: 4, UpSent: n, UpAcked: n,
				SDKReceived: st.SDKReceived, Acked: st.SDKReceived, FirstDial: st.FirstDial, LastWelcome: st.LastWelcome}
			if st != want || st.FirstDial == 0 || st.LastWelcome < st.FirstDial || st.SDKReceived != n/3+1+n {
				t.Errorf("stats\n got %+v\nwant %+v, %d received", st, want, n/3+1+n)
			}
			if errs := r.errors(); len(errs) > 0 {
				t.Errorf("errors: %v", errs)
			}
		})
	}
}

// A Stamped fleet hands on the messages whose stamp is for the device
// that got them, with the stamp's sequence number and send time, counts
// the others invalid, and with TimeConnects reports each connection.
func TestStampedFleet(t *testing.T) {
	h := nodetest.Start(t)
	for _, holder := range holders {
		t.Run(holder.name, func(t *testing.T) {
			const n, messages = 4, 2
			ctx := t.Context()
			app := h.CreateApp()
			creds, _, err := fleet.Register(ctx, fleet.Registration{Gateway: h.URL, AppKey: app.Key}, n)
			if err != nil {
				t.Fatal(err)
			}
			r := newReceived()
			began := time.Now().UnixNano()
			f := holder.start(t, fleet.Config{Gateway: h.URL, Stamped: true, Messages: messages, TimeConnects: true,
				OnArrival: r.arrival, OnError: r.error}, creds, nil)
			if failed := f.Connect(ctx, 0, n); failed != 0 {
				t.Fatalf("%d devices failed to connect: %v", failed, r.errors())
			}
			r.waitFor(t, 0, indexes(0, n, nil))
			for _, a := range r.arrivals[0] {
				if a.Sent < began || a.At < a.Sent {
					t.Errorf("timed connection %+v", a)
				}
			}

			to := func(i int) map[string]any {
				return map[string]any{"registration_id": []string{creds[i].RegistrationID}}
			}
			sent := time.Now().UnixNano()
			stamped := push(t, h, app, to(2), string(fleet.AppendStamp(nil, fleet.Stamp{Device: 2, Seq: 1, Sent: sent})))
			push(t, h, app, to(0), string(fleet.AppendStamp(nil, fleet.Stamp{Device: 1, Seq: 0, Sent: sent}))) // another device's
			push(t, h, app, to(1), string(fleet.AppendStamp(nil, fleet.Stamp{Device: 1, Seq: messages, Sent: sent})))
			push(t, h, app, to(3), "")
			r.waitFor(t, stamped, []int{2})
			if a := r.arrivals[stamped][0]; a.Seq != 1 || a.Sent != sent || a.At < sent {
				t.Errorf("arrival %+v, want seq 1 sent at %d", a, sent)
			}
			stats(t, f, "three invalid", func(s fleet.Stats) bool { return s.Invalid == 3 && s.Acked == 4 })
			if f.FirstInvalid() == "" {
				t.Error("no first invalid message described")
			}
			if len(r.arrivals) != 2 {
				t.Errorf("arrivals of %d messages, want the connections' and one", len(r.arrivals))
			}
		})
	}
}

// The workers' devices are named by global index: a fleet from First on
// is split over its workers from there.
func TestWorkersFromFirst(t *testing.T) {
	h := nodetest.Start(t)
	app := h.CreateApp()
	creds, _, err := fleet.Register(t.Context(), fleet.Registration{Gateway: h.URL, AppKey: app.Key}, 5)
	if err != nil {
		t.Fatal(err)
	}
	r := newReceived()
	f := holders[1].start(t, fleet.Config{Gateway: h.URL, First: 100, OnArrival: r.arrival, OnError: r.error}, creds, nil)
	if failed := f.Connect(t.Context(), 102, 200); failed != 0 {
		t.Fatalf("%d failed: %v", failed, r.errors())
	}
	stats(t, f, "three connected", func(s fleet.Stats) bool { return s.Connected == 3 })
	id := push(t, h, app, "all", "")
	r.waitFor(t, id, []int{102, 103, 104})
}

func ExampleAppendStamp() {
	extras := fleet.AppendStamp(nil, fleet.Stamp{Device: 7, Seq: 2, Sent: 1700000000000000000})
	fmt.Println(string(extras))
	st, ok := fleet.ParseStamp(extras)
	fmt.Println(st.Device, st.Seq, ok)
	// Output:
	// {"d":7,"s":2,"t":1700000000000000000}
	// 7 2 true
}

func ExampleParseSources() {
	sources, _ := fleet.ParseSources("127.0.0.2-127.0.0.4, 127.0.0.9")
	fmt.Println(sources)
	// Output: [127.0.0.2 127.0.0.3 127.0.0.4 127.0.0.9]
}
