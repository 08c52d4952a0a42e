package aerospike

import (
	"context"
	"crypto/rand"
	"fmt"
	"math"
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

// TestConformanceIndexes runs the suite with no directory kinds, and
// snapshots kept for the next page whatever its size: every Scan is a
// secondary-index query or a page of a snapshot. Batches of 3 keys make
// GetMany, PutMany and DeleteMany send several.
func TestConformanceIndexes(t *testing.T) {
	testConfig(t)
	storetest.Run(t, func(t testing.TB) dataservice.Store {
		s := newTestStore(t).(*Store)
		s.cfg.DirectoryKinds = []dataservice.Kind{}
		s.cfg.SnapshotMin = 1
		s.cfg.BatchSize = 3
		return s
	})
}

func TestSnapshots(t *testing.T) {
	s := newTestStore(t).(*Store)
	defer s.Close()
	s.cfg.SnapshotMin = 1
	ctx := context.Background()
	kind := dataservice.KindTag
	var want []string
	for i := range 50 {
		key := fmt.Sprintf("s/%03d", i*2)
		want = append(want, key)
		if _, err := s.Put(ctx, kind, key, []byte{1}, dataservice.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	after := ""
	for page := 0; ; page++ {
		recs, err := s.Scan(ctx, kind, "s/", after, 7)
		if err != nil {
			t.Fatal(err)
		}
		if page == 0 && len(s.snaps.byKey) != 1 {
			t.Fatalf("after the first page %d snapshots, want 1", len(s.snaps.byKey))
		}
		for _, r := range recs {
			got = append(got, r.Key)
		}
		if len(recs) < 7 {
			break
		}
		after = recs[len(recs)-1].Key
		if page == 2 {
			// Writes through the store show in the next pages.
			if _, err := s.Put(ctx, kind, "s/099", []byte{1}, dataservice.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Delete(ctx, kind, "s/098", 0); err != nil {
				t.Fatal(err)
			}
			want = append(want[:len(want)-1], "s/099")
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("pages = %q, want %q", got, want)
	}
	if s.snaps.held != 0 || len(s.snaps.byKey) != 0 {
		t.Fatalf("after the last page %d snapshots hold %d records, want none", len(s.snaps.byKey), s.snaps.held)
	}
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

// dirSize returns the number of keys in the directory of group.
func dirSize(t *testing.T, s *Store, kind dataservice.Kind, group string) (int, uint32) {
	t.Helper()
	dk, err := s.dirKey(kind, group)
	if err != nil {
		t.Fatal(err)
	}
	rec, aerr := s.client.Operate(nil, dk, as.MapSizeOp(binMembers))
	if aerr != nil {
		t.Fatalf("directory size: %v", aerr)
	}
	n, _ := toInt(rec.Bins[binMembers])
	return n, rec.Generation
}

func TestDirectory(t *testing.T) {
	s := newTestStore(t).(*Store)
	defer s.Close()
	ctx := context.Background()
	kind := dataservice.KindInbox
	t.Run("deleted keys are cleaned by Scan", func(t *testing.T) {
		for i := range 10 {
			if _, err := s.Put(ctx, kind, fmt.Sprintf("c/%03d", i), []byte{1}, dataservice.WriteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		keys := make([]string, 9)
		for i := range keys {
			keys[i] = fmt.Sprintf("c/%03d", i)
		}
		if _, err := s.DeleteMany(ctx, kind, keys); err != nil {
			t.Fatal(err)
		}
		if n, _ := dirSize(t, s, kind, "c/"); n != 10 {
			t.Fatalf("directory after deletes has %d keys, want the 10 (deletes leave them)", n)
		}
		got, err := s.Scan(ctx, kind, "c/", "", 5)
		if err != nil || len(got) != 1 || got[0].Key != "c/009" {
			t.Fatalf("Scan = %v, %v; want c/009", got, err)
		}
		if n, _ := dirSize(t, s, kind, "c/"); n != 1 {
			t.Fatalf("directory after Scan has %d keys, want 1", n)
		}
	})
	t.Run("a write bumps the generation the clean-up checks", func(t *testing.T) {
		_, gen := dirSize(t, s, kind, "c/")
		if err := s.addMembers(ctx, kind, []member{{key: "c/009"}}); err != nil {
			t.Fatal(err)
		}
		if _, gen2 := dirSize(t, s, kind, "c/"); gen2 == gen {
			t.Fatalf("re-adding a key left the directory's generation at %d: a racing clean-up could remove it", gen)
		}
	})
	t.Run("a directory outlives its longest-lived key by about an hour", func(t *testing.T) {
		ttl := func() uint32 {
			t.Helper()
			dk, err := s.dirKey(kind, "e/")
			if err != nil {
				t.Fatal(err)
			}
			rec, aerr := s.client.GetHeader(nil, dk)
			if aerr != nil {
				t.Fatalf("directory header: %v", aerr)
			}
			return rec.Expiration
		}
		put := func(key string, life time.Duration) {
			t.Helper()
			if _, err := s.Put(ctx, kind, key, []byte{1}, dataservice.WriteOptions{TTL: life}); err != nil {
				t.Fatal(err)
			}
		}
		slack := uint32(dirSlack / time.Second)
		put("e/1", time.Minute)
		if got := ttl(); got < 60+slack-5 || got > 60+slack {
			t.Fatalf("directory of a 1-minute key lives %ds, want about %d", got, 60+slack)
		}
		put("e/2", 2*time.Hour)
		if got := ttl(); got < 7200+slack-5 || got > 7200+slack {
			t.Fatalf("directory of a 2-hour key lives %ds, want about %d", got, 7200+slack)
		}
		put("e/3", time.Minute) // shorter than e/2: nothing changes
		if got := ttl(); got < 7200+slack-5 || got > 7200+slack {
			t.Fatalf("after a shorter key the directory lives %ds, want about %d still", got, 7200+slack)
		}
		put("e/4", 0)
		if got := ttl(); got != 0 && got != math.MaxUint32 {
			t.Fatalf("directory of a key without TTL lives %ds, want forever", got)
		}
	})
	t.Run("a growing directory is cleaned", func(t *testing.T) {
		writes := make([]dataservice.Write, cleanAt-1)
		keys := make([]string, len(writes))
		for i := range writes {
			keys[i] = fmt.Sprintf("d/%04d", i)
			writes[i] = dataservice.Write{Kind: kind, Key: keys[i], Value: []byte{1}}
		}
		if err := s.PutMany(ctx, writes); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DeleteMany(ctx, kind, keys); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Put(ctx, kind, "d/9999", []byte{1}, dataservice.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		if n, _ := dirSize(t, s, kind, "d/"); n != 1 {
			t.Fatalf("directory after reaching %d keys has %d, want 1", cleanAt, n)
		}
	})
}
