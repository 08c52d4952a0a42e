package protocol

import (
	"bytes"
	cryptorand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"sync"

	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"
	"github.com/cloudflare/circl/dh/x25519"
)

// x25519Key is an X25519 key pair: the private scalar as drawn (clamped
// only when used, as RFC 7748 says) and its public key.
//
// X25519 is most of the CPU of a new connection: each side makes an
// ephemeral key and two shared secrets. Both are done faster than with
// crypto/ecdh, whose key objects would also compute a public key for every
// private key they are given:
//   - The public key is computed on the Edwards form of the curve with
//     filippo.io/edwards25519's precomputed table of multiples of the base
//     point, then mapped to the Montgomery u-coordinate with one field
//     inversion, which keys made together share (publicKeys): 16–17 µs
//     per key in batches, 19–21 µs alone, instead of a 48 µs ladder from
//     the base point.
//   - Shared secrets use cloudflare/circl's Montgomery ladder, which has
//     assembly for the 64-bit multiply-add instructions of current x86
//     processors (BMI2, ADX): about 40 µs instead of 45–48 µs, and
//     portable Go elsewhere.
type x25519Key struct {
	private, public [KeyLen]byte
}

// newX25519Key returns the key pair of the 32-byte private scalar priv.
func newX25519Key(priv []byte) (*x25519Key, error) {
	if len(priv) != KeyLen {
		return nil, fmt.Errorf("%w: private key is %d bytes, want %d", ErrInvalidKey, len(priv), KeyLen)
	}
	k := make([]x25519Key, 1)
	copy(k[0].private[:], priv)
	if err := publicKeys(k); err != nil {
		return nil, err
	}
	return &k[0], nil
}

// publicKeys sets the public key of every key in keys from its private
// key.
//
// On the Edwards curve the base-point multiple of a clamped scalar is
// (X:Y:Z) in projective coordinates, and its Montgomery u-coordinate is
// (1 + y)/(1 − y) with y = Y/Z, which is (Z + Y)/(Z − Y): one inversion
// per key (edwards25519's BytesMontgomery makes two). The keys share even
// that one (Montgomery's trick): the product of all denominators is
// inverted once, and each denominator's inverse is recovered from it with
// three multiplications.
func publicKeys(keys []x25519Key) error {
	switch {
	case len(keys) == 0:
		return nil
	case len(keys) > ephemeralBatch:
		return fmt.Errorf("%w: %d keys at once, at most %d", ErrInvalidKey, len(keys), ephemeralBatch)
	}
	var num, den, prefix [ephemeralBatch]field.Element
	var p edwards25519.Point
	for i := range keys {
		s, err := new(edwards25519.Scalar).SetBytesWithClamping(keys[i].private[:])
		if err != nil {
			return fmt.Errorf("%w: %v", ErrInvalidKey, err)
		}
		// A clamped scalar is a multiple of 8 below 2^255, and the base
		// point's order l is just above 2^252, so the product is never the
		// identity, the one point whose Z − Y is zero.
		_, y, z, _ := p.ScalarBaseMult(s).ExtendedCoordinates()
		num[i].Add(z, y)
		den[i].Subtract(z, y)
	}
	// prefix[i] is den[0]·…·den[i].
	prefix[0] = den[0]
	for i := 1; i < len(keys); i++ {
		prefix[i].Multiply(&prefix[i-1], &den[i])
	}
	var inv, u field.Element
	inv.Invert(&prefix[len(keys)-1]) // 1/(den[0]·…·den[n-1])
	for i := len(keys) - 1; i >= 0; i-- {
		var deni field.Element // 1/den[i]
		if i > 0 {
			deni.Multiply(&inv, &prefix[i-1])
			inv.Multiply(&inv, &den[i]) // now 1/(den[0]·…·den[i-1])
		} else {
			deni = inv
		}
		u.Multiply(&num[i], &deni)
		copy(keys[i].public[:], u.Bytes())
	}
	return nil
}

// staticKeys caches the server's static key pairs (one per connector, a
// few across a key rotation), checked once, so a handshake does not check
// again that the public key is the private key's.
var staticKeys sync.Map // string(private) → *x25519Key

