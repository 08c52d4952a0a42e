package remote

import (
	"context"

	"github.com/heraldpush/herald/dataservice"
)

var _ dataservice.UpstreamStore = (*Client)(nil)

// Request bodies of the dataservice.UpstreamStore endpoints. Nothing of
// them is cached: queues change with every delivery.
type (
	enqueueUpstreamReq struct {
		Messages []dataservice.UpstreamMessage
	}
	pendingUpstreamsReq struct {
		App, After string
		Limit      int
	}
	removeUpstreamsReq struct {
		App  string
		Keys []string
	}
)

// routeUpstream serves the dataservice.UpstreamStore methods.
func (s *Server) routeUpstream() {
	d := s.data
	handle(s, domainPath+"enqueue_upstream", func(ctx context.Context, q *enqueueUpstreamReq) (empty, error) {
		return empty{}, d.EnqueueUpstream(ctx, q.Messages)
	})
	handle(s, domainPath+"pending_upstreams", func(ctx context.Context, q *pendingUpstreamsReq) ([]dataservice.PendingUpstream, error) {
		return d.PendingUpstreams(ctx, q.App, q.After, q.Limit)
	})
	handle(s, domainPath+"remove_upstreams", func(ctx context.Context, q *removeUpstreamsReq) ([]bool, error) {
		return d.RemoveUpstreams(ctx, q.App, q.Keys)
	})
}

// EnqueueUpstream implements dataservice.UpstreamQueue. Messages are
// checked here first: JSON could not carry a registration id that is not
// UTF-8 as it is.
func (c *Client) EnqueueUpstream(ctx context.Context, msgs []dataservice.UpstreamMessage) error {
	for _, m := range msgs {
		if err := dataservice.CheckUpstream(m); err != nil {
			return err
		}
	}
	return c.write(ctx, "enqueue_upstream", enqueueUpstreamReq{Messages: msgs}, &empty{})
}

// PendingUpstreams implements dataservice.UpstreamStore.
func (c *Client) PendingUpstreams(ctx context.Context, app, after string, limit int) ([]dataservice.PendingUpstream, error) {
	if err := checkUTF8("pending_upstreams", []string{app, after}); err != nil {
		return nil, err
	}
	var out []dataservice.PendingUpstream
	if err := c.read(ctx, "pending_upstreams", pendingUpstreamsReq{App: app, After: after, Limit: limit}, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// RemoveUpstreams implements dataservice.UpstreamStore.
func (c *Client) RemoveUpstreams(ctx context.Context, app string, keys []string) ([]bool, error) {
	if err := checkUTF8("remove_upstreams", []string{app}, keys); err != nil {
		return nil, err
	}
	var existed []bool
	if err := c.write(ctx, "remove_upstreams", removeUpstreamsReq{App: app, Keys: keys}, &existed); err != nil {
		return nil, err
	}
	return existed, nil
}
