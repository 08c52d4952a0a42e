package fleet

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/netip"
	"os"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

func TestSplitDevices(t *testing.T) {
	tests := []struct {
		n, w int
		want []span
	}{
		{n: 10, w: 1, want: []span{{0, 10}}},
		{n: 10, w: 2, want: []span{{0, 5}, {5, 5}}},
		{n: 10, w: 3, want: []span{{0, 4}, {4, 3}, {7, 3}}},
		{n: 3, w: 3, want: []span{{0, 1}, {1, 1}, {2, 1}}},
		{n: 100000, w: 6, want: []span{{0, 16667}, {16667, 16667}, {33334, 16667}, {50001, 16667}, {66668, 16666}, {83334, 16666}}},
	}
	for _, tt := range tests {
		got := splitDevices(tt.n, tt.w)
		if !slices.Equal(got, tt.want) {
			t.Errorf("splitDevices(%d, %d) = %v, want %v", tt.n, tt.w, got, tt.want)
		}
	}
}

func TestSplitSources(t *testing.T) {
	all, err := ParseSources("127.0.0.2-127.0.0.254")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		sources    []netip.Addr
		w          int
		wantLens   []int
		wantShared bool // workers may share addresses
	}{
		{name: "one worker has them all", sources: all, w: 1, wantLens: []int{253}},
		{name: "two", sources: all, w: 2, wantLens: []int{126, 127}},
		{name: "six", sources: all, w: 6, wantLens: []int{42, 42, 42, 42, 42, 43}},
		{name: "as many as workers", sources: all[:3], w: 3, wantLens: []int{1, 1, 1}},
		{name: "fewer than workers", sources: all[:2], w: 3, wantLens: []int{1, 1, 1}, wantShared: true},
		{name: "none", sources: nil, w: 2, wantLens: []int{0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := splitSources(tt.sources, tt.w)
			seen := map[netip.Addr]int{}
			for i, s := range got {
				if len(s) != tt.wantLens[i] {
					t.Errorf("worker %d has %d addresses, want %d", i, len(s), tt.wantLens[i])
				}
				for _, a := range s {
					if !slices.Contains(tt.sources, a) {
						t.Errorf("worker %d got %v, not a source", i, a)
					}
					seen[a]++
				}
			}
			for a, n := range seen {
				if n > 1 && !tt.wantShared {
					t.Errorf("%v is given to %d workers", a, n)
				}
			}
			if !tt.wantShared && len(seen) != len(tt.sources) {
				t.Errorf("%d of %d addresses used", len(seen), len(tt.sources))
			}
		})
	}
}

// A parent hands on the arrivals its workers report, checked against
// each worker's devices, and its counters are the sum of the workers'
// latest status.
func TestWorkersAggregateReports(t *testing.T) {
	const devices, messages = 6, 2
	var (
		arrivals []Arrival
		errs     []string
	)
	w := &Workers{devices: devices, cfg: WorkersConfig{Logf: t.Logf, Config: Config{Stamped: true, Messages: messages, Shared: true,
		OnArrival: func(a Arrival) { arrivals = append(arrivals, a) },
		OnError:   func(op string, err error) { errs = append(errs, op+": "+err.Error()) },
	}}}
	for i, sp := range splitDevices(devices, 2) {
		w.procs = append(w.procs, &workerProc{index: i, first: sp.first, n: sp.n, replies: make(chan report, 4), done: make(chan struct{})})
	}
	w0, w1 := w.procs[0], w.procs[1]
	base := time.Now().UnixNano()
	ms := int64(time.Millisecond)
	steps := []struct {
		wp      *workerProc
		rep     report
		wantErr bool
	}{
		{wp: w0, rep: report{T: reportStatus, Stats: &Stats{Devices: 3, Connected: 3, Welcomed: 3, FirstDial: base + 5, LastWelcome: base + 9, SDKReceived: 2, Acked: 1}, CPUSeconds: 0.5}},
		{wp: w1, rep: report{T: reportStatus, Stats: &Stats{Devices: 3, Connected: 2, Welcomed: 2, Unconnected: 1, DialFailures: 4, FirstDial: base + 2, LastWelcome: base + 7, Invalid: 1},
			CPUSeconds: 0.25, FirstInvalid: "device 4 got message 9 with extras {}"}},
		{wp: w0, rep: report{T: reportArrivals, Arrivals: [][5]int64{{0, 11, 0, base, base + 3*ms}, {1, 11, 0, base, base + 4*ms}}}},
		{wp: w1, rep: report{T: reportArrivals, Arrivals: [][5]int64{{3, 11, 0, base, base + 10*ms}, {4, 12, 1, base, base + 2*ms}}}},
		{wp: w1, rep: report{T: reportArrivals, Arrivals: [][5]int64{{1, 11, 0, base, base}}}, wantErr: true}, // not w1's device
		{wp: w0, rep: report{T: reportArrivals, Arrivals: [][5]int64{{0, 13, 2, base, base}}}, wantErr: true}, // no such message
		{wp: w0, rep: report{T: reportStatus}, wantErr: true},
		{wp: w0, rep: report{T: "gossip"}, wantErr: true},
		{wp: w0, rep: report{T: reportError, Op: "connect", Message: "device 2: refused"}},
		// A later status replaces the worker's earlier one.
		{wp: w0, rep: report{T: reportStatus, Stats: &Stats{Devices: 3, Connected: 3, Welcomed: 3, FirstDial: base + 5, LastWelcome: base + 9, SDKReceived: 3, SDKDuplicates: 1, Acked: 4}, CPUSeconds: 0.75}},
	}
	for i, s := range steps {
		if err := w.handle(s.wp, s.rep); (err != nil) != s.wantErr {
			t.Fatalf("step %d: handle(%+v) = %v, want error %v", i, s.rep, err, s.wantErr)
		}
	}
	want := Stats{Devices: devices, Connected: 5, Welcomed: 5, Unconnected: 1, DialFailures: 4,
		SDKDuplicates: 1, SDKReceived: 3, Acked: 4, Invalid: 1, FirstDial: base + 2, LastWelcome: base + 9}
	if st := w.Stats(); st != want {
		t.Errorf("stats\n got %+v\nwant %+v", st, want)
	}
	if w.Connected() != 5 || w.Acked() != 4 {
		t.Errorf("connected %d, acked %d; want 5 and 4", w.Connected(), w.Acked())
	}
	wantArrivals := []Arrival{
		{Device: 0, ID: 11, Sent: base, At: base + 3*ms}, {Device: 1, ID: 11, Sent: base, At: base + 4*ms},
		{Device: 3, ID: 11, Sent: base, At: base + 10*ms}, {Device: 4, ID: 12, Seq: 1, Sent: base, At: base + 2*ms},
	}
	if !slices.Equal(arrivals, wantArrivals) {
		t.Errorf("arrivals\n got %+v\nwant %+v", arrivals, wantArrivals)
	}
	if len(errs) != 1 || errs[0] != "connect: device 2: refused" {
		t.Errorf("errors passed on: %q", errs)
	}
	if got := w.FirstInvalid(); got != "device 4 got message 9 with extras {}" {
		t.Errorf("first invalid %q", got)
	}
	if got := w.CPUSeconds(); got != 1 {
		t.Errorf("workers' CPU %v s, want 1", got)
	}
}

