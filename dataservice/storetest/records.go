package storetest

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

var getCases = []testCase{
	{name: "missing key is ErrNotFound", test: func(t *testing.T, s dataservice.Store) {
		wantMissing(t, s, kindValues, "nobody")
	}},
	{name: "returns the stored record", test: func(t *testing.T, s dataservice.Store) {
		put(t, s, kindValues, "k", "v", dataservice.WriteOptions{})
		r := get(t, s, kindValues, "k")
		if r.Key != "k" || string(r.Value) != "v" || r.Generation != 1 || !r.Expires.IsZero() || !r.Exists() {
			t.Fatalf("Get = %+v, want {Key k, Value v, Generation 1, Expires zero}", r)
		}
	}},
	{name: "empty value", test: func(t *testing.T, s dataservice.Store) {
		put(t, s, kindValues, "k", "", dataservice.WriteOptions{})
		wantRecord(t, s, kindValues, "k", "", 1)
	}},
	{name: "largest key and value", test: func(t *testing.T, s dataservice.Store) {
		key := strings.Repeat("k", dataservice.MaxKeyLen)
		value := make([]byte, dataservice.MaxValueLen)
		for i := range value {
			value[i] = byte(i)
		}
		if _, err := s.Put(ctx(t), kindValues, key, value, dataservice.WriteOptions{}); err != nil {
			t.Fatalf("Put of a %d-byte key and a %d-byte value: %v", len(key), len(value), err)
		}
		r := get(t, s, kindValues, key)
		if string(r.Value) != string(value) {
			t.Fatalf("Get returned a %d-byte value that differs from the %d bytes put", len(r.Value), len(value))
		}
	}},
}

