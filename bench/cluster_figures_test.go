package bench

import (
	"reflect"
	"testing"

	"github.com/heraldpush/herald/internal/runtimestats"
)

// figures builds a reading: a gateway with the given connectors (as peers,
// when read with the cluster token) or with registry counts alone.
func figures(rss int64, cpu, gc float64, peers ...serverFigures) serverFigures {
	var f serverFigures
	f.Process.RSSBytes, f.Process.CPUSeconds, f.Process.GCPauseP99Ms, f.Process.Goroutines = rss, cpu, gc, 10
	f.Peers = peers
	return f
}

func connectorFigures(id string, rss int64, cpu, gc float64, conns int) serverFigures {
	f := figures(rss, cpu, gc)
	f.Role, f.ID = "connector", id
	f.Components.Connector = &struct {
		Connections int `json:"connections"`
		Devices     int `json:"devices"`
	}{Connections: conns}
	return f
}

// withData adds the dataservice's reading to f.
func withData(f serverFigures, rss int64, cpu, gc float64) serverFigures {
	d := figures(rss, cpu, gc)
	d.Role = "dataservice"
	f.Data = &d
	return f
}

func TestSetServerFigures(t *testing.T) {
	registryOnly := figures(100, 3, 0.5)
	registryOnly.Components.Connectors = append(registryOnly.Components.Connectors, struct {
		ID          string `json:"id"`
		Internal    string `json:"internal"`
		Connections int    `json:"connections"`
	}{ID: "c1", Connections: 7})
	for _, tc := range []struct {
		name       string
		start, end serverFigures
		want       Result
	}{
		{
			name: "gateway alone", start: figures(90, 1, 0), end: registryOnly,
			want: Result{ServerConnections: 7, ServerRSSBytes: 100, GCPauseP99Ms: 0.5, ServerCPUSeconds: 2},
		},
		{
			name:  "connectors read",
			start: figures(90, 1, 0, connectorFigures("c1", 10, 0.5, 0, 0), connectorFigures("c2", 10, 0.25, 0, 0)),
			end:   figures(100, 3, 0.5, connectorFigures("c1", 200, 1.5, 2, 5), connectorFigures("c2", 300, 1.25, 1, 6)),
			want: Result{ServerConnections: 11, ServerRSSBytes: 600, GCPauseP99Ms: 2, ServerCPUSeconds: 4, Servers: []ServerFigures{
				{Role: "gateway", RSSBytes: 100, CPUSeconds: 2, GCPauseP99Ms: 0.5, Goroutines: 10},
				{Role: "connector", ID: "c1", RSSBytes: 200, CPUSeconds: 1, GCPauseP99Ms: 2, Goroutines: 10, Connections: 5},
				{Role: "connector", ID: "c2", RSSBytes: 300, CPUSeconds: 1, GCPauseP99Ms: 1, Goroutines: 10, Connections: 6},
			}},
		},
		{
			// The dataservice adds to memory and CPU, not to the pauses.
			name:  "dataservice read",
			start: withData(figures(90, 1, 0, connectorFigures("c1", 10, 0.5, 0, 0)), 50, 2, 0),
			end:   withData(figures(100, 3, 0.5, connectorFigures("c1", 200, 1.5, 2, 5)), 400, 7, 9),
			want: Result{ServerConnections: 5, ServerRSSBytes: 700, GCPauseP99Ms: 2, ServerCPUSeconds: 8, Servers: []ServerFigures{
				{Role: "gateway", RSSBytes: 100, CPUSeconds: 2, GCPauseP99Ms: 0.5, Goroutines: 10},
				{Role: "connector", ID: "c1", RSSBytes: 200, CPUSeconds: 1, GCPauseP99Ms: 2, Goroutines: 10, Connections: 5},
				{Role: "dataservice", RSSBytes: 400, CPUSeconds: 5, GCPauseP99Ms: 9, Goroutines: 10},
			}},
		},
		{
			name:  "a connector joined during the run",
			start: figures(90, 1, 0, connectorFigures("c1", 10, 0.5, 0, 0)),
			end:   figures(100, 3, 0.5, connectorFigures("c1", 200, 1.5, 0, 5), connectorFigures("c9", 50, 0.5, 0, 1)),
			want: Result{ServerConnections: 6, ServerRSSBytes: 350, GCPauseP99Ms: 0.5, ServerCPUSeconds: 3.5, Servers: []ServerFigures{
				{Role: "gateway", RSSBytes: 100, CPUSeconds: 2, GCPauseP99Ms: 0.5, Goroutines: 10},
				{Role: "connector", ID: "c1", RSSBytes: 200, CPUSeconds: 1, Goroutines: 10, Connections: 5},
				{Role: "connector", ID: "c9", RSSBytes: 50, CPUSeconds: 0.5, Goroutines: 10, Connections: 1},
			}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var res Result
			setServerFigures(&res, tc.start, tc.end)
			if !reflect.DeepEqual(res, tc.want) {
				t.Fatalf("got %+v\nwant %+v", res, tc.want)
			}
		})
	}
}

