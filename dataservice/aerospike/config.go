package aerospike

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	as "github.com/aerospike/aerospike-client-go/v7"

	"github.com/heraldpush/herald/dataservice"
)

// Config configures a Store. The zero value of every field except Hosts and
// Namespace selects the default of DefaultConfig.
type Config struct {
	// Hosts are seed nodes of the cluster as "host:port" ("[::1]:3000" for
	// IPv6); a host without a port uses DefaultPort. The client discovers
	// the other nodes from the seeds. Required.
	Hosts []string

	// Namespace is the Aerospike namespace holding Herald's records. It must
	// allow TTLs (nsup-period > 0) and records somewhat over 1 MiB; see the
	// package documentation. Required.
	Namespace string

	// SetPrefix is prepended to each dataservice.Kind to name its set, so
	// that several Herald clusters (or test runs) can share a namespace.
	// Empty, the default, names each set after its kind.
	SetPrefix string

	// User and Password authenticate to a cluster with security enabled.
	// Empty means no authentication.
	User, Password string

	// ClusterName, when set, makes the client refuse nodes of another
	// cluster. Empty means no check.
	ClusterName string

	// ConnectTimeout bounds Open's first connection to the seeds and the
	// info commands that create secondary indexes. Zero means 2s.
	ConnectTimeout time.Duration

	// TotalTimeout bounds each call to the server, retries included. Zero
	// means 1s. A context deadline that comes sooner shortens it.
	TotalTimeout time.Duration

	// SocketTimeout bounds each attempt of a read; when it passes, the read
	// is retried (ReadRetries) within TotalTimeout. Writes make a single
	// attempt bounded by TotalTimeout. Zero means 300ms.
	SocketTimeout time.Duration

	// ScanTimeout bounds a Scan, which runs a secondary-index query over the
	// whole group. Zero means 10s.
	ScanTimeout time.Duration

	// ReadRetries is how many times a read (Get, GetMany, Counters,
	// ListRange) is retried after a network error or socket timeout. Writes
	// are never retried: a retried Incr or ListAppend could apply twice, a
	// retried conditional Put or Delete could report a false conflict. Zero
	// means 2; negative means no retry.
	ReadRetries int

	// SleepBetweenRetries is the pause before a read is retried, long enough
	// for the client to learn of a node that went down. Zero means 10ms.
	SleepBetweenRetries time.Duration

	// ConnectionQueueSize is the most connections the client opens to each
	// node; a call that finds them all busy waits for one within its
	// timeout. Zero means 256.
	ConnectionQueueSize int

	// MinConnectionsPerNode connections are opened to each node up front and
	// kept open, so that a burst does not pay for connection set-up. Zero
	// means none; it must not exceed ConnectionQueueSize.
	MinConnectionsPerNode int

	// IdleTimeout closes connections idle for that long. It must stay below
	// the server's proto-fd-idle-ms (60s by default), or the client may use
	// a socket the server has closed. Zero means 55s.
	IdleTimeout time.Duration

	// IndexKinds are the kinds whose secondary index (on the group bin, for
	// Scan) Open creates, so that a missing privilege or index limit shows
	// at start-up. Other kinds get theirs at their first Scan (directory
	// kinds need none). Nil means the Herald kinds whose keys have groups,
	// less DefaultDirectoryKinds (15 indexes); an empty slice means none.
	IndexKinds []dataservice.Kind

	// BatchSize is the most keys of one batch command: GetMany, PutMany and
	// DeleteMany with more send several, one after another. Zero means
	// 5,000.
	BatchSize int

	// DirectoryKinds are the kinds whose groups Scan finds through a keyed
	// directory record rather than a secondary-index query (see
	// directory.go): the groups a device connect reads. Nil means
	// DefaultDirectoryKinds; an empty slice means none. A kind's groups
	// must stay within a few thousand records.
	DirectoryKinds []dataservice.Kind

	// SnapshotMin is the fewest records that must follow a page of a
	// secondary-index Scan for Scan to keep them for the next pages (see
	// snapshots.go). Zero means 4,096.
	SnapshotMin int

	// SnapshotRecords bounds the records the snapshots of Scan hold in
	// memory, in all (48 bytes each plus key and value). Zero means 2,000,000;
	// negative means no snapshots.
	SnapshotRecords int

	// SnapshotIdle drops a snapshot not read for that long. Zero means 10s.
	SnapshotIdle time.Duration

	// IndexTimeout bounds the creation of one secondary index, including
	// the wait for the server to index existing records. Zero means 30s.
	IndexTimeout time.Duration

	// ReadMode is how reads see writes: ReadModeAuto (the zero value)
	// linearizes reads on a strong-consistency namespace (Enterprise
	// Edition) and uses the server's default on any other (Community
	// Edition refuses the linearize flag, ENTERPRISE_ONLY, whatever the
	// namespace's mode). Open reads the namespace's mode; see ReadMode.
	ReadMode ReadMode
}

// ReadMode selects the consistency of reads (Config.ReadMode).
type ReadMode string

