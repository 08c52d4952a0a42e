package aerospike

import (
	"testing"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/dataservice/storetest"
)

// BenchmarkTagMembers resolves a tag page by page, as a push to the tag
// does, on Aerospike; dataservice's BenchmarkTagMembers is the same on
// LevelDB. The sizes are HERALD_BENCH_TAG_MEMBERS (comma-separated,
// default 10000,100000); the target (issue 18) is 200,000 devices/s at
// 1,000,000:
//
//	HERALD_TEST_AEROSPIKE=127.0.0.1:3100 HERALD_BENCH_TAG_MEMBERS=10000,100000,1000000 \
//	  go test -run '^$' -bench TagMembers -benchtime 3x ./dataservice/aerospike
func BenchmarkTagMembers(b *testing.B) {
	testConfig(b)
	for _, members := range storetest.TagMemberSizes(b, 10_000, 100_000) {
		store := newTestStore(b).(*Store)
		storetest.BenchTagMembers(b, store, members)
		if aerr := store.client.Truncate(nil, store.namespace, store.set(dataservice.KindTag), nil); aerr != nil {
			b.Logf("truncating the tag set: %v", aerr)
		}
		store.Close()
	}
}
