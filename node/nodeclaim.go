package node

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

// Node claims: message ids carry the node number of the gateway that made
// them, and a gateway treats tasks and leases of its node as its own, so
// two gateways on one node would make the same ids and take each other's
// work. A gateway claims its node in the dataservice before it serves,
// renews the claim while it runs and gives it up when it stops.

// NodeClaimTTL is how long a claim lasts unrenewed (it is renewed every
// quarter of it): how long a gateway restarted after a crash may wait for
// its predecessor's claim to run out.
const NodeClaimTTL = 10 * time.Second

// nodeClaim is a running gateway's claim on its node.
type nodeClaim struct {
	data  dataservice.NodeClaims
	node  int
	owner string
	ttl   time.Duration
	log   *slog.Logger

	failed chan error    // gets the reason once another gateway took the node
	stop   chan struct{} // closed by release
	done   chan struct{} // closed when the renewal loop has ended
}

// claimNode claims node for a new owner. A claim held by another owner
// that goes on being renewed for longer than ttl is another gateway on
// the same node: that is an error naming it. One that runs out is a
// predecessor that died without giving it up.
func claimNode(ctx context.Context, data dataservice.NodeClaims, node int, ttl time.Duration, log *slog.Logger) (*nodeClaim, error) {
	host, _ := os.Hostname()
	c := &nodeClaim{data: data, node: node, ttl: ttl, log: log,
		owner:  fmt.Sprintf("%s/%d/%s", host, os.Getpid(), strings.ToLower(rand.Text()[:8])),
		failed: make(chan error, 1), stop: make(chan struct{}), done: make(chan struct{})}
	deadline := time.Now().Add(ttl + ttl/2)
	waited := false
	for {
		err := data.ClaimNode(ctx, node, c.owner, ttl)
		if err == nil {
			break
		}
		if !errors.Is(err, dataservice.ErrExists) {
			return nil, fmt.Errorf("gateway: claiming node %d: %w", node, err)
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("gateway: node %d is in use by another gateway (%w); give each gateway its own --node (0..1023)", node, err)
		}
		if !waited {
			waited = true
			log.Warn("node is claimed; waiting for the claim to run out, as it does when the gateway that held it died", "node", node, "err", err, "up_to", ttl+ttl/2)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(ttl / 10):
		}
	}
	go c.renew()
	return c, nil
}

// renew keeps the claim until release. Renewals that fail for another
// reason (the dataservice unreachable) are retried; a claim found taken
// means this gateway was cut off for longer than the TTL and another one
// started on its node.
func (c *nodeClaim) renew() {
	defer close(c.done)
	t := time.NewTicker(c.ttl / 4)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), c.ttl/2)
		err := c.data.ClaimNode(ctx, c.node, c.owner, c.ttl)
		cancel()
		switch {
		case err == nil:
		case errors.Is(err, dataservice.ErrExists):
			c.failed <- fmt.Errorf("gateway: another gateway took node %d while this one could not renew its claim (%w): stopping, so that message ids stay unique", c.node, err)
			return
		default:
			c.log.Warn("renewing the node claim failed; retrying", "node", c.node, "err", err)
		}
	}
}

// Failed gets an error once another gateway holds the node.
func (c *nodeClaim) Failed() <-chan error { return c.failed }

// release stops renewing and gives the claim up.
func (c *nodeClaim) release(ctx context.Context) error {
	close(c.stop)
	<-c.done
	return c.data.ReleaseNode(ctx, c.node, c.owner)
}
