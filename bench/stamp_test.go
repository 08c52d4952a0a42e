package bench

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func TestStampRoundTrip(t *testing.T) {
	for _, st := range []stamp{
		{device: 0, seq: 0, sent: 0},
		{device: 17999, seq: 19, sent: time.Now().UnixNano()},
		{device: 1 << 30, seq: 1 << 30, sent: 1<<63 - 1},
	} {
		b := appendExtras(nil, st)
		if !json.Valid(b) {
			t.Fatalf("%s is not JSON", b)
		}
		got, ok := parseStamp(b)
		if !ok || got != st {
			t.Fatalf("parseStamp(%s) = %+v, %v; want %+v", b, got, ok, st)
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
	st, ok := parseStamp(buf.Bytes())
	if !ok || st != (stamp{device: 3, seq: 4, sent: 1700000000000000000}) {
		t.Fatalf("parseStamp(%s) = %+v, %v", buf.Bytes(), st, ok)
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
		if st, ok := parseStamp([]byte(extras)); ok {
			t.Errorf("parseStamp(%s) = %+v, want rejected", extras, st)
		}
	}
}

func TestParseStampDoesNotAllocate(t *testing.T) {
	b := appendExtras(nil, stamp{device: 12, seq: 3, sent: time.Now().UnixNano()})
	if n := testing.AllocsPerRun(1000, func() { parseStamp(b) }); n != 0 {
		t.Fatalf("parseStamp allocates %v times", n)
	}
}

func TestPushBodyIsAValidRequest(t *testing.T) {
	b := appendPush(nil, "1a2b3c", stamp{device: 5, seq: 6, sent: 7}, 86400)
	var req struct {
		Audience struct {
			RegistrationID []string `json:"registration_id"`
		} `json:"audience"`
		Message struct {
			Title, Content string
			Extras         json.RawMessage
		} `json:"message"`
		Options struct {
			TimeToLive int64 `json:"time_to_live"`
		} `json:"options"`
	}
	if err := json.Unmarshal(b, &req); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	st, ok := parseStamp(req.Message.Extras)
	if len(req.Audience.RegistrationID) != 1 || req.Audience.RegistrationID[0] != "1a2b3c" ||
		req.Message.Content == "" || req.Options.TimeToLive != 86400 || !ok || st != (stamp{5, 6, 7}) {
		t.Fatalf("decoded %+v from %s", req, b)
	}
}

func TestMsgIDOf(t *testing.T) {
	tests := []struct {
		body string
		want uint64
		ok   bool
	}{
		{`{"msg_id":"1234567890123"}` + "\n", 1234567890123, true},
		{`{"msg_id":""}`, 0, false},
		{`{"msg_id":"x1"}`, 0, false},
		{`{"error":{"code":"internal"}}`, 0, false},
	}
	for _, tt := range tests {
		got, ok := msgIDOf([]byte(tt.body))
		if got != tt.want || ok != tt.ok {
			t.Errorf("msgIDOf(%s) = %d, %v; want %d, %v", tt.body, got, ok, tt.want, tt.ok)
		}
	}
}
