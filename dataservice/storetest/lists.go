package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

// byteItems converts strings to list items.
func byteItems(items ...string) [][]byte {
	out := make([][]byte, len(items))
	for i, it := range items {
		out[i] = []byte(it)
	}
	return out
}

// numbered returns the items prefix0 … prefix(n-1).
func numbered(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + strconv.Itoa(i)
	}
	return out
}

func listAppend(t testing.TB, s dataservice.Store, kind dataservice.Kind, key string, opts dataservice.ListOptions, items ...string) int {
	t.Helper()
	n, err := s.ListAppend(ctx(t), kind, key, byteItems(items...), opts)
	if err != nil {
		t.Fatalf("ListAppend(%s, %q, %d items, %+v): %v", kind, key, len(items), opts, err)
	}
	return n
}

func listRange(t testing.TB, s dataservice.Store, kind dataservice.Kind, key string, start, count int) []string {
	t.Helper()
	got, err := s.ListRange(ctx(t), kind, key, start, count)
	if err != nil {
		t.Fatalf("ListRange(%s, %q, %d, %d): %v", kind, key, start, count, err)
	}
	out := make([]string, len(got))
	for i, it := range got {
		out[i] = string(it)
	}
	return out
}

// wantList fails t unless the whole list of key holds want, in order.
func wantList(t testing.TB, s dataservice.Store, kind dataservice.Kind, key string, want ...string) {
	t.Helper()
	if got := listRange(t, s, kind, key, 0, len(want)+100); !slices.Equal(got, want) {
		t.Fatalf("ListRange(%s, %q) = %q, want %q", kind, key, got, want)
	}
}

// wantNoList fails t unless ListRange reports key missing.
func wantNoList(t testing.TB, s dataservice.Store, kind dataservice.Kind, key string) {
	t.Helper()
	got, err := s.ListRange(ctx(t), kind, key, 0, 10)
	if !errors.Is(err, dataservice.ErrNotFound) {
		t.Fatalf("ListRange(%s, %q) = %q, %v; want ErrNotFound", kind, key, got, err)
	}
}

// wantLength fails t unless a ListAppend returned want.
func wantLength(t testing.TB, got, want int) {
	t.Helper()
	if got != want {
		t.Fatalf("ListAppend returned length %d, want %d", got, want)
	}
}

// halfValues returns two items whose lengths add up to total.
func halfValues(total int) [][]byte {
	a := make([]byte, total/2)
	b := make([]byte, total-total/2)
	for i := range a {
		a[i] = byte(i)
	}
	for i := range b {
		b[i] = byte(i * 7)
	}
	return [][]byte{a, b}
}

