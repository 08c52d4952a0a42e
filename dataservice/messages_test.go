package dataservice

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckCollapseIDAndCID(t *testing.T) {
	for _, tc := range []struct {
		s             string
		collapse, cid bool // valid as a collapse id, as a cid
	}{
		{"score", true, true},
		{"订单 #42", true, true},
		{strings.Repeat("x", 64), true, true},
		{strings.Repeat("é", 32), true, true},
		{strings.Repeat("x", 65), false, false},
		{"", false, false},
		{"a/b", false, false},
		{"a\x00b", false, false},
		{"a\tb", false, false},
		{"bad\xff", false, false},
		{"a\u00a0b", true, false}, // no-break space: not a control character, not printable
		{"a\u200bb", true, false}, // zero-width space (format)
	} {
		if err := CheckCollapseID(tc.s); (err == nil) != tc.collapse || (err != nil && !errors.Is(err, ErrInvalid)) {
			t.Errorf("CheckCollapseID(%q) = %v, want valid %v", tc.s, err, tc.collapse)
		}
		if err := CheckCID(tc.s); (err == nil) != tc.cid || (err != nil && !errors.Is(err, ErrInvalid)) {
			t.Errorf("CheckCID(%q) = %v, want valid %v", tc.s, err, tc.cid)
		}
	}
}