var putCases = []testCase{
	{name: "generation starts at 1 and increments", test: func(t *testing.T, s dataservice.Store) {
		for want := uint32(1); want <= 5; want++ {
			if got := put(t, s, kindValues, "k", "v", dataservice.WriteOptions{}); got != want {
				t.Fatalf("Put #%d returned generation %d, want %d", want, got, want)
			}
			wantRecord(t, s, kindValues, "k", "v", want)
		}
	}},
	{name: "replaces the value", test: func(t *testing.T, s dataservice.Store) {
		put(t, s, kindValues, "k", "old", dataservice.WriteOptions{})
		put(t, s, kindValues, "k", "new", dataservice.WriteOptions{})
		wantRecord(t, s, kindValues, "k", "new", 2)
	}},
	{name: "create only creates a missing record", test: func(t *testing.T, s dataservice.Store) {
		if gen := put(t, s, kindValues, "k", "v", dataservice.WriteOptions{CreateOnly: true}); gen != 1 {
			t.Fatalf("generation %d, want 1", gen)
		}
		wantRecord(t, s, kindValues, "k", "v", 1)
	}},
	{name: "create only on an existing record is ErrExists", test: func(t *testing.T, s dataservice.Store) {
		put(t, s, kindValues, "k", "first", dataservice.WriteOptions{})
		_, err := s.Put(ctx(t), kindValues, "k", []byte("second"), dataservice.WriteOptions{CreateOnly: true})
		wantErr(t, err, dataservice.ErrExists, "Put CreateOnly")
		wantRecord(t, s, kindValues, "k", "first", 1)
	}},
	{name: "matching generation writes", test: func(t *testing.T, s dataservice.Store) {
		put(t, s, kindValues, "k", "a", dataservice.WriteOptions{})
		put(t, s, kindValues, "k", "b", dataservice.WriteOptions{})
		if gen := put(t, s, kindValues, "k", "c", dataservice.WriteOptions{Generation: 2}); gen != 3 {
			t.Fatalf("generation %d, want 3", gen)
		}
		wantRecord(t, s, kindValues, "k", "c", 3)
	}},
	{name: "mismatching generation is ErrGenerationMismatch", test: func(t *testing.T, s dataservice.Store) {
		put(t, s, kindValues, "k", "a", dataservice.WriteOptions{})
		put(t, s, kindValues, "k", "b", dataservice.WriteOptions{})
		for _, stale := range []uint32{1, 3, 1 << 31} {
			_, err := s.Put(ctx(t), kindValues, "k", []byte("c"), dataservice.WriteOptions{Generation: stale})
			wantErr(t, err, dataservice.ErrGenerationMismatch, "Put with a stale generation")
		}
		wantRecord(t, s, kindValues, "k", "b", 2)
	}},
	{name: "generation on a missing record is ErrGenerationMismatch", test: func(t *testing.T, s dataservice.Store) {
		_, err := s.Put(ctx(t), kindValues, "k", []byte("v"), dataservice.WriteOptions{Generation: 1})
		wantErr(t, err, dataservice.ErrGenerationMismatch, "Put with a generation on a missing record")
		wantMissing(t, s, kindValues, "k")
	}},
	{name: "fresh creates at generation 1, and the record then lives as any other", test: func(t *testing.T, s dataservice.Store) {
		before := time.Now()
		if gen := put(t, s, kindValues, "new", "v", dataservice.WriteOptions{Fresh: true, TTL: time.Hour}); gen != 1 {
			t.Fatalf("Fresh Put returned generation %d, want 1", gen)
		}
		wantExpires(t, get(t, s, kindValues, "new"), before, time.Now(), time.Hour)
		if gen := put(t, s, kindValues, "new", "w", dataservice.WriteOptions{Generation: 1}); gen != 2 {
			t.Fatalf("conditional Put after a Fresh one returned generation %d, want 2", gen)
		}
		wantRecord(t, s, kindValues, "new", "w", 2)
		if existed, err := s.Delete(ctx(t), kindValues, "new", 0); err != nil || !existed {
			t.Fatalf("Delete of a record written Fresh = %v, %v", existed, err)
		}
		wantMissing(t, s, kindValues, "new")
	}},
	{name: "fresh with create only or a generation is ErrInvalid", test: func(t *testing.T, s dataservice.Store) {
		for _, opts := range []dataservice.WriteOptions{{Fresh: true, CreateOnly: true}, {Fresh: true, Generation: 1}} {
			_, err := s.Put(ctx(t), kindValues, "k", []byte("v"), opts)
			wantErr(t, err, dataservice.ErrInvalid, fmt.Sprintf("Put with %+v", opts))
			err = s.PutMany(ctx(t), []dataservice.Write{{Kind: kindValues, Key: "k", Value: []byte("v"), Options: opts}})
			wantErr(t, err, dataservice.ErrInvalid, fmt.Sprintf("PutMany with %+v", opts))
		}
		wantMissing(t, s, kindValues, "k")
	}},
	{name: "a deleted record is created again at generation 1", test: func(t *testing.T, s dataservice.Store) {
		put(t, s, kindValues, "k", "a", dataservice.WriteOptions{})
		put(t, s, kindValues, "k", "b", dataservice.WriteOptions{})
		if _, err := s.Delete(ctx(t), kindValues, "k", 0); err != nil {
			t.Fatal(err)
		}
		if gen := put(t, s, kindValues, "k", "c", dataservice.WriteOptions{CreateOnly: true}); gen != 1 {
			t.Fatalf("generation %d after re-creation, want 1", gen)
		}
	}},
}

var getManyCases = []testCase{
	{name: "order of keys and misses", test: func(t *testing.T, s dataservice.Store) {
		put(t, s, kindValues, "a", "va", dataservice.WriteOptions{})
		put(t, s, kindValues, "b", "vb", dataservice.WriteOptions{})
		put(t, s, kindValues, "b", "vb2", dataservice.WriteOptions{})
		keys := []string{"b", "missing", "a", "b"}
		got, err := s.GetMany(ctx(t), kindValues, keys)
		if err != nil {
			t.Fatal(err)
		}
		want := []struct {
			value string
			gen   uint32
		}{{"vb2", 2}, {"", 0}, {"va", 1}, {"vb2", 2}}
		if len(got) != len(want) {
			t.Fatalf("GetMany returned %d records for %d keys", len(got), len(keys))
		}
		for i, w := range want {
			r := got[i]
			if w.gen == 0 {
				if r.Exists() || r.Key != "" || r.Value != nil || r.Generation != 0 || !r.Expires.IsZero() {
					t.Errorf("record %d (%q) = %+v, want the zero Record", i, keys[i], r)
				}
				continue
			}
			if r.Key != keys[i] || string(r.Value) != w.value || r.Generation != w.gen {
				t.Errorf("record %d = %+v, want {Key %q, Value %q, Generation %d}", i, r, keys[i], w.value, w.gen)
			}
		}
	}},
	{name: "no keys", test: func(t *testing.T, s dataservice.Store) {
		got, err := s.GetMany(ctx(t), kindValues, nil)
		if err != nil || len(got) != 0 {
			t.Fatalf("GetMany(nil) = %v, %v; want no records", got, err)
		}
	}},
}

