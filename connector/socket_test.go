package connector

import (
	"testing"
	"unsafe"
)

func TestIdleSocketIsSmall(t *testing.T) {
	// A connector holds one per connection, next to the event loop's
	// record (connector/netpoll) and the two actors'.
	if got := unsafe.Sizeof(socket{}); got > 64 {
		t.Errorf("a socket takes %d bytes, want at most 64", got)
	}
}
