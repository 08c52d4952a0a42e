package node

import (
	"runtime/debug"
	"testing"
)

func TestConnectorGCTarget(t *testing.T) {
	orig := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(orig) })
	for _, tc := range []struct {
		name string
		gogc string
		want int
	}{
		{"no GOGC: the connector's target", "", connectorGCPercent},
		{"GOGC set: the runtime's reading of it stays", "200", 100},
		{"GOGC=off stays off", "off", 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			debug.SetGCPercent(100) // stands for what the runtime made of GOGC
			tuneConnectorGC(func(k string) string {
				if k == "GOGC" {
					return tc.gogc
				}
				return ""
			})
			if got := debug.SetGCPercent(100); got != tc.want {
				t.Errorf("GC percent = %d, want %d", got, tc.want)
			}
		})
	}
}
