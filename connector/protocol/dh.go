package protocol

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"fmt"
	"io"
	"sync"

	"github.com/flynn/noise"
)

// x25519 is the Noise DH function "25519" over crypto/ecdh. It keeps the
// *ecdh.PrivateKey of every local key pair of one handshake, so each DH costs
// one scalar multiplication. (flynn/noise's own DH25519 goes through
// x/crypto's curve25519.X25519, which rebuilds the private key, and with it
// the public key, on every call: two multiplications per DH and per key
// generation, twice the cost of a handshake.)
//
// An x25519 serves one handshake, on one goroutine.
type x25519 struct {
	keys []*ecdh.PrivateKey
}

var _ noise.DHFunc = (*x25519)(nil)

func newSuite(static *ecdh.PrivateKey) noise.CipherSuite {
	dh := &x25519{}
	if static != nil {
		dh.keys = append(dh.keys, static)
	}
	return noise.NewCipherSuite(dh, noise.CipherChaChaPoly, noise.HashSHA256)
}

// GenerateKeypair draws the private scalar from rng itself (not through
// ecdh.GenerateKey, which ignores its reader), so a deterministic rng gives
// deterministic keys, as the test vectors need.
func (x *x25519) GenerateKeypair(rng io.Reader) (noise.DHKey, error) {
	if rng == nil {
		rng = rand.Reader
	}
	priv := make([]byte, KeyLen)
	if _, err := io.ReadFull(rng, priv); err != nil {
		return noise.DHKey{}, err
	}
	k, err := ecdh.X25519().NewPrivateKey(priv)
	if err != nil {
		return noise.DHKey{}, err
	}
	x.keys = append(x.keys, k)
	return noise.DHKey{Private: priv, Public: k.PublicKey().Bytes()}, nil
}

func (x *x25519) DH(privkey, pubkey []byte) ([]byte, error) {
	var k *ecdh.PrivateKey
	for _, c := range x.keys {
		if bytes.Equal(c.Bytes(), privkey) {
			k = c
			break
		}
	}
	if k == nil {
		var err error
		if k, err = ecdh.X25519().NewPrivateKey(privkey); err != nil {
			return nil, err
		}
		x.keys = append(x.keys, k)
	}
	p, err := ecdh.X25519().NewPublicKey(pubkey)
	if err != nil {
		return nil, err
	}
	return k.ECDH(p)
}

func (x *x25519) DHLen() int     { return KeyLen }
func (x *x25519) DHName() string { return "25519" }

// staticKeys caches the ecdh form of the server's static private keys (one
// per connector, a few across a key rotation), so a handshake does not
// rebuild it.
var staticKeys sync.Map // string(private) → *ecdh.PrivateKey

func staticKey(kp Keypair) (*ecdh.PrivateKey, error) {
	if k, ok := staticKeys.Load(string(kp.Private)); ok {
		return k.(*ecdh.PrivateKey), nil
	}
	k, err := ecdh.X25519().NewPrivateKey(kp.Private)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(k.PublicKey().Bytes(), kp.Public) {
		return nil, fmt.Errorf("%w: public key does not match the private key", ErrInvalidKey)
	}
	staticKeys.Store(string(kp.Private), k)
	return k, nil
}
