package dataservice_test

import (
	"testing"

	"github.com/heraldpush/herald/dataservice/leveldb"
	"github.com/heraldpush/herald/dataservice/storetest"
)

// BenchmarkTagMembers resolves a tag of 100,000 devices page by page, as
// a push to the tag does, from the index on LevelDB. The target (issue 4)
// is 200,000 devices/s. HERALD_BENCH_TAG_MEMBERS (comma-separated) sets
// other sizes, as for dataservice/aerospike's BenchmarkTagMembers:
//
//	HERALD_BENCH_TAG_MEMBERS=10000,100000,1000000 go test -run '^$' -bench TagMembers -benchtime 3x ./dataservice
func BenchmarkTagMembers(b *testing.B) {
	for _, members := range storetest.TagMemberSizes(b, 100_000) {
		store, err := leveldb.Open(leveldb.Config{Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		storetest.BenchTagMembers(b, store, members)
		store.Close()
	}
}
