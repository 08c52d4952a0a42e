package fleet

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func TestStampRoundTrip(t *testing.T) {
	for _, st := range []Stamp{
		{Device: 0, Seq: 0, Sent: 0},
		{Device: 17999, Seq: 19, Sent: time.Now().UnixNano()},
		{Device: 1 << 30, Seq: 1 << 30, Sent: 1<<63 - 1},
	} {
		b := AppendStamp(nil, st)
		if !json.Valid(b) {
			t.Fatalf("%s is not JSON", b)
		}
		got, ok := ParseStamp(b)
		if !ok || got != st {
			t.Fatalf("ParseStamp(%s) = %+v, %v; want %+v", b, got, ok, st)
		}
	}
}

func TestStampSurvivesCompaction(t *testing.T) {
	// The gateway compacts extras before forwarding them.
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(`{ "d" : 3, "s": 4,
		"t": 1700000000000000000 }`)); err != nil {
		t.Fatal(err)
	}
	st, ok := ParseStamp(buf.Bytes())
	if !ok || st != (Stamp{Device: 3, Seq: 4, Sent: 1700000000000000000}) {
		t.Fatalf("ParseStamp(%s) = %+v, %v", buf.Bytes(), st, ok)
	}
}

func TestParseStampRejectsOthersMessages(t *testing.T) {
	for _, extras := range []string{
		``,
		`null`,
		`{"k":"v"}`,
		`{"d":1,"s":2}`,
		`{"d":"1","s":2,"t":3}`,
		`{"d":-1,"s":2,"t":3}`,
		`{"d":1,"s":2,"t":99999999999999999999}`,
		`{"d":1,"s":2,"t":}`,
	} {
		if st, ok := ParseStamp([]byte(extras)); ok {
			t.Errorf("ParseStamp(%s) = %+v, want rejected", extras, st)
		}
	}
}

func TestParseStampDoesNotAllocate(t *testing.T) {
	b := AppendStamp(nil, Stamp{Device: 12, Seq: 3, Sent: time.Now().UnixNano()})
	if n := testing.AllocsPerRun(1000, func() { ParseStamp(b) }); n != 0 {
		t.Fatalf("parseStamp allocates %v times", n)
	}
}
