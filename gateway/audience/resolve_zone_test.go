package audience

import (
	"testing"
	"time"

	"github.com/heraldpush/herald/gateway/wallclock"
)

// A firing in each device's local time reaches each device once per
// occurrence, also on the days its clocks change.
func TestLocalFiringReachesEachDeviceOnce(t *testing.T) {
	utc := func(s string) time.Time {
		at, err := time.Parse(time.DateTime, s)
		if err != nil {
			t.Fatal(err)
		}
		return at
	}
	const edt, est = -4 * 3600, -5 * 3600
	for _, tc := range []struct {
		name  string
		tz    string
		wall  string // the occurrence, on the zone's clock
		reach int    // the offset whose firing reaches the device; 0: none
	}{
		// New York sets its clocks back from 02:00 EDT to 01:00 EST on
		// 2026-11-01: 01:30 happens twice, at 05:30 and 06:30 UTC.
		{"repeated hour", "America/New_York", "2026-11-01 01:30:00", edt},
		// And forward from 02:00 EST to 03:00 EDT on 2026-03-08: 02:30
		// never happens; it is sent at 03:30 EDT, as a fixed-zone
		// schedule's would be.
		{"skipped hour", "America/New_York", "2026-03-08 02:30:00", est},
		{"summer", "America/New_York", "2026-07-01 09:00:00", edt},
		{"winter", "America/New_York", "2026-12-01 09:00:00", est},
		{"no daylight saving", "Asia/Kathmandu", "2026-11-01 01:30:00", 5*3600 + 45*60},
		{"unknown zone", "Mars/Olympus_Mons", "2026-11-01 01:30:00", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := utc(tc.wall)
			var reached []int
			for _, off := range wallclock.UTCOffsets() {
				spec := LocalTime{UTCOffset: &off, At: w.Add(-time.Duration(off) * time.Second)}
				if spec.reaches(tc.tz, time.Time{}) {
					reached = append(reached, off)
				}
			}
			switch {
			case tc.reach == 0 && len(reached) != 0:
				t.Fatalf("reached by the firings for offsets %v, want none", reached)
			case tc.reach != 0 && (len(reached) != 1 || reached[0] != tc.reach):
				t.Fatalf("reached by the firings for offsets %v, want only %d", reached, tc.reach)
			}
		})
	}
}

// Tasks stored before firings recorded their instant keep the devices
// whose zone is at the offset when the page is resolved.
func TestLocalFiringWithoutInstant(t *testing.T) {
	off := 5*3600 + 30*60
	spec := LocalTime{UTCOffset: &off}
	now := time.Date(2026, 11, 1, 3, 0, 0, 0, time.UTC)
	if !spec.reaches("Asia/Kolkata", now) || spec.reaches("Asia/Karachi", now) {
		t.Fatal("an offset without an instant must match the zone's offset now")
	}
}
