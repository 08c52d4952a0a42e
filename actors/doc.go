// Package actors holds Herald's actor kinds and the messages they exchange
// (protoactor-go).
//
// On a connector:
//   - a connection actor per socket owns that socket's write side and its
//     Noise session, runs the handshake and authentication, and turns frames
//     into messages for its device actor;
//   - a device actor per online device owns the device's delivery state: the
//     queue of messages to send, the in-flight window of unacknowledged
//     ones, redelivery on reconnect, and the flash-disconnect grace period;
//   - directory actors, sharded by registration id, own the mapping from
//     device to device actor, spawn device actors, route deliveries to them,
//     and decide when a device actor may stop, so that no message sent to a
//     device is ever lost to a stopping actor;
//   - the writer actor batches dense writes: session records, inbox removals
//     (ACKs) and delivery receipts (per-message counters).
//
// In a gateway:
//   - the router (router.go; the design card's "dispatcher actor") hands a
//     page of devices to the connectors their sessions name, fans a
//     broadcast out to every connector, and withdraws canceled messages;
//   - a task actor per push task (task.go) walks its audience page by page,
//     stores each page's inbox copies and checkpoints before sending it;
//   - a writer counts what the gateway learns of deliveries (offline,
//     withdrawn).
//
// `herald all` runs all of them in one actor system, with one writer.
// docs/design.md ("Actors", "Routes") follows a push through them.
//
// Concurrency contract: Receive never blocks. Store calls and other blocking
// work run on a bounded worker pool (internal/workpool) and come back to the
// actor as messages; when the pool is full, the actor sheds the work with a
// documented policy (a connection is refused with server_busy; a receipt
// flush is retried on the next tick). Mailboxes run on worker pools too
// (Env.Mailboxes, NewMailboxPool), which never make a sender wait: a run
// that finds the queue full gets a goroutine of its own. State of an actor
// is touched only by its Receive. Timers never call into an actor: they
// send it a message.
package actors
