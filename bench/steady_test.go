package bench

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"testing"
	"time"
)

// Every device sends once per period, in its own second, and every
// second of a period has its share of the devices: the rate is exact.
func TestSteadyPlanSlots(t *testing.T) {
	for _, tc := range []struct {
		devices int
		plan    steadyPlan
	}{
		{devices: 10, plan: steadyPlan{T0: 1_000_000_003, Period: 5, Rounds: 3}},
		{devices: 7, plan: steadyPlan{T0: 1_000_000_000, Period: 1, Rounds: 4}},
		{devices: 1000, plan: steadyPlan{T0: 1_700_000_001, Period: 10, Rounds: 2}},
	} {
		t.Run(fmt.Sprintf("devices=%d/period=%d", tc.devices, tc.plan.Period), func(t *testing.T) {
			p := tc.plan
			perSecond := map[int64]int{}
			for d := range tc.devices {
				for k := range p.Rounds {
					s := p.slot(d, k)
					if s < p.T0+int64(k*p.Period) || s >= p.T0+int64((k+1)*p.Period) {
						t.Fatalf("device %d round %d in second %d, outside its period [%d, %d)", d, k, s, p.T0+int64(k*p.Period), p.T0+int64((k+1)*p.Period))
					}
					if s%int64(p.Period) != int64(d)%int64(p.Period) {
						t.Fatalf("device %d sends in second %d: not its residue mod %d", d, s, p.Period)
					}
					perSecond[s]++
				}
			}
			if got, want := len(perSecond), int(p.end()-p.T0); got != want {
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

func TestSteadyShape(t *testing.T) {
	for _, tc := range []struct {
		devices, rate  int
		duration       time.Duration
		period, rounds int
	}{
		{1000, 100, 30 * time.Second, 10, 3},
		{1000, 1000, 5 * time.Second, 1, 5},
		{1000, 300, 10 * time.Second, 3, 3},
		{100, 100, 500 * time.Millisecond, 1, 1},
	} {
		o := Options{Devices: tc.devices, Rate: tc.rate, Duration: tc.duration}
		if p, r := o.steadyShape(); p != tc.period || r != tc.rounds {
			t.Errorf("%d devices at %d/s for %v: period %d rounds %d, want %d and %d", tc.devices, tc.rate, tc.duration, p, r, tc.period, tc.rounds)
		}
	}
}

func TestVerifySignature(t *testing.T) {
	body := []byte(`{"app_key":"a","messages":[]}`)
	mac := hmac.New(sha256.New, []byte("secret"))
	mac.Write([]byte("1700000000." + string(body)))
	good := "v1=" + hex.EncodeToString(mac.Sum(nil))
	for _, tc := range []struct {
		name, secret, ts, sig string
		body                  []byte
		ok                    bool
	}{
		{"valid", "secret", "1700000000", good, body, true},
		{"other secret", "other", "1700000000", good, body, false},
		{"other timestamp", "secret", "1700000001", good, body, false},
		{"other body", "secret", "1700000000", good, []byte(`{}`), false},
		{"no version", "secret", "1700000000", good[3:], body, false},
		{"not hex", "secret", "1700000000", "v1=zz", body, false},
		{"bad timestamp", "secret", "17e8", good, body, false},
	} {
		if got := verifySignature(tc.secret, tc.ts, tc.sig, tc.body); got != tc.ok {
			t.Errorf("%s: verify = %v, want %v", tc.name, got, tc.ok)
		}
	}
}
