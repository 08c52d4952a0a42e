package cache_test

import (
	"fmt"
	"os"
	"sync"

	"github.com/heraldpush/herald/cache"
)

// store stands in for the dataservice: records with generations.
type store struct {
	mu      sync.Mutex
	records map[string]record
	reads   int
}

type record struct {
	value      []byte
	generation uint32
}

func (s *store) get(key string) (record, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reads++
	r, ok := s.records[key]
	return r, ok
}

func (s *store) put(key string, value []byte) uint32 {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := record{value: value, generation: s.records[key].generation + 1}
	s.records[key] = r
	return r.generation
}

// The read-through pattern: on a miss, take a ticket before reading the
// store and store what was read with it. If a write of the key is
// invalidated meanwhile, SetWith refuses the value it may predate.
func Example_readThrough() {
	const source = 1 // the dataservice instance that owns these keys
	db := &store{records: map[string]record{"app:42": {[]byte(`{"name":"demo"}`), 1}}}
	c, err := cache.NewMemory(cache.DefaultConfig())
	if err != nil {
		panic(err)
	}

	read := func(key string) ([]byte, bool) {
		if v, _, ok := c.Get(key); ok {
			return v, true
		}
		t := c.Reserve(key, source)
		r, ok := db.get(key)
		if !ok {
			return nil, false
		}
		c.SetWith(t, r.value, r.generation, cache.SetOptions{})
		return r.value, true
	}

	v, _ := read("app:42")
	fmt.Printf("%s (store reads: %d)\n", v, db.reads)
	v, _ = read("app:42")
	fmt.Printf("%s (store reads: %d)\n", v, db.reads)

	// Another process writes; the invalidation stream drops the key here.
	g := db.put("app:42", []byte(`{"name":"renamed"}`))
	c.Invalidate("app:42", g)
	v, _ = read("app:42")
	fmt.Printf("%s (store reads: %d)\n", v, db.reads)

	// A read that raced with a write: it read the store before the
	// write, and its SetWith comes after the invalidation.
	t := c.Reserve("app:7", source)
	stale := []byte(`{"name":"old"}`)
	c.Invalidate("app:7", 2)
	fmt.Println("stale value stored:", c.SetWith(t, stale, 1, cache.SetOptions{}))
	// Output:
	// {"name":"demo"} (store reads: 1)
	// {"name":"demo"} (store reads: 1)
	// {"name":"renamed"} (store reads: 2)
	// stale value stored: false
}

// A Tiered cache keeps large values, and what tier 1 evicts, on disk.
func ExampleNew() {
	dir, err := os.MkdirTemp("", "herald-cache-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	cfg := cache.DefaultConfig()
	cfg.SpillDir = dir
	cfg.SpillThreshold = 1 << 10
	c, err := cache.New(cfg)
	if err != nil {
		panic(err)
	}
	defer c.Close()

	body := make([]byte, 64<<10) // a message body, too large for tier 1
	c.Set("message:1", body, 1, 1, cache.SetOptions{})
	v, _, ok := c.Get("message:1")
	st := c.Stats()
	fmt.Println(ok, len(v), st.Entries, st.SpillEntries, st.SpillHits)
	// Output: true 65536 0 1 1
}
