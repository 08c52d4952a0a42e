package schedule_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/heraldpush/herald/gateway/schedule"
	"github.com/heraldpush/herald/gateway/wallclock"
)

// --- When triggers fire: pure functions ---

func wallTime(tb testing.TB, s string) time.Time {
	tb.Helper()
	t, err := time.Parse("2006-01-02 15:04:05", s)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

func everyPeriod(tb testing.TB, start, end string, tod time.Duration, unit schedule.TimeUnit, freq int) *schedule.PeriodicalTrigger {
	return &schedule.PeriodicalTrigger{Start: wallTime(tb, start), End: wallTime(tb, end), TimeOfDay: tod, Unit: unit, Frequency: freq}
}

// firingsFrom lists up to n firings of tr from from, as "RFC 3339 UTC" or,
// with an offset, "RFC 3339 UTC +hh:mm".
func firingsFrom(tr schedule.Trigger, from time.Time, n int) []string {
	var out []string
	f, ok := tr.First(from)
	for ; ok && len(out) < n; f, ok = tr.Next(f) {
		s := f.At.UTC().Format(time.RFC3339)
		if f.UTCOffset != nil {
			o := *f.UTCOffset
			sign := "+"
			if o < 0 {
				sign, o = "-", -o
			}
			s += fmt.Sprintf(" %s%02d:%02d", sign, o/3600, o%3600/60)
		}
		out = append(out, s)
	}
	return out
}

func TestTriggerFirings(t *testing.T) {
	h := time.Hour
	weekly := everyPeriod(t, "2026-01-07 00:00:00", "2026-02-08 23:59:59", 8*h, schedule.UnitWeek, 2) // from a Wednesday
	weekly.Weekdays = []time.Weekday{time.Monday, time.Friday}
	monthly := everyPeriod(t, "2026-01-01 00:00:00", "2026-05-31 23:59:59", 12*h, schedule.UnitMonth, 1)
	monthly.MonthDays = []int{15, 31}
	leap := everyPeriod(t, "2026-01-01 00:00:00", "2028-03-31 00:00:00", 12*h, schedule.UnitMonth, 1)
	leap.MonthDays = []int{29, 30}
	quarterly := everyPeriod(t, "2026-01-20 00:00:00", "2026-12-31 00:00:00", 10*h, schedule.UnitMonth, 3)
	quarterly.MonthDays = []int{10}
	never := everyPeriod(t, "2026-02-01 00:00:00", "2026-02-28 23:59:59", 10*h, schedule.UnitMonth, 1)
	never.MonthDays = []int{30, 31}
	fixed := func(zone string, p *schedule.PeriodicalTrigger) schedule.Trigger {
		return schedule.Trigger{Periodical: p, TimeZone: zone}
	}
	local := func(zone string, p *schedule.PeriodicalTrigger) schedule.Trigger {
		return schedule.Trigger{Periodical: p, TimeZone: zone, DeviceLocal: true}
	}
	tests := []struct {
		name    string
		trigger schedule.Trigger
		from    string // UTC
		n       int
		want    []string
	}{
		{"daily, to the end", fixed("", everyPeriod(t, "2026-01-01 00:00:00", "2026-01-03 23:59:59", 9*h, schedule.UnitDay, 1)), "2025-12-01 00:00:00", 10,
			[]string{"2026-01-01T09:00:00Z", "2026-01-02T09:00:00Z", "2026-01-03T09:00:00Z"}},
		{"end bound before the last day's time", fixed("", everyPeriod(t, "2026-01-01 00:00:00", "2026-01-03 08:59:59", 9*h, schedule.UnitDay, 1)), "2025-12-01 00:00:00", 10,
			[]string{"2026-01-01T09:00:00Z", "2026-01-02T09:00:00Z"}},
		{"every other day, start after the first day's time", fixed("", everyPeriod(t, "2026-01-01 10:00:00", "2026-01-08 00:00:00", 9*h, schedule.UnitDay, 2)), "2025-12-01 00:00:00", 10,
			[]string{"2026-01-03T09:00:00Z", "2026-01-05T09:00:00Z", "2026-01-07T09:00:00Z"}},
		{"from the middle", fixed("", everyPeriod(t, "2026-01-01 00:00:00", "2026-01-31 00:00:00", 9*h, schedule.UnitDay, 3)), "2026-01-10 09:00:00", 2,
			[]string{"2026-01-10T09:00:00Z", "2026-01-13T09:00:00Z"}},
		{"a firing exactly now is due", fixed("", everyPeriod(t, "2026-01-01 00:00:00", "2026-01-31 00:00:00", 9*h, schedule.UnitDay, 1)), "2026-01-05 09:00:00", 1,
			[]string{"2026-01-05T09:00:00Z"}},
		{"weekly points, every other week from the start's week", fixed("", weekly), "2026-01-01 00:00:00", 10,
			[]string{"2026-01-09T08:00:00Z", "2026-01-19T08:00:00Z", "2026-01-23T08:00:00Z", "2026-02-02T08:00:00Z", "2026-02-06T08:00:00Z"}},
		{"month end: months without the 31st skip it", fixed("", monthly), "2026-01-01 00:00:00", 20,
			[]string{"2026-01-15T12:00:00Z", "2026-01-31T12:00:00Z", "2026-02-15T12:00:00Z", "2026-03-15T12:00:00Z", "2026-03-31T12:00:00Z",
				"2026-04-15T12:00:00Z", "2026-05-15T12:00:00Z", "2026-05-31T12:00:00Z"}},
		{"February 29 in leap years only", fixed("", leap), "2026-01-31 00:00:00", 3,
			[]string{"2026-03-29T12:00:00Z", "2026-03-30T12:00:00Z", "2026-04-29T12:00:00Z"}},
		{"February 29 of 2028", fixed("", leap), "2028-02-01 00:00:00", 3,
			[]string{"2028-02-29T12:00:00Z", "2028-03-29T12:00:00Z", "2028-03-30T12:00:00Z"}},
		{"every third month from the start's", fixed("", quarterly), "2026-01-01 00:00:00", 10,
			[]string{"2026-04-10T10:00:00Z", "2026-07-10T10:00:00Z", "2026-10-10T10:00:00Z"}},
		{"no day matches", fixed("", never), "2026-01-01 00:00:00", 10, nil},
		{"in a zone", fixed("Asia/Shanghai", everyPeriod(t, "2026-01-01 00:00:00", "2026-01-02 23:00:00", 9*h, schedule.UnitDay, 1)), "2025-12-01 00:00:00", 10,
			[]string{"2026-01-01T01:00:00Z", "2026-01-02T01:00:00Z"}},
		{"DST gap: 02:30 that does not exist fires at 03:30", fixed("America/New_York", everyPeriod(t, "2026-03-07 00:00:00", "2026-03-09 23:59:59", 2*h+30*time.Minute, schedule.UnitDay, 1)),
			"2026-03-01 00:00:00", 10, []string{"2026-03-07T07:30:00Z", "2026-03-08T07:30:00Z", "2026-03-09T06:30:00Z"}},
		{"DST fold: 01:30 that happens twice fires the first time", fixed("America/New_York", everyPeriod(t, "2026-10-31 00:00:00", "2026-11-02 23:59:59", time.Hour+30*time.Minute, schedule.UnitDay, 1)),
			"2026-10-01 00:00:00", 10, []string{"2026-10-31T05:30:00Z", "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"}},
		{"DST across a week: same local time, another UTC time", fixed("Europe/Paris", everyPeriod(t, "2026-03-27 00:00:00", "2026-03-31 00:00:00", 9*h, schedule.UnitDay, 2)),
			"2026-03-01 00:00:00", 10, []string{"2026-03-27T08:00:00Z", "2026-03-29T07:00:00Z"}},
		{"single in a zone", schedule.Trigger{Single: &schedule.SingleTrigger{Time: wallTime(t, "2026-05-01 09:00:00")}, TimeZone: "Asia/Shanghai"}, "2026-01-01 00:00:00", 10,
			[]string{"2026-05-01T01:00:00Z"}},
		{"single instant", schedule.Trigger{Single: &schedule.SingleTrigger{Time: wallTime(t, "2026-05-01 09:00:00"), Instant: true}, TimeZone: "Asia/Shanghai"}, "2026-01-01 00:00:00", 10,
			[]string{"2026-05-01T09:00:00Z"}},
		{"single passed", schedule.Trigger{Single: &schedule.SingleTrigger{Time: wallTime(t, "2026-05-01 09:00:00")}}, "2026-05-01 09:00:01", 10, nil},
		{"local single: the largest offset first", schedule.Trigger{Single: &schedule.SingleTrigger{Time: wallTime(t, "2026-05-01 09:00:00")}, DeviceLocal: true}, "2026-01-01 00:00:00", 4,
			[]string{"2026-04-30T19:00:00Z +14:00", "2026-04-30T19:15:00Z +13:45", "2026-04-30T20:00:00Z +13:00", "2026-04-30T20:15:00Z +12:45"}},
		{"local single: the rest after now", schedule.Trigger{Single: &schedule.SingleTrigger{Time: wallTime(t, "2026-05-01 09:00:00")}, DeviceLocal: true}, "2026-05-01 18:30:00", 10,
			[]string{"2026-05-01T18:30:00Z -09:30", "2026-05-01T19:00:00Z -10:00", "2026-05-01T20:00:00Z -11:00", "2026-05-01T21:00:00Z -12:00"}},
		{"local daily: occurrences interleave, ties by offset, end bound", local("Asia/Tashkent", everyPeriod(t, "2026-05-01 00:00:00", "2026-05-02 23:59:59", 9*h, schedule.UnitDay, 1)),
			"2026-05-01 18:59:00", 40,
			[]string{"2026-05-01T19:00:00Z -10:00", "2026-05-01T19:00:00Z +14:00", "2026-05-01T19:15:00Z +13:45", "2026-05-01T20:00:00Z -11:00",
				"2026-05-01T20:00:00Z +13:00", "2026-05-01T20:15:00Z +12:45", "2026-05-01T21:00:00Z -12:00", "2026-05-01T21:00:00Z +12:00",
				"2026-05-01T22:00:00Z +11:00", "2026-05-01T22:30:00Z +10:30", "2026-05-01T23:00:00Z +10:00", "2026-05-01T23:30:00Z +09:30",
				"2026-05-02T00:00:00Z +09:00", "2026-05-02T00:15:00Z +08:45", "2026-05-02T01:00:00Z +08:00", "2026-05-02T02:00:00Z +07:00",
				"2026-05-02T02:30:00Z +06:30", "2026-05-02T03:00:00Z +06:00", "2026-05-02T03:15:00Z +05:45", "2026-05-02T03:30:00Z +05:30",
				"2026-05-02T04:00:00Z +05:00", "2026-05-02T04:30:00Z +04:30", "2026-05-02T05:00:00Z +04:00", "2026-05-02T05:30:00Z +03:30",
				"2026-05-02T06:00:00Z +03:00", "2026-05-02T07:00:00Z +02:00", "2026-05-02T08:00:00Z +01:00", "2026-05-02T09:00:00Z +00:00",
				"2026-05-02T10:00:00Z -01:00", "2026-05-02T11:00:00Z -02:00", "2026-05-02T11:30:00Z -02:30", "2026-05-02T12:00:00Z -03:00",
				"2026-05-02T12:30:00Z -03:30", "2026-05-02T13:00:00Z -04:00", "2026-05-02T14:00:00Z -05:00", "2026-05-02T15:00:00Z -06:00",
				"2026-05-02T16:00:00Z -07:00", "2026-05-02T17:00:00Z -08:00", "2026-05-02T18:00:00Z -09:00", "2026-05-02T18:30:00Z -09:30"}},
		{"local daily: the last firings", local("", everyPeriod(t, "2026-05-01 00:00:00", "2026-05-02 23:59:59", 9*h, schedule.UnitDay, 1)),
			"2026-05-02 18:59:00", 10, []string{"2026-05-02T19:00:00Z -10:00", "2026-05-02T20:00:00Z -11:00", "2026-05-02T21:00:00Z -12:00"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := firingsFrom(tc.trigger, wallTime(t, tc.from), tc.n)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("firings from %s:\n got %q\nwant %q", tc.from, got, tc.want)
			}
		})
	}
}

// A local-time occurrence fires once per UTC offset.
func TestLocalSingleFiresOncePerOffset(t *testing.T) {
	tr := schedule.Trigger{Single: &schedule.SingleTrigger{Time: wallTime(t, "2026-05-01 09:00:00")}, DeviceLocal: true}
	got := firingsFrom(tr, wallTime(t, "2026-01-01 00:00:00"), 1000)
	if len(got) != len(wallclock.UTCOffsets()) {
		t.Fatalf("%d firings, want one per offset (%d): %q", len(got), len(wallclock.UTCOffsets()), got)
	}
	if !slices.IsSorted(got) {
		t.Fatalf("firings out of order: %q", got)
	}
}
