package aerospike

import (
	"context"
	"errors"
	"math"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	as "github.com/aerospike/aerospike-client-go/v7"
	"github.com/aerospike/aerospike-client-go/v7/types"

	"github.com/heraldpush/herald/dataservice"
)

// The tests of this file need no server: they cover what the conformance
// suite (aerospike_test.go) cannot check without one.

func TestSentinelFor(t *testing.T) {
	for _, c := range []struct {
		code types.ResultCode
		want error
	}{
		{types.KEY_NOT_FOUND_ERROR, dataservice.ErrNotFound},
		{types.GENERATION_ERROR, dataservice.ErrGenerationMismatch},
		{types.KEY_EXISTS_ERROR, dataservice.ErrExists},
		{types.PARAMETER_ERROR, dataservice.ErrInvalid},
		{types.RECORD_TOO_BIG, dataservice.ErrInvalid},
		{types.BIN_TYPE_ERROR, dataservice.ErrInvalid},
		{types.BIN_NAME_TOO_LONG, dataservice.ErrInvalid},
		{types.OP_NOT_APPLICABLE, dataservice.ErrInvalid},
		{types.SERIALIZE_ERROR, dataservice.ErrInvalid},
		{types.TIMEOUT, dataservice.ErrUnavailable},
		{types.NETWORK_ERROR, dataservice.ErrUnavailable},
		{types.SERVER_NOT_AVAILABLE, dataservice.ErrUnavailable},
		{types.NO_AVAILABLE_CONNECTIONS_TO_NODE, dataservice.ErrUnavailable},
		{types.INVALID_NODE_ERROR, dataservice.ErrUnavailable},
		{types.MAX_RETRIES_EXCEEDED, dataservice.ErrUnavailable},
		{types.MAX_ERROR_RATE, dataservice.ErrUnavailable},
		{types.PARTITION_UNAVAILABLE, dataservice.ErrUnavailable},
		{types.DEVICE_OVERLOAD, dataservice.ErrUnavailable},
		{types.KEY_BUSY, dataservice.ErrUnavailable},
		{types.SERVER_MEM_ERROR, dataservice.ErrUnavailable},
		{types.SERVER_ERROR, dataservice.ErrUnavailable},
		{types.FAIL_FORBIDDEN, dataservice.ErrUnavailable},
		{types.INVALID_NAMESPACE, dataservice.ErrUnavailable},
		{types.INDEX_NOTFOUND, dataservice.ErrUnavailable},
		{types.INDEX_NOTREADABLE, dataservice.ErrUnavailable},
		{types.NOT_AUTHENTICATED, dataservice.ErrUnavailable},
		{types.ROLE_VIOLATION, dataservice.ErrUnavailable},
		{types.NO_RESPONSE, dataservice.ErrUnavailable},
		{types.COMMON_ERROR, dataservice.ErrUnavailable},
	} {
		if got := sentinelFor(c.code); got != c.want {
			t.Errorf("sentinelFor(%v) = %v, want %v", c.code, got, c.want)
		}
	}
}

