package storespec

import (
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/dataservice/aerospike"
	"github.com/heraldpush/herald/dataservice/leveldb"
)

// Environment variables that hold the Aerospike credentials when the spec
// has none.
const (
	EnvAerospikeUser     = "HERALD_AEROSPIKE_USER"
	EnvAerospikePassword = "HERALD_AEROSPIKE_PASSWORD"
)

// Defaults are what a process uses where its spec says nothing.
type Defaults struct {
	// LevelDBBlockCacheBytes is LevelDB's block cache without
	// block-cache-mb. Zero means leveldb.DefaultBlockCacheBytes.
	LevelDBBlockCacheBytes int
	// LevelDBWriteBufferBytes is LevelDB's write buffer without
	// write-buffer-mb. Zero means leveldb.DefaultWriteBufferBytes.
	LevelDBWriteBufferBytes int
	// Log receives the store's own logs (a LevelDB store's writes failing
	// and recovering). Nil means slog.Default().
	Log *slog.Logger
}

// WriteBufferBytes is the write buffer of `herald all` and `herald
// dataservice`. Every push writes its inbox copies and every ACK deletes
// them; with LevelDB's 2 MiB default both reach disk and a fifth of the CPU
// of a unicast push went to compacting them away. With 16 MiB most pairs
// meet in memory: 5,178 → 6,387 unicast pushes/s, with compaction from 19%
// of the server's CPU to 4% (docs/benchmarks.md). The memory is not per
// connection: `herald all` holding 18,000 devices ends at the same
// resident size with either.
const WriteBufferBytes = 16 << 20

// DataserviceBlockCacheBytes is the block cache of `herald dataservice`,
// a process that does nothing but serve the store: every device's
// receipts, cursors and inbox go through it, and with a small cache its
// reads before writes go to disk for the filter and index blocks (most of
// its CPU in a broadcast to 36,000 devices).
const DataserviceBlockCacheBytes = 64 << 20

// AllBlockCacheBytes is the block cache of `herald all`, which shares its
// memory with the connections: enough to keep the filter and index blocks
// of a store of a few million records in memory, so that the read before
// every write (a record's generation) does not go to disk. With the
// leveldb default of 4 MiB a unicast push cost a quarter more CPU, most of
// it re-reading those blocks.
const AllBlockCacheBytes = 16 << 20

