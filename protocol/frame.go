package protocol

import (
	"encoding/binary"
	"strconv"
)

// FrameHeaderLen is the length of a frame header: type, flags, and a
// big-endian uint32 sequence number.
const FrameHeaderLen = 6

// FrameType is the first byte of a frame.
type FrameType uint8

// Frame types of version 1. The comment says who sends each one.
const (
	// TypeHello (client → server) is the first frame after the handshake:
	// registration id and proof. Body: Hello.
	TypeHello FrameType = 1
	// TypeWelcome (server → client) accepts HELLO. Body: Welcome.
	TypeWelcome FrameType = 2
	// TypePing (client → server) is the heartbeat. Body: Ping.
	TypePing FrameType = 3
	// TypePong (server → client) answers PING. Body: Pong.
	TypePong FrameType = 4
	// TypePush (server → client) delivers a notification. Body: Push.
	TypePush FrameType = 5
	// TypeAck confirms what the peer sent. Client → server: pushes the app
	// handled. Server → client: upstreams durably queued, by upstream id;
	// a client receives it only after it sent UPSTREAM. Body: Ack.
	TypeAck FrameType = 6
	// TypeError (either way) reports an error; the sender then closes.
	// Body: Error.
	TypeError FrameType = 7
	// TypeUpstream (client → server) carries data from the device to its
	// app's backend. A client sends it only on connections whose WELCOME
	// announced FeatureUpstream; the server answers with an ACK of its
	// upstream id once the data is durably queued. Body: Upstream.
	TypeUpstream FrameType = 8
	// TypeClick (client → server) reports notifications the user opened,
	// for the click counts of the messages' reports. A client sends it
	// only on connections whose WELCOME announced FeatureClick. Body:
	// Click.
	TypeClick FrameType = 13
)

// Frame types reserved for later versions. They have no body definition in
// version 1; a version 1 receiver answers them with ERROR 1003.
const (
	TypeBind       FrameType = 9
	TypeUnbind     FrameType = 10
	TypeGrab       FrameType = 11
	TypeGrabResult FrameType = 12
	TypeRedirect   FrameType = 14
	TypeKick       FrameType = 15
)

var frameTypeNames = [...]string{
	TypeHello:      "HELLO",
	TypeWelcome:    "WELCOME",
	TypePing:       "PING",
	TypePong:       "PONG",
	TypePush:       "PUSH",
	TypeAck:        "ACK",
	TypeError:      "ERROR",
	TypeUpstream:   "UPSTREAM",
	TypeBind:       "BIND",
	TypeUnbind:     "UNBIND",
	TypeGrab:       "GRAB",
	TypeGrabResult: "GRAB_RESULT",
	TypeClick:      "CLICK",
	TypeRedirect:   "REDIRECT",
	TypeKick:       "KICK",
}

// String returns the type's name as written in docs/protocol.md ("PUSH"),
// or "FrameType(N)" for an unknown type.
func (t FrameType) String() string {
	if int(t) < len(frameTypeNames) && frameTypeNames[t] != "" {
		return frameTypeNames[t]
	}
	return "FrameType(" + strconv.Itoa(int(t)) + ")"
}

// Flags is the second byte of a frame. Receivers ignore bits they do not
// know; senders set them to zero.
type Flags uint8

// FlagAckRequested, on PUSH, asks the client to ACK the message id once the
// app has handled it (QoS 1). A PUSH without it is fire-and-forget.
const FlagAckRequested Flags = 0x01

// Header is the decoded 6-byte frame header.
type Header struct {
	// Type says how to decode the body.
	Type FrameType
	// Flags are type-specific; unknown bits are ignored.
	Flags Flags
	// Seq numbers the sender's frames on this connection: 0 for the first
	// frame (HELLO, WELCOME), then +1 per frame, wrapping at 2^32. It is for
	// logs and tracing; receivers do not enforce it (the record nonces
	// already guarantee order and reject replays).
	Seq uint32
}

// ParseHeader splits a decrypted frame into its header and body. The body
// aliases frame. It fails with ErrMalformed only if frame is shorter than
// FrameHeaderLen: unknown types are the state machine's business (ERROR
// 1003). It does not allocate.
func ParseHeader(frame []byte) (h Header, body []byte, err error) {
	if len(frame) < FrameHeaderLen {
		return Header{}, nil, errShortFrame
	}
	h = Header{
		Type:  FrameType(frame[0]),
		Flags: Flags(frame[1]),
		Seq:   binary.BigEndian.Uint32(frame[2:6]),
	}
	return h, frame[FrameHeaderLen:], nil
}

var errShortFrame = malformed("frame shorter than its header")

// AppendHeader appends a frame header to dst. The Append* encoders call it;
// it is exported for frames whose body a caller encodes itself.
func AppendHeader(dst []byte, h Header) []byte {
	return append(dst, byte(h.Type), byte(h.Flags),
		byte(h.Seq>>24), byte(h.Seq>>16), byte(h.Seq>>8), byte(h.Seq))
}

// SetSeq overwrites the sequence number of an encoded frame. A server that
// sends one message to many connections encodes the frame once and sets
// each connection's sequence number in its copy. frame must hold at least
// FrameHeaderLen bytes.
func SetSeq(frame []byte, seq uint32) {
	binary.BigEndian.PutUint32(frame[2:FrameHeaderLen], seq)
}