// Read modes.
const (
	// ReadModeAuto linearizes reads if the namespace has strong
	// consistency, and uses ReadModeSession otherwise.
	ReadModeAuto ReadMode = ""
	// ReadModeLinearize linearizes every read: a read sees every write
	// acknowledged before it, through any client, even while nodes fail.
	// It needs a strong-consistency namespace (Enterprise Edition); Open
	// fails with ErrInvalid on any other.
	ReadModeLinearize ReadMode = "linearize"
	// ReadModeSession reads with session consistency on a
	// strong-consistency namespace (faster; a read may miss a write
	// another client had acknowledged), and sends no consistency flag to
	// an AP namespace, which reads the master copy: read-your-writes while
	// no node fails.
	ReadModeSession ReadMode = "session"
)

// DefaultPort is the port of a host given without one.
const DefaultPort = 3000

// Defaults of Config.
const (
	DefaultConnectTimeout      = 2 * time.Second
	DefaultTotalTimeout        = time.Second
	DefaultSocketTimeout       = 300 * time.Millisecond
	DefaultScanTimeout         = 10 * time.Second
	DefaultReadRetries         = 2
	DefaultSleepBetweenRetries = 10 * time.Millisecond
	DefaultConnectionQueueSize = 256
	DefaultIdleTimeout         = 55 * time.Second
	DefaultIndexTimeout        = 30 * time.Second
	DefaultBatchSize           = 5000
	DefaultSnapshotMin         = 4096
	DefaultSnapshotRecords     = 2_000_000
	DefaultSnapshotIdle        = 10 * time.Second
)

// groupKinds are the Herald kinds whose keys have groups (see the comments
// of the dataservice.Kind constants), the default of Config.IndexKinds.
var groupKinds = []dataservice.Kind{
	dataservice.KindInbox,
	dataservice.KindConnector,
	dataservice.KindTag,
	dataservice.KindAlias,
	dataservice.KindAppDevice,
	dataservice.KindAppTag,
	dataservice.KindSegment,
	dataservice.KindTask,
	dataservice.KindBroadcast,
	dataservice.KindAppMessage,
	dataservice.KindSchedule,
	dataservice.KindScheduleDue,
	dataservice.KindCampaign,
	dataservice.KindWinner,
	dataservice.KindUpstream,
	dataservice.KindWebhook,
	dataservice.KindSettlement,
	dataservice.KindUser,
	dataservice.KindAudit,
}

// DefaultDirectoryKinds are the kinds whose groups have directories by
// default: a device's inbox and an app's broadcasts, which every connect
// reads, and the connector registry, which every gateway reads several
// times a second. They need no secondary index.
var DefaultDirectoryKinds = []dataservice.Kind{dataservice.KindInbox, dataservice.KindBroadcast, dataservice.KindConnector}

// defaultIndexKinds are the group kinds that are not directory kinds by
// default: the default of Config.IndexKinds.
func defaultIndexKinds() []dataservice.Kind {
	var out []dataservice.Kind
	for _, k := range groupKinds {
		if !slices.Contains(DefaultDirectoryKinds, k) {
			out = append(out, k)
		}
	}
	return out
}

// DefaultConfig returns the configuration used for zero fields. Hosts and
// Namespace are empty and must be set.
func DefaultConfig() Config {
	return Config{
		ConnectTimeout:      DefaultConnectTimeout,
		TotalTimeout:        DefaultTotalTimeout,
		SocketTimeout:       DefaultSocketTimeout,
		ScanTimeout:         DefaultScanTimeout,
		ReadRetries:         DefaultReadRetries,
		SleepBetweenRetries: DefaultSleepBetweenRetries,
		ConnectionQueueSize: DefaultConnectionQueueSize,
		IdleTimeout:         DefaultIdleTimeout,
		IndexKinds:          defaultIndexKinds(),
		DirectoryKinds:      append([]dataservice.Kind(nil), DefaultDirectoryKinds...),
		IndexTimeout:        DefaultIndexTimeout,
		SnapshotMin:         DefaultSnapshotMin,
		BatchSize:           DefaultBatchSize,
		SnapshotRecords:     DefaultSnapshotRecords,
		SnapshotIdle:        DefaultSnapshotIdle,
	}
}

// withDefaults returns cfg with its zero fields set to their defaults.
func (cfg Config) withDefaults() Config {
	d := DefaultConfig()
	setDuration := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	setDuration(&cfg.ConnectTimeout, d.ConnectTimeout)
	setDuration(&cfg.TotalTimeout, d.TotalTimeout)
	setDuration(&cfg.SocketTimeout, d.SocketTimeout)
	setDuration(&cfg.ScanTimeout, d.ScanTimeout)
	setDuration(&cfg.SleepBetweenRetries, d.SleepBetweenRetries)
	setDuration(&cfg.IdleTimeout, d.IdleTimeout)
	setDuration(&cfg.IndexTimeout, d.IndexTimeout)
	setDuration(&cfg.SnapshotIdle, d.SnapshotIdle)
	if cfg.BatchSize == 0 {
		cfg.BatchSize = d.BatchSize
	}
	if cfg.SnapshotMin == 0 {
		cfg.SnapshotMin = d.SnapshotMin
	}
	switch {
	case cfg.SnapshotRecords == 0:
		cfg.SnapshotRecords = d.SnapshotRecords
	case cfg.SnapshotRecords < 0:
		cfg.SnapshotRecords = 0
	}
	switch {
	case cfg.ReadRetries == 0:
		cfg.ReadRetries = d.ReadRetries
	case cfg.ReadRetries < 0:
		cfg.ReadRetries = 0
	}
	if cfg.ConnectionQueueSize == 0 {
		cfg.ConnectionQueueSize = d.ConnectionQueueSize
	}
	if cfg.IndexKinds == nil {
		cfg.IndexKinds = d.IndexKinds
	}
	if cfg.DirectoryKinds == nil {
		cfg.DirectoryKinds = d.DirectoryKinds
	}
	return cfg
}

