package storetest

import (
	"slices"
	"testing"

	"github.com/heraldpush/herald/dataservice"
)

// testCase is one clause of the contract, checked on a fresh store.
type testCase struct {
	name string
	test func(t *testing.T, s dataservice.Store)
	// parallel runs the case in parallel with the other parallel cases of
	// its group; for cases that wait for records to expire.
	parallel bool
}

// group is the set of cases about one method or property.
type group struct {
	name  string
	cases []testCase
}

// groups lists the whole suite.
func groups() []group {
	return []group{
		{"Get", getCases},
		{"Put", putCases},
		{"GetMany", getManyCases},
		{"PutMany", putManyCases},
		{"Delete", slices.Concat(deleteCases, listDeleteCases)},
		{"DeleteMany", slices.Concat(deleteManyCases, listDeleteManyCases)},
		{"Scan", scanCases},
		{"Kinds", slices.Concat(kindCases, listKindCases)},
		{"Incr", incrCases},
		{"Counters", countersCases},
		{"ListAppend", listAppendCases},
		{"ListRange", listRangeCases},
		{"TTL", slices.Concat(ttlCases, listTTLCases)},
		{"Validation", validationCases()},
		{"Closed", closedCases},
		{"Context", contextCases},
		{"Copies", slices.Concat(copyCases, listCopyCases)},
		{"Concurrency", slices.Concat(concurrencyCases, listConcurrencyCases)},
	}
}

// Run checks that the stores made by newStore keep the contract of
// dataservice.Store, with one subtest per clause. See the package
// documentation for what newStore must do.
func Run(t *testing.T, newStore func(t testing.TB) dataservice.Store) {
	for _, g := range groups() {
		t.Run(g.name, func(t *testing.T) {
			for _, c := range g.cases {
				t.Run(c.name, func(t *testing.T) {
					if c.parallel {
						t.Parallel()
					}
					c.test(t, open(t, newStore))
				})
			}
		})
	}
}
