package sdk

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// MaxUpstreamData is the largest payload Send accepts, in bytes.
const MaxUpstreamData = protocol.MaxUpstreamData

// MaxPendingUpstreams bounds the upstream messages a Client holds until
// the server acknowledges them; Send fails with ErrTooManyUpstreams beyond
// it.
const MaxPendingUpstreams = 256

// Errors of Send.
var (
	// ErrUpstreamUnsupported means the server does not accept upstream
	// data (its WELCOME did not announce the upstream feature).
	ErrUpstreamUnsupported = errors.New("herald: the server does not accept upstream data")
	// ErrUpstreamSize reports data of 0 or more than MaxUpstreamData
	// bytes.
	ErrUpstreamSize = fmt.Errorf("herald: upstream data must be 1 to %d bytes", MaxUpstreamData)
	// ErrTooManyUpstreams means MaxPendingUpstreams messages await the
	// server's acknowledgement already: wait for some before sending more.
	ErrTooManyUpstreams = fmt.Errorf("herald: %d upstream messages await the server's acknowledgement", MaxPendingUpstreams)
)

// pendingUpstream is an upstream message not yet acknowledged. Its fields
// other than done are guarded by Client.mu.
type pendingUpstream struct {
	id   uint64
	data []byte
	conn *conn         // the connection it was last written to
	err  error         // why it failed, set before done closes
	done chan struct{} // closed when acknowledged or failed
}

// Send sends data to the app's backend (through the webhook the app
// configured in Herald) and returns once Herald stored it, with the id
// that identifies it there together with this device's registration id.
//
// If the connection drops before the server acknowledged the message, the
// client sends it again on its next connection, by itself: delivery is at
// least once, and the backend drops repeats by (registration id, id). At
// most MaxPendingUpstreams messages wait for their acknowledgement; Send
// fails with ErrTooManyUpstreams beyond it.
//
// If ctx ends first, Send returns ctx.Err() but keeps the message: it may
// still be delivered (with the id Send did not get to return). Send fails
// with ErrUpstreamSize for data of 0 or more than MaxUpstreamData bytes,
// with ErrUpstreamUnsupported if the server does not accept upstream data,
// and with ErrClosed after Close. It copies data.
func (c *Client) Send(ctx context.Context, data []byte) (uint64, error) {
	if len(data) == 0 || len(data) > MaxUpstreamData {
		return 0, ErrUpstreamSize
	}
	if c.ctx.Err() != nil {
		return 0, ErrClosed
	}
	c.mu.Lock()
	if c.live != nil && c.live.features&protocol.FeatureUpstream == 0 {
		c.mu.Unlock()
		return 0, ErrUpstreamUnsupported
	}
	if len(c.upstreams) >= MaxPendingUpstreams {
		c.mu.Unlock()
		return 0, ErrTooManyUpstreams
	}
	p := &pendingUpstream{id: c.nextUpstreamID(), data: slices.Clone(data), done: make(chan struct{})}
	c.upstreams = append(c.upstreams, p)
	c.mu.Unlock()
	c.wake()
	select {
	case <-p.done:
		if p.err != nil {
			return 0, p.err
		}
		return p.id, nil
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-c.ctx.Done():
		return 0, ErrClosed
	}
}

// nextUpstreamID returns a new upstream id: the time in nanoseconds, or
// one more than the last id if the clock has not moved past it. Ids so
// stay unique for the device across restarts of the app, unless its clock
// goes back. c.mu must be held.
func (c *Client) nextUpstreamID() uint64 {
	id := uint64(time.Now().UnixNano())
	if id <= c.lastUpstream {
		id = c.lastUpstream + 1
	}
	c.lastUpstream = id
	return id
}

// sendUpstreams writes the pending upstream messages that the established
// connection has not carried yet, in order, keeping at most
// protocol.MaxUpstreamsInFlight unacknowledged on it. It runs on the
// sender goroutine.
func (c *Client) sendUpstreams() {
	for {
		c.mu.Lock()
		cn := c.live
		if cn == nil || len(c.upstreams) == 0 {
			c.mu.Unlock()
			return
		}
		if cn.features&protocol.FeatureUpstream == 0 {
			c.failUpstreams(ErrUpstreamUnsupported)
			c.mu.Unlock()
			return
		}
		inFlight := 0
		var next *pendingUpstream
		for _, p := range c.upstreams {
			switch {
			case p.conn == cn:
				inFlight++
			case next == nil:
				next = p
			}
		}
		if next == nil || inFlight >= protocol.MaxUpstreamsInFlight {
			c.mu.Unlock()
			return
		}
		next.conn = cn
		c.mu.Unlock()
		if err := cn.upstream(next.id, next.data); err != nil {
			// The connection failed: serve notices and reconnects; the
			// message goes out again on the next one.
			c.mu.Lock()
			if c.live == cn {
				c.live = nil
			}
			c.mu.Unlock()
			return
		}
	}
}

// failUpstreams ends every pending Send with err. c.mu must be held.
func (c *Client) failUpstreams(err error) {
	for _, p := range c.upstreams {
		p.err = err
		close(p.done)
	}
	c.upstreams = nil
}

// upstreamsAcked ends the Sends of the acknowledged ids and lets the
// sender write more. Ids that are not pending (acknowledged twice after a
// resend) are ignored.
func (c *Client) upstreamsAcked(ids []uint64) {
	c.mu.Lock()
	c.upstreams = slices.DeleteFunc(c.upstreams, func(p *pendingUpstream) bool {
		if !slices.Contains(ids, p.id) {
			return false
		}
		// Counted before the Send returns, so that Stats after it
		// includes it.
		c.sent.Add(1)
		close(p.done)
		return true
	})
	c.mu.Unlock()
	c.wake()
}
