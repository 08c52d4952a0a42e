package lease

import (
	"crypto/rand"
	"fmt"
	"strings"
)

// Owner names one run of a gateway in the leases it holds: "g<node>:<random>".
// The node part (the gateway's node number in message ids, unique in a
// cluster) survives a restart; the random part does not.
type Owner struct {
	name string
	node string // "g<node>", the prefix of name
}

// NewOwner returns a name for this run of the gateway with node number
// node.
func NewOwner(node int) Owner {
	n := fmt.Sprintf("g%d", node)
	return Owner{name: n + ":" + strings.ToLower(rand.Text()[:8]), node: n}
}

// String returns the name written in claims.
func (o Owner) String() string { return o.name }

// Holds reports whether a claim naming owner is this run's.
func (o Owner) Holds(owner string) bool { return owner == o.name }

// SameNode reports whether owner is this gateway's node in an earlier run:
// its leases are taken back at once, without waiting for them to run out.
func (o Owner) SameNode(owner string) bool {
	n, _, _ := strings.Cut(owner, ":")
	return n == o.node && owner != o.name
}
