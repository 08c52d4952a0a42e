// Package netpoll is a small epoll event loop for many mostly idle TCP
// connections, built for the connector: no goroutine, no buffer and no
// standard-library net.Conn per connection, and a per-connection record
// (Conn) of at most 80 bytes.
//
// A Loop serves one listener. One goroutine accepts raw file descriptors
// from a duplicate of the listener's descriptor, which the runtime's poller
// watches for readability; each accepted socket goes to one of
// Config.Pollers pollers,
// each an epoll instance watched by one goroutine with one read buffer. A
// poller reads what arrives and hands it to Config.OnData; output that the
// socket cannot take at once is kept per connection and flushed by the
// poller when the socket becomes writable.
//
// Concurrency contract:
//   - OnOpen runs on the accepting goroutine, before the connection can
//     produce any other callback or be seen by Each. What OnOpen stores with
//     Conn.SetValue is visible to the later callbacks.
//   - OnData and OnClose for one connection run on its poller goroutine,
//     serially. OnClose runs exactly once per opened connection, and no
//     OnData follows it. Callbacks must not block: they hold up every
//     connection of their poller.
//   - Conn.Write, Conn.Close and Conn.RemoteAddr are safe from any
//     goroutine. Only the poller closes a file descriptor, under the
//     connection's lock, so a Write can never reach a descriptor the kernel
//     has since given to another connection.
//
// That loop is Linux's (epoll). On other systems, and on Linux built with
// -tags netpoll_std, the same API runs on the standard library instead: a
// goroutine and a read buffer per connection, and a Write that blocks up
// to 10 s for a peer that does not read. That one lets Herald run on a
// developer's machine; production connectors run on Linux.
package netpoll
