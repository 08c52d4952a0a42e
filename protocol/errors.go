package protocol

import (
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Sentinel errors. Functions wrap them with a reason; test with errors.Is.
var (
	// ErrMalformed reports bytes that do not follow the protocol: a zero
	// record length, a truncated or garbled frame, a missing required field.
	ErrMalformed = errors.New("protocol: malformed")
	// ErrRecordTooLarge reports a record longer than the receiver's maximum,
	// or a body too long to fit in a record.
	ErrRecordTooLarge = errors.New("protocol: record too large")
	// ErrHandshake reports a handshake that could not complete: wrong server
	// key, tampered handshake record, or a call out of order.
	ErrHandshake = errors.New("protocol: handshake failed")
	// ErrDecrypt reports a record that failed authentication: it was
	// tampered with, reordered, or sealed under another key.
	ErrDecrypt = errors.New("protocol: decryption failed")
	// ErrNonceExhausted reports a direction that has sealed or opened
	// 2^64-1 records; the connection must be closed and re-established.
	ErrNonceExhausted = errors.New("protocol: nonce exhausted")
	// ErrInvalidKey reports a key of the wrong length or value.
	ErrInvalidKey = errors.New("protocol: invalid key")
)

// malformed wraps ErrMalformed with a reason. It allocates, but only on the
// error path, after which the connection is closed.
func malformed(reason string) error {
	return fmt.Errorf("%w: %s", ErrMalformed, reason)
}

// Code is a protocol error code, carried by ERROR frames and handshake
// refusals. Its range tells the client what to do:
//
//	1000–1999  protocol or timing     reconnect with backoff (at least retry_after)
//	2000–2999  credentials            do not reconnect; re-register
//	3000–3999  server condition       reconnect after retry_after, next address first
//	4000–4999  session superseded     do not reconnect
//
// A code outside all ranges means reconnect with backoff.
type Code uint16

// Protocol and timing errors: reconnect with backoff.
const (
	// CodeMalformedFrame: a record or frame could not be parsed or decrypted.
	CodeMalformedFrame Code = 1001
	// CodeFrameTooLarge: a record exceeded the receiver's maximum length.
	CodeFrameTooLarge Code = 1002
	// CodeUnexpectedFrame: a frame type not allowed in the current state.
	CodeUnexpectedFrame Code = 1003
	// CodeUnsupportedVersion: the version byte of record 1 is not supported.
	CodeUnsupportedVersion Code = 1004
	// CodeHandshakeFailed: record 1 was malformed or did not decrypt (for
	// instance the client pinned an old server key). Clients should refresh
	// the server key through dispatch before reconnecting.
	CodeHandshakeFailed Code = 1005
	// CodeHandshakeTimeout: record 1 through HELLO took longer than the
	// server's handshake deadline.
	CodeHandshakeTimeout Code = 1006
	// CodeIdleTimeout: no frame arrived within heartbeat×1.5+10s.
	CodeIdleTimeout Code = 1007
	// CodeTooManyUpstreams: the client sent an UPSTREAM while
	// MaxUpstreamsInFlight of its upstreams on this connection were
	// still unacknowledged. A conforming client never triggers it.
	CodeTooManyUpstreams Code = 1008
	// CodeFlooding: the client sent frames faster than the server handles
	// them, past what flow control absorbs: more than the server's bound
	// of frames waiting to be handled, or it kept the server's reading
	// held back for too long (docs/protocol.md, 4.1). Sent with a
	// retry_after; a conforming client never triggers it.
	CodeFlooding Code = 1009
	// CodeTooSlow: the client did not read what the server sent, and the
	// server's output for it outgrew its bound (256 KiB by default).
	CodeTooSlow Code = 1010
)

// Credential errors: do not reconnect; re-register the device.
const (
	// CodeAuthFailed: unknown device or bad proof; the two are deliberately
	// indistinguishable.
	CodeAuthFailed Code = 2001
	// CodeDeviceDisabled: the device was disabled by its application.
	CodeDeviceDisabled Code = 2002
)

// Server conditions: reconnect after retry_after, preferring the next address.
const (
	// CodeServerBusy: the server sheds load.
	CodeServerBusy Code = 3001
	// CodeShuttingDown: the server is draining for a restart or deploy.
	CodeShuttingDown Code = 3002
	// CodeInternalError: the server failed; the client is not at fault.
	CodeInternalError Code = 3003
)

// Session superseded: do not reconnect.
const (
	// CodeReplaced: another connection of this device took over.
	CodeReplaced Code = 4001
)

var codeNames = map[Code]string{
	CodeMalformedFrame:     "malformed_frame",
	CodeFrameTooLarge:      "frame_too_large",
	CodeUnexpectedFrame:    "unexpected_frame",
	CodeUnsupportedVersion: "unsupported_version",
	CodeHandshakeFailed:    "handshake_failed",
	CodeHandshakeTimeout:   "handshake_timeout",
	CodeIdleTimeout:        "idle_timeout",
	CodeTooManyUpstreams:   "too_many_upstreams",
	CodeFlooding:           "flooding",
	CodeTooSlow:            "too_slow",
	CodeAuthFailed:         "auth_failed",
	CodeDeviceDisabled:     "device_disabled",
	CodeServerBusy:         "server_busy",
	CodeShuttingDown:       "shutting_down",
	CodeInternalError:      "internal_error",
	CodeReplaced:           "replaced",
}

// String returns the code's snake_case name as used in docs/protocol.md, or
// "code(N)" for a code this version does not know.
func (c Code) String() string {
	if s, ok := codeNames[c]; ok {
		return s
	}
	return "code(" + strconv.Itoa(int(c)) + ")"
}

// Reconnect reports whether a client that received c should connect again
// (after a backoff, or after the error's RetryAfter for 3000–3999). Codes it
// does not know are classified by range; outside all ranges it reports true.
func (c Code) Reconnect() bool {
	switch {
	case c >= 2000 && c <= 2999:
		return false
	case c >= 4000 && c <= 4999:
		return false
	default:
		return true
	}
}

// Error is a protocol error that crosses the wire: the body of an ERROR frame,
// or a handshake refusal (which carries no RetryAfter).
type Error struct {
	// Code classifies the error; see Code.
	Code Code
	// Message is a human-readable explanation for logs, never parsed.
	Message string
	// RetryAfter is how long the client should wait at least before
	// reconnecting (3000–3999 codes, and 1009 flooding). It travels in
	// whole seconds, rounded up. Zero means the client's own backoff.
	RetryAfter time.Duration
}

// Error formats e as "protocol: <code> <name>: <message>".
func (e *Error) Error() string {
	s := "protocol: " + strconv.Itoa(int(e.Code)) + " " + e.Code.String()
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.RetryAfter > 0 {
		s += " (retry after " + e.RetryAfter.String() + ")"
	}
	return s
}

// CodeOf returns the code to send a peer for err: the code of an *Error in
// err's chain, or the code that matches one of the sentinel errors
// (ErrRecordTooLarge → frame_too_large; ErrMalformed, ErrDecrypt →
// malformed_frame; ErrHandshake → handshake_failed). Anything else is
// internal_error.
func CodeOf(err error) Code {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e.Code
	case errors.Is(err, ErrRecordTooLarge):
		return CodeFrameTooLarge
	case errors.Is(err, ErrMalformed), errors.Is(err, ErrDecrypt):
		return CodeMalformedFrame
	case errors.Is(err, ErrHandshake):
		return CodeHandshakeFailed
	default:
		return CodeInternalError
	}
}
