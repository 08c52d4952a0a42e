package storetest

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/heraldpush/herald/dataservice"
)

// scanAll pages through the group prefix with pages of limit records.
func scanAll(t testing.TB, s dataservice.Store, kind dataservice.Kind, prefix string, limit int) []dataservice.Record {
	t.Helper()
	var all []dataservice.Record
	after := ""
	for page := 0; ; page++ {
		got, err := s.Scan(ctx(t), kind, prefix, after, limit)
		if err != nil {
			t.Fatalf("Scan(%q, after %q, limit %d): %v", prefix, after, limit, err)
		}
		if len(got) > limit {
			t.Fatalf("Scan(limit %d) returned %d records", limit, len(got))
		}
		all = append(all, got...)
		if len(got) < limit {
			return all
		}
		after = got[len(got)-1].Key
		if page > 10000 {
			t.Fatal("Scan does not terminate")
		}
	}
}

var scanCases = []testCase{
	{name: "ascending byte order", test: func(t *testing.T, s dataservice.Store) {
		want := []string{"g/", "g/0", "g/1", "g/10", "g/2", "g/A", "g/a", "g/a/b", "g/\u00e9"}
		for _, i := range rand.Perm(len(want)) {
			put(t, s, kindGroups, want[i], "v", dataservice.WriteOptions{})
		}
		got, err := s.Scan(ctx(t), kindGroups, "g/", "", 100)
		if err != nil {
			t.Fatal(err)
		}
		if keys := scanKeys(got); !equalStrings(keys, want) {
			t.Fatalf("Scan = %q, want %q", keys, want)
		}
	}},
	{name: "returns values and generations", test: func(t *testing.T, s dataservice.Store) {
		put(t, s, kindGroups, "g/1", "one", dataservice.WriteOptions{})
		put(t, s, kindGroups, "g/2", "two", dataservice.WriteOptions{})
		put(t, s, kindGroups, "g/2", "two", dataservice.WriteOptions{})
		got, err := s.Scan(ctx(t), kindGroups, "g/", "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || string(got[0].Value) != "one" || got[0].Generation != 1 ||
			string(got[1].Value) != "two" || got[1].Generation != 2 {
			t.Fatalf("Scan = %+v, want g/1=one (generation 1), g/2=two (generation 2)", got)
		}
	}},
	{name: "group prefix is isolated", test: func(t *testing.T, s dataservice.Store) {
		for _, k := range []string{"a", "a/1", "a/2", "a/b/c", "ab/x", "a0", "a.", "b/1", "/a/1"} {
			put(t, s, kindGroups, k, "v", dataservice.WriteOptions{})
		}
		put(t, s, kindOther, "a/3", "other kind", dataservice.WriteOptions{})
		got, err := s.Scan(ctx(t), kindGroups, "a/", "", 100)
		if err != nil {
			t.Fatal(err)
		}
		if keys, want := scanKeys(got), []string{"a/1", "a/2", "a/b/c"}; !equalStrings(keys, want) {
			t.Fatalf(`Scan("a/") = %q, want %q`, keys, want)
		}
		got, err = s.Scan(ctx(t), kindGroups, "a/b/", "", 100)
		if err != nil {
			t.Fatal(err)
		}
		if keys, want := scanKeys(got), []string{"a/b/c"}; !equalStrings(keys, want) {
			t.Fatalf(`Scan("a/b/") = %q, want %q`, keys, want)
		}
	}},
	{name: "pagination with after and limit", test: func(t *testing.T, s dataservice.Store) {
		var want []string
		for i := range 25 {
			key := fmt.Sprintf("g/%03d", i)
			want = append(want, key)
			put(t, s, kindGroups, key, key, dataservice.WriteOptions{})
		}
		put(t, s, kindGroups, "h/000", "next group", dataservice.WriteOptions{})
		for _, limit := range []int{1, 3, 5, 24, 25, 26, 1000} {
			t.Run(fmt.Sprintf("limit=%d", limit), func(t *testing.T) {
				if keys := scanKeys(scanAll(t, s, kindGroups, "g/", limit)); !equalStrings(keys, want) {
					t.Fatalf("paged Scan = %q, want %q", keys, want)
				}
			})
		}
		got, err := s.Scan(ctx(t), kindGroups, "g/", "g/009", 3)
		if err != nil {
			t.Fatal(err)
		}
		if keys, want := scanKeys(got), []string{"g/010", "g/011", "g/012"}; !equalStrings(keys, want) {
			t.Fatalf(`Scan(after "g/009", limit 3) = %q, want %q`, keys, want)
		}
		got, err = s.Scan(ctx(t), kindGroups, "g/", "g/0095", 2)
		if err != nil {
			t.Fatal(err)
		}
		if keys, want := scanKeys(got), []string{"g/010", "g/011"}; !equalStrings(keys, want) {
			t.Fatalf(`Scan(after missing "g/0095") = %q, want %q`, keys, want)
		}
	}},
	{name: "after the last key is empty", test: func(t *testing.T, s dataservice.Store) {
		put(t, s, kindGroups, "g/1", "v", dataservice.WriteOptions{})
		put(t, s, kindGroups, "h/1", "v", dataservice.WriteOptions{})
		for _, after := range []string{"g/1", "g/2", "g0", "z"} {
			got, err := s.Scan(ctx(t), kindGroups, "g/", after, 10)
			if err != nil || len(got) != 0 {
				t.Fatalf("Scan(after %q) = %q, %v; want nothing", after, scanKeys(got), err)
			}
		}
	}},
	{name: "empty group", test: func(t *testing.T, s dataservice.Store) {
		put(t, s, kindGroups, "other/1", "v", dataservice.WriteOptions{})
		got, err := s.Scan(ctx(t), kindGroups, "g/", "", 10)
		if err != nil || len(got) != 0 {
			t.Fatalf("Scan of an empty group = %q, %v; want nothing", scanKeys(got), err)
		}
	}},
	{name: "deleted records are skipped", test: func(t *testing.T, s dataservice.Store) {
		for _, k := range []string{"g/1", "g/2", "g/3"} {
			put(t, s, kindGroups, k, "v", dataservice.WriteOptions{})
		}
		if _, err := s.Delete(ctx(t), kindGroups, "g/2", 0); err != nil {
			t.Fatal(err)
		}
		got, err := s.Scan(ctx(t), kindGroups, "g/", "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if keys, want := scanKeys(got), []string{"g/1", "g/3"}; !equalStrings(keys, want) {
			t.Fatalf("Scan = %q, want %q", keys, want)
		}
	}},
}
