package bench

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
	f := newFleet(fleetConfig{
		Gateway:     "http://127.0.0.1:1",
		DialTimeout: time.Second,
		Sources:     newSourceDialer([]netip.Addr{netip.MustParseAddr("127.0.0.1")}, time.Second),
	}, creds, make([]sdk.Endpoints, devices))

	var dialErrors, giveUps atomic.Int64
	failed := f.connect(context.Background(), concurrency, func(err error) {
		if strings.Contains(err.Error(), "given up") {
			giveUps.Add(1)
		} else {
			dialErrors.Add(1)
		}
	})
	if failed != devices {
		t.Errorf("connect reported %d devices failed, want all %d", failed, devices)
	}
	if giveUps.Load() != 1 {
		t.Errorf("%d give-up errors, want 1", giveUps.Load())
	}
	// Dials stop once minGiveUpAfter failed in a row; those in flight
	// then finish.
	if n := dialErrors.Load(); n < minGiveUpAfter || n > minGiveUpAfter+concurrency {
		t.Errorf("%d dials failed before connect gave up, want %d to %d", n, minGiveUpAfter, minGiveUpAfter+concurrency)
	}
	if got := f.dialErrors.Load(); got != devices {
		t.Errorf("the fleet counts %d devices unconnected, want %d", got, devices)
	}
}
