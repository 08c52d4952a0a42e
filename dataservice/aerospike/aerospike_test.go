package aerospike

import (
	"crypto/rand"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	as "github.com/aerospike/aerospike-client-go/v7"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/dataservice/clienttest"
	"github.com/heraldpush/herald/dataservice/storetest"
)

// The conformance suite runs against a real server named by the
// environment:
//
//	HERALD_TEST_AEROSPIKE=127.0.0.1:3000 [HERALD_TEST_AEROSPIKE_NS=test] go test ./dataservice/aerospike
//
// HERALD_TEST_AEROSPIKE may list several seeds, comma-separated;
// HERALD_TEST_AEROSPIKE_USER and HERALD_TEST_AEROSPIKE_PASSWORD
// authenticate if the server has security enabled. See docs/aerospike.md for
// the namespace configuration the suite needs (nsup-period > 0,
// max-record-size of at least 2 MiB).
//
// The suite opens a store per subtest (about 200), and Aerospike limits the
// sets (4,095) and secondary indexes (256) of a namespace and never forgets
// a set name: a set per store would exhaust both within a run. So every
// store of every run shares the sets "herald_test_<kind>", and each store
// prefixes its keys with the run's random id and its own number. Records of
// runs older than an hour are truncated when a run starts.
const (
	envAddr     = "HERALD_TEST_AEROSPIKE"
	envNS       = "HERALD_TEST_AEROSPIKE_NS"
	envUser     = "HERALD_TEST_AEROSPIKE_USER"
	envPassword = "HERALD_TEST_AEROSPIKE_PASSWORD"

	testSetPrefix = "herald_test_"
)

var (
	runID      = newRunID()
	storeCount atomic.Int64
)

func newRunID() string { return strings.ToLower(rand.Text()[:8]) }

// testConfig returns the configuration of the test server, or skips t.
func testConfig(t testing.TB) Config {
	t.Helper()
	addr := os.Getenv(envAddr)
	if addr == "" {
		t.Skip("HERALD_TEST_AEROSPIKE not set: set it to host:port of an Aerospike server to run the conformance suite against Aerospike")
	}
	cfg := DefaultConfig()
	cfg.Hosts = strings.Split(addr, ",")
	cfg.Namespace = os.Getenv(envNS)
	if cfg.Namespace == "" {
		cfg.Namespace = "test"
	}
	cfg.User = os.Getenv(envUser)
	cfg.Password = os.Getenv(envPassword)
	cfg.SetPrefix = testSetPrefix
	return cfg
}

// newTestStore opens a store whose records no other store of any run sees.
func newTestStore(t testing.TB) dataservice.Store {
	t.Helper()
	s, err := Open(testConfig(t))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	s.keyPrefix = fmt.Sprintf("%s.%d:", runID, storeCount.Add(1))
	return s
}

func TestConformance(t *testing.T) {
	testConfig(t) // skip at once rather than in every subtest
	truncateOldRecords(t)
	storetest.Run(t, newTestStore)
}

// TestServiceConformance runs the dataservice client suite (every Herald
// operation: apps, devices, sessions, messages, broadcasts, reports…) over
// an Aerospike store, as `herald all --store aerospike://…` serves it.
func TestServiceConformance(t *testing.T) {
	testConfig(t)
	clienttest.Run(t, func(t testing.TB) dataservice.Client {
		s := newTestStore(t)
		t.Cleanup(func() { s.Close() })
		return dataservice.New(s)
	})
}

func BenchmarkStore(b *testing.B) {
	testConfig(b)
	storetest.Bench(b, newTestStore)
}

// truncateOldRecords removes the records that test runs more than an hour
// old left in the test sets. Runs going on now are not disturbed: they
// wrote their records since.
func truncateOldRecords(t *testing.T) {
	cfg := testConfig(t)
	cfg.IndexKinds = []dataservice.Kind{}
	s, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	nodes := s.client.GetNodes()
	if len(nodes) == 0 {
		return
	}
	info, aerr := nodes[0].RequestInfo(&as.InfoPolicy{Timeout: cfg.ConnectTimeout}, "sets/"+cfg.Namespace)
	if aerr != nil {
		t.Logf("listing sets to truncate old test records: %v", aerr)
		return
	}
	cutoff := time.Now().Add(-time.Hour)
	for _, entry := range strings.Split(info["sets/"+cfg.Namespace], ";") {
		for _, field := range strings.Split(entry, ":") {
			set, ok := strings.CutPrefix(field, "set=")
			if !ok || !strings.HasPrefix(set, testSetPrefix) {
				continue
			}
			if aerr := s.client.Truncate(nil, cfg.Namespace, set, &cutoff); aerr != nil {
				t.Logf("truncating old test records of %s: %v", set, aerr)
			}
		}
	}
}
