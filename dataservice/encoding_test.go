package dataservice

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
)

func TestMessageRecordKeepsBytesVerbatim(t *testing.T) {
	m := &Message{
		AppKey:     "3abdab7debf1dc3aee6377fa",
		Title:      "<b>Sale</b> & more",
		Content:    "\u2028 line separator, é, 😀",
		Extras:     json.RawMessage(`{"html":"<a href=\"x\">&amp;</a>","n":1}`),
		TTL:        36 * time.Hour,
		Created:    time.UnixMilli(1_700_000_000_123),
		Broadcast:  true,
		Priority:   PriorityHigh,
		CollapseID: "score",
		Audience:   json.RawMessage(`{"tag":["<vip>"]}`),
	}
	v := encodeMessage(m)
	if size := len(v); size > 17+2+6+len(m.AppKey)+len(m.Title)+len(m.Content)+len(m.Extras)+len(m.CollapseID)+len(m.Audience) {
		t.Fatalf("record of %d bytes is larger than its fields", size)
	}
	got, err := decodeMessage(7, v)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != 7 || got.AppKey != m.AppKey || got.Title != m.Title || got.Content != m.Content ||
		!bytes.Equal(got.Extras, m.Extras) || got.TTL != m.TTL || !got.Created.Equal(m.Created) ||
		!got.Broadcast || got.Priority != m.Priority || got.CollapseID != m.CollapseID || !bytes.Equal(got.Audience, m.Audience) {
		t.Fatalf("round trip changed the message:\n got %+v\nwant %+v", got, *m)
	}
}

func TestMessageRecordWithoutExtras(t *testing.T) {
	got, err := decodeMessage(1, encodeMessage(&Message{Content: "x"}))
	if err != nil || got.Extras != nil || got.Content != "x" {
		t.Fatalf("%+v %v", got, err)
	}
}

// Records written before delivery options existed still read.
func TestMessageRecordVersion1(t *testing.T) {
	v1 := []byte{1, 0, 0, 0, 0, 0, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0, 5, 1, 'k', 0, 2, 'h', 'i', 0}
	got, err := decodeMessage(3, v1)
	if err != nil || got.AppKey != "k" || got.Content != "hi" || got.TTL != 5 || got.CollapseID != "" || got.Broadcast {
		t.Fatalf("%+v %v", got, err)
	}
}

func TestCorruptMessageRecordsAreRejected(t *testing.T) {
	good := encodeMessage(&Message{AppKey: "k", Content: "hello", Extras: json.RawMessage(`{}`)})
	for name, v := range map[string][]byte{
		"empty":          nil,
		"wrong version":  append([]byte{9}, good[1:]...),
		"truncated":      good[:len(good)-1],
		"trailing bytes": append(append([]byte{}, good...), 0),
		"huge length":    append(append([]byte{}, good[:17]...), 0xff, 0xff, 0xff, 0xff, 0x0f),
	} {
		if _, err := decodeMessage(1, v); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestDeviceRecordRoundTrip(t *testing.T) {
	d := Device{RegistrationID: "r1", AppKey: "app", Platform: "ios", StoredKey: [32]byte{1}, ServerKey: [32]byte{2}, Created: time.UnixMilli(42).UTC()}
	got, err := decodeDevice("r1", encodeDevice(d))
	if err != nil || got != d {
		t.Fatalf("%+v %v", got, err)
	}
	if _, err := decodeDevice("r1", encodeDevice(d)[:70]); err == nil {
		t.Fatal("truncated device record accepted")
	}
}

func TestSessionRecordRoundTrip(t *testing.T) {
	s := Session{RegistrationID: "r1", Connector: "connector-7", Since: time.UnixMilli(1_700_000_000_000)}
	got, err := decodeSession("r1", encodeSession(s))
	if err != nil || got.Connector != s.Connector || !got.Since.Equal(s.Since) || got.RegistrationID != "r1" {
		t.Fatalf("%+v %v", got, err)
	}
	for _, bad := range [][]byte{nil, {2, 0, 0, 0, 0, 0, 0, 0, 0, 'c'}, {1, 0, 0}} {
		if _, err := decodeSession("r1", bad); err == nil {
			t.Errorf("%x accepted", bad)
		}
	}
}

func TestDeviceRecordWithTimeZoneAndVersion1(t *testing.T) {
	d := Device{RegistrationID: "r1", AppKey: "app", Platform: "ios", TimeZone: "Asia/Shanghai", Created: time.UnixMilli(42).UTC()}
	if got, err := decodeDevice("r1", encodeDevice(d)); err != nil || got != d {
		t.Fatalf("%+v %v", got, err)
	}
	v1 := append([]byte{1}, make([]byte, 72)...)
	v1 = append(v1, 3, 'a', 'p', 'p', 3, 'i', 'o', 's')
	if got, err := decodeDevice("r1", v1); err != nil || got.AppKey != "app" || got.Platform != "ios" || got.TimeZone != "" {
		t.Fatalf("version 1: %+v %v", got, err)
	}
	if _, err := decodeDevice("r1", v1[:len(v1)-1]); err == nil {
		t.Fatal("truncated record accepted")
	}
}
