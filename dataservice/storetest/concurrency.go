package storetest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"testing"

	"github.com/heraldpush/herald/dataservice"
)

// parallel runs fn(0) … fn(n-1) on n goroutines, released together to
// maximize contention, and waits for them. fn reports failures with t.Error,
// not t.Fatal, which must not be called off the test's goroutine.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}

var concurrencyCases = []testCase{
	{name: "Incr is atomic", test: func(t *testing.T, s dataservice.Store) {
		const goroutines, rounds = 8, 500
		deltas := []dataservice.Delta{{Name: "one", Delta: 1}, {Name: "two", Delta: 2}}
		seen := make([][]int64, goroutines) // values of "one" returned to each goroutine
		parallel(goroutines, func(g int) {
			for range rounds {
				got, err := s.Incr(ctx(t), kindCounters, "m", deltas, 0)
				if err != nil {
					t.Errorf("Incr: %v", err)
					return
				}
				if len(got) != 2 || got[1] != 2*got[0] {
					t.Errorf("Incr returned %v: the two counters were not incremented together", got)
					return
				}
				seen[g] = append(seen[g], got[0])
			}
		})
		if t.Failed() {
			return
		}
		wantCounters(t, s, kindCounters, "m", map[string]int64{"one": goroutines * rounds, "two": 2 * goroutines * rounds})
		all := slices.Concat(seen...)
		slices.Sort(all)
		for i, v := range all {
			if v != int64(i+1) {
				t.Fatalf("Incr returned value %d at rank %d: two increments saw the same state", v, i+1)
			}
		}
	}},
	{name: "create only has one winner", test: func(t *testing.T, s dataservice.Store) {
		const goroutines = 16
		var (
			mu     sync.Mutex
			winner = -1
			wins   int
		)
		parallel(goroutines, func(g int) {
			_, err := s.Put(ctx(t), kindValues, "k", []byte(strconv.Itoa(g)), dataservice.WriteOptions{CreateOnly: true})
			switch {
			case err == nil:
				mu.Lock()
				wins++
				winner = g
				mu.Unlock()
			case !errors.Is(err, dataservice.ErrExists):
				t.Errorf("Put CreateOnly: %v", err)
			}
		})
		if wins != 1 {
			t.Fatalf("%d concurrent CreateOnly puts succeeded, want 1", wins)
		}
		wantRecord(t, s, kindValues, "k", strconv.Itoa(winner), 1)
	}},
	{name: "conditional put is compare-and-swap", test: func(t *testing.T, s dataservice.Store) {
		const goroutines, rounds = 8, 50
		put(t, s, kindValues, "n", "0", dataservice.WriteOptions{})
		parallel(goroutines, func(int) {
			for done := 0; done < rounds; {
				r, err := s.Get(ctx(t), kindValues, "n")
				if err != nil {
					t.Errorf("Get: %v", err)
					return
				}
				n, err := strconv.Atoi(string(r.Value))
				if err != nil {
					t.Errorf("stored value %q: %v", r.Value, err)
					return
				}
				_, err = s.Put(ctx(t), kindValues, "n", []byte(strconv.Itoa(n+1)), dataservice.WriteOptions{Generation: r.Generation})
				switch {
				case err == nil:
					done++
				case !errors.Is(err, dataservice.ErrGenerationMismatch):
					t.Errorf("conditional Put: %v", err)
					return
				}
			}
		})
		if t.Failed() {
			return
		}
		total := goroutines * rounds
		wantRecord(t, s, kindValues, "n", strconv.Itoa(total), uint32(total+1))
	}},
	{name: "concurrent DeleteMany reports each record once", test: func(t *testing.T, s dataservice.Store) {
		const goroutines, records, rounds = 16, 50, 20
		for round := range rounds {
			keys := make([]string, records)
			writes := make([]dataservice.Write, records)
			for i := range keys {
				keys[i] = fmt.Sprintf("r%d/k%03d", round, i)
				writes[i] = dataservice.Write{Kind: kindValues, Key: keys[i], Value: []byte("v")}
			}
			if err := s.PutMany(ctx(t), writes); err != nil {
				t.Fatal(err)
			}
			orders := make([][]string, goroutines)
			for g := range orders {
				orders[g] = slices.Clone(keys)
				rand.Shuffle(records, func(i, j int) { orders[g][i], orders[g][j] = orders[g][j], orders[g][i] })
			}
			results := make([][]bool, goroutines)
			parallel(goroutines, func(g int) {
				got, err := s.DeleteMany(ctx(t), kindValues, orders[g])
				if err != nil {
					t.Errorf("DeleteMany: %v", err)
					return
				}
				if len(got) != records {
					t.Errorf("DeleteMany returned %d results for %d keys", len(got), records)
					return
				}
				results[g] = got
			})
			if t.Failed() {
				return
			}
			count := make(map[string]int, records)
			for g := range results {
				for i, existed := range results[g] {
					if existed {
						count[orders[g][i]]++
					}
				}
			}
			for _, k := range keys {
				if count[k] != 1 {
					t.Fatalf("record %q reported deleted %d times, want once", k, count[k])
				}
				wantMissing(t, s, kindValues, k)
			}
		}
	}},
	{name: "concurrent Delete reports the record once", test: func(t *testing.T, s dataservice.Store) {
		const goroutines, records = 8, 50
		for i := range records {
			put(t, s, kindValues, fmt.Sprintf("k%d", i), "v", dataservice.WriteOptions{})
		}
		counts := make([]int, records)
		var mu sync.Mutex
		parallel(goroutines, func(int) {
			for i := range records {
				existed, err := s.Delete(ctx(t), kindValues, fmt.Sprintf("k%d", i), 0)
				if err != nil {
					t.Errorf("Delete: %v", err)
					return
				}
				if existed {
					mu.Lock()
					counts[i]++
					mu.Unlock()
				}
			}
		})
		for i, n := range counts {
			if n != 1 {
				t.Errorf("record k%d reported deleted %d times, want once", i, n)
			}
		}
	}},
	{name: "writes are visible to later reads", test: func(t *testing.T, s dataservice.Store) {
		const goroutines, rounds = 8, 100
		parallel(goroutines, func(g int) {
			key := fmt.Sprintf("k%d", g)
			for i := range rounds {
				value := strconv.Itoa(i)
				gen, err := s.Put(ctx(t), kindValues, key, []byte(value), dataservice.WriteOptions{})
				if err != nil {
					t.Errorf("Put: %v", err)
					return
				}
				r, err := s.Get(ctx(t), kindValues, key)
				if err != nil || string(r.Value) != value || r.Generation != gen {
					t.Errorf("Get after Put(%q) returning generation %d = %+v, %v", value, gen, r, err)
					return
				}
			}
		})
	}},
}
