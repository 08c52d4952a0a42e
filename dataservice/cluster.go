package dataservice

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// ConnectorInfo is a connector's entry in the cluster registry.
type ConnectorInfo struct {
	ID string `json:"id"`
	// Device is the address devices dial ("host:port").
	Device string `json:"device"`
	// Internal is the base URL of the connector's internal API, which
	// gateways call to deliver messages.
	Internal string `json:"internal"`
	// Heartbeat is what it grants devices that ask for none.
	Heartbeat time.Duration `json:"heartbeat"`
	// Connections is how many devices it holds, for dispatch's bounded
	// load.
	Connections int `json:"connections"`
	// Updated is when the connector last refreshed its entry.
	Updated time.Time `json:"updated"`
}

// Cluster is the membership registry of connectors: each announces itself
// with a TTL and refreshes it well before it runs out, so an entry
// disappears by itself shortly after its connector dies.
type Cluster interface {
	// PutConnector announces (or refreshes) a connector for ttl.
	PutConnector(ctx context.Context, c ConnectorInfo, ttl time.Duration) error
	// RemoveConnector withdraws a connector that is shutting down.
	RemoveConnector(ctx context.Context, id string) error
	// Connectors returns the announced connectors, in id order.
	Connectors(ctx context.Context) ([]ConnectorInfo, error)
}

// connectorGroup is the group of registry keys: "cluster/<id>".
const connectorGroup = "cluster/"

// maxConnectors bounds the registry read in one call.
const maxConnectors = 1000

// PutConnector implements Cluster.
func (s *Service) PutConnector(ctx context.Context, c ConnectorInfo, ttl time.Duration) error {
	if c.ID == "" {
		return fmt.Errorf("put connector: %w: empty id", ErrInvalid)
	}
	v, err := json.Marshal(c)
	if err != nil {
		return fmt.Errorf("dataservice: encode connector: %w", err)
	}
	if _, err := s.store.Put(ctx, KindConnector, connectorGroup+c.ID, v, WriteOptions{TTL: ttl}); err != nil {
		return fmt.Errorf("put connector %s: %w", c.ID, err)
	}
	return nil
}

// RemoveConnector implements Cluster.
func (s *Service) RemoveConnector(ctx context.Context, id string) error {
	if _, err := s.store.Delete(ctx, KindConnector, connectorGroup+id, 0); err != nil {
		return fmt.Errorf("remove connector %s: %w", id, err)
	}
	return nil
}

// Connectors implements Cluster.
func (s *Service) Connectors(ctx context.Context) ([]ConnectorInfo, error) {
	recs, err := s.store.Scan(ctx, KindConnector, connectorGroup, "", maxConnectors)
	if err != nil {
		return nil, fmt.Errorf("connectors: %w", err)
	}
	out := make([]ConnectorInfo, 0, len(recs))
	for _, r := range recs {
		var c ConnectorInfo
		if err := json.Unmarshal(r.Value, &c); err != nil {
			return nil, fmt.Errorf("dataservice: decode connector %s: %w", r.Key, err)
		}
		out = append(out, c)
	}
	return out, nil
}
