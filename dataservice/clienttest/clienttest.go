package clienttest

import (
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

// test is one case of the suite, run on a client over a fresh, empty
// dataservice.
type test struct {
	name string
	fn   func(t *testing.T, c dataservice.Client)
}

// Run runs the suite. newClient returns a client over a fresh, empty
// dataservice each time it is called.
func Run(t *testing.T, newClient func(t testing.TB) dataservice.Client) {
	for _, concern := range [][]test{
		appTests, deviceTests, sessionTests, messageTests, broadcastTests,
		reportTests, taskTests, scheduleTests, segmentTests, upstreamTests,
		webhookTests, clusterTests, portalTests, limitTests,
	} {
		for _, tc := range concern {
			t.Run(tc.name, func(t *testing.T) { tc.fn(t, newClient(t)) })
		}
	}
}

var nextID atomic.Uint64

func init() { nextID.Store(uint64(time.Now().UnixNano())) }

func id() uint64 { return nextID.Add(1) }

func wantErr(t *testing.T, err, sentinel error, what string) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("%s: error %v, want one wrapping %v", what, err, sentinel)
	}
}

// eventually polls cond until it holds or 10 seconds have passed.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not true after 10s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func wantStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s = %q, want %q", what, got, want)
	}
}

func wantIDs(t *testing.T, what string, got, want []uint64) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}