func staticKey(kp Keypair) (*x25519Key, error) {
	if k, ok := staticKeys.Load(string(kp.Private)); ok {
		return k.(*x25519Key), nil
	}
	k, err := newX25519Key(kp.Private)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(k.public[:], kp.Public) {
		return nil, fmt.Errorf("%w: public key does not match the private key", ErrInvalidKey)
	}
	staticKeys.Store(string(kp.Private), k)
	return k, nil
}

// ephemeralBatch is how many ephemeral keys are made at once: the
// inversion they share then costs a sixteenth of one, and a batch is
// about 0.3 ms of work for whichever handshake finds the pool empty.
const ephemeralBatch = 16

// ephemeralPoolMax bounds the keys made ahead: handshakes that find the
// pool empty at the same moment each make a batch, and what exceeds the
// bound is dropped rather than kept.
const ephemeralPoolMax = 4 * ephemeralBatch

// ephemeralPool holds ephemeral keys drawn from crypto/rand and not yet
// used. A key leaves it before its handshake starts, and its slot is
// zeroed, so each key serves one handshake and none outlives it here:
// forward secrecy is as with a key drawn per handshake.
var ephemeralPool struct {
	sync.Mutex
	keys []x25519Key
}

// freshEphemeral returns an ephemeral key drawn from crypto/rand, from
// the pool or from a new batch of which it keeps the rest.
func freshEphemeral() (*x25519Key, error) {
	p := &ephemeralPool
	p.Lock()
	if n := len(p.keys); n > 0 {
		k := new(x25519Key)
		*k = p.keys[n-1]
		p.keys[n-1] = x25519Key{}
		p.keys = p.keys[:n-1]
		p.Unlock()
		return k, nil
	}
	p.Unlock()
	var random [ephemeralBatch * KeyLen]byte
	if _, err := cryptorand.Read(random[:]); err != nil {
		return nil, err
	}
	batch := make([]x25519Key, ephemeralBatch)
	for i := range batch {
		copy(batch[i].private[:], random[i*KeyLen:])
	}
	clear(random[:])
	if err := publicKeys(batch); err != nil {
		return nil, err
	}
	p.Lock()
	room := max(0, min(ephemeralPoolMax-len(p.keys), ephemeralBatch-1))
	p.keys = append(p.keys, batch[1:1+room]...)
	p.Unlock()
	k := new(x25519Key)
	*k = batch[0]
	clear(batch)
	return k, nil
}

// ephemeralFrom draws an ephemeral key from rng: from the pool when rng is
// crypto/rand, one key read from rng otherwise (a deterministic rng, for
// the test vectors).
func ephemeralFrom(rng io.Reader) (*x25519Key, error) {
	if rng == cryptorand.Reader {
		return freshEphemeral()
	}
	return ephemeral(rng)
}

// ephemeral draws an X25519 key from rng (32 bytes read, so a
// deterministic rng gives deterministic keys, as the test vectors need).
func ephemeral(rng io.Reader) (*x25519Key, error) {
	var priv [KeyLen]byte
	if _, err := io.ReadFull(rng, priv[:]); err != nil {
		return nil, err
	}
	return newX25519Key(priv[:])
}

// errLowOrder says a peer's public key is a point of small order, for which
// every private key gives the same, all-zero, shared secret.
var errLowOrder = errors.New("peer key: low-order point")

// dh is X25519 of k's private key and a peer's public key; it fails for a
// public key of the wrong length or of low order (an all-zero secret).
func dh(k *x25519Key, peer []byte) ([KeyLen]byte, error) {
	var out [KeyLen]byte
	if len(peer) != KeyLen {
		return out, fmt.Errorf("peer key: %d bytes, want %d", len(peer), KeyLen)
	}
	var pub x25519.Key
	copy(pub[:], peer)
	if !x25519.Shared((*x25519.Key)(&out), (*x25519.Key)(&k.private), &pub) {
		return out, errLowOrder
	}
	return out, nil
}
