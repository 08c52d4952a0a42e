package protocol

import (
	"bytes"
	"crypto/ecdh"
	"fmt"
	"sync"
)

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
