package protocol

import (
	"crypto/hmac"
	"crypto/sha256"
	"errors"

	"golang.org/x/crypto/chacha20poly1305"
)

// The handshake is Noise_NK_25519_ChaChaPoly_SHA256 (the Noise Protocol
// Framework, revision 34): the client knows the server's static key
// beforehand; message 1 is "e, es", message 2 "e, ee", both with empty
// payloads. It is written out here rather than run through a general
// Noise library: the library's HKDF allocated an HMAC, two SHA-256 states
// and their pads for every step, some fifty objects per handshake, whose
// garbage shared size classes with the connections' long-lived records
// and fragmented a connector's heap after every burst of connections.
// Here the hashing runs on stack buffers. TestInteropFlynn checks both
// sides against flynn/noise, and the worked example of docs/protocol.md
// (vectors_test.go) byte for byte.

// protocolName is Noise's name of the handshake; at exactly 32 bytes it
// is the initial handshake hash itself.
const protocolName = "Noise_NK_25519_ChaChaPoly_SHA256"

var errDecrypt = errors.New("handshake payload does not decrypt")

// symmetric is Noise's SymmetricState with its CipherState.
type symmetric struct {
	ck, h [sha256.Size]byte
	k     [chacha20poly1305.KeySize]byte // valid once mixKey ran
}

// init starts a handshake: the protocol name, the prologue, then the
// server's static key (NK's pre-message).
func (s *symmetric) init(serverStatic []byte) {
	copy(s.h[:], protocolName)
	s.ck = s.h
	s.mixHash([]byte(Prologue))
	s.mixHash(serverStatic)
}

// mixHash sets h to SHA-256(h || data). The handshake mixes at most 64
// bytes at a time (keys, tags, the prologue), hashed from the stack.
func (s *symmetric) mixHash(data []byte) {
	if len(data) > 64 {
		// Copies, so that neither h nor data escapes on the usual path.
		d := sha256.New()
		d.Write(append([]byte(nil), s.h[:]...))
		d.Write(append([]byte(nil), data...))
		copy(s.h[:], d.Sum(nil))
		return
	}
	var buf [sha256.Size + 64]byte
	n := copy(buf[:], s.h[:])
	n += copy(buf[n:], data)
	s.h = sha256.Sum256(buf[:n])
}

// mixKey runs HKDF(ck, ikm) into the chaining key and the cipher key.
func (s *symmetric) mixKey(ikm []byte) {
	var out1, out2 [sha256.Size]byte
	hkdf2(&out1, &out2, s.ck[:], ikm)
	s.ck, s.k = out1, out2
}

// encryptAndHash seals an empty payload (nonce 0: each key seals once)
// with h as associated data, appends the tag to dst and mixes it into h.
func (s *symmetric) encryptAndHash(dst []byte) ([]byte, error) {
	aead, err := chacha20poly1305.New(s.k[:])
	if err != nil {
		return dst, err
	}
	var nonce [chacha20poly1305.NonceSize]byte
	start := len(dst)
	dst = aead.Seal(dst, nonce[:], nil, s.h[:])
	s.mixHash(dst[start:])
	return dst, nil
}

// decryptAndHash opens the tag of an empty payload and mixes it into h.
func (s *symmetric) decryptAndHash(tag []byte) error {
	aead, err := chacha20poly1305.New(s.k[:])
	if err != nil {
		return err
	}
	var nonce [chacha20poly1305.NonceSize]byte
	var scratch [0]byte
	if _, err := aead.Open(scratch[:0], nonce[:], tag, s.h[:]); err != nil {
		return errDecrypt
	}
	s.mixHash(tag)
	return nil
}

// split returns the transport keys: initiator to responder, then
// responder to initiator.
func (s *symmetric) split() (i2r, r2i [32]byte) {
	hkdf2(&i2r, &r2i, s.ck[:], nil)
	return i2r, r2i
}

// hkdf2 is Noise's HKDF with two outputs over HMAC-SHA256.
func hkdf2(out1, out2 *[sha256.Size]byte, chainingKey, ikm []byte) {
	var temp [sha256.Size]byte
	hmacSHA256Into(&temp, chainingKey, ikm)
	hmacSHA256Into(out1, temp[:], []byte{0x01})
	var in2 [sha256.Size + 1]byte
	copy(in2[:], out1[:])
	in2[sha256.Size] = 0x02
	hmacSHA256Into(out2, temp[:], in2[:])
}

// hmacSHA256Into computes HMAC-SHA256 of data under key into out. The
// handshake's keys are 32 bytes and its data at most 33, which it hashes
// from the stack; anything longer goes through crypto/hmac.
func hmacSHA256Into(out *[sha256.Size]byte, key, data []byte) {
	const block = 64
	if len(key) > block || len(data) > 64 {
		// Copies, so that neither key nor data escapes on the usual path.
		m := hmac.New(sha256.New, append([]byte(nil), key...))
		m.Write(append([]byte(nil), data...))
		copy(out[:], m.Sum(nil))
		return
	}
	var inner [block + 64]byte
	var outer [block + sha256.Size]byte
	copy(inner[:], key)
	copy(outer[:], key)
	for i := range block {
		inner[i] ^= 0x36
		outer[i] ^= 0x5c
	}
	n := block + copy(inner[block:], data)
	sum := sha256.Sum256(inner[:n])
	copy(outer[block:], sum[:])
	*out = sha256.Sum256(outer[:])
}