func TestTranslate(t *testing.T) {
	t.Run("wraps the sentinel and the client error", func(t *testing.T) {
		cause := &as.AerospikeError{ResultCode: types.GENERATION_ERROR}
		err := translate(context.Background(), "put dev \"k\"", cause)
		if !errors.Is(err, dataservice.ErrGenerationMismatch) {
			t.Fatalf("translate(GENERATION_ERROR) = %v, want ErrGenerationMismatch", err)
		}
		var ae *as.AerospikeError
		if !errors.As(err, &ae) || ae.ResultCode != types.GENERATION_ERROR {
			t.Fatalf("translate lost the client error: %v", err)
		}
		if !strings.Contains(err.Error(), `put dev "k"`) {
			t.Fatalf("translate lost the context: %v", err)
		}
	})
	t.Run("a timeout after the context ended wraps ctx.Err()", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
		defer cancel()
		<-ctx.Done()
		err := translate(ctx, "get", &as.AerospikeError{ResultCode: types.TIMEOUT})
		if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, dataservice.ErrUnavailable) {
			t.Fatalf("translate(TIMEOUT) after the deadline = %v, want DeadlineExceeded and ErrUnavailable", err)
		}
		err = translate(ctx, "get", &as.AerospikeError{ResultCode: types.KEY_NOT_FOUND_ERROR})
		if errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, dataservice.ErrNotFound) {
			t.Fatalf("translate(KEY_NOT_FOUND) after the deadline = %v, want ErrNotFound alone", err)
		}
	})
	t.Run("server misconfiguration carries a hint", func(t *testing.T) {
		err := translate(context.Background(), "put", &as.AerospikeError{ResultCode: types.FAIL_FORBIDDEN})
		if !strings.Contains(err.Error(), "nsup-period") {
			t.Fatalf("translate(FAIL_FORBIDDEN) = %v, want a hint about nsup-period", err)
		}
	})
	t.Run("an error of another kind is unavailable", func(t *testing.T) {
		err := translate(context.Background(), "get", errors.New("boom"))
		if !errors.Is(err, dataservice.ErrUnavailable) {
			t.Fatalf("translate(plain error) = %v, want ErrUnavailable", err)
		}
	})
}

func TestWriteError(t *testing.T) {
	notFound := &as.AerospikeError{ResultCode: types.KEY_NOT_FOUND_ERROR}
	if got := resultCode(writeError(notFound, dataservice.WriteOptions{Generation: 3})); got != types.GENERATION_ERROR {
		t.Errorf("conditional write on a missing record: code %v, want GENERATION_ERROR", got)
	}
	if got := resultCode(writeError(notFound, dataservice.WriteOptions{})); got != types.KEY_NOT_FOUND_ERROR {
		t.Errorf("unconditional write: code %v, want it unchanged", got)
	}
}

func TestBudget(t *testing.T) {
	const total, socket = time.Second, 300 * time.Millisecond
	t.Run("no deadline keeps the configuration", func(t *testing.T) {
		gotTotal, gotSocket, err := budget(context.Background(), total, socket)
		if err != nil || gotTotal != total || gotSocket != socket {
			t.Fatalf("budget = %v, %v, %v; want %v, %v", gotTotal, gotSocket, err, total, socket)
		}
	})
	t.Run("a sooner deadline caps both", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		gotTotal, gotSocket, err := budget(ctx, total, socket)
		if err != nil || gotTotal <= 0 || gotTotal > 100*time.Millisecond || gotSocket != gotTotal {
			t.Fatalf("budget = %v, %v, %v; want total ≤ 100ms and socket = total", gotTotal, gotSocket, err)
		}
	})
	t.Run("a later deadline changes nothing", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		gotTotal, gotSocket, err := budget(ctx, total, socket)
		if err != nil || gotTotal != total || gotSocket != socket {
			t.Fatalf("budget = %v, %v, %v; want %v, %v", gotTotal, gotSocket, err, total, socket)
		}
	})
	t.Run("socket is at most total", func(t *testing.T) {
		gotTotal, gotSocket, err := budget(context.Background(), time.Second, 5*time.Second)
		if err != nil || gotTotal != time.Second || gotSocket != time.Second {
			t.Fatalf("budget = %v, %v, %v; want 1s, 1s", gotTotal, gotSocket, err)
		}
	})
	t.Run("past deadline", func(t *testing.T) {
		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		defer cancel()
		if _, _, err := budget(ctx, total, socket); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("budget past the deadline: %v, want DeadlineExceeded", err)
		}
	})
	t.Run("canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, _, err := budget(ctx, total, socket); !errors.Is(err, context.Canceled) {
			t.Fatalf("budget of a canceled context: %v, want Canceled", err)
		}
	})
}

