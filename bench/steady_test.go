package bench

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"
)

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