var putManyCases = []testCase{
	{name: "fresh writes, and a later write of the same key in the batch", test: func(t *testing.T, s dataservice.Store) {
		err := s.PutMany(ctx(t), []dataservice.Write{
			{Kind: kindValues, Key: "a", Value: []byte("1"), Options: dataservice.WriteOptions{Fresh: true}},
			{Kind: kindGroups, Key: "g/b", Value: []byte("2"), Options: dataservice.WriteOptions{Fresh: true, TTL: time.Hour}},
			{Kind: kindValues, Key: "a", Value: []byte("3"), Options: dataservice.WriteOptions{}},
		})
		if err != nil {
			t.Fatal(err)
		}
		wantRecord(t, s, kindValues, "a", "3", 2)
		wantRecord(t, s, kindGroups, "g/b", "2", 1)
	}},
	{name: "mixed kinds and options", test: func(t *testing.T, s dataservice.Store) {
		put(t, s, kindOther, "s", "v1", dataservice.WriteOptions{})
		err := s.PutMany(ctx(t), []dataservice.Write{
			{Kind: kindValues, Key: "d", Value: []byte("dev")},
			{Kind: kindOther, Key: "s", Value: []byte("v2"), Options: dataservice.WriteOptions{Generation: 1}},
			{Kind: kindGroups, Key: "g/1", Value: []byte("in"), Options: dataservice.WriteOptions{CreateOnly: true}},
			{Kind: kindValues, Key: "t", Value: []byte("ttl"), Options: dataservice.WriteOptions{TTL: 3600e9}},
		})
		if err != nil {
			t.Fatalf("PutMany: %v", err)
		}
		wantRecord(t, s, kindValues, "d", "dev", 1)
		wantRecord(t, s, kindOther, "s", "v2", 2)
		wantRecord(t, s, kindGroups, "g/1", "in", 1)
		if r := get(t, s, kindValues, "t"); r.Expires.IsZero() {
			t.Fatalf("record written with a TTL has no expiry: %+v", r)
		}
	}},
	{name: "generation mismatch is reported and not applied", test: func(t *testing.T, s dataservice.Store) {
		put(t, s, kindValues, "k", "v1", dataservice.WriteOptions{})
		err := s.PutMany(ctx(t), []dataservice.Write{
			{Kind: kindValues, Key: "new", Value: []byte("n")},
			{Kind: kindValues, Key: "k", Value: []byte("v2"), Options: dataservice.WriteOptions{Generation: 7}},
		})
		wantErr(t, err, dataservice.ErrGenerationMismatch, "PutMany with a stale generation")
		wantRecord(t, s, kindValues, "k", "v1", 1)
	}},
	{name: "failed conditions are reported per write and the rest applied", test: func(t *testing.T, s dataservice.Store) {
		put(t, s, kindValues, "exists", "v1", dataservice.WriteOptions{})
		put(t, s, kindValues, "cas", "v1", dataservice.WriteOptions{})
		writes := []dataservice.Write{
			{Kind: kindValues, Key: "fresh", Value: []byte("f"), Options: dataservice.WriteOptions{CreateOnly: true}},
			{Kind: kindValues, Key: "exists", Value: []byte("v2"), Options: dataservice.WriteOptions{CreateOnly: true}},
			{Kind: kindValues, Key: "cas", Value: []byte("v2"), Options: dataservice.WriteOptions{Generation: 9}},
			{Kind: kindValues, Key: "plain", Value: []byte("p")},
		}
		errs, err := dataservice.PerWrite(s.PutMany(ctx(t), writes), len(writes))
		if err != nil {
			t.Fatalf("PutMany with failing conditions failed as a whole: %v", err)
		}
		if errs[0] != nil || errs[3] != nil {
			t.Fatalf("applied writes reported failed: %v", errs)
		}
		wantErr(t, errs[1], dataservice.ErrExists, "CreateOnly of an existing record")
		wantErr(t, errs[2], dataservice.ErrGenerationMismatch, "write with a stale generation")
		wantRecord(t, s, kindValues, "fresh", "f", 1)
		wantRecord(t, s, kindValues, "exists", "v1", 1)
		wantRecord(t, s, kindValues, "cas", "v1", 1)
		wantRecord(t, s, kindValues, "plain", "p", 1)
		if errs, err := dataservice.PerWrite(s.PutMany(ctx(t), writes[3:]), 1); err != nil || errs[0] != nil {
			t.Fatalf("PutMany without failures: %v %v", errs, err)
		}
	}},
	{name: "create only conflict is reported and not applied", test: func(t *testing.T, s dataservice.Store) {
		put(t, s, kindValues, "k", "v1", dataservice.WriteOptions{})
		err := s.PutMany(ctx(t), []dataservice.Write{
			{Kind: kindValues, Key: "k", Value: []byte("v2"), Options: dataservice.WriteOptions{CreateOnly: true}},
			{Kind: kindValues, Key: "other", Value: []byte("o")},
		})
		wantErr(t, err, dataservice.ErrExists, "PutMany CreateOnly on an existing record")
		wantRecord(t, s, kindValues, "k", "v1", 1)
	}},
	{name: "first failure is reported", test: func(t *testing.T, s dataservice.Store) {
		put(t, s, kindValues, "a", "v", dataservice.WriteOptions{})
		put(t, s, kindValues, "b", "v", dataservice.WriteOptions{})
		err := s.PutMany(ctx(t), []dataservice.Write{
			{Kind: kindValues, Key: "a", Value: []byte("x"), Options: dataservice.WriteOptions{CreateOnly: true}},
			{Kind: kindValues, Key: "b", Value: []byte("x"), Options: dataservice.WriteOptions{Generation: 9}},
		})
		wantErr(t, err, dataservice.ErrExists, "PutMany whose first failure is CreateOnly")
	}},
	{name: "counter increments alongside records", test: func(t *testing.T, s dataservice.Store) {
		incr(t, s, kindCounters, "old", 0, dataservice.Delta{Name: "sent", Delta: 2})
		err := s.PutMany(ctx(t), []dataservice.Write{
			{Kind: kindValues, Key: "m", Value: []byte("body"), Options: dataservice.WriteOptions{CreateOnly: true}},
			{Kind: kindCounters, Key: "new", Deltas: []dataservice.Delta{{Name: "targeted", Delta: 3}}, Options: dataservice.WriteOptions{Fresh: true, TTL: time.Hour}},
			{Kind: kindCounters, Key: "old", Deltas: []dataservice.Delta{{Name: "sent", Delta: 5}, {Name: "acked", Delta: 1}}},
			{Kind: kindCounters2, Key: "old", Deltas: []dataservice.Delta{{Name: "sent", Delta: 7}}},
		})
		if err != nil {
			t.Fatalf("PutMany: %v", err)
		}
		wantRecord(t, s, kindValues, "m", "body", 1)
		wantCounters(t, s, kindCounters, "new", map[string]int64{"targeted": 3})
		wantCounters(t, s, kindCounters, "old", map[string]int64{"sent": 7, "acked": 1})
		wantCounters(t, s, kindCounters2, "old", map[string]int64{"sent": 7})
		// Incr goes on from what the batch left.
		wantValues(t, incr(t, s, kindCounters, "new", 0, dataservice.Delta{Name: "targeted", Delta: 1}, dataservice.Delta{Name: "delivered", Delta: 1}), 4, 1)
	}},
	{name: "a counter increment and a record of the same key", test: func(t *testing.T, s dataservice.Store) {
		err := s.PutMany(ctx(t), []dataservice.Write{
			{Kind: kindCounters, Key: "k", Deltas: []dataservice.Delta{{Name: "n", Delta: 1}}},
			{Kind: kindValues, Key: "k", Value: []byte("v")},
		})
		if err != nil {
			t.Fatalf("PutMany: %v", err)
		}
		wantCounters(t, s, kindCounters, "k", map[string]int64{"n": 1})
		wantRecord(t, s, kindValues, "k", "v", 1)
	}},
	{name: "a create-only counter increment creates the counters or fails alone", test: func(t *testing.T, s dataservice.Store) {
		create := dataservice.WriteOptions{CreateOnly: true, TTL: time.Hour}
		putManyOK(t, s, dataservice.Write{Kind: kindCounters, Key: "m", Deltas: []dataservice.Delta{{Name: "targeted", Delta: 2}}, Options: create})
		incr(t, s, kindCounters, "m", 0, dataservice.Delta{Name: "delivered", Delta: 1})
		writes := []dataservice.Write{
			{Kind: kindValues, Key: "v", Value: []byte("v")},
			{Kind: kindCounters, Key: "m", Deltas: []dataservice.Delta{{Name: "targeted", Delta: 2}}, Options: create},
			{Kind: kindCounters, Key: "other", Deltas: []dataservice.Delta{{Name: "targeted", Delta: 5}}, Options: create},
		}
		errs, err := dataservice.PerWrite(s.PutMany(ctx(t), writes), len(writes))
		if err != nil {
			t.Fatalf("PutMany with an existing create-only counter record failed as a whole: %v", err)
		}
		if errs[0] != nil || errs[2] != nil {
			t.Fatalf("applied writes reported failed: %v", errs)
		}
		wantErr(t, errs[1], dataservice.ErrExists, "create-only increment of existing counters")
		wantCounters(t, s, kindCounters, "m", map[string]int64{"targeted": 2, "delivered": 1})
		wantCounters(t, s, kindCounters, "other", map[string]int64{"targeted": 5})
		wantRecord(t, s, kindValues, "v", "v", 1)
	}},
	{name: "a counter increment with a generation, a value or twice in a batch is ErrInvalid", test: func(t *testing.T, s dataservice.Store) {
		n := []dataservice.Delta{{Name: "n", Delta: 1}}
		for _, writes := range [][]dataservice.Write{
			{{Kind: kindCounters, Key: "k", Deltas: n, Options: dataservice.WriteOptions{Generation: 1}}},
			{{Kind: kindCounters, Key: "k", Deltas: n, Options: dataservice.WriteOptions{Fresh: true, CreateOnly: true}}},
			{{Kind: kindCounters, Key: "k", Deltas: n, Value: []byte("v")}},
			{{Kind: kindCounters, Key: "k", Deltas: []dataservice.Delta{{Delta: 1}}}},
			{{Kind: kindCounters, Key: "k", Deltas: n, Options: dataservice.WriteOptions{TTL: -time.Second}}},
			{{Kind: kindCounters, Key: "k", Deltas: n}, {Kind: kindValues, Key: "v", Value: []byte("v")}, {Kind: kindCounters, Key: "k", Deltas: n}},
		} {
			err := s.PutMany(ctx(t), writes)
			wantErr(t, err, dataservice.ErrInvalid, fmt.Sprintf("PutMany(%+v)", writes))
		}
		if _, err := s.Counters(ctx(t), kindCounters, "k"); !errors.Is(err, dataservice.ErrNotFound) {
			t.Fatalf("Counters after rejected batches: %v, want ErrNotFound", err)
		}
		wantMissing(t, s, kindValues, "v")
	}},
	{name: "empty batch", test: func(t *testing.T, s dataservice.Store) {
		if err := s.PutMany(ctx(t), nil); err != nil {
			t.Fatalf("PutMany(nil): %v", err)
		}
	}},
}