func TestPolicies(t *testing.T) {
	cfg := DefaultConfig()
	p := newPolicies(cfg, false)
	t.Run("reads retry, writes do not", func(t *testing.T) {
		if p.read.MaxRetries != DefaultReadRetries || p.read.SleepBetweenRetries != DefaultSleepBetweenRetries ||
			p.read.TotalTimeout != DefaultTotalTimeout || p.read.SocketTimeout != DefaultSocketTimeout {
			t.Errorf("read policy = %+v", p.read)
		}
		if p.batchRead.MaxRetries != DefaultReadRetries || p.readOp.MaxRetries != DefaultReadRetries {
			t.Errorf("batch read or read operate policy does not retry: %d, %d", p.batchRead.MaxRetries, p.readOp.MaxRetries)
		}
		for name, bp := range map[string]as.BasePolicy{"write": p.write.BasePolicy, "batch write": p.batchWrite.BasePolicy, "query": p.query.BasePolicy} {
			if bp.MaxRetries != 0 {
				t.Errorf("%s policy retries %d times", name, bp.MaxRetries)
			}
		}
		if p.write.SocketTimeout != p.write.TotalTimeout {
			t.Errorf("write socket timeout %v, want the whole %v for its one attempt", p.write.SocketTimeout, p.write.TotalTimeout)
		}
	})
	t.Run("writes store the key and wait for replicas", func(t *testing.T) {
		if !p.write.SendKey || !p.batchWrite.SendKey || p.write.CommitLevel != as.COMMIT_ALL {
			t.Errorf("write policy = %+v", p.write)
		}
		if bp := batchWritePolicy(dataservice.WriteOptions{}); !bp.SendKey || bp.CommitLevel != as.COMMIT_ALL {
			t.Errorf("batch write policy = %+v", bp)
		}
	})
	t.Run("read consistency", func(t *testing.T) {
		// Community Edition refuses the linearize flag (ENTERPRISE_ONLY):
		// only a strong-consistency namespace gets it.
		if p.read.ReadModeSC != as.ReadModeSCSession || p.batchRead.ReadModeSC != as.ReadModeSCSession {
			t.Errorf("AP ReadModeSC = %v, want session (no flag)", p.read.ReadModeSC)
		}
		if got := newPolicies(cfg, true); got.read.ReadModeSC != as.ReadModeSCLinearize || got.batchRead.ReadModeSC != as.ReadModeSCLinearize {
			t.Errorf("strong-consistency ReadModeSC = %v, want linearize", got.read.ReadModeSC)
		}
	})
	t.Run("scan timeout", func(t *testing.T) {
		if p.query.TotalTimeout != DefaultScanTimeout || !p.query.IncludeBinData {
			t.Errorf("query policy = %+v", p.query)
		}
	})
	t.Run("per call policies are capped copies", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		rp, err := p.readPolicy(ctx)
		if err != nil || rp.TotalTimeout > 50*time.Millisecond || rp.SocketTimeout > rp.TotalTimeout {
			t.Fatalf("readPolicy = %+v, %v", rp, err)
		}
		wp, err := p.writePolicy(ctx)
		if err != nil || wp.TotalTimeout > 50*time.Millisecond || !wp.SendKey {
			t.Fatalf("writePolicy = %+v, %v", wp, err)
		}
		for _, f := range []func(context.Context) error{
			func(ctx context.Context) error { _, err := p.batchReadPolicy(ctx); return err },
			func(ctx context.Context) error { _, err := p.batchWritePolicy(ctx); return err },
			func(ctx context.Context) error { _, err := p.readOpPolicy(ctx); return err },
			func(ctx context.Context) error { _, err := p.queryPolicy(ctx); return err },
		} {
			if err := f(ctx); err != nil {
				t.Fatal(err)
			}
		}
		wp.Expiration = 7
		wp.GenerationPolicy = as.EXPECT_GEN_EQUAL
		if p.read.TotalTimeout != DefaultTotalTimeout || p.write.TotalTimeout != DefaultTotalTimeout ||
			p.write.Expiration != 0 || p.write.GenerationPolicy != as.NONE {
			t.Fatalf("a per-call policy changed its template: %+v", p.write)
		}
	})
	t.Run("client policy", func(t *testing.T) {
		c := cfg
		c.User, c.Password, c.MinConnectionsPerNode = "u", "p", 4
		cp := clientPolicy(c)
		if !cp.FailIfNotConnected || cp.Timeout != DefaultConnectTimeout || cp.ConnectionQueueSize != DefaultConnectionQueueSize ||
			cp.MinConnectionsPerNode != 4 || cp.IdleTimeout != DefaultIdleTimeout || !cp.LimitConnectionsToQueueSize ||
			cp.User != "u" || cp.Password != "p" {
			t.Fatalf("client policy = %+v", cp)
		}
	})
}

