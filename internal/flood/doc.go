// Package flood is the hostile client of issue 16, for fault tests and
// benchmarks: it holds many connections that cost a server its open
// files while sending almost nothing — requests whose body trickles in a
// byte at a time (slow bodies) on the REST port, and device connections
// that never finish their handshake (half-open handshakes) on the device
// port — and opens each again soon after the server closes it, as an
// attacker would. Probe measures how long the server takes to answer
// GET /healthz meanwhile, on a new connection each time, as a health
// checker does.
//
// Concurrency: a Flood runs one goroutine per connection slot until its
// context ends or Stop is called; Stats may be called at any time from
// any goroutine.
package flood
