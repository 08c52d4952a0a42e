// Package protocol implements version 1 of the Herald device wire protocol,
// shared by the connector (the server that holds device connections) and the
// SDK (the client inside an app). docs/protocol.md is the specification for
// SDK implementers in other languages; this package is its reference
// implementation, and its test vectors are checked by the tests here.
//
// A connection has three layers:
//
//   - Records (record.go): the TCP stream is a sequence of records, a 2-byte
//     big-endian length followed by that many bytes. [SplitRecord] cuts
//     records out of a buffer without allocating (the connector's event loop);
//     [RecordReader] reads them from a blocking [io.Reader] (the SDK).
//   - Handshake (handshake.go, session.go): the first two records run
//     Noise_NK_25519_ChaChaPoly_SHA256 with prologue "herald/1". The server
//     answers in one step with [Respond]; the client uses an [Initiator]. Both
//     end with a [Session] that seals and opens every later record and exposes
//     the handshake hash as a channel binding.
//   - Frames (frame.go, messages.go): every later record carries one encrypted
//     frame, a 6-byte header ([ParseHeader]) and a protobuf-encoded body
//     (HELLO, WELCOME, PING, PONG, PUSH, ACK, ERROR, UPSTREAM, CLICK). Encoders
//     append to a caller's buffer; decoders alias the input and do not
//     allocate.
//
// Device authentication (auth.go) is SCRAM-like and bound to the channel: the
// HELLO frame carries a proof computed over [Session.ChannelBinding], so a
// proof cannot be replayed on another connection.
//
// Errors (errors.go): sentinel errors are prefixed "protocol: " and are
// wrapped with a reason; test them with [errors.Is]. Errors that cross the
// wire are [*Error] values carrying a [Code], whose range tells the client
// whether to reconnect.
//
// # Concurrency
//
// Functions in this package are safe for concurrent use. Values are not,
// with one exception: a [Session] may be used by two goroutines at once if one
// only calls Seal/SealRecord and the other only calls Open (each direction has
// its own state). An [Initiator] and a [RecordReader] belong to one goroutine.
// Decoded messages alias the buffer they were decoded from and are valid only
// until that buffer is reused.
//
// Nothing in this package panics on any input.
package protocol
