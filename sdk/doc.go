// Package sdk is the Herald client for devices, in Go, and the reference
// for SDKs in other languages.
//
// A device registers once with Register and keeps the Credentials it gets
// back. Dial then asks the gateway where to connect (dispatch), opens an
// encrypted connection to a connector (Noise NK, see docs/protocol.md),
// proves the device's identity, and keeps the connection up: it sends
// heartbeats, reconnects with jittered exponential backoff walking the
// connector addresses, and asks dispatch again when they all fail.
//
// Each message is handed to Config.Handler once: the client drops
// duplicates by message id (a message may be sent again after a reconnect)
// and acknowledges a message after the handler returns nil, so a message
// whose handling failed is sent again.
//
// Concurrency: the handler runs on the connection's reading goroutine, one
// message at a time, in arrival order; it should return quickly and hand
// long work to goroutines of its own. Client methods are safe for
// concurrent use.
package sdk
