package protocol

import (
	"crypto/cipher"
	"encoding/binary"
	"fmt"
	"math"

	"golang.org/x/crypto/chacha20poly1305"
)

// TagLen is the length of the authentication tag Seal adds to every record.
const TagLen = chacha20poly1305.Overhead

// BindingLen is the length of a channel binding (the Noise handshake hash).
const BindingLen = 32

// Session is the transport state after a successful handshake: one key and
// counter per direction, and the handshake hash. It is created by Respond
// (server) or Initiator.ReadRecord2 (client); the zero value is not usable.
//
// A Session is compact on purpose (the connector holds one per connection):
// it keeps no Noise handshake state, only a ChaCha20-Poly1305 AEAD and a
// 12-byte nonce per direction. Seal/SealRecord and Open may run on two
// different goroutines at once; neither may run concurrently with itself.
type Session struct {
	send    direction
	recv    direction
	binding [BindingLen]byte
}

// direction is one half of a Session. The nonce is kept whole so that the
// AEAD can read it without a per-call allocation: 4 zero bytes, then the
// record counter in little endian, as Noise's ChaChaPoly functions specify.
type direction struct {
	aead  cipher.AEAD
	nonce [chacha20poly1305.NonceSize]byte
}

// reservedNonce is never used: Noise reserves 2^64-1.
const reservedNonce = math.MaxUint64

var errNotEstablished = fmt.Errorf("%w: session not established", ErrHandshake)

func (d *direction) init(key [32]byte) error {
	aead, err := chacha20poly1305.New(key[:])
	if err != nil {
		return fmt.Errorf("%w: %v", ErrHandshake, err)
	}
	d.aead = aead
	d.nonce = [chacha20poly1305.NonceSize]byte{}
	return nil
}

func (d *direction) counter() uint64 {
	return binary.LittleEndian.Uint64(d.nonce[4:])
}

func (d *direction) setCounter(n uint64) {
	binary.LittleEndian.PutUint64(d.nonce[4:], n)
}

func (d *direction) seal(dst, plaintext []byte) ([]byte, error) {
	if d.aead == nil {
		return dst, errNotEstablished
	}
	n := d.counter()
	if n == reservedNonce {
		return dst, ErrNonceExhausted
	}
	dst = d.aead.Seal(dst, d.nonce[:], plaintext, nil)
	d.setCounter(n + 1)
	return dst, nil
}

func (d *direction) open(dst, ciphertext []byte) ([]byte, error) {
	if d.aead == nil {
		return nil, errNotEstablished
	}
	n := d.counter()
	if n == reservedNonce {
		return nil, ErrNonceExhausted
	}
	out, err := d.aead.Open(dst, d.nonce[:], ciphertext, nil)
	if err != nil {
		return nil, ErrDecrypt
	}
	d.setCounter(n + 1)
	return out, nil
}

// newSession builds a Session from the two keys Noise's Split produced.
func newSession(sendKey, recvKey [32]byte, binding []byte) (*Session, error) {
	s := new(Session)
	if err := s.send.init(sendKey); err != nil {
		return nil, err
	}
	if err := s.recv.init(recvKey); err != nil {
		return nil, err
	}
	if len(binding) != BindingLen {
		return nil, fmt.Errorf("%w: handshake hash of %d bytes", ErrHandshake, len(binding))
	}
	copy(s.binding[:], binding)
	return s, nil
}

// Seal encrypts plaintext for the peer and appends the ciphertext (len(plaintext)+TagLen
// bytes) to dst. The nonce is the direction's record counter, the associated
// data is empty. To seal in place use Seal(plaintext[:0], plaintext) with
// TagLen bytes of spare capacity; otherwise dst and plaintext must not
// overlap.
//
// After 2^64-1 records Seal returns dst unchanged and ErrNonceExhausted. It
// does not allocate when dst has room.
func (s *Session) Seal(dst, plaintext []byte) ([]byte, error) {
	return s.send.seal(dst, plaintext)
}

// SealRecord appends a complete record to dst: the record header, then frame
// sealed as by Seal. It returns dst unchanged and ErrRecordTooLarge if the
// sealed frame would exceed MaxRecordLimit (the caller also keeps frames
// within the peer's announced maximum). frame must not overlap dst's spare
// capacity. It does not allocate when dst has room.
func (s *Session) SealRecord(dst, frame []byte) ([]byte, error) {
	n := len(frame) + TagLen
	if n > MaxRecordLimit {
		return dst, ErrRecordTooLarge
	}
	out, err := s.send.seal(append(dst, byte(n>>8), byte(n)), frame)
	if err != nil {
		return dst, err
	}
	return out, nil
}

// Open authenticates and decrypts a record body from the peer and appends the
// plaintext to dst. To open in place use Open(ciphertext[:0], ciphertext);
// otherwise dst and ciphertext must not overlap.
//
// A record that fails authentication returns ErrDecrypt and leaves the
// counter unchanged; the connection must then be closed (ERROR 1001). Open
// does not allocate when dst has room.
func (s *Session) Open(dst, ciphertext []byte) ([]byte, error) {
	return s.recv.open(dst, ciphertext)
}

// ChannelBinding returns the 32-byte Noise handshake hash, identical on both
// ends of this connection and unique to it. The authentication proofs are
// computed over it. The slice aliases the Session; do not modify it.
func (s *Session) ChannelBinding() []byte {
	return s.binding[:]
}
