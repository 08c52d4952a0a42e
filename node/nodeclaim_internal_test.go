package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

// takenNodes is a claims registry where another owner takes the node once
// taken is set.
type takenNodes struct {
	dataservice.NodeClaims
	mu       sync.Mutex
	taken    bool
	released []string
}

func (c *takenNodes) ClaimNode(_ context.Context, node int, owner string, _ time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.taken {
		return fmt.Errorf("claim node %d: %w: another/1/x holds it", node, dataservice.ErrExists)
	}
	return nil
}

func (c *takenNodes) ReleaseNode(_ context.Context, _ int, owner string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.released = append(c.released, owner)
	return nil
}

// A gateway whose claim another one took while it could not renew it is
// told to stop.
func TestNodeClaimTakenWhileRunning(t *testing.T) {
	reg := &takenNodes{}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	c, err := claimNode(context.Background(), reg, 3, 200*time.Millisecond, quiet)
	if err != nil {
		t.Fatal(err)
	}
	reg.mu.Lock()
	reg.taken = true
	reg.mu.Unlock()
	select {
	case err := <-c.Failed():
		if !errors.Is(err, dataservice.ErrExists) {
			t.Fatalf("Failed: %v, want the renewal's ErrExists", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the gateway was not told its node was taken")
	}
	if err := c.release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(reg.released) != 1 || reg.released[0] != c.owner {
		t.Fatalf("released %v, want this owner's claim", reg.released)
	}
}