// Validate reports whether Open would accept cfg, without connecting: nil,
// or an error wrapping dataservice.ErrInvalid that names the bad field.
func (cfg Config) Validate() error {
	return cfg.withDefaults().validate()
}

// maxSetName is the longest set name Aerospike accepts.
const maxSetName = 63

// validate checks a configuration that has its defaults applied.
func (cfg Config) validate() error {
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("dataservice/aerospike: config: %w: %s", dataservice.ErrInvalid, fmt.Sprintf(format, args...))
	}
	switch {
	case len(cfg.Hosts) == 0:
		return invalid("Hosts is empty")
	case cfg.Namespace == "":
		return invalid("Namespace is empty")
	case len(cfg.Namespace) > 31 || strings.ContainsAny(cfg.Namespace, ":;/ \x00"):
		return invalid("namespace %q is not a valid Aerospike namespace name", cfg.Namespace)
	case strings.ContainsAny(cfg.SetPrefix, ":;\x00"):
		return invalid("SetPrefix %q contains ':', ';' or 0x00", cfg.SetPrefix)
	case len(cfg.SetPrefix)+len(dirSetSuffix) > maxSetName:
		return invalid("SetPrefix %q leaves no room for the directory set %q in a %d-byte set name", cfg.SetPrefix, dirSetSuffix, maxSetName)
	case len(cfg.SetPrefix) >= maxSetName:
		return invalid("SetPrefix %q leaves no room for a kind in a %d-byte set name", cfg.SetPrefix, maxSetName)
	case cfg.ConnectTimeout < 0 || cfg.TotalTimeout < 0 || cfg.SocketTimeout < 0 || cfg.ScanTimeout < 0 ||
		cfg.SleepBetweenRetries < 0 || cfg.IdleTimeout < 0 || cfg.IndexTimeout < 0 || cfg.SnapshotIdle < 0:
		return invalid("negative timeout")
	case cfg.IdleTimeout > 24*time.Hour:
		return invalid("IdleTimeout %v exceeds 24h", cfg.IdleTimeout)
	case cfg.SnapshotMin < 0:
		return invalid("negative SnapshotMin")
	case cfg.BatchSize < 0:
		return invalid("negative BatchSize")
	case cfg.ConnectionQueueSize < 0 || cfg.MinConnectionsPerNode < 0:
		return invalid("negative connection count")
	case cfg.MinConnectionsPerNode > cfg.ConnectionQueueSize:
		return invalid("MinConnectionsPerNode %d exceeds ConnectionQueueSize %d", cfg.MinConnectionsPerNode, cfg.ConnectionQueueSize)
	case cfg.User == "" && cfg.Password != "":
		return invalid("Password without User")
	case cfg.ReadMode != ReadModeAuto && cfg.ReadMode != ReadModeLinearize && cfg.ReadMode != ReadModeSession:
		return invalid("ReadMode %q is not linearize or session", cfg.ReadMode)
	}
	for _, h := range cfg.Hosts {
		if _, err := parseHost(h); err != nil {
			return invalid("%v", err)
		}
	}
	for _, k := range cfg.IndexKinds {
		if err := checkKind(cfg.SetPrefix, k); err != nil {
			return invalid("IndexKinds: %v", err)
		}
	}
	for _, k := range cfg.DirectoryKinds {
		if err := checkKind(cfg.SetPrefix, k); err != nil {
			return invalid("DirectoryKinds: %v", err)
		}
	}
	return nil
}

// parseHost parses "host:port", "[ipv6]:port" or "host" (DefaultPort).
func parseHost(s string) (*as.Host, error) {
	if s == "" {
		return nil, fmt.Errorf("empty host")
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		// No port: a name, an IPv4 address or a bracketed IPv6 address.
		name := strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
		if strings.ContainsAny(name, "[]/ \t") || (strings.Contains(name, ":") && !strings.HasPrefix(s, "[")) {
			return nil, fmt.Errorf("host %q is not host:port", s)
		}
		return as.NewHost(name, DefaultPort), nil
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return nil, fmt.Errorf("host %q: port %q is not a number from 1 to 65535", s, port)
	}
	if host == "" || strings.ContainsAny(host, "[]/ \t") {
		return nil, fmt.Errorf("host %q has no valid host name", s)
	}
	return as.NewHost(host, n), nil
}
