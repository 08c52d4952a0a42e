package remote

import (
	"context"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

type (
	putConnectorReq struct {
		Connector dataservice.ConnectorInfo
		TTL       time.Duration
	}
	removeConnectorReq struct{ ID string }
)

// routeCluster serves the dataservice.Cluster methods.
func (s *Server) routeCluster() {
	d := s.data
	handle(s, domainPath+"put_connector", func(ctx context.Context, q *putConnectorReq) (empty, error) {
		return empty{}, d.PutConnector(ctx, q.Connector, q.TTL)
	})
	handle(s, domainPath+"remove_connector", func(ctx context.Context, q *removeConnectorReq) (empty, error) {
		return empty{}, d.RemoveConnector(ctx, q.ID)
	})
	handle(s, domainPath+"connectors", func(ctx context.Context, _ *empty) ([]dataservice.ConnectorInfo, error) {
		return d.Connectors(ctx)
	})
}

// PutConnector implements dataservice.Cluster.
func (c *Client) PutConnector(ctx context.Context, ci dataservice.ConnectorInfo, ttl time.Duration) error {
	return c.write(ctx, "put_connector", putConnectorReq{Connector: ci, TTL: ttl}, &empty{})
}

// RemoveConnector implements dataservice.Cluster.
func (c *Client) RemoveConnector(ctx context.Context, id string) error {
	return c.write(ctx, "remove_connector", removeConnectorReq{ID: id}, &empty{})
}

// Connectors implements dataservice.Cluster.
func (c *Client) Connectors(ctx context.Context) ([]dataservice.ConnectorInfo, error) {
	var out []dataservice.ConnectorInfo
	if err := c.read(ctx, "connectors", empty{}, &out); err != nil {
		return nil, err
	}
	return out, nil
}