var listAppendCases = []testCase{
	{name: "creates the list and returns its length", test: func(t *testing.T, s dataservice.Store) {
		wantLength(t, listAppend(t, s, kindLists, "k", dataservice.ListOptions{}, "a"), 1)
		wantList(t, s, kindLists, "k", "a")
		wantLength(t, listAppend(t, s, kindLists, "k", dataservice.ListOptions{}, "b", "c"), 3)
		wantList(t, s, kindLists, "k", "a", "b", "c")
	}},
	{name: "keeps the order of appends and of items", test: func(t *testing.T, s dataservice.Store) {
		var want []string
		for i := range 10 {
			batch := numbered(fmt.Sprintf("%d-", i), i%3+1)
			want = append(want, batch...)
			wantLength(t, listAppend(t, s, kindLists, "k", dataservice.ListOptions{}, batch...), len(want))
		}
		wantList(t, s, kindLists, "k", want...)
	}},
	{name: "empty items are kept", test: func(t *testing.T, s dataservice.Store) {
		wantLength(t, listAppend(t, s, kindLists, "k", dataservice.ListOptions{}, "", "x", ""), 3)
		wantList(t, s, kindLists, "k", "", "x", "")
	}},
	{name: "MaxLen drops the oldest items", test: func(t *testing.T, s dataservice.Store) {
		three := dataservice.ListOptions{MaxLen: 3}
		for i, want := range []int{1, 2, 3, 3, 3} {
			wantLength(t, listAppend(t, s, kindLists, "k", three, strconv.Itoa(i)), want)
		}
		wantList(t, s, kindLists, "k", "2", "3", "4")
		wantLength(t, listAppend(t, s, kindLists, "k", three, "5", "6"), 3)
		wantList(t, s, kindLists, "k", "4", "5", "6")
	}},
	{name: "MaxLen trims within one append", test: func(t *testing.T, s dataservice.Store) {
		wantLength(t, listAppend(t, s, kindLists, "new", dataservice.ListOptions{MaxLen: 2}, "a", "b", "c", "d", "e"), 2)
		wantList(t, s, kindLists, "new", "d", "e")
		listAppend(t, s, kindLists, "old", dataservice.ListOptions{}, "a", "b", "c")
		wantLength(t, listAppend(t, s, kindLists, "old", dataservice.ListOptions{MaxLen: 1}, "d", "e"), 1)
		wantList(t, s, kindLists, "old", "e")
	}},
	{name: "MaxLen bounds only the append that sets it", test: func(t *testing.T, s dataservice.Store) {
		listAppend(t, s, kindLists, "k", dataservice.ListOptions{}, numbered("", 5)...)
		wantLength(t, listAppend(t, s, kindLists, "k", dataservice.ListOptions{MaxLen: 10}, "5"), 6)
		wantLength(t, listAppend(t, s, kindLists, "k", dataservice.ListOptions{MaxLen: 6}, "6"), 6)
		wantLength(t, listAppend(t, s, kindLists, "k", dataservice.ListOptions{}, "7"), 7)
		wantList(t, s, kindLists, "k", "1", "2", "3", "4", "5", "6", "7")
	}},
	{name: "records are independent", test: func(t *testing.T, s dataservice.Store) {
		listAppend(t, s, kindLists, "a", dataservice.ListOptions{}, "1")
		listAppend(t, s, kindLists, "b", dataservice.ListOptions{MaxLen: 1}, "2", "3")
		wantList(t, s, kindLists, "a", "1")
		wantList(t, s, kindLists, "b", "3")
	}},
	{name: "items of MaxValueLen bytes together are accepted", test: func(t *testing.T, s dataservice.Store) {
		items := halfValues(dataservice.MaxValueLen)
		n, err := s.ListAppend(ctx(t), kindLists, "k", items, dataservice.ListOptions{})
		if err != nil || n != 2 {
			t.Fatalf("ListAppend of 2 items of %d bytes together = %d, %v; want 2, nil", dataservice.MaxValueLen, n, err)
		}
		got, err := s.ListRange(ctx(t), kindLists, "k", 0, 2)
		if err != nil || len(got) != 2 || string(got[0]) != string(items[0]) || string(got[1]) != string(items[1]) {
			t.Fatalf("ListRange returned %d items, %v; want the 2 items appended", len(got), err)
		}
	}},
	{name: "items over MaxValueLen together are ErrInvalid and not written", test: func(t *testing.T, s dataservice.Store) {
		over := halfValues(dataservice.MaxValueLen + 1)
		_, err := s.ListAppend(ctx(t), kindLists, "new", over, dataservice.ListOptions{})
		wantErr(t, err, dataservice.ErrInvalid, "ListAppend of items over MaxValueLen to a new list")
		wantNoList(t, s, kindLists, "new")

		listAppend(t, s, kindLists, "old", dataservice.ListOptions{}, "a")
		_, err = s.ListAppend(ctx(t), kindLists, "old", over, dataservice.ListOptions{})
		wantErr(t, err, dataservice.ErrInvalid, "ListAppend of items over MaxValueLen to a list")
		// The limit is on the items given, whatever MaxLen would keep.
		_, err = s.ListAppend(ctx(t), kindLists, "old", over, dataservice.ListOptions{MaxLen: 1})
		wantErr(t, err, dataservice.ErrInvalid, "ListAppend with MaxLen 1 of items over MaxValueLen")
		wantList(t, s, kindLists, "old", "a")
	}},
}

