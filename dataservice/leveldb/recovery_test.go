package leveldb

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/syndtr/goleveldb/leveldb/storage"

	"github.com/heraldpush/herald/dataservice"
)

// faultFiles is the operating system's files, but while full is set every
// write to a file the database made writes half its bytes and fails with
// errno (ENOSPC if zero), as a disk that fills up does.
type faultFiles struct {
	full  atomic.Bool
	errno syscall.Errno // set before full
	// probeLies makes the recovery's probe pass while full is set, so
	// that the store tries to reopen a database that still cannot write.
	probeLies atomic.Bool
}

func (f *faultFiles) open(dir string, readOnly bool) (storage.Storage, error) {
	st, err := storage.OpenFile(dir, readOnly)
	if err != nil {
		return nil, err
	}
	return &faultStorage{Storage: st, f: f}, nil
}

func (f *faultFiles) err() syscall.Errno {
	if f.errno == 0 {
		return syscall.ENOSPC
	}
	return f.errno
}

func (f *faultFiles) probe(dir string) error {
	if f.full.Load() && !f.probeLies.Load() {
		return &os.PathError{Op: "write", Path: dir, Err: f.err()}
	}
	return osFiles{}.probe(dir)
}

type faultStorage struct {
	storage.Storage
	f *faultFiles
}

func (s *faultStorage) Create(fd storage.FileDesc) (storage.Writer, error) {
	w, err := s.Storage.Create(fd)
	if err != nil {
		return nil, err
	}
	return &faultWriter{Writer: w, f: s.f, name: fd.String()}, nil
}

type faultWriter struct {
	storage.Writer
	f    *faultFiles
	name string
}

func (w *faultWriter) Write(p []byte) (int, error) {
	if w.f.full.Load() {
		n, _ := w.Writer.Write(p[:len(p)/2])
		return n, &os.PathError{Op: "write", Path: w.name, Err: w.f.err()}
	}
	return w.Writer.Write(p)
}

func (w *faultWriter) Sync() error {
	if w.f.full.Load() {
		return &os.PathError{Op: "sync", Path: w.name, Err: w.f.err()}
	}
	return w.Writer.Sync()
}

// acked records the keys whose writes returned nil.
type acked struct {
	mu   sync.Mutex
	keys []string
}

func (a *acked) add(k string) {
	a.mu.Lock()
	a.keys = append(a.keys, k)
	a.mu.Unlock()
}

// checkAcked fails t unless every acknowledged key reads back.
func (a *acked) check(t *testing.T, s *Store) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, k := range a.keys {
		r, err := s.Get(t.Context(), dataservice.KindDevice, k)
		if err != nil || string(r.Value) != "v-"+k {
			t.Fatalf("acknowledged write of %s: Get = %q, %v", k, r.Value, err)
		}
	}
}

// A store whose disk filled recovers by itself once space is back,
// without losing a write it acknowledged, and says why writes fail
// meanwhile. Before stores healed, LevelDB kept the journal's ENOSPC and
// every write failed until the process restarted.
func TestRecoversFromFullDisk(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	f := &faultFiles{}
	s := openStore(t, Config{Dir: dir, RecoveryBackoff: 100 * time.Millisecond, files: f})
	var ok acked
	put := func(k string) error {
		_, err := s.Put(ctx, dataservice.KindDevice, k, []byte("v-"+k), dataservice.WriteOptions{})
		if err == nil {
			ok.add(k)
		}
		return err
	}
	for i := range 100 {
		if err := put(fmt.Sprintf("before-%d", i)); err != nil {
			t.Fatal(err)
		}
	}

	// Writers keep writing while the disk fills and frees up.
	stop := make(chan struct{})
	var writers sync.WaitGroup
	var unexpected atomic.Value
	for w := range 4 {
		writers.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := put(fmt.Sprintf("w%d-%d", w, i)); err != nil && !errors.Is(err, dataservice.ErrUnavailable) {
					unexpected.Store(err)
				}
				time.Sleep(time.Millisecond)
			}
		})
	}

	f.full.Store(true)
	err := put("full")
	if !errors.Is(err, dataservice.ErrUnavailable) || !strings.Contains(err.Error(), "disk is full") {
		t.Fatalf("Put on a full disk = %v; want ErrUnavailable saying the disk is full", err)
	}
	if h := s.Health(); h == nil || !strings.Contains(h.Error(), "disk is full") {
		t.Fatalf("Health on a full disk = %v; want the disk is full", h)
	}
	if st := s.Stats(); st.Writable || st.Failures != 1 || !strings.Contains(st.WriteError, "disk is full") {
		t.Fatalf("Stats on a full disk = %+v; want not writable, 1 failure, why", st)
	}
	if r, err := s.Get(ctx, dataservice.KindDevice, "before-7"); err != nil || string(r.Value) != "v-before-7" {
		t.Fatalf("Get on a full disk = %q, %v; reads must go on", r.Value, err)
	}
	time.Sleep(300 * time.Millisecond) // recovery attempts fail meanwhile
	if err := put("still-full"); !errors.Is(err, dataservice.ErrUnavailable) {
		t.Fatalf("Put while the disk is still full = %v; want ErrUnavailable", err)
	}

	f.full.Store(false)
	waitFor(t, 10*time.Second, "writes working again", func() bool { return s.Health() == nil })
	if err := put("after"); err != nil {
		t.Fatalf("Put after space came back: %v", err)
	}
	close(stop)
	writers.Wait()
	if err, _ := unexpected.Load().(error); err != nil {
		t.Fatalf("a write failed with %v; want nil or ErrUnavailable", err)
	}
	if st := s.Stats(); !st.Writable || st.Recoveries != 1 {
		t.Fatalf("Stats after recovery = %+v; want writable, 1 recovery", st)
	}
	ok.check(t, s)

	// And they survive a restart.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ok.check(t, openStore(t, Config{Dir: dir}))
}