func TestApplyWriteOptions(t *testing.T) {
	for _, c := range []struct {
		name   string
		opts   dataservice.WriteOptions
		action as.RecordExistsAction
		gen    as.GenerationPolicy
		exp    uint32
	}{
		{"unconditional", dataservice.WriteOptions{}, as.REPLACE, as.NONE, as.TTLDontExpire},
		{"create only", dataservice.WriteOptions{CreateOnly: true}, as.CREATE_ONLY, as.NONE, as.TTLDontExpire},
		{"generation", dataservice.WriteOptions{Generation: 9}, as.REPLACE, as.EXPECT_GEN_EQUAL, as.TTLDontExpire},
		{"both", dataservice.WriteOptions{CreateOnly: true, Generation: 9}, as.CREATE_ONLY, as.EXPECT_GEN_EQUAL, as.TTLDontExpire},
		{"ttl", dataservice.WriteOptions{TTL: 1500 * time.Millisecond}, as.REPLACE, as.NONE, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			var wp as.WritePolicy
			applyWriteOptions(&wp, c.opts)
			if wp.RecordExistsAction != c.action || wp.GenerationPolicy != c.gen || wp.Expiration != c.exp ||
				(c.gen != as.NONE && wp.Generation != c.opts.Generation) {
				t.Fatalf("policy = {action %v, generation policy %v (%d), expiration %d}, want {%v, %v, %d}",
					wp.RecordExistsAction, wp.GenerationPolicy, wp.Generation, wp.Expiration, c.action, c.gen, c.exp)
			}
			bp := batchWritePolicy(c.opts)
			if bp.RecordExistsAction != c.action || bp.GenerationPolicy != c.gen || bp.Expiration != c.exp {
				t.Fatalf("batch policy = %+v differs from the single-write policy", bp)
			}
		})
	}
}

// A counter increment in a batch updates or creates the record, and keeps
// its lifetime unless given one, as Incr does.
func TestBatchIncrPolicy(t *testing.T) {
	for _, c := range []struct {
		opts   dataservice.WriteOptions
		action as.RecordExistsAction
		want   uint32
	}{
		{dataservice.WriteOptions{}, as.UPDATE, as.TTLDontUpdate},
		{dataservice.WriteOptions{TTL: 1500 * time.Millisecond}, as.UPDATE, 2},
		{dataservice.WriteOptions{CreateOnly: true, TTL: time.Hour}, as.CREATE_ONLY, 3600},
	} {
		bp := batchIncrPolicy(c.opts)
		if bp.RecordExistsAction != c.action || bp.GenerationPolicy != as.NONE || bp.Expiration != c.want || !bp.SendKey || bp.CommitLevel != as.COMMIT_ALL {
			t.Errorf("batchIncrPolicy(%+v) = %+v, want %v expiring at %d", c.opts, bp, c.action, c.want)
		}
	}
	if ops := incrOps([]dataservice.Delta{{Name: "a", Delta: 1}, {Name: "b", Delta: -2}}); len(ops) != 2 {
		t.Errorf("incrOps of two deltas made %d operations", len(ops))
	}
}

