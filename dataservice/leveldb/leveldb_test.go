package leveldb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/syndtr/goleveldb/leveldb/util"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/dataservice/storetest"
)

// openStore opens a Store in a fresh directory with cfg, closed when t ends.
func openStore(t testing.TB, cfg Config) *Store {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	s, err := Open(cfg)
	if err != nil {
		t.Fatalf("Open(%+v): %v", cfg, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil && !errors.Is(err, dataservice.ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func newStore(t testing.TB) dataservice.Store { return openStore(t, DefaultConfig()) }

func TestConformance(t *testing.T) {
	storetest.Run(t, newStore)
}

func BenchmarkStore(b *testing.B) {
	storetest.Bench(b, newStore)
}

// countKeys returns how many keys of the raw database start with tag.
func countKeys(t testing.TB, s *Store, tag byte) int {
	t.Helper()
	it := s.db.NewIterator(util.BytesPrefix([]byte{tag}), nil)
	defer it.Release()
	n := 0
	for it.Next() {
		n++
	}
	if err := it.Error(); err != nil {
		t.Fatal(err)
	}
	return n
}

// waitFor polls cond until it holds, for at most timeout.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestReopen(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s, err := Open(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := s.Put(ctx, dataservice.KindDevice, "d", []byte("device"), dataservice.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Put(ctx, dataservice.KindSession, "s", []byte("session"), dataservice.WriteOptions{TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Incr(ctx, dataservice.KindCounter, "m", []dataservice.Delta{{Name: "sent", Delta: 7}}, time.Hour); err != nil {
		t.Fatal(err)
	}
	session, err := s.Get(ctx, dataservice.KindSession, "s")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openStore(t, Config{Dir: dir})
	tests := []struct {
		name  string
		check func(t *testing.T)
	}{
		{"generation", func(t *testing.T) {
			r, err := s.Get(ctx, dataservice.KindDevice, "d")
			if err != nil || string(r.Value) != "device" || r.Generation != 3 {
				t.Fatalf("Get = %+v, %v; want device at generation 3", r, err)
			}
			gen, err := s.Put(ctx, dataservice.KindDevice, "d", []byte("device"), dataservice.WriteOptions{Generation: 3})
			if err != nil || gen != 4 {
				t.Fatalf("conditional Put = %d, %v; want 4", gen, err)
			}
		}},
		{"expiry", func(t *testing.T) {
			r, err := s.Get(ctx, dataservice.KindSession, "s")
			if err != nil || !r.Expires.Equal(session.Expires) {
				t.Fatalf("Get = %+v, %v; want expiry %v", r, err, session.Expires)
			}
		}},
		{"counters", func(t *testing.T) {
			got, err := s.Incr(ctx, dataservice.KindCounter, "m", []dataservice.Delta{{Name: "sent", Delta: 1}}, 0)
			if err != nil || got[0] != 8 {
				t.Fatalf("Incr = %v, %v; want [8]", got, err)
			}
		}},
		{"expiry index", func(t *testing.T) {
			if n := countKeys(t, s, tagExpiry); n != 2 {
				t.Fatalf("%d expiry index entries, want 2 (session and counters)", n)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.check)
	}
}

func TestSweeperReclaimsExpiredRecords(t *testing.T) {
	ctx := t.Context()
	s := openStore(t, Config{SweepInterval: 20 * time.Millisecond})
	const ttl = 100 * time.Millisecond
	var writes []dataservice.Write
	for i := range 1500 { // several sweep chunks
		writes = append(writes, dataservice.Write{
			Kind: dataservice.KindInbox, Key: fmt.Sprintf("r/%04d", i), Value: []byte("m"),
			Options: dataservice.WriteOptions{TTL: ttl},
		})
	}
	if err := s.PutMany(ctx, writes); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Incr(ctx, dataservice.KindCounter, "m", []dataservice.Delta{{Name: "n", Delta: 1}}, ttl); err != nil {
		t.Fatal(err)
	}
	// Rewritten records must survive their stale expiry.
	if _, err := s.Put(ctx, dataservice.KindDevice, "permanent", []byte("v"), dataservice.WriteOptions{TTL: ttl}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, dataservice.KindDevice, "permanent", []byte("v"), dataservice.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, dataservice.KindDevice, "later", []byte("v"), dataservice.WriteOptions{TTL: ttl}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, dataservice.KindDevice, "later", []byte("v"), dataservice.WriteOptions{TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}

	waitFor(t, 10*time.Second, "sweeper empties the expiry index up to now", func() bool {
		return countKeys(t, s, tagExpiry) == 1 // "later"
	})
	if n := countKeys(t, s, tagRecord); n != 2 {
		t.Errorf("%d value records left, want 2 (permanent, later)", n)
	}
	if n := countKeys(t, s, tagCounter); n != 0 {
		t.Errorf("%d counter records left, want 0", n)
	}
	for _, k := range []string{"permanent", "later"} {
		if _, err := s.Get(ctx, dataservice.KindDevice, k); err != nil {
			t.Errorf("Get(%q) after sweeping: %v", k, err)
		}
	}
}

func TestSweepIgnoresStaleIndexEntries(t *testing.T) {
	ctx := t.Context()
	s := openStore(t, Config{SweepInterval: -1})
	if _, err := s.Put(ctx, dataservice.KindDevice, "d", []byte("v"), dataservice.WriteOptions{TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	// Forge an index entry that says "d" expired a second ago, as a crash
	// between two versions of the store could leave.
	past := time.Now().Add(-time.Second).UnixNano()
	rk := appendRecordKey(nil, tagRecord, dataservice.KindDevice, "d")
	if err := s.db.Put(appendExpiryKey(nil, past, rk), nil, nil); err != nil {
		t.Fatal(err)
	}
	n, err := s.sweep(now())
	if err != nil || n != 0 {
		t.Fatalf("sweep = %d, %v; want 0 records deleted", n, err)
	}
	if _, err := s.Get(ctx, dataservice.KindDevice, "d"); err != nil {
		t.Fatalf("Get after sweeping a stale index entry: %v", err)
	}
	if n := countKeys(t, s, tagExpiry); n != 1 {
		t.Fatalf("%d index entries, want 1 (the live one)", n)
	}
}

func TestOpenTwiceFails(t *testing.T) {
	dir := t.TempDir()
	openStore(t, Config{Dir: dir})
	s, err := Open(Config{Dir: dir})
	if err == nil {
		s.Close()
		t.Fatal("second Open of the same directory succeeded")
	}
	if !errors.Is(err, dataservice.ErrUnavailable) || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("second Open: %v; want ErrUnavailable saying the directory is in use", err)
	}
}

func TestOpenInvalidConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no directory", Config{}},
		{"negative block cache", Config{Dir: t.TempDir(), BlockCacheBytes: -1}},
		{"negative write buffer", Config{Dir: t.TempDir(), WriteBufferBytes: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s, err := Open(tt.cfg); !errors.Is(err, dataservice.ErrInvalid) {
				if s != nil {
					s.Close()
				}
				t.Fatalf("Open = %v; want ErrInvalid", err)
			}
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	if got, want := (Config{}).withDefaults(), DefaultConfig(); got != want {
		t.Fatalf("zero Config with defaults = %+v, want DefaultConfig %+v", got, want)
	}
}

func TestPutManyAppliesInOrder(t *testing.T) {
	ctx := t.Context()
	s := openStore(t, Config{})
	err := s.PutMany(ctx, []dataservice.Write{
		{Kind: dataservice.KindDevice, Key: "k", Value: []byte("1"), Options: dataservice.WriteOptions{CreateOnly: true}},
		{Kind: dataservice.KindDevice, Key: "k", Value: []byte("2"), Options: dataservice.WriteOptions{Generation: 1, TTL: time.Hour}},
		{Kind: dataservice.KindDevice, Key: "k", Value: []byte("3"), Options: dataservice.WriteOptions{Generation: 2}},
		{Kind: dataservice.KindDevice, Key: "k", Value: []byte("x"), Options: dataservice.WriteOptions{CreateOnly: true}},
	})
	if !errors.Is(err, dataservice.ErrExists) {
		t.Fatalf("PutMany = %v, want ErrExists from the last write", err)
	}
	r, err := s.Get(ctx, dataservice.KindDevice, "k")
	if err != nil || string(r.Value) != "3" || r.Generation != 3 || !r.Expires.IsZero() {
		t.Fatalf("Get = %+v, %v; want 3 at generation 3, permanent", r, err)
	}
	if n := countKeys(t, s, tagExpiry); n != 0 {
		t.Fatalf("%d expiry index entries left, want 0", n)
	}
}

func TestDeleteManyDuplicateKeys(t *testing.T) {
	ctx := t.Context()
	s := openStore(t, Config{})
	if _, err := s.Put(ctx, dataservice.KindInbox, "r/1", []byte("m"), dataservice.WriteOptions{TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	got, err := s.DeleteMany(ctx, dataservice.KindInbox, []string{"r/1", "r/2", "r/1"})
	if err != nil || len(got) != 3 || !got[0] || got[1] || got[2] {
		t.Fatalf("DeleteMany = %v, %v; want [true false false]", got, err)
	}
	for _, tag := range []byte{tagRecord, tagExpiry} {
		if n := countKeys(t, s, tag); n != 0 {
			t.Fatalf("%d %q keys left, want 0", n, tag)
		}
	}
}

func TestCloseWaitsForScan(t *testing.T) {
	s := openStore(t, Config{})
	ctx := context.Background()
	for i := range 100 {
		if _, err := s.Put(ctx, dataservice.KindInbox, fmt.Sprintf("r/%03d", i), bytes.Repeat([]byte("m"), 100), dataservice.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			_, err := s.Scan(ctx, dataservice.KindInbox, "r/", "", 100)
			if errors.Is(err, dataservice.ErrClosed) {
				return
			}
			if err != nil {
				t.Errorf("Scan: %v", err)
				return
			}
		}
	}()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	<-done
}

func TestStatsReportLevels(t *testing.T) {
	s, err := Open(Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Put(context.Background(), "k", "a", []byte("v"), dataservice.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	st := s.Stats()
	if st.WriteDelays != 0 || st.WritePaused {
		t.Fatalf("stats of a fresh store: %+v", st)
	}
}
