// Package e2e holds Herald's end-to-end tests: they build the real herald
// binary, run it as a separate process on loopback ports, and drive it
// through its REST API and with real SDK devices over real sockets.
package e2e
