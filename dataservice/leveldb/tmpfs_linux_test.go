package leveldb

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/internal/tmpfstest"
)

// The store on a real file system that fills up or is read-only: a tmpfs
// of its own, which needs root (CI runs as root). Without it these tests
// skip and say so; TestRecoversFromFullDisk covers the same with injected
// faults everywhere. A file system turning read-only during the run is
// TestReadOnlyDuringRun's, injected too: Linux refuses to remount a file
// system read-only while files on it are open for writing, as the store's
// are (it does so itself after I/O errors).

// fillStore writes records until the store refuses one, and returns the
// keys it acknowledged and the refusal.
func fillStore(t *testing.T, s *Store, prefix string) (*acked, error) {
	t.Helper()
	ok := &acked{}
	value := strings.Repeat("x", 4000)
	for i := range 1_000_000 {
		k := fmt.Sprintf("%s-%d", prefix, i)
		_, err := s.Put(t.Context(), dataservice.KindDevice, k, []byte("v-"+k+value), dataservice.WriteOptions{})
		if err != nil {
			return ok, err
		}
		ok.add(k)
	}
	t.Fatal("the tmpfs never filled")
	return nil, nil
}

// checkFilled fails t unless every acknowledged key reads back with the
// values fillStore writes.
func checkFilled(t *testing.T, s *Store, ok *acked) {
	t.Helper()
	value := strings.Repeat("x", 4000)
	for _, k := range ok.keys {
		r, err := s.Get(t.Context(), dataservice.KindDevice, k)
		if err != nil || string(r.Value) != "v-"+k+value {
			t.Fatalf("acknowledged write of %s: %d bytes, %v", k, len(r.Value), err)
		}
	}
}

// The reproduction: the store's disk (an 8 MB tmpfs) fills, then
// grows to 64 MB; writes work again within seconds, by themselves, and
// every acknowledged write is there, also after a restart. Before, every
// write kept failing until the process restarted.
func TestTmpfsFullThenGrown(t *testing.T) {
	dir := tmpfstest.Mount(t, "size=8m")
	// Herald's write buffer (storespec.WriteBufferBytes): the journal
	// fills the disk before the memory table is ever written out, and
	// LevelDB keeps the journal's error.
	cfg := Config{Dir: filepath.Join(dir, "store"), WriteBufferBytes: 16 << 20, RecoveryBackoff: 500 * time.Millisecond}
	s := openStore(t, cfg)
	ok, err := fillStore(t, s, "a")
	if !errors.Is(err, dataservice.ErrUnavailable) || !strings.Contains(err.Error(), "disk is full") {
		t.Fatalf("write on a full tmpfs = %v; want ErrUnavailable saying the disk is full", err)
	}
	if len(ok.keys) < 100 {
		t.Fatalf("only %d writes before the tmpfs filled", len(ok.keys))
	}
	checkFilled(t, s, ok) // reads go on
	tmpfstest.Remount(t, dir, "size=64m")
	start := time.Now()
	waitFor(t, 15*time.Second, "writes working again after the tmpfs grew", func() bool {
		_, err := s.Put(t.Context(), dataservice.KindDevice, "after", []byte("v-after"), dataservice.WriteOptions{})
		return err == nil
	})
	t.Logf("%d writes filled 8 MB; writable again %v after the tmpfs grew", len(ok.keys), time.Since(start).Round(time.Millisecond))
	checkFilled(t, s, ok)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	checkFilled(t, openStore(t, cfg), ok)
}

// Space freed by deleting another file brings the store back too.
//
// Its small write buffer makes LevelDB write its memory table out on the
// full disk, and that compaction fail. goleveldb then sends the failure
// to a writer that stopped waiting and closed the channel
// (syndtr/goleveldb#356 and #422, open): the runtime's panic is recovered
// by goleveldb, but the race detector reports the send and fails the test
// about one run in six. So the test skips under -race, and make test runs
// it once more without.
func TestTmpfsFullThenFreed(t *testing.T) {
	if raceDetector {
		t.Skip("goleveldb's failing memory-table compaction races with its writer (syndtr/goleveldb#356); make test runs this test without -race")
	}
	dir := tmpfstest.Mount(t, "size=16m")
	ballast := filepath.Join(dir, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 10<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, Config{Dir: filepath.Join(dir, "store"), WriteBufferBytes: 1 << 20, RecoveryBackoff: 500 * time.Millisecond})
	ok, err := fillStore(t, s, "b")
	if !errors.Is(err, dataservice.ErrUnavailable) {
		t.Fatalf("write on a full tmpfs = %v; want ErrUnavailable", err)
	}
	if h := s.Health(); h == nil || !strings.Contains(h.Error(), "disk is full") {
		t.Fatalf("Health on a full tmpfs = %v; want the disk is full", h)
	}
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "writes working again after space was freed", func() bool { return s.Health() == nil })
	if _, err := s.Put(t.Context(), dataservice.KindDevice, "after", []byte("v"), dataservice.WriteOptions{}); err != nil {
		t.Fatalf("Put after space was freed: %v", err)
	}
	checkFilled(t, s, ok)
}

// A data directory that is read-only at start: Open fails and says so.
func TestTmpfsReadOnlyAtStart(t *testing.T) {
	dir := tmpfstest.Mount(t, "size=8m")
	store := filepath.Join(dir, "store")
	s := openStore(t, Config{Dir: store})
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	tmpfstest.Remount(t, dir, "ro")
	t.Cleanup(func() { tmpfstest.Remount(t, dir, "rw") })
	s, err := Open(Config{Dir: store})
	if err == nil {
		s.Close()
		t.Fatal("Open of a read-only data directory succeeded")
	}
	if !errors.Is(err, dataservice.ErrUnavailable) || !strings.Contains(err.Error(), "read-only file system") {
		t.Fatalf("Open of a read-only data directory = %v; want ErrUnavailable saying it is read-only", err)
	}
}