// Open opens the store named by spec, with d where spec says nothing. A
// malformed spec fails with an error wrapping dataservice.ErrInvalid; the
// backend's Open reports the rest (dataservice.ErrUnavailable if the
// directory is locked or the cluster unreachable).
func Open(spec string, d Defaults) (dataservice.Store, error) {
	p, err := parse(spec, os.Getenv)
	if err != nil {
		return nil, err
	}
	switch p.backend {
	case backendLevelDB:
		s, err := leveldb.Open(p.leveldbConfig(d))
		if err != nil {
			return nil, err
		}
		return s, nil
	default:
		s, err := aerospike.Open(p.aerospike)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
}

type backend int

const (
	backendLevelDB backend = iota
	backendAerospike
)

// leveldbConfig is the LevelDB configuration of p, with d where the spec
// says nothing.
func (p parsed) leveldbConfig(d Defaults) leveldb.Config {
	cfg := p.leveldb
	if !p.blockCacheSet && d.LevelDBBlockCacheBytes > 0 {
		cfg.BlockCacheBytes = d.LevelDBBlockCacheBytes
	}
	if !p.writeBufferSet && d.LevelDBWriteBufferBytes > 0 {
		cfg.WriteBufferBytes = d.LevelDBWriteBufferBytes
	}
	cfg.Log = d.Log
	return cfg
}

// parsed is a parsed spec: the backend and its configuration.
type parsed struct {
	backend backend
	leveldb leveldb.Config
	// blockCacheSet and writeBufferSet say the spec gave block-cache-mb
	// and write-buffer-mb.
	blockCacheSet, writeBufferSet bool
	aerospike                     aerospike.Config
}

// scheme matches the scheme of a URL-like spec.
var scheme = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*):`)

func invalid(spec, format string, args ...any) error {
	return fmt.Errorf("dataservice/storespec: store spec %q: %w: %s", Redact(spec), dataservice.ErrInvalid, fmt.Sprintf(format, args...))
}

// password matches the value of a password parameter.
var password = regexp.MustCompile(`([?&]password=)[^&]*`)

// Redact returns spec with the value of its password parameter hidden, to
// log a spec or show it in an error.
func Redact(spec string) string {
	return password.ReplaceAllString(spec, "${1}xxxxx")
}

// parse parses spec, reading credentials missing from it with getenv.
func parse(spec string, getenv func(string) string) (parsed, error) {
	if strings.TrimSpace(spec) == "" {
		return parsed{}, invalid(spec, "empty; want leveldb:DIR, a directory or aerospike://HOST:PORT/NAMESPACE")
	}
	m := scheme.FindStringSubmatch(spec)
	if m == nil {
		return levelDB(spec, spec, false)
	}
	switch strings.ToLower(m[1]) {
	case "leveldb":
		return levelDB(spec, spec[len(m[0]):], true)
	case "aerospike":
		return aerospikeSpec(spec, spec[len(m[0]):], getenv)
	default:
		return parsed{}, invalid(spec, "unknown store %q; want leveldb or aerospike (write a path containing ':' as ./PATH)", m[1])
	}
}

// queryParams parses the parameters of a spec, each given at most once.
func queryParams(spec, query string) (map[string]string, error) {
	values, err := url.ParseQuery(query)
	if err != nil {
		return nil, invalid(spec, "bad query: %v", err)
	}
	params := make(map[string]string, len(values))
	for name, v := range values {
		if len(v) != 1 {
			return nil, invalid(spec, "parameter %s given %d times", name, len(v))
		}
		params[name] = v[0]
	}
	return params, nil
}

// Bounds of the LevelDB size parameters: a 64 GiB block cache, a 1 GiB
// write buffer (replayed from the journal at every start).
const (
	maxBlockCacheMB  = 64 << 10
	maxWriteBufferMB = 1 << 10
)

// sizeMB parses the value of a size parameter in MiB, 1 to limit, into
// bytes.
func sizeMB(spec, name, value string, limit int) (int, error) {
	mb, err := strconv.Atoi(value)
	if err != nil || mb < 1 || mb > limit {
		return 0, invalid(spec, "%s must be a whole number of MiB, 1 to %d; got %q", name, limit, value)
	}
	return mb << 20, nil
}

// levelDB parses a LevelDB spec; with the scheme written out, a '?'
// starts its parameters.
func levelDB(spec, rest string, withScheme bool) (parsed, error) {
	dir, query := rest, ""
	if withScheme {
		dir, query, _ = strings.Cut(rest, "?")
	}
	if dir == "" {
		return parsed{}, invalid(spec, "no directory; want leveldb:DIR")
	}
	p := parsed{backend: backendLevelDB, leveldb: leveldb.DefaultConfig()}
	p.leveldb.Dir = dir
	params, err := queryParams(spec, query)
	if err != nil {
		return parsed{}, err
	}
	for name, value := range params {
		switch name {
		case "block-cache-mb":
			if p.leveldb.BlockCacheBytes, err = sizeMB(spec, name, value, maxBlockCacheMB); err != nil {
				return parsed{}, err
			}
			p.blockCacheSet = true
		case "write-buffer-mb":
			if p.leveldb.WriteBufferBytes, err = sizeMB(spec, name, value, maxWriteBufferMB); err != nil {
				return parsed{}, err
			}
			p.writeBufferSet = true
		default:
			return parsed{}, invalid(spec, "unknown parameter %q; want block-cache-mb or write-buffer-mb", name)
		}
	}
	return p, nil
}

// aerospikeDurations are the timeouts an Aerospike spec sets, as Go
// durations ("250ms", "2s").
var aerospikeDurations = map[string]func(*aerospike.Config) *time.Duration{
	"connect-timeout":       func(c *aerospike.Config) *time.Duration { return &c.ConnectTimeout },
	"total-timeout":         func(c *aerospike.Config) *time.Duration { return &c.TotalTimeout },
	"socket-timeout":        func(c *aerospike.Config) *time.Duration { return &c.SocketTimeout },
	"scan-timeout":          func(c *aerospike.Config) *time.Duration { return &c.ScanTimeout },
	"sleep-between-retries": func(c *aerospike.Config) *time.Duration { return &c.SleepBetweenRetries },
	"idle-timeout":          func(c *aerospike.Config) *time.Duration { return &c.IdleTimeout },
	"index-timeout":         func(c *aerospike.Config) *time.Duration { return &c.IndexTimeout },
}

// aerospikeCounts are the counts an Aerospike spec sets, with their least
// value.
var aerospikeCounts = map[string]struct {
	field func(*aerospike.Config) *int
	least int
}{
	"read-retries":       {func(c *aerospike.Config) *int { return &c.ReadRetries }, 0},
	"pool-size":          {func(c *aerospike.Config) *int { return &c.ConnectionQueueSize }, 1},
	"min-conns-per-node": {func(c *aerospike.Config) *int { return &c.MinConnectionsPerNode }, 0},
	"batch-size":         {func(c *aerospike.Config) *int { return &c.BatchSize }, 1},
}

// aerospikeSetting sets the timeout or count name of cfg to value.
func aerospikeSetting(spec string, cfg *aerospike.Config, name, value string) error {
	if field, ok := aerospikeDurations[name]; ok {
		d, err := time.ParseDuration(value)
		if err != nil || d <= 0 {
			return invalid(spec, "%s must be a positive duration such as 500ms or 2s; got %q", name, value)
		}
		*field(cfg) = d
		return nil
	}
	if c, ok := aerospikeCounts[name]; ok {
		n, err := strconv.Atoi(value)
		if err != nil || n < c.least {
			return invalid(spec, "%s must be a whole number of at least %d; got %q", name, c.least, value)
		}
		if name == "read-retries" && n == 0 {
			n = -1 // Config's "no retry"
		}
		*c.field(cfg) = n
		return nil
	}
	names := []string{"user", "password", "set-prefix", "read-mode", "cluster-name"}
	for n := range aerospikeDurations {
		names = append(names, n)
	}
	for n := range aerospikeCounts {
		names = append(names, n)
	}
	slices.Sort(names[5:])
	return invalid(spec, "unknown parameter %q; want one of %s", name, strings.Join(names, ", "))
}

func aerospikeSpec(spec, rest string, getenv func(string) string) (parsed, error) {
	const want = "want aerospike://HOST:PORT[,HOST:PORT…]/NAMESPACE"
	rest, ok := strings.CutPrefix(rest, "//")
	if !ok {
		return parsed{}, invalid(spec, "no '//' after 'aerospike:'; %s", want)
	}
	rest, query, _ := strings.Cut(rest, "?")
	hosts, namespace, ok := strings.Cut(rest, "/")
	switch {
	case !ok || namespace == "":
		return parsed{}, invalid(spec, "no namespace; %s", want)
	case strings.Contains(namespace, "/"):
		return parsed{}, invalid(spec, "namespace %q contains '/'; %s", namespace, want)
	case hosts == "":
		return parsed{}, invalid(spec, "no host; %s", want)
	case strings.Contains(hosts, "@"):
		return parsed{}, invalid(spec, "credentials go in ?user=&password= or in %s and %s, not before the host", EnvAerospikeUser, EnvAerospikePassword)
	}
	cfg := aerospike.DefaultConfig()
	cfg.Namespace = namespace
	for _, h := range strings.Split(hosts, ",") {
		if h == "" {
			return parsed{}, invalid(spec, "empty host in %q", hosts)
		}
		cfg.Hosts = append(cfg.Hosts, h)
	}
	params, err := queryParams(spec, query)
	if err != nil {
		return parsed{}, err
	}
	for name, value := range params {
		switch name {
		case "user":
			cfg.User = value
		case "password":
			cfg.Password = value
		case "set-prefix":
			cfg.SetPrefix = value
		case "read-mode":
			cfg.ReadMode = aerospike.ReadMode(value)
			if value == "" || value == "auto" {
				cfg.ReadMode = aerospike.ReadModeAuto
			}
		case "cluster-name":
			cfg.ClusterName = value
		default:
			if err := aerospikeSetting(spec, &cfg, name, value); err != nil {
				return parsed{}, err
			}
		}
	}
	_, user := params["user"]
	_, pass := params["password"]
	if !user && !pass {
		cfg.User = getenv(EnvAerospikeUser)
		cfg.Password = getenv(EnvAerospikePassword)
	}
	if err := cfg.Validate(); err != nil {
		return parsed{}, fmt.Errorf("dataservice/storespec: store spec %q: %w", Redact(spec), err)
	}
	return parsed{backend: backendAerospike, aerospike: cfg}, nil
}