func TestExpiration(t *testing.T) {
	for _, c := range []struct {
		ttl  time.Duration
		want uint32
	}{
		{0, 0}, {time.Nanosecond, 1}, {time.Second, 1}, {1500 * time.Millisecond, 2},
		{time.Hour, 3600}, {maxTTL, uint32(maxTTL / time.Second)},
	} {
		if got := expiration(c.ttl); got != c.want {
			t.Errorf("expiration(%v) = %d, want %d", c.ttl, got, c.want)
		}
	}
	if err := checkTTL(maxTTL + time.Second); !errors.Is(err, dataservice.ErrInvalid) {
		t.Errorf("checkTTL(over 10 years) = %v, want ErrInvalid", err)
	}
	if !expires(math.MaxUint32).IsZero() || !expires(0).IsZero() {
		t.Error("a record that never expires has an expiry")
	}
	if got, want := expires(10), time.Now().Add(10*time.Second); got.Before(want.Add(-2*time.Second)) || got.After(want.Add(time.Second)) {
		t.Errorf("expires(10) = %v, want about %v", got, want)
	}
}

func TestGroups(t *testing.T) {
	for _, c := range []struct {
		key  string
		want []string
	}{
		{"rid/msg", []string{"rid/"}},
		{"app/tag/rid", []string{"app/", "app/tag/"}},
		{"g/", []string{"g/"}},
		{"/a/1", []string{"/", "/a/"}},
		{"a//b", []string{"a/", "a//"}},
		{"plain", nil},
		{"é/x", []string{"é/"}},
	} {
		if got := groups(c.key); !slices.Equal(got, c.want) {
			t.Errorf("groups(%q) = %q, want %q", c.key, got, c.want)
		}
	}
	s := &Store{keyPrefix: "run.1:"}
	ops := s.valueOps("a/b/c", []byte("v"))
	if len(ops) != 2 {
		t.Fatalf("valueOps of a grouped key = %d operations, want the value and the groups", len(ops))
	}
	if ops := s.valueOps("plain", nil); len(ops) != 1 {
		t.Fatalf("valueOps of a key without groups = %d operations, want the value only", len(ops))
	}
}

func TestUserKey(t *testing.T) {
	s := &Store{namespace: "test", keyPrefix: "run.1:"}
	k, err := as.NewKey("test", "dev", "run.1:a/b")
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := s.userKey(k); !ok || got != "a/b" {
		t.Errorf("userKey = %q, %v; want a/b", got, ok)
	}
	other, _ := as.NewKey("test", "dev", "run.2:a/b")
	if _, ok := s.userKey(other); ok {
		t.Error("userKey accepted another store's key")
	}
	digestOnly, _ := as.NewKeyWithDigest("test", "dev", nil, make([]byte, 20))
	if _, ok := s.userKey(digestOnly); ok {
		t.Error("userKey accepted a key without its value")
	}
}

func TestIndexName(t *testing.T) {
	if got := indexName("inb"); got != "inb_g" {
		t.Errorf("indexName(inb) = %q", got)
	}
	long := strings.Repeat("s", maxSetName)
	got := indexName(long)
	if len(got) > maxIndexName || got == indexName(long[1:]+"t") {
		t.Errorf("indexName of a long set = %q: too long or not distinct", got)
	}
}

func TestCounterDecoding(t *testing.T) {
	want := map[string]int64{"sent": 3, "acked": -1}
	for name, v := range map[string]any{
		"ordered map":   []as.MapPair{{Key: "acked", Value: -1}, {Key: "sent", Value: 3}},
		"unordered map": map[any]any{"sent": 3, "acked": int64(-1)},
	} {
		got, err := counterMap(v)
		if err != nil || len(got) != len(want) || got["sent"] != 3 || got["acked"] != -1 {
			t.Errorf("counterMap(%s) = %v, %v; want %v", name, got, err, want)
		}
	}
	for name, v := range map[string]any{
		"not a map":        []any{1, 2},
		"name not string":  map[any]any{1: 2},
		"value not an int": []as.MapPair{{Key: "n", Value: "x"}},
	} {
		if _, err := counterMap(v); err == nil {
			t.Errorf("counterMap(%s) succeeded", name)
		}
	}

	rec := &as.Record{Bins: as.BinMap{binCounters: 5}}
	if got, ok := opResults(rec, binCounters, 1); !ok || !slices.Equal(got, []any{5}) {
		t.Errorf("opResults of one operation = %v, %v", got, ok)
	}
	rec = &as.Record{Bins: as.BinMap{binCounters: []any{1, 2}}}
	if got, ok := opResults(rec, binCounters, 2); !ok || len(got) != 2 {
		t.Errorf("opResults of two operations = %v, %v", got, ok)
	}
	if _, ok := opResults(rec, binCounters, 3); ok {
		t.Error("opResults accepted 2 results for 3 operations")
	}
	if _, ok := opResults(&as.Record{Bins: as.BinMap{}}, binCounters, 1); ok {
		t.Error("opResults accepted a reply without the bin")
	}
}

