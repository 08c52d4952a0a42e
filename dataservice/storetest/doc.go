// Package storetest is the conformance suite of dataservice.Store: every
// backend runs Run from its tests, and Bench from its benchmarks, so that all
// backends keep the one contract documented on the interface.
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t testing.TB) dataservice.Store {
//			s, err := mybackend.Open(...)
//			if err != nil {
//				t.Fatal(err)
//			}
//			return s
//		})
//	}
//
// # Factory contract
//
// newStore is called once per subtest, possibly from several goroutines at a
// time (TTL subtests run in parallel because they wait for real time to
// pass). Each call must return an open store that holds no records and
// shares none with the stores of other calls: a fresh t.TempDir() for an
// embedded backend, a unique set or key prefix for a shared server. Run closes
// every store it gets when its subtest ends; a factory that also closes it in
// a t.Cleanup must ignore dataservice.ErrClosed.
//
// Expiry is checked against the wall clock with TTLs of 1.5s and a tolerance
// of one second, which a backend with one-second TTL resolution (Aerospike)
// meets. Tests wait by polling, never by sleeping a fixed time.
package storetest