var listRangeCases = []testCase{
	{name: "missing record is ErrNotFound", test: func(t *testing.T, s dataservice.Store) {
		wantNoList(t, s, kindLists, "nobody")
	}},
	{name: "positive start", test: func(t *testing.T, s dataservice.Store) {
		all := numbered("", 10)
		listAppend(t, s, kindLists, "k", dataservice.ListOptions{}, all...)
		for _, c := range []struct{ start, count, from, to int }{
			{0, 3, 0, 3}, {4, 2, 4, 6}, {8, 5, 8, 10}, {0, 100, 0, 10}, {9, 1, 9, 10},
		} {
			if got, want := listRange(t, s, kindLists, "k", c.start, c.count), all[c.from:c.to]; !slices.Equal(got, want) {
				t.Fatalf("ListRange(%d, %d) = %q, want %q", c.start, c.count, got, want)
			}
		}
	}},
	{name: "negative start counts from the newest", test: func(t *testing.T, s dataservice.Store) {
		all := numbered("", 10)
		listAppend(t, s, kindLists, "k", dataservice.ListOptions{}, all...)
		for _, c := range []struct{ start, count, from, to int }{
			{-1, 1, 9, 10}, {-1, 5, 9, 10}, {-3, 10, 7, 10}, {-3, 2, 7, 9}, {-10, 10, 0, 10}, {-10, 1, 0, 1},
			// A start before the oldest item starts at the oldest.
			{-15, 3, 0, 3}, {-11, 100, 0, 10},
		} {
			if got, want := listRange(t, s, kindLists, "k", c.start, c.count), all[c.from:c.to]; !slices.Equal(got, want) {
				t.Fatalf("ListRange(%d, %d) = %q, want %q", c.start, c.count, got, want)
			}
		}
	}},
	{name: "start past the end is empty", test: func(t *testing.T, s dataservice.Store) {
		listAppend(t, s, kindLists, "k", dataservice.ListOptions{}, "a", "b", "c")
		for _, start := range []int{3, 4, 1000} {
			got, err := s.ListRange(ctx(t), kindLists, "k", start, 5)
			if err != nil || len(got) != 0 {
				t.Fatalf("ListRange(start %d) of 3 items = %q, %v; want no items, nil", start, got, err)
			}
		}
	}},
	{name: "reads the latest append", test: func(t *testing.T, s dataservice.Store) {
		for i := range 20 {
			listAppend(t, s, kindLists, "k", dataservice.ListOptions{MaxLen: 5}, strconv.Itoa(i))
			if got := listRange(t, s, kindLists, "k", -1, 1); !slices.Equal(got, []string{strconv.Itoa(i)}) {
				t.Fatalf("ListRange(-1, 1) after appending %d = %q", i, got)
			}
		}
	}},
}

// listDeleteCases extend the Delete and DeleteMany groups to list records.
var listDeleteCases = []testCase{
	{name: "list record", test: func(t *testing.T, s dataservice.Store) {
		listAppend(t, s, kindLists, "k", dataservice.ListOptions{}, "a", "b")
		for i, want := range []bool{true, false} {
			existed, err := s.Delete(ctx(t), kindLists, "k", 0)
			if err != nil || existed != want {
				t.Fatalf("Delete #%d of a list record = %v, %v; want %v, nil", i+1, existed, err, want)
			}
			wantNoList(t, s, kindLists, "k")
		}
		wantLength(t, listAppend(t, s, kindLists, "k", dataservice.ListOptions{}, "c"), 1)
		wantList(t, s, kindLists, "k", "c")
	}},
}

var listDeleteManyCases = []testCase{
	{name: "list records", test: func(t *testing.T, s dataservice.Store) {
		listAppend(t, s, kindLists, "l1", dataservice.ListOptions{}, "a")
		listAppend(t, s, kindLists, "l3", dataservice.ListOptions{}, "c")
		got, err := s.DeleteMany(ctx(t), kindLists, []string{"l1", "l2", "l3"})
		if want := []bool{true, false, true}; err != nil || !slices.Equal(got, want) {
			t.Fatalf("DeleteMany = %v, %v; want %v", got, err, want)
		}
		wantNoList(t, s, kindLists, "l1")
		wantNoList(t, s, kindLists, "l3")
		got, err = s.DeleteMany(ctx(t), kindLists, []string{"l1", "l3"})
		if want := []bool{false, false}; err != nil || !slices.Equal(got, want) {
			t.Fatalf("second DeleteMany = %v, %v; want %v", got, err, want)
		}
	}},
}