func TestParseHost(t *testing.T) {
	for _, c := range []struct {
		in   string
		name string
		port int
	}{
		{"localhost:3000", "localhost", 3000},
		{"10.0.0.1:4000", "10.0.0.1", 4000},
		{"db.example.com", "db.example.com", DefaultPort},
		{"[::1]:3100", "::1", 3100},
		{"[::1]", "::1", DefaultPort},
	} {
		h, err := parseHost(c.in)
		if err != nil || h.Name != c.name || h.Port != c.port {
			t.Errorf("parseHost(%q) = %v, %v; want %s:%d", c.in, h, err, c.name, c.port)
		}
	}
	for _, in := range []string{"", "::1", "host:0", "host:70000", "host:abc", ":3000", "a b:1", "host:3000/ns"} {
		if h, err := parseHost(in); err == nil {
			t.Errorf("parseHost(%q) = %v, want an error", in, h)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	valid := DefaultConfig()
	valid.Hosts = []string{"localhost:3000"}
	valid.Namespace = "test"
	if err := valid.withDefaults().validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for _, c := range []struct {
		name   string
		change func(*Config)
	}{
		{"no hosts", func(c *Config) { c.Hosts = nil }},
		{"bad host", func(c *Config) { c.Hosts = []string{"localhost:port"} }},
		{"no namespace", func(c *Config) { c.Namespace = "" }},
		{"namespace too long", func(c *Config) { c.Namespace = strings.Repeat("n", 32) }},
		{"namespace with a delimiter", func(c *Config) { c.Namespace = "a;b" }},
		{"set prefix with a delimiter", func(c *Config) { c.SetPrefix = "a:" }},
		{"set prefix too long", func(c *Config) { c.SetPrefix = strings.Repeat("p", maxSetName) }},
		{"set prefix too long for a kind", func(c *Config) { c.SetPrefix = strings.Repeat("p", maxSetName-2) }},
		{"negative timeout", func(c *Config) { c.TotalTimeout = -time.Second }},
		{"idle timeout over a day", func(c *Config) { c.IdleTimeout = 25 * time.Hour }},
		{"negative pool", func(c *Config) { c.ConnectionQueueSize = -1 }},
		{"min connections over the pool", func(c *Config) { c.ConnectionQueueSize, c.MinConnectionsPerNode = 8, 9 }},
		{"password without user", func(c *Config) { c.Password = "secret" }},
		{"bad index kind", func(c *Config) { c.IndexKinds = []dataservice.Kind{"a:b"} }},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := valid
			c.change(&cfg)
			err := cfg.withDefaults().validate()
			if !errors.Is(err, dataservice.ErrInvalid) {
				t.Fatalf("validate = %v, want ErrInvalid", err)
			}
			if _, err := Open(cfg); !errors.Is(err, dataservice.ErrInvalid) {
				t.Fatalf("Open = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestConfigDefaults(t *testing.T) {
	cfg := Config{Hosts: []string{"h"}, Namespace: "ns"}.withDefaults()
	d := DefaultConfig()
	if cfg.TotalTimeout != d.TotalTimeout || cfg.SocketTimeout != d.SocketTimeout || cfg.ScanTimeout != d.ScanTimeout ||
		cfg.ConnectTimeout != d.ConnectTimeout || cfg.ReadRetries != d.ReadRetries ||
		cfg.ConnectionQueueSize != d.ConnectionQueueSize || cfg.IdleTimeout != d.IdleTimeout ||
		cfg.IndexTimeout != d.IndexTimeout || !slices.Equal(cfg.IndexKinds, defaultIndexKinds()) {
		t.Fatalf("withDefaults = %+v, want the defaults of %+v", cfg, d)
	}
	if got := (Config{ReadRetries: -1}).withDefaults().ReadRetries; got != 0 {
		t.Errorf("negative ReadRetries became %d, want 0", got)
	}
	if got := (Config{IndexKinds: []dataservice.Kind{}}).withDefaults().IndexKinds; len(got) != 0 {
		t.Errorf("empty IndexKinds became %v, want none", got)
	}
}

func TestOpenUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	start := time.Now()
	s, err := Open(Config{Hosts: []string{addr}, Namespace: "test", ConnectTimeout: 3 * time.Second})
	if err == nil {
		s.Close()
		t.Fatalf("Open(%s) succeeded with nothing listening", addr)
	}
	if !errors.Is(err, dataservice.ErrUnavailable) {
		t.Fatalf("Open(%s) = %v, want ErrUnavailable", addr, err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Fatalf("Open took %v to fail against a closed port", elapsed)
	}
}

// offlineStore returns a Store without a client: any call that reached the
// network would panic, so the calls that return show they need none.
func offlineStore() *Store {
	cfg := DefaultConfig()
	return &Store{namespace: "test", pol: newPolicies(cfg, false), cfg: cfg, snaps: newSnapshots(0)}
}

func TestValidationBeforeNetwork(t *testing.T) {
	s := offlineStore()
	ctx := context.Background()
	long := strings.Repeat("k", dataservice.MaxKeyLen+1)
	big := make([]byte, dataservice.MaxValueLen+1)
	one := []dataservice.Delta{{Name: "n", Delta: 1}}
	v := []byte("v")
	calls := map[string]func() error{
		"Get/empty key":        func() error { _, err := s.Get(ctx, "dev", ""); return err },
		"Get/key not UTF-8":    func() error { _, err := s.Get(ctx, "dev", "k\xff"); return err },
		"Get/empty kind":       func() error { _, err := s.Get(ctx, "", "k"); return err },
		"Get/kind with ';'":    func() error { _, err := s.Get(ctx, "a;b", "k"); return err },
		"GetMany/key too long": func() error { _, err := s.GetMany(ctx, "dev", []string{"a", long}); return err },
		"Put/value too long":   func() error { _, err := s.Put(ctx, "dev", "k", big, dataservice.WriteOptions{}); return err },
		"Put/negative TTL":     func() error { _, err := s.Put(ctx, "dev", "k", v, dataservice.WriteOptions{TTL: -1}); return err },
		"Put/TTL over 10 years": func() error {
			_, err := s.Put(ctx, "dev", "k", v, dataservice.WriteOptions{TTL: maxTTL + time.Hour})
			return err
		},
		"PutMany/empty key": func() error { return s.PutMany(ctx, []dataservice.Write{{Kind: "dev", Value: v}}) },
		"PutMany/conditional increment": func() error {
			return s.PutMany(ctx, []dataservice.Write{{Kind: "cnt", Key: "k", Deltas: one, Options: dataservice.WriteOptions{Generation: 1}}})
		},
		"PutMany/incremented twice": func() error {
			return s.PutMany(ctx, []dataservice.Write{{Kind: "cnt", Key: "k", Deltas: one}, {Kind: "cnt", Key: "k", Deltas: one}})
		},
		"Delete/key too long":  func() error { _, err := s.Delete(ctx, "dev", long, 0); return err },
		"DeleteMany/empty key": func() error { _, err := s.DeleteMany(ctx, "dev", []string{""}); return err },
		"Scan/no separator":    func() error { _, err := s.Scan(ctx, "inb", "g", "", 1); return err },
		"Scan/zero limit":      func() error { _, err := s.Scan(ctx, "inb", "g/", "", 0); return err },
		"Incr/no deltas":       func() error { _, err := s.Incr(ctx, "cnt", "k", nil, 0); return err },
		"Incr/empty name":      func() error { _, err := s.Incr(ctx, "cnt", "k", []dataservice.Delta{{Delta: 1}}, 0); return err },
		"Incr/negative ttl":    func() error { _, err := s.Incr(ctx, "cnt", "k", one, -1); return err },
		"Counters/empty key":   func() error { _, err := s.Counters(ctx, "cnt", ""); return err },
		"ListAppend/no items":  func() error { _, err := s.ListAppend(ctx, "rcn", "k", nil, dataservice.ListOptions{}); return err },
		"ListAppend/negative": func() error {
			_, err := s.ListAppend(ctx, "rcn", "k", [][]byte{v}, dataservice.ListOptions{MaxLen: -1})
			return err
		},
		"ListAppend/too long": func() error {
			_, err := s.ListAppend(ctx, "rcn", "k", [][]byte{big[:600<<10], big[:600<<10]}, dataservice.ListOptions{})
			return err
		},
		"ListRange/zero count":  func() error { _, err := s.ListRange(ctx, "rcn", "k", 0, 0); return err },
		"ListRange/empty key":   func() error { _, err := s.ListRange(ctx, "rcn", "", 0, 1); return err },
		"IndexKinds/long kind":  func() error { return checkKind("", dataservice.Kind(strings.Repeat("k", maxSetName+1))) },
		"Scan/after too long":   func() error { _, err := s.Scan(ctx, "inb", "g/", long, 1); return err },
		"Scan/prefix not UTF-8": func() error { _, err := s.Scan(ctx, "inb", "\xff/", "", 1); return err },
		"Incr/name too long": func() error {
			_, err := s.Incr(ctx, "cnt", "k", []dataservice.Delta{{Name: long, Delta: 1}}, 0)
			return err
		},
		"ListAppend/TTL 11years": func() error {
			_, err := s.ListAppend(ctx, "rcn", "k", [][]byte{v}, dataservice.ListOptions{TTL: maxTTL + time.Hour})
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			if err := call(); !errors.Is(err, dataservice.ErrInvalid) {
				t.Fatalf("%s: %v, want ErrInvalid", name, err)
			}
		})
	}
}

func TestNoCallAfterCloseOrCancel(t *testing.T) {
	s := offlineStore()
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Get(canceled, "dev", "k"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with a canceled context: %v, want Canceled", err)
	}
	if _, err := s.ListAppend(canceled, "rcn", "k", [][]byte{nil}, dataservice.ListOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("ListAppend with a canceled context: %v, want Canceled", err)
	}
	s.closed.Store(true)
	if _, err := s.Get(context.Background(), "dev", "k"); !errors.Is(err, dataservice.ErrClosed) {
		t.Errorf("Get after Close: %v, want ErrClosed", err)
	}
	if _, err := s.ListRange(context.Background(), "rcn", "k", 0, 1); !errors.Is(err, dataservice.ErrClosed) {
		t.Errorf("ListRange after Close: %v, want ErrClosed", err)
	}
	if err := s.Close(); !errors.Is(err, dataservice.ErrClosed) {
		t.Errorf("second Close: %v, want ErrClosed", err)
	}
}

func TestNamespaceProblem(t *testing.T) {
	for _, c := range []struct {
		reply string
		ok    bool
	}{
		{"objects=0;nsup-period=120;default-ttl=0;allow-ttl-without-nsup=false", true},
		{"nsup-period=0;default-ttl=0;allow-ttl-without-nsup=true", true},
		{"objects=3;replication-factor=2", true}, // settings absent: not checked
		{"nsup-period=120;default-ttl=2592000", false},
		{"nsup-period=0;default-ttl=0;allow-ttl-without-nsup=false", false},
		{"nsup-period=0;default-ttl=0", false},
	} {
		if err := namespaceProblem(infoParams(c.reply)); (err == nil) != c.ok {
			t.Errorf("namespaceProblem(%q) = %v, want ok %v", c.reply, err, c.ok)
		}
	}
	if got := infoParams("a=1;b=;c;d=x=y"); got["a"] != "1" || got["b"] != "" || got["d"] != "x=y" || len(got) != 3 {
		t.Errorf("infoParams = %v", got)
	}
}
