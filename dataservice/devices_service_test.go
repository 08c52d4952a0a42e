package dataservice_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/dataservice/leveldb"
)

// crashStore is a store that dies after a number of writes: every later
// write fails without effect, as if the process had stopped there.
type crashStore struct {
	dataservice.Store
	mu     sync.Mutex
	budget int // writes left; negative: never dies
}

var errCrashed = errors.New("crashed")

func (s *crashStore) write() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.budget == 0 {
		return fmt.Errorf("%w: %w", dataservice.ErrUnavailable, errCrashed)
	}
	if s.budget > 0 {
		s.budget--
	}
	return nil
}

func (s *crashStore) dieAfter(writes int) {
	s.mu.Lock()
	s.budget = writes
	s.mu.Unlock()
}

func (s *crashStore) Put(ctx context.Context, kind dataservice.Kind, key string, value []byte, opts dataservice.WriteOptions) (uint32, error) {
	if err := s.write(); err != nil {
		return 0, err
	}
	return s.Store.Put(ctx, kind, key, value, opts)
}

func (s *crashStore) PutMany(ctx context.Context, writes []dataservice.Write) error {
	if err := s.write(); err != nil {
		return err
	}
	return s.Store.PutMany(ctx, writes)
}

func (s *crashStore) Delete(ctx context.Context, kind dataservice.Kind, key string, generation uint32) (bool, error) {
	if err := s.write(); err != nil {
		return false, err
	}
	return s.Store.Delete(ctx, kind, key, generation)
}

func (s *crashStore) DeleteMany(ctx context.Context, kind dataservice.Kind, keys []string) ([]bool, error) {
	if err := s.write(); err != nil {
		return nil, err
	}
	return s.Store.DeleteMany(ctx, kind, keys)
}

func (s *crashStore) Incr(ctx context.Context, kind dataservice.Kind, key string, deltas []dataservice.Delta, ttl time.Duration) ([]int64, error) {
	if err := s.write(); err != nil {
		return nil, err
	}
	return s.Store.Incr(ctx, kind, key, deltas, ttl)
}

func newCrashService(t *testing.T) (*dataservice.Service, *crashStore) {
	t.Helper()
	ldb, err := leveldb.Open(leveldb.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ldb.Close() })
	cs := &crashStore{Store: ldb, budget: -1}
	return dataservice.New(cs), cs
}

const testApp = "3abdab7debf1dc3aee6377fa"

