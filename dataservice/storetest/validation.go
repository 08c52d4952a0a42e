package storetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

// call is one invocation of a Store method, for the tables below.
type call struct {
	name string
	call func(ctx context.Context, s dataservice.Store) error
}

func getCall(kind dataservice.Kind, key string) func(context.Context, dataservice.Store) error {
	return func(ctx context.Context, s dataservice.Store) error {
		_, err := s.Get(ctx, kind, key)
		return err
	}
}

func putCall(kind dataservice.Kind, key string, value []byte, opts dataservice.WriteOptions) func(context.Context, dataservice.Store) error {
	return func(ctx context.Context, s dataservice.Store) error {
		_, err := s.Put(ctx, kind, key, value, opts)
		return err
	}
}

func getManyCall(kind dataservice.Kind, keys ...string) func(context.Context, dataservice.Store) error {
	return func(ctx context.Context, s dataservice.Store) error {
		_, err := s.GetMany(ctx, kind, keys)
		return err
	}
}

func putManyCall(writes ...dataservice.Write) func(context.Context, dataservice.Store) error {
	return func(ctx context.Context, s dataservice.Store) error {
		return s.PutMany(ctx, writes)
	}
}

func deleteCall(kind dataservice.Kind, key string, generation uint32) func(context.Context, dataservice.Store) error {
	return func(ctx context.Context, s dataservice.Store) error {
		_, err := s.Delete(ctx, kind, key, generation)
		return err
	}
}

func deleteManyCall(kind dataservice.Kind, keys ...string) func(context.Context, dataservice.Store) error {
	return func(ctx context.Context, s dataservice.Store) error {
		_, err := s.DeleteMany(ctx, kind, keys)
		return err
	}
}

func scanCall(kind dataservice.Kind, prefix, after string, limit int) func(context.Context, dataservice.Store) error {
	return func(ctx context.Context, s dataservice.Store) error {
		_, err := s.Scan(ctx, kind, prefix, after, limit)
		return err
	}
}

func incrCall(kind dataservice.Kind, key string, ttl time.Duration, deltas ...dataservice.Delta) func(context.Context, dataservice.Store) error {
	return func(ctx context.Context, s dataservice.Store) error {
		_, err := s.Incr(ctx, kind, key, deltas, ttl)
		return err
	}
}

func countersCall(kind dataservice.Kind, key string) func(context.Context, dataservice.Store) error {
	return func(ctx context.Context, s dataservice.Store) error {
		_, err := s.Counters(ctx, kind, key)
		return err
	}
}

func listAppendCall(kind dataservice.Kind, key string, opts dataservice.ListOptions, items ...[]byte) func(context.Context, dataservice.Store) error {
	return func(ctx context.Context, s dataservice.Store) error {
		_, err := s.ListAppend(ctx, kind, key, items, opts)
		return err
	}
}

func listRangeCall(kind dataservice.Kind, key string, start, count int) func(context.Context, dataservice.Store) error {
	return func(ctx context.Context, s dataservice.Store) error {
		_, err := s.ListRange(ctx, kind, key, start, count)
		return err
	}
}

// everyMethod returns one valid call of each method, on records that the
// caller has not created.
func everyMethod() []call {
	one := dataservice.Delta{Name: "n", Delta: 1}
	return []call{
		{"Get", getCall(kindValues, "k")},
		{"GetMany", getManyCall(kindValues, "k")},
		{"Put", putCall(kindValues, "k", []byte("v"), dataservice.WriteOptions{})},
		{"PutMany", putManyCall(dataservice.Write{Kind: kindValues, Key: "k", Value: []byte("v")})},
		{"Delete", deleteCall(kindValues, "k", 0)},
		{"DeleteMany", deleteManyCall(kindValues, "k")},
		{"Scan", scanCall(kindGroups, "g/", "", 10)},
		{"Incr", incrCall(kindCounters, "k", 0, one)},
		{"Counters", countersCall(kindCounters, "k")},
		{"ListAppend", listAppendCall(kindLists, "k", dataservice.ListOptions{}, []byte("v"))},
		{"ListRange", listRangeCall(kindLists, "k", 0, 10)},
	}
}

