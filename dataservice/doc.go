// Package dataservice owns Herald's persistent data.
//
// Two layers live here. Store is the record-level contract (values with
// generation and TTL, batch reads, conditional writes, counters, group scans)
// that every backend implements: dataservice/leveldb embedded, by default.
// Client is the domain API the other components use — apps, devices,
// sessions, messages and their offline inbox copies, delivery counters — and
// Service implements it over any Store. Components depend on Client only, so
// the in-process Service and a remote client are interchangeable.
//
// Concurrency: Store and Client implementations are safe for concurrent use.
// Their methods block on I/O; actors call them from a worker pool, never from
// Receive.
package dataservice
