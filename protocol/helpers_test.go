package protocol

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// counting returns n bytes start, start+1, … (wrapping), a reproducible
// stand-in for keys and randomness in tests and test vectors.
func counting(start byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

// testServerKeypair is the server static key of the test vectors and of the
// fuzz targets: private key 01 02 … 20.
func testServerKeypair(tb testing.TB) Keypair {
	tb.Helper()
	k, err := GenerateKeypair(bytes.NewReader(counting(0x01, KeyLen)))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// startHandshake begins a handshake with the server whose static public
// key is serverPublic (ephemeral key from rng; nil means crypto/rand) and
// returns the initiator and the body of its record 1.
func startHandshake(tb testing.TB, serverPublic []byte, rng io.Reader) (*Initiator, []byte) {
	tb.Helper()
	in, err := NewInitiator(serverPublic, rng)
	if err != nil {
		tb.Fatal(err)
	}
	r1, err := in.AppendRecord1(nil)
	if err != nil {
		tb.Fatal(err)
	}
	return in, r1
}

// handshake runs a full handshake in memory and returns both sessions.
func handshake(tb testing.TB, server Keypair) (client, srv *Session) {
	tb.Helper()
	in, r1 := startHandshake(tb, server.Public, nil)
	r2, srv, err := Respond(server, r1, nil)
	if err != nil {
		tb.Fatal(err)
	}
	client, err = in.ReadRecord2(r2)
	if err != nil {
		tb.Fatal(err)
	}
	return client, srv
}

// wantCode fails unless err is an *Error with the given code.
func wantCode(tb testing.TB, err error, code Code) {
	tb.Helper()
	var e *Error
	if !errors.As(err, &e) {
		tb.Fatalf("err = %v (%T), want *Error with code %d", err, err, code)
	}
	if e.Code != code {
		tb.Fatalf("code = %d (%v), want %d (%v)", e.Code, e.Code, code, code)
	}
}