// While reopening fails (the disk filled again after the probe), the
// store serves reads from the database opened read-only.
func TestReadsGoOnWhileReopeningFails(t *testing.T) {
	ctx := t.Context()
	f := &faultFiles{}
	s := openStore(t, Config{RecoveryBackoff: 50 * time.Millisecond, files: f})
	if _, err := s.Put(ctx, dataservice.KindDevice, "d", []byte("v-d"), dataservice.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	f.probeLies.Store(true)
	f.full.Store(true)
	if _, err := s.Put(ctx, dataservice.KindDevice, "e", []byte("v-e"), dataservice.WriteOptions{}); !errors.Is(err, dataservice.ErrUnavailable) {
		t.Fatalf("Put on a full disk = %v; want ErrUnavailable", err)
	}
	waitFor(t, 10*time.Second, "a failed reopening", func() bool {
		h := s.Health()
		return h != nil && strings.Contains(h.Error(), "retrying every")
	})
	for range 3 {
		if r, err := s.Get(ctx, dataservice.KindDevice, "d"); err != nil || string(r.Value) != "v-d" {
			t.Fatalf("Get while reopening fails = %q, %v; want v-d", r.Value, err)
		}
		time.Sleep(60 * time.Millisecond)
	}
	if s.Stats().Recoveries != 0 {
		t.Fatal("the store counts a recovery while writes still fail")
	}
	f.full.Store(false)
	waitFor(t, 10*time.Second, "writes working again", func() bool { return s.Health() == nil })
	if _, err := s.Put(ctx, dataservice.KindDevice, "f", []byte("v-f"), dataservice.WriteOptions{}); err != nil {
		t.Fatalf("Put after recovery: %v", err)
	}
}

// A file system that turns read-only during the run (as Linux does after
// I/O errors): writes fail saying so, reads go on, and writes work again
// once it is writable.
func TestReadOnlyDuringRun(t *testing.T) {
	ctx := t.Context()
	f := &faultFiles{errno: syscall.EROFS}
	s := openStore(t, Config{RecoveryBackoff: 50 * time.Millisecond, files: f})
	if _, err := s.Put(ctx, dataservice.KindDevice, "d", []byte("v-d"), dataservice.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	f.full.Store(true)
	_, err := s.Put(ctx, dataservice.KindDevice, "e", []byte("v-e"), dataservice.WriteOptions{})
	if !errors.Is(err, dataservice.ErrUnavailable) || !strings.Contains(err.Error(), "read-only file system") {
		t.Fatalf("Put on a read-only file system = %v; want ErrUnavailable saying it is read-only", err)
	}
	if h := s.Health(); h == nil || !strings.Contains(h.Error(), "read-only file system") {
		t.Fatalf("Health on a read-only file system = %v", h)
	}
	if r, err := s.Get(ctx, dataservice.KindDevice, "d"); err != nil || string(r.Value) != "v-d" {
		t.Fatalf("Get on a read-only file system = %q, %v", r.Value, err)
	}
	f.full.Store(false)
	waitFor(t, 10*time.Second, "writes working again", func() bool { return s.Health() == nil })
	if _, err := s.Put(ctx, dataservice.KindDevice, "f", []byte("v-f"), dataservice.WriteOptions{}); err != nil {
		t.Fatalf("Put once writable again: %v", err)
	}
}

// Close during a failure stops the recovery loop and closes cleanly.
func TestCloseWhileFailing(t *testing.T) {
	f := &faultFiles{}
	s, err := Open(Config{Dir: t.TempDir(), RecoveryBackoff: 20 * time.Millisecond, files: f})
	if err != nil {
		t.Fatal(err)
	}
	f.full.Store(true)
	if _, err := s.Put(t.Context(), dataservice.KindDevice, "d", []byte("v"), dataservice.WriteOptions{}); !errors.Is(err, dataservice.ErrUnavailable) {
		t.Fatalf("Put on a full disk = %v; want ErrUnavailable", err)
	}
	time.Sleep(50 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatalf("Close while failing: %v", err)
	}
	if err := s.Health(); !errors.Is(err, dataservice.ErrClosed) {
		t.Fatalf("Health after Close = %v; want ErrClosed", err)
	}
}

func TestCause(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}, "disk is full"},
		{&os.PathError{Op: "open", Path: "x", Err: syscall.EROFS}, "read-only file system"},
		{fmt.Errorf("wrapped: %w", syscall.EACCES), "permission denied"},
		{syscall.EIO, "input/output error"},
		{errors.New("other"), ""},
	} {
		if got := cause(tc.err); (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("cause(%v) = %q, want it to say %q", tc.err, got, tc.want)
		}
	}
}
