// Package lease names a gateway in the leases it takes on shared work:
// push tasks, schedules' firings and apps' webhook queues. Each lease is a
// compare-and-set claim on a record in the dataservice, held for a while
// and renewed; a gateway that stops renewing (it died) loses its leases to
// others. The Owner written in a claim says which gateway run holds it.
//
// Concurrency: an Owner is an immutable value.
package lease
