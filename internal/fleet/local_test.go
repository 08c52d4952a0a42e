package fleet

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald/sdk"
)

func TestConnectGivesUpWhenDialsKeepFailing(t *testing.T) {
	const devices, concurrency = 1000, 8
	creds := make([]sdk.Credentials, devices)
	for i := range creds {
		// A secret that is not base64 fails every dial at once.
		creds[i] = sdk.Credentials{AppKey: "app", RegistrationID: "rid" + strconv.Itoa(i), DeviceSecret: "not base64!"}
	}
	var dialErrors, giveUps atomic.Int64
	f := NewLocal(Config{
		Gateway:     "http://127.0.0.1:1",
		DialTimeout: time.Second,
		Concurrency: concurrency,
		Sources:     []netip.Addr{netip.MustParseAddr("127.0.0.1")},
		OnError: func(op string, err error) {
			switch {
			case op != "connect":
				t.Errorf("error of op %q: %v", op, err)
			case strings.Contains(err.Error(), "given up"):
				giveUps.Add(1)
			default:
				dialErrors.Add(1)
			}
		},
	}, creds, nil)

	if failed := f.Connect(context.Background(), 0, devices); failed != devices {
		t.Errorf("Connect reported %d devices failed, want all %d", failed, devices)
	}
	if giveUps.Load() != 1 {
		t.Errorf("%d give-up errors, want 1", giveUps.Load())
	}
	// Dials stop once GiveUpAfter failed in a row; those in flight then
	// finish.
	if n := dialErrors.Load(); n < GiveUpAfter || n > GiveUpAfter+concurrency {
		t.Errorf("%d dials failed before Connect gave up, want %d to %d", n, GiveUpAfter, GiveUpAfter+concurrency)
	}
	if got := f.Stats().Unconnected; got != devices {
		t.Errorf("the fleet counts %d devices unconnected, want %d", got, devices)
	}
}

// Ranges are global indexes, clipped to the fleet's devices.
func TestLocalSpan(t *testing.T) {
	f := NewLocal(Config{First: 100}, make([]sdk.Credentials, 10), nil)
	for _, tc := range []struct{ from, to, lo, hi int }{
		{100, 110, 0, 10},
		{0, 1000, 0, 10},
		{105, 107, 5, 7},
		{0, 100, 0, 0},
		{110, 120, 10, 10},
		{107, 105, 7, 7},
	} {
		if lo, hi := f.span(tc.from, tc.to); lo != tc.lo || hi != tc.hi {
			t.Errorf("span(%d, %d) = [%d, %d), want [%d, %d)", tc.from, tc.to, lo, hi, tc.lo, tc.hi)
		}
	}
}
