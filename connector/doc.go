// Package connector is Herald's device-facing server: it accepts device TCP
// connections on an epoll event loop (package netpoll), splits the byte stream
// into records, and hands each record to the socket's connection actor
// (package actors), which owns the Noise session and the protocol state.
// Device actors, reached through a sharded directory, deliver messages.
//
// An idle connection costs no goroutine and no buffer: the event loop keeps
// an 80-byte record and no address per connection, partial records are
// the only per-connection bytes held between reads, and handshake and idle
// deadlines are enforced by one sweeper for all connections rather than a
// timer each.
//
// Concurrency: the event loop's pollers run OnData for a connection
// serially; everything else about a connection happens in its actor. A
// Connector's exported methods are safe for concurrent use.
package connector
