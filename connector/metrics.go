package connector

import "github.com/heraldpush/herald/internal/metrics"

// Metrics are the connector's own metrics: connections opened and cut
// off. Its actors' metrics (frames, handshakes, deliveries) are
// actors.ConnectorMetrics; the open connections are read at scrape time
// (package node).
func Metrics() *metrics.Set { return set }

var set = metrics.NewSet()

var (
	connectionsOpened = set.Counter("connector", "connections_opened_total",
		"Device connections accepted.")
	connectionsClosed = set.CounterVec("connector", "connections_cut_total",
		"Device connections the connector cut off, by reason: flooding (records sent faster than handled, past the flow control's bounds), timeout (handshake or idle deadline passed), malformed (a record that cannot be split, or a first record that cannot be the handshake's).",
		"reason")
	cutFlooding  = connectionsClosed.With("flooding")
	cutTimeout   = connectionsClosed.With("timeout")
	cutMalformed = connectionsClosed.With("malformed")
)
