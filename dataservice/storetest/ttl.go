package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

// The TTL cases run in parallel: each waits for real time to pass. Each
// writes the record it polls ("probe") last, so that once the probe has
// expired every record written before it with the same TTL has too.
var ttlCases = []testCase{
	{name: "expired record is gone from every method", parallel: true, test: func(t *testing.T, s dataservice.Store) {
		short := dataservice.WriteOptions{TTL: shortTTL}
		before := time.Now()
		put(t, s, kindGroups, "g/expiring", "v", short)
		put(t, s, kindGroups, "g/kept", "v", dataservice.WriteOptions{})
		for _, k := range []string{"getmany", "delete", "deletemany", "conditional", "createonly"} {
			put(t, s, kindValues, k, "v", short)
		}
		put(t, s, kindValues, "probe", "v", short)
		after := time.Now()

		wantExpires(t, get(t, s, kindValues, "probe"), before, after, shortTTL)
		many, err := s.GetMany(ctx(t), kindValues, []string{"getmany"})
		if err != nil || len(many) != 1 || !many[0].Exists() {
			t.Fatalf("GetMany before expiry = %+v, %v", many, err)
		}
		wantExpires(t, many[0], before, after, shortTTL)
		scanned, err := s.Scan(ctx(t), kindGroups, "g/", "", 10)
		if err != nil || len(scanned) != 2 || scanned[0].Key != "g/expiring" {
			t.Fatalf("Scan before expiry = %+v, %v", scanned, err)
		}
		wantExpires(t, scanned[0], before, after, shortTTL)
		if !scanned[1].Expires.IsZero() {
			t.Fatalf("record written without TTL expires at %v", scanned[1].Expires)
		}

		eventually(t, expiryTimeout, gone(t, s, kindValues, "probe"))

		t.Run("GetMany", func(t *testing.T) {
			got, err := s.GetMany(ctx(t), kindValues, []string{"getmany"})
			if err != nil || len(got) != 1 || got[0].Exists() {
				t.Fatalf("GetMany of an expired record = %+v, %v; want a zero Record", got, err)
			}
		})
		t.Run("Scan", func(t *testing.T) {
			got, err := s.Scan(ctx(t), kindGroups, "g/", "", 10)
			if err != nil {
				t.Fatal(err)
			}
			if keys, want := scanKeys(got), []string{"g/kept"}; !equalStrings(keys, want) {
				t.Fatalf("Scan = %q, want %q", keys, want)
			}
		})
		t.Run("Delete", func(t *testing.T) {
			existed, err := s.Delete(ctx(t), kindValues, "delete", 0)
			if err != nil || existed {
				t.Fatalf("Delete of an expired record = %v, %v; want false, nil", existed, err)
			}
		})
		t.Run("DeleteMany", func(t *testing.T) {
			got, err := s.DeleteMany(ctx(t), kindValues, []string{"deletemany"})
			if err != nil || len(got) != 1 || got[0] {
				t.Fatalf("DeleteMany of an expired record = %v, %v; want [false]", got, err)
			}
		})
		t.Run("conditional Put", func(t *testing.T) {
			_, err := s.Put(ctx(t), kindValues, "conditional", []byte("v"), dataservice.WriteOptions{Generation: 1})
			wantErr(t, err, dataservice.ErrGenerationMismatch, "Put with the generation of an expired record")
		})
		t.Run("create only Put", func(t *testing.T) {
			gen := put(t, s, kindValues, "createonly", "again", dataservice.WriteOptions{CreateOnly: true})
			if gen != 1 {
				t.Fatalf("re-created record has generation %d, want 1", gen)
			}
			if r := get(t, s, kindValues, "createonly"); !r.Expires.IsZero() {
				t.Fatalf("re-created record without TTL expires at %v", r.Expires)
			}
		})
	}},
	{name: "put replaces the lifetime", parallel: true, test: func(t *testing.T, s dataservice.Store) {
		put(t, s, kindValues, "permanent", "v", dataservice.WriteOptions{TTL: shortTTL})
		put(t, s, kindValues, "permanent", "v2", dataservice.WriteOptions{})
		put(t, s, kindValues, "extended", "v", dataservice.WriteOptions{TTL: shortTTL})
		before := time.Now()
		put(t, s, kindValues, "extended", "v2", dataservice.WriteOptions{TTL: time.Hour})
		after := time.Now()
		put(t, s, kindValues, "probe", "v", dataservice.WriteOptions{TTL: shortTTL})

		eventually(t, expiryTimeout, gone(t, s, kindValues, "probe"))
		wantRecord(t, s, kindValues, "permanent", "v2", 2)
		if r := get(t, s, kindValues, "permanent"); !r.Expires.IsZero() {
			t.Fatalf("record rewritten with TTL 0 expires at %v", r.Expires)
		}
		wantRecord(t, s, kindValues, "extended", "v2", 2)
		wantExpires(t, get(t, s, kindValues, "extended"), before, after, time.Hour)
	}},
	{name: "counters expire", parallel: true, test: func(t *testing.T, s dataservice.Store) {
		one := dataservice.Delta{Name: "n", Delta: 1}
		incr(t, s, kindCounters, "expiring", shortTTL, one)
		incr(t, s, kindCounters, "kept-lifetime", shortTTL, one)
		incr(t, s, kindCounters, "kept-lifetime", 0, one) // zero ttl keeps the lifetime
		incr(t, s, kindCounters, "extended", shortTTL, one)
		incr(t, s, kindCounters, "extended", time.Hour, one)
		incr(t, s, kindCounters, "permanent", 0, one)
		incr(t, s, kindCounters, "delete", shortTTL, one)
		incr(t, s, kindCounters, "probe", shortTTL, one)
		// The same lifetimes when the increments come in PutMany batches.
		putManyOK(t, s,
			dataservice.Write{Kind: kindCounters, Key: "batch-expiring", Deltas: []dataservice.Delta{one}, Options: dataservice.WriteOptions{Fresh: true, TTL: shortTTL}},
			dataservice.Write{Kind: kindCounters, Key: "batch-kept", Deltas: []dataservice.Delta{one}, Options: dataservice.WriteOptions{TTL: shortTTL}},
			dataservice.Write{Kind: kindCounters, Key: "batch-permanent", Deltas: []dataservice.Delta{one}})
		putManyOK(t, s,
			dataservice.Write{Kind: kindCounters, Key: "batch-kept", Deltas: []dataservice.Delta{one}},
			dataservice.Write{Kind: kindCounters, Key: "batch-permanent", Deltas: []dataservice.Delta{one}})
		wantCounters(t, s, kindCounters, "kept-lifetime", map[string]int64{"n": 2})
		wantCounters(t, s, kindCounters, "batch-kept", map[string]int64{"n": 2})

		eventually(t, expiryTimeout, func() error {
			for _, k := range []string{"probe", "kept-lifetime", "batch-expiring", "batch-kept"} {
				got, err := s.Counters(ctx(t), kindCounters, k)
				if !errors.Is(err, dataservice.ErrNotFound) {
					return fmt.Errorf("Counters(%q) = %v, %v; want ErrNotFound", k, got, err)
				}
			}
			return nil
		})
		_, err := s.Counters(ctx(t), kindCounters, "expiring")
		wantErr(t, err, dataservice.ErrNotFound, "Counters of an expired record")
		wantCounters(t, s, kindCounters, "extended", map[string]int64{"n": 2})
		wantCounters(t, s, kindCounters, "permanent", map[string]int64{"n": 1})
		wantCounters(t, s, kindCounters, "batch-permanent", map[string]int64{"n": 2})
		existed, err := s.Delete(ctx(t), kindCounters, "delete", 0)
		if err != nil || existed {
			t.Fatalf("Delete of an expired counter record = %v, %v; want false, nil", existed, err)
		}
		wantValues(t, incr(t, s, kindCounters, "expiring", 0, one), 1)
		wantCounters(t, s, kindCounters, "expiring", map[string]int64{"n": 1})
	}},
}
