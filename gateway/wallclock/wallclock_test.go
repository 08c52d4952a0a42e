package wallclock_test

import (
	"archive/zip"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/gateway/wallclock"
)

// Every offset any zone of the tz database has in the coming two years is
// one of UTCOffsets (a local-time schedule fires once per offset), so no device is left out.
func TestUTCOffsetsCoverEveryZone(t *testing.T) {
	path := filepath.Join(runtime.GOROOT(), "lib", "time", "zoneinfo.zip")
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Skipf("no zone list to check against (%v)", err)
	}
	defer zr.Close()
	offsets := wallclock.UTCOffsets()
	if !slices.IsSorted(offsets) {
		t.Fatalf("offsets not ascending: %v", offsets)
	}
	start := time.Now().UTC().Truncate(24 * time.Hour)
	zones := 0
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "/") {
			continue
		}
		loc, err := time.LoadLocation(f.Name)
		if err != nil {
			continue
		}
		zones++
		for d := 0; d < 2*366*4; d++ {
			at := start.Add(time.Duration(d) * 6 * time.Hour)
			if _, off := at.In(loc).Zone(); !slices.Contains(offsets, off) {
				t.Fatalf("zone %s is at UTC%+.2f on %s, an offset schedules do not fire for", f.Name, float64(off)/3600, at.Format(time.DateOnly))
			}
		}
	}
	if zones < 300 {
		t.Fatalf("only %d zones in %s", zones, path)
	}
}
