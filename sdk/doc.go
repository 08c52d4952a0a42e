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
// Client.Send carries data the other way, to the app's backend (through
// the webhook the app configured): it returns once Herald stored the data,
// and sends it again by itself after a reconnect until then, so the
// backend receives it at least once and drops repeats by registration id
// and upstream id.
//
// Concurrency: the handler runs on the connection's reading goroutine, one
// message at a time, in arrival order; it should return quickly and hand
// long work to goroutines of its own. Client methods are safe for
// concurrent use.
package sdk