// hold's memory per connection is the growth of what holds connections:
// the connectors in a cluster, the server itself otherwise.
func TestHeldRSS(t *testing.T) {
	for _, c := range []struct {
		name string
		f    serverFigures
		want int64
	}{
		{"herald all", figures(100, 1, 1), 100},
		{"cluster", figures(100, 1, 1, connectorFigures("c1", 30, 1, 1, 5), connectorFigures("c2", 40, 1, 1, 5)), 70},
	} {
		if got := c.f.heldRSS(); got != c.want {
			t.Errorf("%s: heldRSS %d, want %d", c.name, got, c.want)
		}
	}
}

// Pauses count between the run's two readings: the slow ones of a
// connect storm before the run do not make a broadcast's.
func TestPausesBetweenReadings(t *testing.T) {
	withPauses := func(f serverFigures, pauses, stopping runtimestats.Histogram) serverFigures {
		f.Process.GCPauses, f.Process.GCStopping = pauses, stopping
		return f
	}
	start := withPauses(figures(90, 1, 40, withPauses(connectorFigures("c1", 10, 0, 40, 0), runtimestats.Histogram{{0.0001, 10}, {0.04, 5}}, runtimestats.Histogram{{0.00005, 15}})),
		runtimestats.Histogram{{0.0001, 3}}, runtimestats.Histogram{{0.00005, 3}})
	end := withPauses(figures(100, 2, 40, withPauses(connectorFigures("c1", 20, 1, 40, 5), runtimestats.Histogram{{0.0001, 110}, {0.04, 5}}, runtimestats.Histogram{{0.00005, 110}, {0.002, 5}})),
		runtimestats.Histogram{{0.0001, 3}, {0.0008, 1}}, runtimestats.Histogram{{0.00005, 4}})
	var res Result
	setServerFigures(&res, start, end)
	if res.Servers[1].GCPauseP99Ms != 0.1 || res.Servers[1].GCStoppingP99Ms != 2 {
		t.Errorf("connector pause p99 %v stopping %v, want 0.1 and 2", res.Servers[1].GCPauseP99Ms, res.Servers[1].GCStoppingP99Ms)
	}
	if res.Servers[0].GCPauseP99Ms != 0.8 || res.GCPauseP99Ms != 0.8 || res.GCStoppingP99Ms != 2 {
		t.Errorf("gateway %v, run %v and %v; want 0.8, 0.8 and 2", res.Servers[0].GCPauseP99Ms, res.GCPauseP99Ms, res.GCStoppingP99Ms)
	}
	// A later baseline (the start of a broadcast's pushes) replaces the
	// histograms process by process.
	if got := start.withPausesOf(end); len(got.Peers[0].Process.GCPauses) != 2 || got.Peers[0].Process.GCPauses[0][1] != 110 || got.Process.RSSBytes != 90 {
		t.Errorf("withPausesOf: %+v", got)
	}
}
