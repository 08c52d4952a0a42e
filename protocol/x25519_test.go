package protocol

import (
	"bytes"
	"crypto/ecdh"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The test vectors of RFC 7748, section 5.2: two scalar multiplications,
// and the iterated one (k, u ← X25519(k, u), k) after 1 and 1,000 rounds.
func TestX25519RFC7748Vectors(t *testing.T) {
	for _, tc := range []struct{ scalar, u, want string }{
		{
			"a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
			"e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
			"c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552",
		},
		{
			"4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
			"e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
			"95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957",
		},
	} {
		var k [KeyLen]byte
		copy(k[:], unhex(t, tc.scalar))
		got, err := dh(&x25519Key{private: k}, unhex(t, tc.u))
		if err != nil {
			t.Fatal(err)
		}
		if want := unhex(t, tc.want); !bytes.Equal(got[:], want) {
			t.Errorf("X25519(%s, %s) = %x, want %x", tc.scalar, tc.u, got, want)
		}
	}

	rounds := map[int]string{
		1:    "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079",
		1000: "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51",
	}
	var k, u [KeyLen]byte
	k[0], u[0] = 9, 9
	for i := 1; i <= 1000; i++ {
		next, err := dh(&x25519Key{private: k}, u[:])
		if err != nil {
			t.Fatal(err)
		}
		u, k = k, next
		if want, ok := rounds[i]; ok && hex.EncodeToString(k[:]) != want {
			t.Errorf("after %d rounds k = %x, want %s", i, k, want)
		}
	}
}

// Key pairs and shared secrets agree with crypto/ecdh for random keys,
// including private keys whose clamped bits are set and public keys with
// the high bit set (which X25519 ignores).
func TestX25519MatchesCryptoECDH(t *testing.T) {
	rng := rand.NewChaCha8([32]byte{7})
	for i := range 300 {
		var a, b [KeyLen]byte
		rng.Read(a[:])
		rng.Read(b[:])
		ka, err := newX25519Key(a[:])
		if err != nil {
			t.Fatal(err)
		}
		kb, err := newX25519Key(b[:])
		if err != nil {
			t.Fatal(err)
		}
		std, err := ecdh.X25519().NewPrivateKey(a[:])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ka.public[:], std.PublicKey().Bytes()) {
			t.Fatalf("key %d: public key %x, crypto/ecdh says %x", i, ka.public, std.PublicKey().Bytes())
		}
		peer := kb.public
		if i%2 == 1 {
			peer[31] |= 0x80
		}
		got, err := dh(ka, peer[:])
		if err != nil {
			t.Fatal(err)
		}
		stdPeer, err := ecdh.X25519().NewPublicKey(kb.public[:])
		if err != nil {
			t.Fatal(err)
		}
		want, err := std.ECDH(stdPeer)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got[:], want) {
			t.Fatalf("key %d: shared secret %x, crypto/ecdh says %x", i, got, want)
		}
		back, err := dh(kb, ka.public[:])
		if err != nil || back != got {
			t.Fatalf("key %d: the two sides disagree: %x and %x (%v)", i, got, back, err)
		}
	}
}

// Points of small order give every private key the all-zero secret; dh
// refuses them, and keys of the wrong length.
func TestDHRejects(t *testing.T) {
	k, err := newX25519Key(bytes.Repeat([]byte{0x42}, KeyLen))
	if err != nil {
		t.Fatal(err)
	}
	lowOrder := []string{
		"0000000000000000000000000000000000000000000000000000000000000000",
		"0100000000000000000000000000000000000000000000000000000000000000",
		"e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800",
		"5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
		"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
	}
	for _, p := range lowOrder {
		if _, err := dh(k, unhex(t, p)); !errors.Is(err, errLowOrder) {
			t.Errorf("dh with %s: err = %v, want errLowOrder", p, err)
		}
	}
	if _, err := dh(k, make([]byte, 31)); err == nil {
		t.Error("dh with a 31-byte key succeeded")
	}
	if _, err := newX25519Key(make([]byte, 33)); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("newX25519Key of 33 bytes: err = %v, want ErrInvalidKey", err)
	}
}

func BenchmarkX25519(b *testing.B) {
	priv := bytes.Repeat([]byte{0x42}, KeyLen)
	b.Run("public", func(b *testing.B) {
		for b.Loop() {
			if _, err := newX25519Key(priv); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("public-pooled", func(b *testing.B) {
		for b.Loop() {
			if _, err := freshEphemeral(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("public-ecdh", func(b *testing.B) {
		for b.Loop() {
			if _, err := ecdh.X25519().NewPrivateKey(priv); err != nil {
				b.Fatal(err)
			}
		}
	})
	k, _ := newX25519Key(priv)
	peer, _ := newX25519Key(bytes.Repeat([]byte{0x17}, KeyLen))
	b.Run("shared", func(b *testing.B) {
		for b.Loop() {
			if _, err := dh(k, peer.public[:]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// Keys made together share one inversion; each must still be the key
// crypto/ecdh computes on its own, whatever the batch's size.
func TestPublicKeysInBatches(t *testing.T) {
	rng := rand.NewChaCha8([32]byte{9})
	for _, n := range []int{1, 2, 3, 7, ephemeralBatch} {
		keys := make([]x25519Key, n)
		for i := range keys {
			rng.Read(keys[i].private[:])
		}
		if err := publicKeys(keys); err != nil {
			t.Fatal(err)
		}
		for i, k := range keys {
			std, err := ecdh.X25519().NewPrivateKey(k.private[:])
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(k.public[:], std.PublicKey().Bytes()) {
				t.Fatalf("batch of %d, key %d: public key %x, crypto/ecdh says %x", n, i, k.public, std.PublicKey().Bytes())
			}
		}
	}
	if err := publicKeys(nil); err != nil {
		t.Errorf("no keys: %v", err)
	}
	if err := publicKeys(make([]x25519Key, ephemeralBatch+1)); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("a batch of %d: err = %v, want ErrInvalidKey", ephemeralBatch+1, err)
	}
}

// The pool hands out each key once, every key matches its private key,
// the pool stays within its bound, and a key's slot is wiped when it
// leaves.
func TestFreshEphemeralKeys(t *testing.T) {
	seen := map[[KeyLen]byte]bool{}
	for range 5 * ephemeralBatch {
		k, err := freshEphemeral()
		if err != nil {
			t.Fatal(err)
		}
		if seen[k.private] {
			t.Fatalf("private key %x handed out twice", k.private)
		}
		seen[k.private] = true
		std, err := ecdh.X25519().NewPrivateKey(k.private[:])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(k.public[:], std.PublicKey().Bytes()) {
			t.Fatalf("public key %x, crypto/ecdh says %x", k.public, std.PublicKey().Bytes())
		}
		ephemeralPool.Lock()
		n, spare := len(ephemeralPool.keys), ephemeralPool.keys[len(ephemeralPool.keys):cap(ephemeralPool.keys)]
		ephemeralPool.Unlock()
		if n > ephemeralPoolMax {
			t.Fatalf("%d keys in the pool, at most %d", n, ephemeralPoolMax)
		}
		for _, s := range spare {
			if s != (x25519Key{}) {
				t.Fatal("a key that left the pool is still in its array")
			}
		}
	}

	// Handshakes draw keys side by side.
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 3 * ephemeralBatch {
				k, err := freshEphemeral()
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				dup := seen[k.private]
				seen[k.private] = true
				mu.Unlock()
				if dup {
					t.Errorf("private key %x handed out twice", k.private)
				}
			}
		})
	}
	wg.Wait()
}
