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
	nodeReq            struct {
		Node  int
		Owner string
		TTL   time.Duration
	}
)

// routeCluster serves the dataservice.Cluster and dataservice.Nodes
// methods.
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
	handle(s, domainPath+"claim_node", func(ctx context.Context, q *nodeReq) (empty, error) {
		return empty{}, d.ClaimNode(ctx, q.Node, q.Owner, q.TTL)
	})
	handle(s, domainPath+"release_node", func(ctx context.Context, q *nodeReq) (empty, error) {
		return empty{}, d.ReleaseNode(ctx, q.Node, q.Owner)
	})
}

// ClaimNode implements dataservice.Nodes.
func (c *Client) ClaimNode(ctx context.Context, node int, owner string, ttl time.Duration) error {
	return c.write(ctx, "claim_node", nodeReq{Node: node, Owner: owner, TTL: ttl}, &empty{})
}

// ReleaseNode implements dataservice.Nodes.
func (c *Client) ReleaseNode(ctx context.Context, node int, owner string) error {
	return c.write(ctx, "release_node", nodeReq{Node: node, Owner: owner}, &empty{})
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