// workerPipe runs serve over pipes and returns the parent's ends.
type workerPipe struct {
	cmds    *json.Encoder
	in      io.WriteCloser
	reports *json.Decoder
	done    chan error
}

func startWorkerPipe(t *testing.T, ctx context.Context, getppid func() int) *workerPipe {
	t.Helper()
	// OS pipes buffer, as the worker's stdin and stdout do.
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	wp := &workerPipe{cmds: json.NewEncoder(inW), in: inW, reports: json.NewDecoder(bufio.NewReader(outR)), done: make(chan error, 1)}
	go func() {
		err := serve(ctx, inR, outW, nil, getppid)
		outW.Close()
		wp.done <- err
	}()
	t.Cleanup(func() {
		inW.Close()
		go func() {
			io.Copy(io.Discard, outR)
			outR.Close()
			inR.Close()
		}()
	})
	return wp
}

// next returns the next report of kind t, skipping others.
func (wp *workerPipe) next(t *testing.T, kind string) report {
	t.Helper()
	for {
		var rep report
		if err := wp.reports.Decode(&rep); err != nil {
			t.Fatalf("reading reports for %q: %v", kind, err)
		}
		if rep.T == kind {
			return rep
		}
	}
}

func (wp *workerPipe) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-wp.done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the worker did not stop")
		return nil
	}
}

// A worker answers connect, disconnect and sync, and stops by itself at
// the end of its stdin or when its parent dies.
func TestWorkerProtocol(t *testing.T) {
	init := &initCommand{Gateway: "http://127.0.0.1:1", Messages: 1, Sources: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}
	t.Run("end of stdin", func(t *testing.T) {
		wp := startWorkerPipe(t, t.Context(), func() int { return 1 })
		for _, c := range []command{{Op: opInit, Init: init}, {Op: opConnect, N: 5}, {Op: opDisconnect, N: 6}, {Op: opSync, N: 7}} {
			if err := wp.cmds.Encode(c); err != nil {
				t.Fatal(err)
			}
		}
		if rep := wp.next(t, reportConnected); rep.Count != 0 || rep.N != 5 {
			t.Errorf("connected %+v, want n 5 and no failure", rep)
		}
		if rep := wp.next(t, reportDisconnected); rep.Count != 0 || rep.N != 6 {
			t.Errorf("disconnected %+v, want n 6 and none closed", rep)
		}
		if rep := wp.next(t, reportSynced); rep.N != 7 {
			t.Errorf("synced %+v, want n 7", rep)
		}
		wp.in.Close()
		if err := wp.wait(t); err != nil {
			t.Fatalf("worker: %v", err)
		}
	})
	t.Run("close", func(t *testing.T) {
		wp := startWorkerPipe(t, t.Context(), func() int { return 1 })
		for _, c := range []command{{Op: opInit, Init: init}, {Op: opClose}} {
			if err := wp.cmds.Encode(c); err != nil {
				t.Fatal(err)
			}
		}
		if err := wp.wait(t); err != nil {
			t.Fatalf("worker: %v", err)
		}
	})
	t.Run("parent died", func(t *testing.T) {
		var ppid atomic.Int64
		ppid.Store(100)
		wp := startWorkerPipe(t, t.Context(), func() int { return int(ppid.Load()) })
		if err := wp.cmds.Encode(command{Op: opInit, Init: init}); err != nil {
			t.Fatal(err)
		}
		wp.next(t, reportStatus)
		ppid.Store(1) // reparented to init
		if err := wp.wait(t); err != nil {
			t.Fatalf("worker: %v", err)
		}
	})
	t.Run("bad command", func(t *testing.T) {
		wp := startWorkerPipe(t, t.Context(), func() int { return 1 })
		if err := wp.cmds.Encode(command{Op: opConnect}); err != nil {
			t.Fatal(err)
		}
		if err := wp.wait(t); err == nil {
			t.Fatal("connect before init succeeded")
		}
	})
}
