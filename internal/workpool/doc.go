// Package workpool runs work on long-lived goroutines: a Pool is a fixed
// set of workers taking tasks from one channel, which holds a bounded
// queue of them (or none). Each way of handing a task over says what
// happens when no worker or queue slot can take it at once:
//
//   - TrySubmit fails with ErrFull: for actors, which must never wait.
//     Device and connection actors hand their store calls to a pool and
//     get the results back as messages, and shed the work when it is full.
//   - Submit waits for room until its context is done: backpressure, for
//     callers that may wait.
//   - Go starts a goroutine of its own for the task: for actor mailboxes,
//     where an actor posting to another can then never deadlock the pool.
//   - Call runs the function, and returns when it has returned, on an idle
//     worker, or else on the caller's goroutine: for HTTP requests.
//
// Why long-lived goroutines: a new goroutine starts on a stack of a few
// KiB, and the runtime grows a stack by copying it to one twice the size,
// once per doubling. Work that needs a deep stack pays for the copies on
// every new goroutine; on a worker it pays once.
//
//   - protoactor runs each mailbox run on a new goroutine. A run of a
//     connection actor (a Noise handshake) grew that goroutine's stack
//     every time, a tenth of a connector's CPU in a connection storm.
//   - net/http starts a goroutine for every request (every HTTP/2 stream).
//     A push request's path, JSON decoding then the store, needs several
//     times the initial stack: in the unicast benchmark the copying was 8%
//     of the server's CPU, most of it under encoding/json. Handing the
//     request to a worker with Call costs two goroutine switches instead.
//
// Concurrency contract: a Pool is safe for concurrent use. Tasks run
// concurrently, one per worker, in about the order they were queued. A
// panic in a task handed over with TrySubmit, Submit or Go ends the
// process, as in any goroutine; Call raises it again on its caller. A task
// that calls runtime.Goexit ends its worker, and a new one takes its place.
package workpool
