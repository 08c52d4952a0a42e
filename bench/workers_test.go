package bench

import (
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/fleet"
	"github.com/heraldpush/herald/sdk"
)

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

// A shared fleet counts each message's arrivals across devices, the
// latency of each first arrival, and repeats as duplicates.
func TestCountedFleetRecords(t *testing.T) {
	const devices, messages = 6, 2
	f := newCountedFleet(make([]sdk.Credentials, devices), messages, true)
	base := time.Now().UnixNano()
	ms := int64(time.Millisecond)
	for _, a := range []fleet.Arrival{
		{Device: 0, Seq: 0, Sent: base, At: base + 3*ms},
		{Device: 1, Seq: 0, Sent: base, At: base + 4*ms},
		{Device: 1, Seq: 0, Sent: base, At: base + 6*ms}, // again
		{Device: 3, Seq: 0, Sent: base, At: base + 10*ms},
		{Device: 4, Seq: 1, Sent: base, At: base + 2*ms},
	} {
		f.record(a)
	}
	if f.received.Load() != 4 || f.handlerDuplicates.Load() != 1 || f.lastDelivery.Load() != base+10*ms {
		t.Errorf("received %d, duplicates %d, last delivery %d; want 4, 1, %d", f.received.Load(), f.handlerDuplicates.Load(), f.lastDelivery.Load(), base+10*ms)
	}
	if got := f.arrived[0].Load(); got != 3 {
		t.Errorf("message 0 reached %d devices, want 3", got)
	}
	if got := f.lastArrival[0].Load(); got != base+10*ms {
		t.Errorf("message 0's last arrival at %d, want %d", got, base+10*ms)
	}
	if got := f.slots[1*messages+0].Load(); got != 2 {
		t.Errorf("device 1 got message 0 %d times, want 2", got)
	}
	if got := f.latency.maxValue(); got != 10*time.Millisecond {
		t.Errorf("largest latency %v, want 10ms", got)
	}
}
