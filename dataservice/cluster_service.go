package dataservice

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/heraldpush/herald/internal/ids"
)

var (
	_ ConnectorRegistry = (*Service)(nil)
	_ NodeClaims        = (*Service)(nil)
	_ ConfigStore       = (*Service)(nil)
)

// connectorGroup is the group of registry keys: "cluster/<id>".
const connectorGroup = "cluster/"

// nodeGroup is the group of gateway node claims: "gateway-node/<n>".
const nodeGroup = "gateway-node/"

// nodeClaim is the record of a claim.
type nodeClaim struct {
	Owner   string    `json:"owner"`
	Renewed time.Time `json:"renewed"`
}

// maxConnectors bounds the registry read in one call.
const maxConnectors = 1000

// PutConnector implements ConnectorRegistry.
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

// RemoveConnector implements ConnectorRegistry.
func (s *Service) RemoveConnector(ctx context.Context, id string) error {
	if _, err := s.store.Delete(ctx, KindConnector, connectorGroup+id, 0); err != nil {
		return fmt.Errorf("remove connector %s: %w", id, err)
	}
	return nil
}

// Connectors implements ConnectorRegistry.
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

// ClaimNode implements NodeClaims.
func (s *Service) ClaimNode(ctx context.Context, node int, owner string, ttl time.Duration) error {
	if node < 0 || node > ids.MaxNode || owner == "" || ttl <= 0 {
		return fmt.Errorf("claim node %d: %w: want a node in 0..%d, an owner and a positive ttl", node, ErrInvalid, ids.MaxNode)
	}
	key := nodeGroup + strconv.Itoa(node)
	v, err := json.Marshal(nodeClaim{Owner: owner, Renewed: time.Now().UTC()})
	if err != nil {
		return fmt.Errorf("dataservice: encode node claim: %w", err)
	}
	for range 3 { // the claim changed between the read and the write
		rec, err := s.store.Get(ctx, KindConnector, key)
		switch {
		case errors.Is(err, ErrNotFound):
			_, err = s.store.Put(ctx, KindConnector, key, v, WriteOptions{TTL: ttl, CreateOnly: true})
			if errors.Is(err, ErrExists) {
				continue
			}
		case err != nil:
		default:
			var held nodeClaim
			if err := json.Unmarshal(rec.Value, &held); err != nil {
				return fmt.Errorf("dataservice: decode claim of node %d: %w", node, err)
			}
			if held.Owner != owner {
				return fmt.Errorf("claim node %d: %w: %s holds it (renewed %s)", node, ErrExists, held.Owner, held.Renewed.Format(time.RFC3339))
			}
			_, err = s.store.Put(ctx, KindConnector, key, v, WriteOptions{TTL: ttl, Generation: rec.Generation})
			if errors.Is(err, ErrGenerationMismatch) || errors.Is(err, ErrNotFound) {
				continue
			}
		}
		if err != nil {
			return fmt.Errorf("claim node %d: %w", node, err)
		}
		return nil
	}
	return fmt.Errorf("claim node %d: %w: other claims kept changing it", node, ErrExists)
}

// ReleaseNode implements NodeClaims.
func (s *Service) ReleaseNode(ctx context.Context, node int, owner string) error {
	key := nodeGroup + strconv.Itoa(node)
	rec, err := s.store.Get(ctx, KindConnector, key)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("release node %d: %w", node, err)
	}
	var held nodeClaim
	if err := json.Unmarshal(rec.Value, &held); err != nil || held.Owner != owner {
		return nil // not ours (or not readable as a claim): leave it
	}
	if _, err := s.store.Delete(ctx, KindConnector, key, rec.Generation); err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrGenerationMismatch) {
		return fmt.Errorf("release node %d: %w", node, err)
	}
	return nil
}

// EnsureConfig implements ConfigStore.
func (s *Service) EnsureConfig(ctx context.Context, name string, value []byte) ([]byte, error) {
	_, err := s.store.Put(ctx, KindConfig, name, value, WriteOptions{CreateOnly: true})
	if err == nil {
		return value, nil
	}
	if !errors.Is(err, ErrExists) {
		return nil, fmt.Errorf("config %s: %w", name, err)
	}
	r, err := s.store.Get(ctx, KindConfig, name)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", name, err)
	}
	return r.Value, nil
}