var listKindCases = []testCase{
	{name: "list kinds are isolated", test: func(t *testing.T, s dataservice.Store) {
		listAppend(t, s, kindLists, "k", dataservice.ListOptions{}, "a")
		listAppend(t, s, kindLists2, "k", dataservice.ListOptions{}, "b", "c")
		wantList(t, s, kindLists, "k", "a")
		wantList(t, s, kindLists2, "k", "b", "c")
		got, err := s.DeleteMany(ctx(t), kindLists2, []string{"k"})
		if err != nil || len(got) != 1 || !got[0] {
			t.Fatalf("DeleteMany = %v, %v", got, err)
		}
		wantList(t, s, kindLists, "k", "a")
	}},
	{name: "lists do not show in other kinds", test: func(t *testing.T, s dataservice.Store) {
		listAppend(t, s, kindLists, "g/1", dataservice.ListOptions{}, "a")
		wantMissing(t, s, kindValues, "g/1")
		many, err := s.GetMany(ctx(t), kindValues, []string{"g/1"})
		if err != nil || len(many) != 1 || many[0].Exists() {
			t.Fatalf("GetMany in a value kind of a list key = %+v, %v; want a zero Record", many, err)
		}
		scanned, err := s.Scan(ctx(t), kindValues, "g/", "", 10)
		if err != nil || len(scanned) != 0 {
			t.Fatalf("Scan of a value kind = %q, %v; want nothing", scanKeys(scanned), err)
		}
		_, err = s.Counters(ctx(t), kindCounters, "g/1")
		wantErr(t, err, dataservice.ErrNotFound, "Counters in a counter kind of a list key")
		if existed, err := s.Delete(ctx(t), kindValues, "g/1", 0); err != nil || existed {
			t.Fatalf("Delete in a value kind of a list key = %v, %v; want false, nil", existed, err)
		}
		wantList(t, s, kindLists, "g/1", "a")
	}},
}

var listCopyCases = []testCase{
	{name: "ListAppend copies its input", test: func(t *testing.T, s dataservice.Store) {
		items := byteItems("one", "two")
		if _, err := s.ListAppend(ctx(t), kindLists, "k", items, dataservice.ListOptions{}); err != nil {
			t.Fatal(err)
		}
		for _, it := range items {
			scribble(it)
		}
		wantList(t, s, kindLists, "k", "one", "two")
	}},
	{name: "ListRange returns copies", test: func(t *testing.T, s dataservice.Store) {
		listAppend(t, s, kindLists, "k", dataservice.ListOptions{}, "one", "two")
		got, err := s.ListRange(ctx(t), kindLists, "k", 0, 2)
		if err != nil || len(got) != 2 {
			t.Fatalf("ListRange = %q, %v", got, err)
		}
		scribble(got[0])
		if string(got[1]) != "two" {
			t.Fatalf("changing one returned item changed another: %q", got[1])
		}
		wantList(t, s, kindLists, "k", "one", "two")
	}},
}

// The list TTL case runs in parallel with the other TTL cases; see ttlCases.
var listTTLCases = []testCase{
	{name: "lists expire", parallel: true, test: func(t *testing.T, s dataservice.Store) {
		short := dataservice.ListOptions{TTL: shortTTL}
		listAppend(t, s, kindLists, "expiring", short, "old")
		listAppend(t, s, kindLists, "kept-lifetime", short, "a")
		listAppend(t, s, kindLists, "kept-lifetime", dataservice.ListOptions{}, "b") // zero TTL keeps the lifetime
		listAppend(t, s, kindLists, "extended", short, "a")
		listAppend(t, s, kindLists, "extended", dataservice.ListOptions{TTL: time.Hour}, "b")
		listAppend(t, s, kindLists, "permanent", dataservice.ListOptions{}, "a")
		listAppend(t, s, kindLists, "permanent", dataservice.ListOptions{MaxLen: 5}, "b")
		listAppend(t, s, kindLists, "delete", short, "a")
		listAppend(t, s, kindLists, "deletemany", short, "a")
		listAppend(t, s, kindLists, "probe", short, "a")
		wantList(t, s, kindLists, "kept-lifetime", "a", "b")

		eventually(t, expiryTimeout, func() error {
			for _, k := range []string{"probe", "kept-lifetime"} {
				got, err := s.ListRange(ctx(t), kindLists, k, 0, 10)
				if !errors.Is(err, dataservice.ErrNotFound) {
					return fmt.Errorf("ListRange(%q) = %q, %v; want ErrNotFound", k, got, err)
				}
			}
			return nil
		})
		wantNoList(t, s, kindLists, "expiring")
		wantList(t, s, kindLists, "extended", "a", "b")
		wantList(t, s, kindLists, "permanent", "a", "b")
		existed, err := s.Delete(ctx(t), kindLists, "delete", 0)
		if err != nil || existed {
			t.Fatalf("Delete of an expired list = %v, %v; want false, nil", existed, err)
		}
		got, err := s.DeleteMany(ctx(t), kindLists, []string{"deletemany"})
		if err != nil || len(got) != 1 || got[0] {
			t.Fatalf("DeleteMany of an expired list = %v, %v; want [false]", got, err)
		}
		// A later append starts a new list, which lives forever.
		wantLength(t, listAppend(t, s, kindLists, "expiring", dataservice.ListOptions{}, "new"), 1)
		wantList(t, s, kindLists, "expiring", "new")
	}},
}

