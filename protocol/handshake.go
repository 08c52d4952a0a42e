package protocol

import (
	cryptorand "crypto/rand"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Handshake constants.
const (
	// Version is the protocol version this package speaks, the first byte of
	// record 1.
	Version = 1
	// Prologue is mixed into the Noise handshake; both sides must use it.
	Prologue = "herald/1"
	// KeyLen is the length of an X25519 private or public key.
	KeyLen = 32
	// Record1Len is the length of the body of record 1: the version byte and
	// Noise message 1 (an ephemeral key and the tag of an empty payload).
	Record1Len = 1 + KeyLen + TagLen
	// Record2Len is the length of the body of an accepting record 2: the
	// status byte and Noise message 2.
	Record2Len = 1 + KeyLen + TagLen
)

// Status bytes of record 2.
const (
	// StatusAccept is followed by Noise message 2.
	StatusAccept byte = 0x00
	// StatusRefuse is followed by a big-endian uint16 code and a UTF-8
	// message; the server then closes the connection.
	StatusRefuse byte = 0x01
)

// MaxRefusalMessage is the longest refusal message AppendRefusal writes;
// longer messages are cut at a rune boundary.
const MaxRefusalMessage = 256

// Keypair is an X25519 key pair. The connector has one (its static key); the
// client learns Public out of band, from the REST dispatch call.
type Keypair struct {
	// Private is the 32-byte private scalar. Keep it secret.
	Private []byte
	// Public is the 32-byte public key.
	Public []byte
}

// GenerateKeypair returns a new X25519 key pair drawn from rand, or from
// crypto/rand if rand is nil.
func GenerateKeypair(rand io.Reader) (Keypair, error) {
	if rand == nil {
		rand = cryptorand.Reader
	}
	k, err := ephemeral(rand)
	if err != nil {
		return Keypair{}, fmt.Errorf("protocol: generate keypair: %w", err)
	}
	return Keypair{Private: k.private[:], Public: k.public[:]}, nil
}

// Respond runs the server side of the handshake in one step: it reads record
// 1 (the client's version byte and Noise message 1) and appends the body of
// record 2 (StatusAccept and Noise message 2) to dst. The connection keeps no
// handshake state between records; the returned Session is ready.
//
// On failure it returns a nil Session and an error whose dynamic type is
// *Error: CodeUnsupportedVersion for a version byte other than Version,
// CodeHandshakeFailed for a malformed message 1 or one that does not decrypt
// (a client that pinned another key), CodeInternalError if static is not a
// valid key pair or the random source fails. The caller sends
// AppendRefusal(dst, e) as record 2 and closes the connection.
func Respond(static Keypair, record1 []byte, dst []byte) (record2Body []byte, s *Session, err error) {
	return respond(static, record1, dst, cryptorand.Reader)
}

var (
	errBadVersion = &Error{Code: CodeUnsupportedVersion, Message: "unsupported protocol version; this server speaks version 1"}
	errBadRecord1 = &Error{Code: CodeHandshakeFailed, Message: "handshake failed"}
	errBadStatic  = &Error{Code: CodeInternalError, Message: "server key misconfigured"}
	errServerRand = &Error{Code: CodeInternalError, Message: "handshake failed on the server"}
)

// respond is Respond with an explicit source of randomness for the
// responder's ephemeral key, so that tests can reproduce the test vectors.
func respond(static Keypair, record1, dst []byte, rng io.Reader) ([]byte, *Session, error) {
	if len(static.Private) != KeyLen || len(static.Public) != KeyLen {
		return nil, nil, errBadStatic
	}
	if len(record1) == 0 {
		return nil, nil, errBadRecord1
	}
	if record1[0] != Version {
		return nil, nil, errBadVersion
	}
	if len(record1) != Record1Len {
		return nil, nil, errBadRecord1
	}
	sk, err := staticKey(static)
	if err != nil {
		return nil, nil, errBadStatic
	}
	var sym symmetric
	sym.init(static.Public)
	// Message 1: e, es, and the tag of an empty payload.
	re, tag1 := record1[1:1+KeyLen], record1[1+KeyLen:]
	sym.mixHash(re)
	es, err := dh(sk, re)
	if err != nil {
		return nil, nil, errBadRecord1
	}
	sym.mixKey(es[:])
	if err := sym.decryptAndHash(tag1); err != nil {
		return nil, nil, errBadRecord1
	}
	// Message 2: e, ee, and the tag of an empty payload.
	e, err := ephemeralFrom(rng)
	if err != nil {
		return nil, nil, errServerRand
	}
	start := len(dst)
	out := append(dst, StatusAccept)
	out = append(out, e.public[:]...)
	sym.mixHash(out[start+1:])
	ee, err := dh(e, re)
	if err != nil {
		return nil, nil, errBadRecord1
	}
	sym.mixKey(ee[:])
	if out, err = sym.encryptAndHash(out); err != nil || len(out)-start != Record2Len {
		return nil, nil, errServerRand
	}
	i2r, r2i := sym.split()
	s, err := newSession(r2i, i2r, sym.h[:])
	if err != nil {
		return nil, nil, errServerRand
	}
	return out, s, nil
}

// AppendRefusal appends the body of a refusing record 2 to dst: StatusRefuse,
// e.Code as a big-endian uint16, and e.Message (cut to MaxRefusalMessage
// bytes, invalid UTF-8 replaced). RetryAfter is not carried by refusals. A
// nil e is sent as CodeInternalError.
func AppendRefusal(dst []byte, e *Error) []byte {
	if e == nil {
		e = &Error{Code: CodeInternalError}
	}
	dst = append(dst, StatusRefuse, byte(e.Code>>8), byte(e.Code))
	return append(dst, clipMessage(e.Message, MaxRefusalMessage)...)
}

// clipMessage returns m as valid UTF-8 of at most max bytes, cut at a rune
// boundary.
func clipMessage(m string, max int) string {
	if !utf8.ValidString(m) {
		m = strings.ToValidUTF8(m, "\uFFFD")
	}
	if len(m) <= max {
		return m
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(m[cut]) {
		cut--
	}
	return m[:cut]
}

// Initiator is the client side of the handshake. Call AppendRecord1, send
// the record, then pass the body of the server's record 2 to ReadRecord2.
// An Initiator is used once, by one goroutine.
type Initiator struct {
	sym    symmetric
	server []byte
	rng    io.Reader
	e      *x25519Key
	state  initiatorState
}

type initiatorState uint8

const (
	initiatorNew initiatorState = iota
	initiatorSent
	initiatorDone
)

// NewInitiator prepares a handshake with the server whose static public key
// (from the dispatch call) is serverPublic. rand supplies the ephemeral key;
// nil means crypto/rand. It returns ErrInvalidKey if serverPublic is not 32
// bytes.
func NewInitiator(serverPublic []byte, rand io.Reader) (*Initiator, error) {
	if len(serverPublic) != KeyLen {
		return nil, fmt.Errorf("%w: server public key is %d bytes, want %d", ErrInvalidKey, len(serverPublic), KeyLen)
	}
	if rand == nil {
		rand = cryptorand.Reader
	}
	in := &Initiator{server: append([]byte(nil), serverPublic...), rng: rand}
	in.sym.init(in.server)
	return in, nil
}

// AppendRecord1 appends the body of record 1 (Version, then Noise message 1
// with an empty payload; Record1Len bytes) to dst. It may be called once.
// It fails with ErrHandshake if called twice, if rand fails, or if the
// server key is not a usable X25519 point.
func (in *Initiator) AppendRecord1(dst []byte) ([]byte, error) {
	if in.state != initiatorNew {
		return dst, fmt.Errorf("%w: record 1 already written", ErrHandshake)
	}
	in.state = initiatorDone // until proven otherwise
	e, err := ephemeralFrom(in.rng)
	if err != nil {
		return dst, fmt.Errorf("%w: %v", ErrHandshake, err)
	}
	start := len(dst)
	out := append(dst, Version)
	out = append(out, e.public[:]...)
	in.sym.mixHash(out[start+1:])
	es, err := dh(e, in.server)
	if err != nil {
		return dst, fmt.Errorf("%w: %v", ErrHandshake, err)
	}
	in.sym.mixKey(es[:])
	if out, err = in.sym.encryptAndHash(out); err != nil {
		return dst, fmt.Errorf("%w: %v", ErrHandshake, err)
	}
	in.e = e
	in.state = initiatorSent
	return out, nil
}

// ReadRecord2 reads the body of the server's record 2 and completes the
// handshake. If the server refused, it returns the server's *Error (code and
// message; the client acts on Code.Reconnect). A record 2 that does not
// decrypt — the server does not hold the private key the client pinned, or
// the record was tampered with — returns ErrHandshake; a record 2 of the
// wrong shape returns ErrMalformed. ReadRecord2 may be called once, after
// AppendRecord1.
func (in *Initiator) ReadRecord2(body []byte) (*Session, error) {
	if in.state != initiatorSent {
		return nil, fmt.Errorf("%w: record 2 read out of order", ErrHandshake)
	}
	in.state = initiatorDone
	e := in.e
	in.e = nil
	if len(body) == 0 {
		return nil, malformed("empty record 2")
	}
	switch body[0] {
	case StatusRefuse:
		if len(body) < 3 {
			return nil, malformed("truncated refusal")
		}
		return nil, &Error{
			Code:    Code(body[1])<<8 | Code(body[2]),
			Message: strings.ToValidUTF8(string(body[3:]), "\uFFFD"),
		}
	case StatusAccept:
		if len(body) != Record2Len {
			return nil, malformed(fmt.Sprintf("record 2 is %d bytes, want %d", len(body), Record2Len))
		}
	default:
		return nil, malformed(fmt.Sprintf("unknown record 2 status %#02x", body[0]))
	}
	re, tag := body[1:1+KeyLen], body[1+KeyLen:]
	in.sym.mixHash(re)
	ee, err := dh(e, re)
	if err == nil {
		in.sym.mixKey(ee[:])
		err = in.sym.decryptAndHash(tag)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: cannot authenticate the server (wrong server key or tampered record): %v", ErrHandshake, err)
	}
	i2r, r2i := in.sym.split()
	return newSession(i2r, r2i, in.sym.h[:])
}