var deleteCases = []testCase{
	{name: "missing record reports false", test: func(t *testing.T, s dataservice.Store) {
		existed, err := s.Delete(ctx(t), kindValues, "nobody", 0)
		if err != nil || existed {
			t.Fatalf("Delete = %v, %v; want false, nil", existed, err)
		}
	}},
	{name: "existing record reports true once", test: func(t *testing.T, s dataservice.Store) {
		put(t, s, kindValues, "k", "v", dataservice.WriteOptions{})
		for i, want := range []bool{true, false} {
			existed, err := s.Delete(ctx(t), kindValues, "k", 0)
			if err != nil || existed != want {
				t.Fatalf("Delete #%d = %v, %v; want %v, nil", i+1, existed, err, want)
			}
			wantMissing(t, s, kindValues, "k")
		}
	}},
	{name: "matching generation deletes", test: func(t *testing.T, s dataservice.Store) {
		put(t, s, kindValues, "k", "v", dataservice.WriteOptions{})
		put(t, s, kindValues, "k", "v", dataservice.WriteOptions{})
		existed, err := s.Delete(ctx(t), kindValues, "k", 2)
		if err != nil || !existed {
			t.Fatalf("Delete(generation 2) = %v, %v; want true, nil", existed, err)
		}
		wantMissing(t, s, kindValues, "k")
	}},
	{name: "mismatching generation is ErrGenerationMismatch", test: func(t *testing.T, s dataservice.Store) {
		put(t, s, kindValues, "k", "v", dataservice.WriteOptions{})
		put(t, s, kindValues, "k", "v", dataservice.WriteOptions{})
		_, err := s.Delete(ctx(t), kindValues, "k", 1)
		wantErr(t, err, dataservice.ErrGenerationMismatch, "Delete with a stale generation")
		wantRecord(t, s, kindValues, "k", "v", 2)
	}},
	{name: "generation on a missing record is ErrGenerationMismatch", test: func(t *testing.T, s dataservice.Store) {
		_, err := s.Delete(ctx(t), kindValues, "nobody", 1)
		wantErr(t, err, dataservice.ErrGenerationMismatch, "Delete with a generation of a missing record")
	}},
	{name: "counter record", test: func(t *testing.T, s dataservice.Store) {
		incr(t, s, kindCounters, "m", 0, dataservice.Delta{Name: "sent", Delta: 1})
		existed, err := s.Delete(ctx(t), kindCounters, "m", 0)
		if err != nil || !existed {
			t.Fatalf("Delete of a counter record = %v, %v; want true, nil", existed, err)
		}
		_, err = s.Counters(ctx(t), kindCounters, "m")
		wantErr(t, err, dataservice.ErrNotFound, "Counters after Delete")
	}},
}

