package bench

import (
	"reflect"
	"testing"
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
