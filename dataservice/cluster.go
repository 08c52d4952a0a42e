package dataservice

import (
	"context"
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

// ConnectorRegistry is the membership registry of connectors: each
// announces itself with a TTL and refreshes it well before it runs out,
// so an entry disappears by itself shortly after its connector dies.
// Gateways read it to route pushes and to give devices their addresses.
type ConnectorRegistry interface {
	// PutConnector announces (or refreshes) a connector for ttl.
	PutConnector(ctx context.Context, c ConnectorInfo, ttl time.Duration) error
	// RemoveConnector withdraws a connector that is shutting down.
	RemoveConnector(ctx context.Context, id string) error
	// Connectors returns the announced connectors, in id order.
	Connectors(ctx context.Context) ([]ConnectorInfo, error)
}

// NodeClaims are the claims of gateways on their node numbers.
type NodeClaims interface {
	// ClaimNode takes gateway node number node for owner for ttl, or
	// renews owner's claim on it. Message ids carry the node of the
	// gateway that made them, so two gateways must never run on one: the
	// claim fails with ErrExists, naming its holder, while another owner's
	// claim on node has not run out.
	ClaimNode(ctx context.Context, node int, owner string, ttl time.Duration) error
	// ReleaseNode gives up owner's claim on node, so that a gateway
	// restarted on it need not wait for the claim to run out. Another
	// owner's claim stays.
	ReleaseNode(ctx context.Context, node int, owner string) error
}

// ConfigStore holds cluster-wide settings, such as the Noise static key
// and the hash of the admin token: created once, by whichever process
// starts first, and shared by all. Processes cache them (KindConfig is
// one of CachedKinds).
type ConfigStore interface {
	// EnsureConfig stores value under name unless a value is there already,
	// and returns the value that is stored: the way cluster-wide settings
	// (such as the Noise static key) are created once and shared.
	EnsureConfig(ctx context.Context, name string, value []byte) ([]byte, error)
}
