package storespec

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/dataservice/aerospike"
	"github.com/heraldpush/herald/dataservice/leveldb"
)

// env is a fake environment for parse.
func env(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

func TestParse(t *testing.T) {
	noEnv := env(nil)
	credEnv := env(map[string]string{EnvAerospikeUser: "herald", EnvAerospikePassword: "s3cret"})
	for _, c := range []struct {
		spec      string
		getenv    func(string) string
		backend   backend
		dir       string   // leveldb
		hosts     []string // aerospike
		namespace string
		user      string
		password  string
		setPrefix string
		cacheMB   int // leveldb block cache, if not 0
	}{
		{spec: "leveldb:/var/lib/herald", backend: backendLevelDB, dir: "/var/lib/herald", cacheMB: 4},
		{spec: "leveldb:/var/lib/herald?block-cache-mb=32", backend: backendLevelDB, dir: "/var/lib/herald", cacheMB: 32},
		{spec: "./odd?name", backend: backendLevelDB, dir: "./odd?name", cacheMB: 4},
		{spec: "leveldb:data", backend: backendLevelDB, dir: "data"},
		{spec: "LevelDB:data", backend: backendLevelDB, dir: "data"},
		{spec: "leveldb:with:colon", backend: backendLevelDB, dir: "with:colon"},
		{spec: "/var/lib/herald", backend: backendLevelDB, dir: "/var/lib/herald"},
		{spec: "./data", backend: backendLevelDB, dir: "./data"},
		{spec: "./odd:name", backend: backendLevelDB, dir: "./odd:name"},
		{spec: "data", backend: backendLevelDB, dir: "data"},
		{spec: "aerospike://127.0.0.1:3000/test", backend: backendAerospike,
			hosts: []string{"127.0.0.1:3000"}, namespace: "test"},
		{spec: "aerospike://a:3000,b:3001,c/herald", backend: backendAerospike,
			hosts: []string{"a:3000", "b:3001", "c"}, namespace: "herald"},
		{spec: "aerospike://[::1]:3000/test", backend: backendAerospike,
			hosts: []string{"[::1]:3000"}, namespace: "test"},
		{spec: "aerospike://h:3000/test?user=u&password=p%26q", backend: backendAerospike,
			hosts: []string{"h:3000"}, namespace: "test", user: "u", password: "p&q"},
		{spec: "aerospike://h:3000/test", getenv: credEnv, backend: backendAerospike,
			hosts: []string{"h:3000"}, namespace: "test", user: "herald", password: "s3cret"},
		{spec: "aerospike://h:3000/test?user=other", getenv: credEnv, backend: backendAerospike,
			hosts: []string{"h:3000"}, namespace: "test", user: "other"},
		{spec: "aerospike://h:3000/test?set-prefix=staging_", backend: backendAerospike,
			hosts: []string{"h:3000"}, namespace: "test", setPrefix: "staging_"},
	} {
		t.Run(c.spec, func(t *testing.T) {
			getenv := c.getenv
			if getenv == nil {
				getenv = noEnv
			}
			p, err := parse(c.spec, getenv)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if p.backend != c.backend {
				t.Fatalf("backend %v, want %v", p.backend, c.backend)
			}
			if c.backend == backendLevelDB {
				if p.leveldb.Dir != c.dir {
					t.Fatalf("leveldb dir %q, want %q", p.leveldb.Dir, c.dir)
				}
				if c.cacheMB != 0 && p.leveldb.BlockCacheBytes != c.cacheMB<<20 {
					t.Fatalf("leveldb block cache %d bytes, want %d MiB", p.leveldb.BlockCacheBytes, c.cacheMB)
				}
				return
			}
			a := p.aerospike
			if !slices.Equal(a.Hosts, c.hosts) || a.Namespace != c.namespace || a.User != c.user ||
				a.Password != c.password || a.SetPrefix != c.setPrefix {
				t.Fatalf("aerospike config = hosts %q, namespace %q, user %q, password %q, set prefix %q; want %q, %q, %q, %q, %q",
					a.Hosts, a.Namespace, a.User, a.Password, a.SetPrefix, c.hosts, c.namespace, c.user, c.password, c.setPrefix)
			}
			if a.TotalTimeout == 0 || a.ConnectionQueueSize == 0 {
				t.Fatalf("aerospike config lacks the defaults: %+v", a)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for _, c := range []struct {
		spec string
		want string // in the message
	}{
		{"", "empty"},
		{"   ", "empty"},
		{"leveldb:", "no directory"},
		{"leveldb:?block-cache-mb=8", "no directory"},
		{"leveldb:d?block-cache-mb=0", "block-cache-mb"},
		{"leveldb:d?block-cache-mb=lots", "block-cache-mb"},
		{"leveldb:d?block-cache-mb=99999999", "block-cache-mb"},
		{"leveldb:d?write-buffer-mb=0", "write-buffer-mb"},
		{"leveldb:d?write-buffer-mb=2048", "write-buffer-mb must be a whole number of MiB, 1 to 1024"},
		{"leveldb:d?cache=8", "unknown parameter"},
		{"leveldb:d?block-cache-mb=8&block-cache-mb=9", "2 times"},
		{"redis://localhost:6379", "unknown store"},
		{"rocksdb:/data", "unknown store"},
		{"aerospike:h:3000/test", "no '//'"},
		{"aerospike://h:3000", "no namespace"},
		{"aerospike://h:3000/", "no namespace"},
		{"aerospike://h:3000/a/b", "contains '/'"},
		{"aerospike:///test", "no host"},
		{"aerospike://a:3000,,b:3000/test", "empty host"},
		{"aerospike://u:p@h:3000/test", "credentials"},
		{"aerospike://h:port/test", "port"},
		{"aerospike://h:3000/test?tls=1", "unknown parameter"},
		{"aerospike://h:3000/test?user=a&user=b", "2 times"},
		{"aerospike://h:3000/test?user=a;b", "bad query"},
		{"aerospike://h:3000/test?password=only", "Password without User"},
		{"aerospike://h:3000/" + strings.Repeat("n", 40), "namespace"},
	} {
		t.Run(c.spec, func(t *testing.T) {
			_, err := parse(c.spec, env(nil))
			if !errors.Is(err, dataservice.ErrInvalid) {
				t.Fatalf("parse(%q) = %v, want ErrInvalid", c.spec, err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("parse(%q) = %v, want a message about %q", c.spec, err, c.want)
			}
			if _, err := Open(c.spec, Defaults{}); !errors.Is(err, dataservice.ErrInvalid) {
				t.Fatalf("Open(%q) = %v, want ErrInvalid", c.spec, err)
			}
		})
	}
}

func TestRedact(t *testing.T) {
	for spec, want := range map[string]string{
		"aerospike://h/ns?user=u&password=secret":    "aerospike://h/ns?user=u&password=xxxxx",
		"aerospike://h/ns?password=secret&user=u":    "aerospike://h/ns?password=xxxxx&user=u",
		"aerospike://h/ns?user=u":                    "aerospike://h/ns?user=u",
		"leveldb:/data":                              "leveldb:/data",
		"aerospike://h/ns?password=a&tls=1&x=y#frag": "aerospike://h/ns?password=xxxxx&tls=1&x=y#frag",
	} {
		if got := Redact(spec); got != want {
			t.Errorf("Redact(%q) = %q, want %q", spec, got, want)
		}
	}
	_, err := parse("aerospike://h:3000/test?password=secret&bogus=1", env(nil))
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("error shows the password: %v", err)
	}
}

func TestOpenLevelDB(t *testing.T) {
	for _, spec := range []string{"leveldb:" + filepath.Join(t.TempDir(), "db"), filepath.Join(t.TempDir(), "db")} {
		s, err := Open(spec, Defaults{})
		if err != nil {
			t.Fatalf("Open(%q): %v", spec, err)
		}
		ctx := context.Background()
		if _, err := s.Put(ctx, dataservice.KindDevice, "k", []byte("v"), dataservice.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		if r, err := s.Get(ctx, dataservice.KindDevice, "k"); err != nil || string(r.Value) != "v" {
			t.Fatalf("Get = %+v, %v", r, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestOpenAerospikeUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	if _, err := Open("aerospike://"+addr+"/test", Defaults{}); !errors.Is(err, dataservice.ErrUnavailable) {
		t.Fatalf("Open of a closed port = %v, want ErrUnavailable", err)
	}
}

// A spec's block-cache-mb and write-buffer-mb win; without them the
// process's defaults apply (the dataservice's larger ones), and without
// those leveldb's.
func TestLevelDBSizeDefaults(t *testing.T) {
	ds := Defaults{LevelDBBlockCacheBytes: DataserviceBlockCacheBytes, LevelDBWriteBufferBytes: WriteBufferBytes}
	for _, tc := range []struct {
		spec                    string
		d                       Defaults
		blockCache, writeBuffer int
	}{
		{"leveldb:/tmp/x", Defaults{}, leveldb.DefaultBlockCacheBytes, leveldb.DefaultWriteBufferBytes},
		{"/tmp/x", ds, DataserviceBlockCacheBytes, WriteBufferBytes},
		{"leveldb:/tmp/x?block-cache-mb=8", ds, 8 << 20, WriteBufferBytes},
		{"leveldb:/tmp/x?write-buffer-mb=3", ds, DataserviceBlockCacheBytes, 3 << 20},
		{"leveldb:/tmp/x?write-buffer-mb=5&block-cache-mb=7", Defaults{}, 7 << 20, 5 << 20},
	} {
		p, err := parse(tc.spec, func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		cfg := p.leveldbConfig(tc.d)
		if cfg.BlockCacheBytes != tc.blockCache || cfg.WriteBufferBytes != tc.writeBuffer {
			t.Errorf("%s with %+v: block cache %d and write buffer %d, want %d and %d",
				tc.spec, tc.d, cfg.BlockCacheBytes, cfg.WriteBufferBytes, tc.blockCache, tc.writeBuffer)
		}
	}
}

func TestAerospikeSettings(t *testing.T) {
	p, err := parse("aerospike://h:3000/test?read-mode=session&total-timeout=2s&socket-timeout=250ms&scan-timeout=1m"+
		"&connect-timeout=3s&idle-timeout=30s&sleep-between-retries=5ms&index-timeout=10s&read-retries=0"+
		"&pool-size=64&min-conns-per-node=8&batch-size=1000&cluster-name=prod", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	a := p.aerospike
	if a.ReadMode != aerospike.ReadModeSession || a.TotalTimeout != 2*time.Second || a.SocketTimeout != 250*time.Millisecond ||
		a.ScanTimeout != time.Minute || a.ConnectTimeout != 3*time.Second || a.IdleTimeout != 30*time.Second ||
		a.SleepBetweenRetries != 5*time.Millisecond || a.IndexTimeout != 10*time.Second || a.ReadRetries != -1 ||
		a.ConnectionQueueSize != 64 || a.MinConnectionsPerNode != 8 || a.BatchSize != 1000 || a.ClusterName != "prod" {
		t.Fatalf("config = %+v", a)
	}
	for _, bad := range []string{
		"read-mode=strict", "total-timeout=1", "total-timeout=-1s", "pool-size=0", "read-retries=-1",
		"batch-size=x", "min-conns-per-node=300", "bogus=1",
	} {
		if _, err := parse("aerospike://h:3000/test?"+bad, env(nil)); !errors.Is(err, dataservice.ErrInvalid) {
			t.Errorf("parse(%s) = %v, want ErrInvalid", bad, err)
		}
	}
}
