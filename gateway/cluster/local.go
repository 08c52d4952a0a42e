package cluster

import (
	"github.com/heraldpush/herald/connector"
)

// Local is the Cluster of `herald all`: one connector in the same
// process.
type Local struct {
	Conn      *connector.Connector
	ServerKey []byte
}

var _ Cluster = (*Local)(nil)

// Connector implements Cluster.
func (l *Local) Connector(id string) (connector.Client, bool) {
	if id != l.Conn.ID() {
		return nil, false
	}
	return l.Conn, true
}

// Connectors implements Cluster.
func (l *Local) Connectors() []connector.Client { return []connector.Client{l.Conn} }

// Dispatch implements Cluster. With one connector there is nothing to skip:
// a device that failed to reach it gets it again, to retry after backoff.
func (l *Local) Dispatch(string, []string) Dispatch {
	return Dispatch{Addresses: []string{l.Conn.Advertised()}, Heartbeat: l.Conn.Heartbeat(), ServerKey: l.ServerKey}
}
