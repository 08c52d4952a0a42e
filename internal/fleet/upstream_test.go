package fleet

import (
	"fmt"
	"testing"
)

// Every device sends once per period, in its own second, and every
// second of a period has its share of the devices: the rate is exact.
func TestUpstreamPlanSlots(t *testing.T) {
	for _, tc := range []struct {
		devices int
		plan    UpstreamPlan
	}{
		{devices: 10, plan: UpstreamPlan{T0: 1_000_000_003, Period: 5, Rounds: 3}},
		{devices: 7, plan: UpstreamPlan{T0: 1_000_000_000, Period: 1, Rounds: 4}},
		{devices: 1000, plan: UpstreamPlan{T0: 1_700_000_001, Period: 10, Rounds: 2}},
	} {
		t.Run(fmt.Sprintf("devices=%d/period=%d", tc.devices, tc.plan.Period), func(t *testing.T) {
			p := tc.plan
			perSecond := map[int64]int{}
			for d := range tc.devices {
				for k := range p.Rounds {
					s := p.Slot(d, k)
					if s < p.T0+int64(k*p.Period) || s >= p.T0+int64((k+1)*p.Period) {
						t.Fatalf("device %d round %d in second %d, outside its period [%d, %d)", d, k, s, p.T0+int64(k*p.Period), p.T0+int64((k+1)*p.Period))
					}
					if s%int64(p.Period) != int64(d)%int64(p.Period) {
						t.Fatalf("device %d sends in second %d: not its residue mod %d", d, s, p.Period)
					}
					perSecond[s]++
				}
			}
			if got, want := len(perSecond), int(p.End()-p.T0); got != want {
				t.Fatalf("sends in %d seconds, want every one of %d", got, want)
			}
			lo, hi := tc.devices/p.Period, (tc.devices+p.Period-1)/p.Period
			for s, n := range perSecond {
				if n < lo || n > hi {
					t.Errorf("second %d: %d sends, want %d to %d", s, n, lo, hi)
				}
			}
		})
	}
}