var listConcurrencyCases = []testCase{
	{name: "ListAppend and its trim are atomic", test: func(t *testing.T, s dataservice.Store) {
		const goroutines, rounds, maxLen = 8, 100, 50
		opts := dataservice.ListOptions{MaxLen: maxLen}
		lengths := make([][]int, goroutines)
		parallel(goroutines, func(g int) {
			for i := range rounds {
				n, err := s.ListAppend(ctx(t), kindLists, "k", byteItems(fmt.Sprintf("%d/%03d", g, i)), opts)
				if err != nil {
					t.Errorf("ListAppend: %v", err)
					return
				}
				lengths[g] = append(lengths[g], n)
			}
		})
		if t.Failed() {
			return
		}
		// Each single-item append grows the list by one until MaxLen: sorted,
		// the lengths returned are 1, 2, …, MaxLen-1, then MaxLen.
		all := slices.Concat(lengths...)
		slices.Sort(all)
		for i, n := range all {
			if want := min(i+1, maxLen); n != want {
				t.Fatalf("ListAppend returned length %d at rank %d, want %d: two appends saw the same list", n, i+1, want)
			}
		}
		got := listRange(t, s, kindLists, "k", 0, goroutines*rounds)
		if len(got) != maxLen {
			t.Fatalf("list holds %d items after concurrent appends with MaxLen %d", len(got), maxLen)
		}
		// Trimming drops the oldest: what is kept of each goroutine's items is
		// the end of its sequence, in order.
		kept := make(map[int][]int)
		for _, it := range got {
			var g, i int
			if _, err := fmt.Sscanf(it, "%d/%d", &g, &i); err != nil {
				t.Fatalf("unexpected item %q", it)
			}
			kept[g] = append(kept[g], i)
		}
		for g, seq := range kept {
			for j, i := range seq {
				if want := rounds - len(seq) + j; i != want {
					t.Fatalf("goroutine %d: kept items %v, want the last %d of its %d in order", g, seq, len(seq), rounds)
				}
			}
		}
	}},
	{name: "concurrent appends are whole and lose nothing", test: func(t *testing.T, s dataservice.Store) {
		const goroutines, rounds, batch = 8, 50, 3
		parallel(goroutines, func(g int) {
			for i := range rounds {
				items := numbered(fmt.Sprintf("%d/%03d/", g, i), batch)
				if _, err := s.ListAppend(ctx(t), kindLists, "k", byteItems(items...), dataservice.ListOptions{}); err != nil {
					t.Errorf("ListAppend: %v", err)
					return
				}
			}
		})
		if t.Failed() {
			return
		}
		got := listRange(t, s, kindLists, "k", 0, 2*goroutines*rounds*batch)
		if len(got) != goroutines*rounds*batch {
			t.Fatalf("list holds %d items after %d appends of %d", len(got), goroutines*rounds, batch)
		}
		next := make([]int, goroutines) // next round expected of each goroutine
		for j := 0; j < len(got); j += batch {
			parts := strings.Split(got[j], "/")
			g, _ := strconv.Atoi(parts[0])
			round, _ := strconv.Atoi(parts[1])
			if len(parts) != 3 || g < 0 || g >= goroutines || round != next[g] {
				t.Fatalf("item %d is %q, want the start of a goroutine's next batch", j, got[j])
			}
			want := numbered(fmt.Sprintf("%d/%03d/", g, round), batch)
			if !slices.Equal(got[j:j+batch], want) {
				t.Fatalf("items %d… are %q, want the whole batch %q: appends interleaved", j, got[j:j+batch], want)
			}
			next[g]++
		}
	}},
}
