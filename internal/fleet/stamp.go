package fleet

import (
	"bytes"
	"math"
	"strconv"
)

// Stamp is what a load generator puts in a message's extras (or an
// upstream message's data) to recognize it on arrival.
type Stamp struct {
	// Device is the global index of the device the message is for; zero
	// for a message to every device (Config.Shared).
	Device int
	// Seq is the message's sequence number among the device's messages.
	Seq int
	// Sent is when it was sent, Unix nanoseconds.
	Sent int64
}

// AppendStamp appends st as the JSON object {"d":…,"s":…,"t":…}.
func AppendStamp(b []byte, st Stamp) []byte {
	b = append(b, `{"d":`...)
	b = strconv.AppendInt(b, int64(st.Device), 10)
	b = append(b, `,"s":`...)
	b = strconv.AppendInt(b, int64(st.Seq), 10)
	b = append(b, `,"t":`...)
	b = strconv.AppendInt(b, st.Sent, 10)
	return append(b, '}')
}

// ParseStamp reads a stamp from extras as the gateway forwards them
// (compacted JSON, keys in the order sent) without allocating. ok is false
// when any field is missing or malformed.
func ParseStamp(extras []byte) (st Stamp, ok bool) {
	d, ok1 := intField(extras, `"d":`)
	s, ok2 := intField(extras, `"s":`)
	t, ok3 := intField(extras, `"t":`)
	if !ok1 || !ok2 || !ok3 || d < 0 || s < 0 || d > 1<<31 || s > 1<<31 {
		return Stamp{}, false
	}
	return Stamp{Device: int(d), Seq: int(s), Sent: t}, true
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
