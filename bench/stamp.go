package bench

import (
	"bytes"
	"math"
	"strconv"
)

// stamp is what the bench puts in a message's extras to recognize it on
// arrival: the global index of the device it is for, its sequence number
// among that device's messages, and its send time.
type stamp struct {
	device int
	seq    int
	sent   int64 // Unix nanoseconds
}

// appendExtras appends st as the JSON object {"d":…,"s":…,"t":…}.
func appendExtras(b []byte, st stamp) []byte {
	b = append(b, `{"d":`...)
	b = strconv.AppendInt(b, int64(st.device), 10)
	b = append(b, `,"s":`...)
	b = strconv.AppendInt(b, int64(st.seq), 10)
	b = append(b, `,"t":`...)
	b = strconv.AppendInt(b, st.sent, 10)
	return append(b, '}')
}

// parseStamp reads a stamp from extras as the gateway forwards them
// (compacted JSON, keys in the order sent) without allocating. ok is false
// when any field is missing or malformed.
func parseStamp(extras []byte) (st stamp, ok bool) {
	d, ok1 := intField(extras, `"d":`)
	s, ok2 := intField(extras, `"s":`)
	t, ok3 := intField(extras, `"t":`)
	if !ok1 || !ok2 || !ok3 || d < 0 || s < 0 || d > 1<<31 || s > 1<<31 {
		return stamp{}, false
	}
	return stamp{device: int(d), seq: int(s), sent: t}, true
}

// intField parses the non-negative decimal integer following key.
func intField(b []byte, key string) (int64, bool) {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return 0, false
	}
	b = b[i+len(key):]
	var n int64
	digits := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		v := int64(c - '0')
		if n > (math.MaxInt64-v)/10 {
			return 0, false
		}
		n = n*10 + v
		digits++
	}
	return n, digits > 0
}
