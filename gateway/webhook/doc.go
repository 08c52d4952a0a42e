// Package webhook delivers the upstream data of devices (sdk
// Client.Send) to their apps' webhooks: in order per app, signed
// (X-Herald-Signature: HMAC-SHA256 of the timestamp and body with the
// app's secret), retried with backoff until a 2xx, and only ever to
// public addresses unless the operator allows others.
//
// Every gateway runs a Delivery. Apps are shared among gateways by leases
// on their webhook records (package lease): one gateway drains an app's
// queue at a time, and another takes over within a lease of one that
// died. docs/webhooks.md is the contract apps rely on.
//
// Concurrency: a Delivery runs its scan loop and one drain goroutine per
// app it holds; Kick and the wake-ups of enqueues are safe from any
// goroutine.
package webhook
