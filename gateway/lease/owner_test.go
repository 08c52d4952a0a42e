package lease_test

import (
	"strings"
	"testing"

	"github.com/heraldpush/herald/gateway/lease"
)

func TestOwner(t *testing.T) {
	a, b, other := lease.NewOwner(3), lease.NewOwner(3), lease.NewOwner(4)
	if !strings.HasPrefix(a.String(), "g3:") || a.String() == b.String() {
		t.Fatalf("owners %q and %q: want g3:<random>, distinct per run", a, b)
	}
	for _, tc := range []struct {
		owner         string
		holds, sameNd bool
	}{
		{a.String(), true, false},      // this run
		{b.String(), false, true},      // this node, another run: taken back at once
		{other.String(), false, false}, // another gateway
		{"g30:abcdefgh", false, false}, // a node whose number starts with ours
		{"", false, false},
	} {
		if got := a.Holds(tc.owner); got != tc.holds {
			t.Errorf("Holds(%q) = %v, want %v", tc.owner, got, tc.holds)
		}
		if got := a.SameNode(tc.owner); got != tc.sameNd {
			t.Errorf("SameNode(%q) = %v, want %v", tc.owner, got, tc.sameNd)
		}
	}
}
