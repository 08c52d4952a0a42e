// Package gateway is Herald's public REST API: apps, device registration,
// dispatch (where a device connects), push, and delivery reports.
//
// It speaks JSON over HTTP/1.1 and cleartext HTTP/2 on one port. Every
// error is a JSON body {"error":{"code":…,"message":…}} with a stable code
// and a message that says what to fix; statuses come from one table
// (errors.go).
//
// Concurrency: a Gateway serves requests concurrently; it holds no
// per-request state between calls.
package gateway
