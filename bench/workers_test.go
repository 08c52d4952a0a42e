package bench

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

	"github.com/heraldpush/herald/sdk"
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

func TestWorkerCount(t *testing.T) {
	tests := []struct {
		devices, workers, want int
	}{
		{devices: 1, want: 0},
		{devices: MaxDevices, want: 0},
		{devices: MaxDevices + 1, want: 2},
		{devices: 100000, want: 6},
		{devices: 100000, workers: 8, want: 8},
		{devices: 10, workers: 1, want: 1},
	}
	for _, tt := range tests {
		o := Options{Devices: tt.devices, Workers: tt.workers}
		if got := o.workerCount(); got != tt.want {
			t.Errorf("workerCount(devices %d, workers %d) = %d, want %d", tt.devices, tt.workers, got, tt.want)
		}
	}
}

func TestSplitSources(t *testing.T) {
	all, err := ParseSources(DefaultSources)
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

// A parent's fleet counts the arrivals its workers report as its own
// devices' handlers would, and its counters are the sum of the workers'
// latest status.
func TestWorkerPoolAggregatesReports(t *testing.T) {
	const devices, messages = 6, 2
	f := newFleet(fleetConfig{Messages: messages, Shared: true}, make([]sdk.Credentials, devices), make([]sdk.Endpoints, devices))
	p := &workerPool{fleet: f, printf: t.Logf}
	var errs atomic.Int64
	onError := func(error) { errs.Add(1) }
	p.onError.Store(&onError)
	for i, sp := range splitDevices(devices, 2) {
		p.procs = append(p.procs, &workerProc{index: i, span: sp, replies: make(chan workerReport, 4), done: make(chan struct{})})
	}
	f.remote = p
	w0, w1 := p.procs[0], p.procs[1]
	base := time.Now().UnixNano()
	ms := int64(time.Millisecond)
	steps := []struct {
		wp      *workerProc
		rep     workerReport
		wantErr bool
	}{
		{wp: w0, rep: workerReport{T: reportStatus, Stats: &fleetStats{Devices: 3, Connected: 3, Welcomed: 3, FirstDial: base + 5, LastWelcome: base + 9, SDKReceived: 2, Acked: 1}, CPUSeconds: 0.5}},
		{wp: w1, rep: workerReport{T: reportStatus, Stats: &fleetStats{Devices: 3, Connected: 2, Welcomed: 2, Unconnected: 1, DialFailures: 4, FirstDial: base + 2, LastWelcome: base + 7, Invalid: 1}, CPUSeconds: 0.25}},
		{wp: w0, rep: workerReport{T: reportArrivals, Arrivals: [][4]int64{{0, 0, base, base + 3*ms}, {1, 0, base, base + 4*ms}, {1, 0, base, base + 6*ms}}}},
		{wp: w1, rep: workerReport{T: reportArrivals, Arrivals: [][4]int64{{3, 0, base, base + 10*ms}, {4, 1, base, base + 2*ms}}}},
		{wp: w1, rep: workerReport{T: reportArrivals, Arrivals: [][4]int64{{1, 0, base, base}}}, wantErr: true}, // not w1's device
		{wp: w0, rep: workerReport{T: reportArrivals, Arrivals: [][4]int64{{0, 2, base, base}}}, wantErr: true}, // no such message
		{wp: w0, rep: workerReport{T: reportStatus}, wantErr: true},
		{wp: w0, rep: workerReport{T: "gossip"}, wantErr: true},
		{wp: w0, rep: workerReport{T: reportError, Message: "device 2: refused"}},
		// A later status replaces the worker's earlier one.
		{wp: w0, rep: workerReport{T: reportStatus, Stats: &fleetStats{Devices: 3, Connected: 3, Welcomed: 3, FirstDial: base + 5, LastWelcome: base + 9, SDKReceived: 3, SDKDuplicates: 1, Acked: 4}, CPUSeconds: 0.75}},
	}
	for i, s := range steps {
		if err := p.handle(s.wp, s.rep); (err != nil) != s.wantErr {
			t.Fatalf("step %d: handle(%+v) = %v, want error %v", i, s.rep, err, s.wantErr)
		}
	}
	st := f.stats()
	want := fleetStats{
		Devices: devices, Connected: 5, Welcomed: 5, Unconnected: 1, DialFailures: 4, Received: 4, HandlerDuplicates: 1,
		SDKDuplicates: 1, SDKReceived: 3, Acked: 4, Invalid: 1, FirstDial: base + 2, LastWelcome: base + 9, LastDelivery: base + 10*ms,
	}
	if st != want {
		t.Errorf("stats\n got %+v\nwant %+v", st, want)
	}
	if f.connected.Load() != 5 || f.welcomed.Load() != 5 || f.acked() != 4 {
		t.Errorf("connected %d, welcomed %d, acked %d; want 5, 5, 4", f.connected.Load(), f.welcomed.Load(), f.acked())
	}
	if got := f.arrived[0].Load(); got != 3 {
		t.Errorf("message 0 reached %d devices, want 3", got)
	}
	if got := f.lastArrival[0].Load(); got != base+10*ms {
		t.Errorf("message 0's last arrival at %d, want %d", got, base+10*ms)
	}
	if got := f.latency.maxValue(); got != 10*time.Millisecond {
		t.Errorf("largest latency %v, want 10ms", got)
	}
	if errs.Load() != 1 {
		t.Errorf("%d errors passed on, want 1", errs.Load())
	}
	if got := p.cpuSeconds(); got != 1 {
		t.Errorf("workers' CPU %v s, want 1", got)
	}
}

// workerPipe runs runWorker over pipes and returns the parent's ends.
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
		err := runWorker(ctx, inR, outW, getppid)
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
func (wp *workerPipe) next(t *testing.T, kind string) workerReport {
	t.Helper()
	for {
		var rep workerReport
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

// A worker answers connect and sync, and stops by itself at the end of
// its stdin or when its parent dies.
func TestWorkerProtocol(t *testing.T) {
	init := &workerInit{Gateway: "http://127.0.0.1:1", Messages: 1, Sources: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}
	t.Run("end of stdin", func(t *testing.T) {
		wp := startWorkerPipe(t, t.Context(), func() int { return 1 })
		for _, c := range []workerCommand{{Op: "init", Init: init}, {Op: "connect"}, {Op: "sync", N: 7}} {
			if err := wp.cmds.Encode(c); err != nil {
				t.Fatal(err)
			}
		}
		if rep := wp.next(t, reportConnected); rep.Failed != 0 {
			t.Errorf("connected %+v, want no failure", rep)
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
		for _, c := range []workerCommand{{Op: "init", Init: init}, {Op: "close"}} {
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
		if err := wp.cmds.Encode(workerCommand{Op: "init", Init: init}); err != nil {
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
		if err := wp.cmds.Encode(workerCommand{Op: "connect"}); err != nil {
			t.Fatal(err)
		}
		if err := wp.wait(t); err == nil {
			t.Fatal("connect before init succeeded")
		}
	})
}
