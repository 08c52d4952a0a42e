package storetest

import (
	"testing"

	"github.com/heraldpush/herald/dataservice"
)

// scribble overwrites b, and appends to it within its capacity, to catch a
// slice shared with the store.
func scribble(b []byte) {
	for i := range b {
		b[i] = 'X'
	}
	b = b[:cap(b)]
	for i := range b {
		b[i] = 'X'
	}
}

var copyCases = []testCase{
	{name: "Put copies its input", test: func(t *testing.T, s dataservice.Store) {
		value := []byte("value")
		if _, err := s.Put(ctx(t), kindValues, "k", value, dataservice.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
		scribble(value)
		wantRecord(t, s, kindValues, "k", "value", 1)
	}},
	{name: "PutMany copies its input", test: func(t *testing.T, s dataservice.Store) {
		writes := []dataservice.Write{
			{Kind: kindValues, Key: "a", Value: []byte("va")},
			{Kind: kindValues, Key: "b", Value: []byte("vb")},
		}
		if err := s.PutMany(ctx(t), writes); err != nil {
			t.Fatal(err)
		}
		for _, w := range writes {
			scribble(w.Value)
		}
		wantRecord(t, s, kindValues, "a", "va", 1)
		wantRecord(t, s, kindValues, "b", "vb", 1)
	}},
	{name: "Get returns a copy", test: func(t *testing.T, s dataservice.Store) {
		put(t, s, kindValues, "k", "value", dataservice.WriteOptions{})
		scribble(get(t, s, kindValues, "k").Value)
		wantRecord(t, s, kindValues, "k", "value", 1)
	}},
	{name: "GetMany returns copies", test: func(t *testing.T, s dataservice.Store) {
		put(t, s, kindValues, "a", "va", dataservice.WriteOptions{})
		put(t, s, kindValues, "b", "vb", dataservice.WriteOptions{})
		got, err := s.GetMany(ctx(t), kindValues, []string{"a", "b"})
		if err != nil {
			t.Fatal(err)
		}
		scribble(got[0].Value)
		if string(got[1].Value) != "vb" {
			t.Fatalf("changing one returned value changed another: %q", got[1].Value)
		}
		wantRecord(t, s, kindValues, "a", "va", 1)
	}},
	{name: "Scan returns copies", test: func(t *testing.T, s dataservice.Store) {
		put(t, s, kindGroups, "g/1", "one", dataservice.WriteOptions{})
		put(t, s, kindGroups, "g/2", "two", dataservice.WriteOptions{})
		got, err := s.Scan(ctx(t), kindGroups, "g/", "", 10)
		if err != nil || len(got) != 2 {
			t.Fatalf("Scan = %+v, %v", got, err)
		}
		scribble(got[0].Value)
		if string(got[1].Value) != "two" {
			t.Fatalf("changing one returned value changed another: %q", got[1].Value)
		}
		got, err = s.Scan(ctx(t), kindGroups, "g/", "", 10)
		if err != nil || len(got) != 2 || string(got[0].Value) != "one" {
			t.Fatalf("Scan after changing a returned value = %+v, %v", got, err)
		}
	}},
	{name: "Counters returns a copy", test: func(t *testing.T, s dataservice.Store) {
		incr(t, s, kindCounters, "m", 0, dataservice.Delta{Name: "n", Delta: 1})
		got := counters(t, s, kindCounters, "m")
		got["n"] = 100
		got["other"] = 1
		wantCounters(t, s, kindCounters, "m", map[string]int64{"n": 1})
	}},
}
