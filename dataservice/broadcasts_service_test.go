package dataservice

import (
	"math"
	"slices"
	"testing"
)

func TestCursorRecord(t *testing.T) {
	for _, c := range []BroadcastCursor{
		{RegistrationID: "r1"},
		{RegistrationID: "r1", Sent: 1_700_000_000_000_000, Acked: 1_699_999_999_999_999},
		{RegistrationID: "r1", Sent: math.MaxUint64, Acked: math.MaxUint64},
	} {
		v := encodeCursor(c)
		if len(v) != 17 || v[0] != cursorRecordVersion {
			t.Fatalf("encodeCursor(%+v) = %x", c, v)
		}
		got, err := decodeCursor("r1", v)
		if err != nil || got != c {
			t.Fatalf("decodeCursor = %+v, %v; want %+v", got, err, c)
		}
	}
	good := encodeCursor(BroadcastCursor{Sent: 2, Acked: 1})
	for name, v := range map[string][]byte{
		"empty":          nil,
		"version 0":      append([]byte{0}, good[1:]...),
		"future version": append([]byte{2}, good[1:]...),
		"truncated":      good[:16],
		"trailing bytes": append(slices.Clone(good), 0),
	} {
		if _, err := decodeCursor("r1", v); err == nil {
			t.Errorf("decodeCursor of %s record: no error", name)
		}
	}
}