// validationCases checks that every invalid argument fails with ErrInvalid
// and that the invalid write itself is not applied. (The valid writes of a
// PutMany that also holds an invalid one may or may not be applied.)
func validationCases() []testCase {
	var (
		long    = strings.Repeat("k", dataservice.MaxKeyLen+1)
		badUTF8 = "k\xff"
		big     = make([]byte, dataservice.MaxValueLen+1)
		one     = dataservice.Delta{Name: "n", Delta: 1}
		v       = []byte("v")
		none    = dataservice.WriteOptions{}
		noLimit = dataservice.ListOptions{}
	)
	invalid := []call{
		{"Get/empty key", getCall(kindValues, "")},
		{"Get/key too long", getCall(kindValues, long)},
		{"Get/key not UTF-8", getCall(kindValues, badUTF8)},
		{"GetMany/empty key", getManyCall(kindValues, "a", "")},
		{"GetMany/key too long", getManyCall(kindValues, long, "a")},
		{"Put/empty key", putCall(kindValues, "", v, none)},
		{"Put/key too long", putCall(kindValues, long, v, none)},
		{"Put/key not UTF-8", putCall(kindValues, badUTF8, v, none)},
		{"Put/value too long", putCall(kindValues, "k", big, none)},
		{"Put/negative TTL", putCall(kindValues, "k", v, dataservice.WriteOptions{TTL: -time.Second})},
		{"PutMany/empty key", putManyCall(dataservice.Write{Kind: kindValues, Key: "other", Value: v}, dataservice.Write{Kind: kindValues, Value: v})},
		{"PutMany/value too long", putManyCall(dataservice.Write{Kind: kindValues, Key: "k", Value: big})},
		{"PutMany/negative TTL", putManyCall(dataservice.Write{Kind: kindValues, Key: "k", Value: v, Options: dataservice.WriteOptions{TTL: -1}})},
		{"Delete/empty key", deleteCall(kindValues, "", 0)},
		{"Delete/key too long", deleteCall(kindValues, long, 0)},
		{"DeleteMany/empty key", deleteManyCall(kindValues, "k", "")},
		{"Scan/prefix without separator", scanCall(kindGroups, "g", "", 10)},
		{"Scan/empty prefix", scanCall(kindGroups, "", "", 10)},
		{"Scan/separator not last", scanCall(kindGroups, "g/x", "", 10)},
		{"Scan/zero limit", scanCall(kindGroups, "g/", "", 0)},
		{"Scan/negative limit", scanCall(kindGroups, "g/", "", -1)},
		{"Incr/empty key", incrCall(kindCounters, "", 0, one)},
		{"Incr/key too long", incrCall(kindCounters, long, 0, one)},
		{"Incr/negative ttl", incrCall(kindCounters, "k", -time.Second, one)},
		{"Counters/empty key", countersCall(kindCounters, "")},
		{"Counters/key too long", countersCall(kindCounters, long)},
		{"ListAppend/empty key", listAppendCall(kindLists, "", noLimit, v)},
		{"ListAppend/key too long", listAppendCall(kindLists, long, noLimit, v)},
		{"ListAppend/key not UTF-8", listAppendCall(kindLists, badUTF8, noLimit, v)},
		{"ListAppend/no items", listAppendCall(kindLists, "k", noLimit)},
		{"ListAppend/negative MaxLen", listAppendCall(kindLists, "k", dataservice.ListOptions{MaxLen: -1}, v)},
		{"ListAppend/negative TTL", listAppendCall(kindLists, "k", dataservice.ListOptions{TTL: -time.Second}, v)},
		{"ListAppend/item too long", listAppendCall(kindLists, "k", noLimit, big)},
		{"ListAppend/items too long together", listAppendCall(kindLists, "k", noLimit, halfValues(dataservice.MaxValueLen+1)...)},
		{"ListRange/empty key", listRangeCall(kindLists, "", 0, 10)},
		{"ListRange/key too long", listRangeCall(kindLists, long, 0, 10)},
		{"ListRange/zero count", listRangeCall(kindLists, "k", 0, 0)},
		{"ListRange/negative count", listRangeCall(kindLists, "k", -1, -1)},
	}
	cases := make([]testCase, 0, len(invalid))
	for _, c := range invalid {
		cases = append(cases, testCase{name: c.name, test: func(t *testing.T, s dataservice.Store) {
			wantErr(t, c.call(ctx(t), s), dataservice.ErrInvalid, c.name)
			wantNothingWritten(t, s)
		}})
	}
	return cases
}

// wantNothingWritten fails t if s holds any of the records the calls of the
// validation, closed and context tables would write.
func wantNothingWritten(t testing.TB, s dataservice.Store) {
	t.Helper()
	wantMissing(t, s, kindValues, "k")
	_, err := s.Counters(ctx(t), kindCounters, "k")
	wantErr(t, err, dataservice.ErrNotFound, "Counters after a failed call")
	_, err = s.ListRange(ctx(t), kindLists, "k", 0, 10)
	wantErr(t, err, dataservice.ErrNotFound, "ListRange after a failed call")
}

var closedCases = []testCase{
	{name: "every method fails with ErrClosed", test: func(t *testing.T, s dataservice.Store) {
		put(t, s, kindValues, "k", "v", dataservice.WriteOptions{})
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		for _, c := range everyMethod() {
			t.Run(c.name, func(t *testing.T) {
				wantErr(t, c.call(ctx(t), s), dataservice.ErrClosed, c.name+" after Close")
			})
		}
		wantErr(t, s.Close(), dataservice.ErrClosed, "second Close")
	}},
}

var contextCases = []testCase{
	{name: "done context fails without effect", test: func(t *testing.T, s dataservice.Store) {
		put(t, s, kindValues, "existing", "v", dataservice.WriteOptions{})
		canceled, cancel := context.WithCancel(ctx(t))
		cancel()
		expired, cancelExpired := context.WithDeadline(ctx(t), time.Now().Add(-time.Second))
		defer cancelExpired()
		for _, c := range everyMethod() {
			t.Run(c.name+"/canceled", func(t *testing.T) {
				wantErr(t, c.call(canceled, s), context.Canceled, c.name+" with a canceled context")
				wantNothingWritten(t, s)
			})
			t.Run(c.name+"/deadline exceeded", func(t *testing.T) {
				wantErr(t, c.call(expired, s), context.DeadlineExceeded, c.name+" past its deadline")
				wantNothingWritten(t, s)
			})
		}
		_, err := s.Delete(canceled, kindValues, "existing", 0)
		wantErr(t, err, context.Canceled, "Delete with a canceled context")
		wantRecord(t, s, kindValues, "existing", "v", 1)
		_, err = s.DeleteMany(canceled, kindValues, []string{"existing"})
		wantErr(t, err, context.Canceled, "DeleteMany with a canceled context")
		wantRecord(t, s, kindValues, "existing", "v", 1)
	}},
}
