package remote

import (
	"context"

	"github.com/heraldpush/herald/dataservice"
)

var _ dataservice.SegmentStore = (*Client)(nil)

// Request bodies of the dataservice.SegmentStore endpoints. Segments are not
// cached: the segments API and audience resolution read them, seldom.
type (
	segmentReq    struct{ Segment dataservice.Segment }
	segmentKeyReq struct{ App, ID string }
)

// routeSegments serves the dataservice.SegmentStore methods.
func (s *Server) routeSegments() {
	d := s.data
	handle(s, domainPath+"create_segment", func(ctx context.Context, q *segmentReq) (empty, error) {
		return empty{}, d.CreateSegment(ctx, q.Segment)
	})
	handle(s, domainPath+"segment", func(ctx context.Context, q *segmentKeyReq) (dataservice.Segment, error) {
		return d.Segment(ctx, q.App, q.ID)
	})
	handle(s, domainPath+"segments", func(ctx context.Context, q *pageReq) ([]dataservice.Segment, error) {
		return d.Segments(ctx, q.App, q.After, q.Limit)
	})
	handle(s, domainPath+"update_segment", func(ctx context.Context, q *segmentReq) (empty, error) {
		return empty{}, d.UpdateSegment(ctx, q.Segment)
	})
	handle(s, domainPath+"delete_segment", func(ctx context.Context, q *segmentKeyReq) (bool, error) {
		return d.DeleteSegment(ctx, q.App, q.ID)
	})
}

// checkSegmentUTF8 fails like the service on a segment with strings that
// are not UTF-8.
func checkSegmentUTF8(op string, seg dataservice.Segment) error {
	return checkUTF8(op, []string{seg.AppKey, seg.ID, seg.Name}, seg.Tags, seg.Platforms)
}

// CreateSegment implements dataservice.SegmentStore.
func (c *Client) CreateSegment(ctx context.Context, seg dataservice.Segment) error {
	if err := checkSegmentUTF8("create_segment", seg); err != nil {
		return err
	}
	return c.write(ctx, "create_segment", segmentReq{Segment: seg}, &empty{})
}

// Segment implements dataservice.SegmentStore.
func (c *Client) Segment(ctx context.Context, app, id string) (dataservice.Segment, error) {
	var seg dataservice.Segment
	if err := checkUTF8("segment", []string{app, id}); err != nil {
		return seg, err
	}
	err := c.read(ctx, "segment", segmentKeyReq{App: app, ID: id}, &seg)
	return seg, err
}

// Segments implements dataservice.SegmentStore.
func (c *Client) Segments(ctx context.Context, app, after string, limit int) ([]dataservice.Segment, error) {
	if err := checkUTF8("segments", []string{app, after}); err != nil {
		return nil, err
	}
	out := []dataservice.Segment{}
	if err := c.read(ctx, "segments", pageReq{App: app, After: after, Limit: limit}, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// UpdateSegment implements dataservice.SegmentStore.
func (c *Client) UpdateSegment(ctx context.Context, seg dataservice.Segment) error {
	if err := checkSegmentUTF8("update_segment", seg); err != nil {
		return err
	}
	return c.write(ctx, "update_segment", segmentReq{Segment: seg}, &empty{})
}

// DeleteSegment implements dataservice.SegmentStore.
func (c *Client) DeleteSegment(ctx context.Context, app, id string) (bool, error) {
	var existed bool
	if err := checkUTF8("delete_segment", []string{app, id}); err != nil {
		return false, err
	}
	if err := c.write(ctx, "delete_segment", segmentKeyReq{App: app, ID: id}, &existed); err != nil {
		return false, err
	}
	return existed, nil
}
