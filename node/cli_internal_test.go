package node

import (
	"fmt"
	"io"
	"testing"
)

func TestTrustedProxiesFlag(t *testing.T) {
	for _, tc := range []struct {
		value, want string
		ok          bool
	}{
		{"", "[]", true},
		{"10.0.0.0/8, 192.0.2.7,::1", "[10.0.0.0/8 192.0.2.7/32 ::1/128]", true},
		{"10.1.2.3/8", "[10.0.0.0/8]", true},
		{"portal.example.com", "", false},
	} {
		f := newFlags("test", io.Discard)
		got := f.prefixes("trusted-proxies", "")
		err := f.parse([]string{"--trusted-proxies=" + tc.value})
		if (err == nil) != tc.ok || tc.ok && fmt.Sprint(*got) != tc.want {
			t.Errorf("--trusted-proxies=%q: %v, %v; want %s", tc.value, *got, err, tc.want)
		}
	}
}