func mustCreate(t *testing.T, s *dataservice.Service, rids ...string) {
	t.Helper()
	for _, rid := range rids {
		if err := s.CreateDevice(context.Background(), dataservice.Device{RegistrationID: rid, AppKey: testApp, Created: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
}

// tagIndex returns, per tag, the members the index lists and the devices
// whose attributes have the tag.
func tagIndex(t *testing.T, s *dataservice.Service, rids, tags []string) (listed, have map[string][]string) {
	t.Helper()
	ctx := context.Background()
	listed, have = map[string][]string{}, map[string][]string{}
	for _, tag := range tags {
		m, err := s.TagMembers(ctx, testApp, tag, "", 100)
		if err != nil {
			t.Fatal(err)
		}
		listed[tag] = m
	}
	for _, rid := range rids {
		a, err := s.DeviceAttrs(ctx, rid)
		if err != nil {
			t.Fatal(err)
		}
		for _, tag := range a.Tags {
			have[tag] = append(have[tag], rid)
		}
	}
	return listed, have
}

// A crash at any point of UpdateTags leaves a tag index that lists every
// device having the tag (maybe more), and calling again with the same tags
// makes it exact.
func TestUpdateTagsCrashLeavesASuperset(t *testing.T) {
	ctx := context.Background()
	rids := []string{"r1", "r2"}
	tags := []string{"gone", "keep", "new"}
	for writes := 0; ; writes++ {
		s, cs := newCrashService(t)
		mustCreate(t, s, rids...)
		for _, rid := range rids {
			if _, err := s.UpdateTags(ctx, testApp, rid, []string{"gone", "keep"}, nil); err != nil {
				t.Fatal(err)
			}
		}
		cs.dieAfter(writes)
		_, err := s.UpdateTags(ctx, testApp, "r1", []string{"new"}, []string{"gone"})
		crashed := errors.Is(err, errCrashed)
		if err != nil && !crashed {
			t.Fatalf("after %d writes: %v", writes, err)
		}
		cs.dieAfter(-1)
		listed, have := tagIndex(t, s, rids, tags)
		for _, tag := range tags {
			for _, rid := range have[tag] {
				if !slices.Contains(listed[tag], rid) {
					t.Errorf("crash after %d writes: %s has tag %q but the index lists only %q", writes, rid, tag, listed[tag])
				}
			}
		}
		if _, err := s.UpdateTags(ctx, testApp, "r1", []string{"new"}, []string{"gone"}); err != nil {
			t.Fatal(err)
		}
		listed, have = tagIndex(t, s, rids, tags)
		for _, tag := range tags {
			if !slices.Equal(listed[tag], have[tag]) {
				t.Errorf("crash after %d writes, then a retry: index of %q lists %q, devices with it are %q", writes, tag, listed[tag], have[tag])
			}
		}
		if !crashed {
			// The whole call fit: counters and the tag list are exact.
			for tag, want := range map[string]int64{"gone": 1, "keep": 2, "new": 1} {
				if n, _ := s.TagCount(ctx, testApp, tag); n != want {
					t.Errorf("TagCount(%q) = %d, want %d", tag, n, want)
				}
			}
			if got, _ := s.AppTags(ctx, testApp, "", 10); !slices.Equal(got, tags) {
				t.Errorf("AppTags = %q, want %q", got, tags)
			}
			if writes < 5 {
				t.Fatalf("UpdateTags finished within %d writes; the test means to crash it at each of its steps", writes)
			}
			return
		}
	}
}

// A crash in SetAlias leaves an index entry that AliasMembers ignores,
// counts as a call in flight for a minute, and is then deleted by the next
// SetAlias of the alias.
func TestSetAliasCrashLeavesAnEntryThatExpires(t *testing.T) {
	ctx := context.Background()
	s, cs := newCrashService(t)
	now := time.Now()
	s.SetClock(func() time.Time { return now })
	members := []string{"m0", "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8"} // one place left
	mustCreate(t, s, append(slices.Clone(members), "crashed", "late")...)
	for _, rid := range members {
		if err := s.SetAlias(ctx, testApp, rid, "family"); err != nil {
			t.Fatal(err)
		}
	}
	cs.dieAfter(1) // the index entry, not the attributes
	if err := s.SetAlias(ctx, testApp, "crashed", "family"); !errors.Is(err, errCrashed) {
		t.Fatalf("SetAlias with a crash after one write: %v", err)
	}
	cs.dieAfter(-1)
	got, err := s.AliasMembers(ctx, testApp, "family")
	if err != nil || !slices.Equal(got, members) {
		t.Fatalf("AliasMembers = %q, %v; want %q", got, err, members)
	}
	// Within the minute, the entry may be a call in flight: the last place is taken.
	if err := s.SetAlias(ctx, testApp, "late", "family"); !errors.Is(err, dataservice.ErrAliasFull) {
		t.Fatalf("SetAlias beside a call in flight: %v; want ErrAliasFull", err)
	}
	now = now.Add(2 * time.Minute)
	if err := s.SetAlias(ctx, testApp, "late", "family"); err != nil {
		t.Fatalf("SetAlias once the left-over entry is old: %v", err)
	}
	got, _ = s.AliasMembers(ctx, testApp, "family")
	if want := append([]string{"late"}, members...); !slices.Equal(got, want) {
		t.Fatalf("AliasMembers = %q, want %q", got, want)
	}
	// The left-over entry is gone from the index.
	recs, err := s.Store().Scan(ctx, dataservice.KindAlias, testApp+"/family/", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Key == testApp+"/family/crashed" {
			t.Fatal("the left-over entry of the crashed call is still in the index")
		}
	}
}

func TestAttrsRecordRoundTrip(t *testing.T) {
	for _, a := range []dataservice.DeviceAttrs{
		{},
		{Alias: "alice"},
		{Tags: []string{"a", "b", "标签"}},
		{Tags: []string{"x"}, Alias: "😀"},
	} {
		got, err := dataservice.DecodeAttrs("r", dataservice.EncodeAttrs(a))
		if err != nil || got.Alias != a.Alias || !slices.Equal(got.Tags, a.Tags) {
			t.Fatalf("round trip of %+v = %+v, %v", a, got, err)
		}
	}
	good := dataservice.EncodeAttrs(dataservice.DeviceAttrs{Tags: []string{"a", "b"}, Alias: "x"})
	for name, v := range map[string][]byte{
		"empty":     {},
		"version":   append([]byte{9}, good[1:]...),
		"truncated": good[:len(good)-1],
		"trailing":  append(slices.Clone(good), 0),
		"unsorted":  dataservice.EncodeAttrs(dataservice.DeviceAttrs{Tags: []string{"b", "a"}}),
		"count":     {1, 0, 200},
	} {
		if _, err := dataservice.DecodeAttrs("r", v); err == nil {
			t.Errorf("%s record decoded without error", name)
		}
	}
}