var deleteManyCases = []testCase{
	{name: "reports per key", test: func(t *testing.T, s dataservice.Store) {
		put(t, s, kindValues, "a", "v", dataservice.WriteOptions{})
		put(t, s, kindValues, "c", "v", dataservice.WriteOptions{})
		put(t, s, kindOther, "b", "v", dataservice.WriteOptions{})
		got, err := s.DeleteMany(ctx(t), kindValues, []string{"a", "b", "c"})
		if err != nil {
			t.Fatal(err)
		}
		if want := []bool{true, false, true}; len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
			t.Fatalf("DeleteMany = %v, want %v", got, want)
		}
		wantMissing(t, s, kindValues, "a")
		wantMissing(t, s, kindValues, "c")
		wantRecord(t, s, kindOther, "b", "v", 1)
		got, err = s.DeleteMany(ctx(t), kindValues, []string{"a", "c"})
		if err != nil || len(got) != 2 || got[0] || got[1] {
			t.Fatalf("second DeleteMany = %v, %v; want [false false]", got, err)
		}
	}},
	{name: "counter records", test: func(t *testing.T, s dataservice.Store) {
		incr(t, s, kindCounters, "m1", 0, dataservice.Delta{Name: "sent", Delta: 1})
		got, err := s.DeleteMany(ctx(t), kindCounters, []string{"m1", "m2"})
		if err != nil || len(got) != 2 || !got[0] || got[1] {
			t.Fatalf("DeleteMany = %v, %v; want [true false]", got, err)
		}
		_, err = s.Counters(ctx(t), kindCounters, "m1")
		wantErr(t, err, dataservice.ErrNotFound, "Counters after DeleteMany")
	}},
	{name: "no keys", test: func(t *testing.T, s dataservice.Store) {
		got, err := s.DeleteMany(ctx(t), kindValues, nil)
		if err != nil || len(got) != 0 {
			t.Fatalf("DeleteMany(nil) = %v, %v; want no results", got, err)
		}
	}},
}
