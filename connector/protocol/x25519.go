package protocol

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"sync"

	"filippo.io/edwards25519"
	"filippo.io/edwards25519/field"
)

// x25519Key is an X25519 key pair: the private scalar as drawn (clamped
// only when used, as RFC 7748 says) and its public key.
//
// The public key is computed on the Edwards form of the curve, with a
// precomputed table of multiples of the base point, in about half the time
// of a Montgomery ladder from the base point (crypto/ecdh's way). Every
// handshake makes one on each side, so this is a sixth of the CPU of a new
// connection, server and client together.
type x25519Key struct {
	private, public [KeyLen]byte
}

// newX25519Key returns the key pair of the 32-byte private scalar priv.
func newX25519Key(priv []byte) (*x25519Key, error) {
	if len(priv) != KeyLen {
		return nil, fmt.Errorf("%w: private key is %d bytes, want %d", ErrInvalidKey, len(priv), KeyLen)
	}
	k := new(x25519Key)
	copy(k.private[:], priv)
	s, err := new(edwards25519.Scalar).SetBytesWithClamping(k.private[:])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	// A clamped scalar is a multiple of 8 below 2^255, and the base point's
	// order l is just above 2^252, so the product is never the identity,
	// whose Montgomery u-coordinate would be undefined.
	copy(k.public[:], new(edwards25519.Point).ScalarBaseMult(s).BytesMontgomery())
	return k, nil
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
	ladder(&out, &k.private, peer)
	var zero [KeyLen]byte
	if subtle.ConstantTimeCompare(out[:], zero[:]) == 1 {
		return out, errLowOrder
	}
	return out, nil
}

// ladder sets out to X25519(scalar, u), the Montgomery ladder of RFC 7748
// section 5 in constant time. The high bit of u is ignored and
// non-canonical encodings are accepted, as the RFC requires.
func ladder(out, scalar *[KeyLen]byte, u []byte) {
	k := *scalar
	k[0] &= 248
	k[31] &= 127
	k[31] |= 64

	var x1, x2, z2, x3, z3 field.Element
	if _, err := x1.SetBytes(u); err != nil {
		panic("protocol: ladder: " + err.Error()) // dh checked the length
	}
	x2.One()
	z2.Zero()
	x3.Set(&x1)
	z3.One()

	var a, aa, b, bb, e, c, d, da, cb field.Element
	swap := 0
	for t := 254; t >= 0; t-- {
		kt := int(k[t/8]>>(t%8)) & 1
		swap ^= kt
		x2.Swap(&x3, swap)
		z2.Swap(&z3, swap)
		swap = kt

		a.Add(&x2, &z2)
		aa.Square(&a)
		b.Subtract(&x2, &z2)
		bb.Square(&b)
		e.Subtract(&aa, &bb)
		c.Add(&x3, &z3)
		d.Subtract(&x3, &z3)
		da.Multiply(&d, &a)
		cb.Multiply(&c, &b)
		x3.Add(&da, &cb)
		x3.Square(&x3)
		z3.Subtract(&da, &cb)
		z3.Square(&z3)
		z3.Multiply(&z3, &x1)
		x2.Multiply(&aa, &bb)
		// z2 = E·(AA + a24·E) with a24 = (486662-2)/4 = 121665.
		z2.Mult32(&e, 121665)
		z2.Add(&z2, &aa)
		z2.Multiply(&z2, &e)
	}
	x2.Swap(&x3, swap)
	z2.Swap(&z3, swap)

	z2.Invert(&z2)
	x2.Multiply(&x2, &z2)
	copy(out[:], x2.Bytes())
}
