package remote

import (
	"context"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

var _ dataservice.SessionStore = (*Client)(nil)

// Request bodies of the dataservice.SessionStore endpoints: its writes.
// Sessions are read through the store endpoints, and cached.
type (
	putSessionsReq struct {
		Sessions []dataservice.Session
		TTL      time.Duration
	}
	deleteSessionReq struct {
		RID        string
		Generation uint32
	}
)

// routeSessions serves the dataservice.SessionStore writes.
func (s *Server) routeSessions() {
	d := s.data
	handle(s, domainPath+"put_sessions", func(ctx context.Context, q *putSessionsReq) ([]uint32, error) {
		return d.PutSessions(ctx, q.Sessions, q.TTL)
	})
	handle(s, domainPath+"delete_session", func(ctx context.Context, q *deleteSessionReq) (empty, error) {
		return empty{}, d.DeleteSession(ctx, q.RID, q.Generation)
	})
}

// PutSessions implements dataservice.SessionStore.
func (c *Client) PutSessions(ctx context.Context, ss []dataservice.Session, ttl time.Duration) ([]uint32, error) {
	var gens []uint32
	if err := c.write(ctx, "put_sessions", putSessionsReq{Sessions: ss, TTL: ttl}, &gens); err != nil {
		return nil, err
	}
	return gens, nil
}

// Sessions implements dataservice.SessionStore.
func (c *Client) Sessions(ctx context.Context, rids []string) ([]dataservice.Session, error) {
	return c.reads.Sessions(ctx, rids)
}

// DeleteSession implements dataservice.SessionStore.
func (c *Client) DeleteSession(ctx context.Context, rid string, generation uint32) error {
	return c.write(ctx, "delete_session", deleteSessionReq{RID: rid, Generation: generation}, &empty{})
}
