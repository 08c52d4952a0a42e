package remote

import (
	"context"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

var (
	_ dataservice.ConnectorRegistry = (*Client)(nil)
	_ dataservice.NodeClaims        = (*Client)(nil)
	_ dataservice.ConfigStore       = (*Client)(nil)
)

// Request bodies of the dataservice.ConnectorRegistry, NodeClaims and
// ConfigStore endpoints: their writes, and the registry's reads, which
// are not cached. Settings are read through the store endpoints, and
// cached.
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
	configReq struct {
		Name  string
		Value []byte
	}
)

// routeCluster serves the dataservice.ConnectorRegistry, NodeClaims
// and ConfigStore methods.
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
	handle(s, domainPath+"ensure_config", func(ctx context.Context, q *configReq) ([]byte, error) {
		return d.EnsureConfig(ctx, q.Name, q.Value)
	})
}

// PutConnector implements dataservice.ConnectorRegistry.
func (c *Client) PutConnector(ctx context.Context, ci dataservice.ConnectorInfo, ttl time.Duration) error {
	return c.write(ctx, "put_connector", putConnectorReq{Connector: ci, TTL: ttl}, &empty{})
}

// RemoveConnector implements dataservice.ConnectorRegistry.
func (c *Client) RemoveConnector(ctx context.Context, id string) error {
	return c.write(ctx, "remove_connector", removeConnectorReq{ID: id}, &empty{})
}

// Connectors implements dataservice.ConnectorRegistry.
func (c *Client) Connectors(ctx context.Context) ([]dataservice.ConnectorInfo, error) {
	var out []dataservice.ConnectorInfo
	if err := c.read(ctx, "connectors", empty{}, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// ClaimNode implements dataservice.NodeClaims.
func (c *Client) ClaimNode(ctx context.Context, node int, owner string, ttl time.Duration) error {
	return c.write(ctx, "claim_node", nodeReq{Node: node, Owner: owner, TTL: ttl}, &empty{})
}

// ReleaseNode implements dataservice.NodeClaims.
func (c *Client) ReleaseNode(ctx context.Context, node int, owner string) error {
	return c.write(ctx, "release_node", nodeReq{Node: node, Owner: owner}, &empty{})
}

// EnsureConfig implements dataservice.ConfigStore.
func (c *Client) EnsureConfig(ctx context.Context, name string, value []byte) ([]byte, error) {
	var v []byte
	err := c.write(ctx, "ensure_config", configReq{Name: name, Value: value}, &v)
	return v, err
}
