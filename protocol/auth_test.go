package protocol

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"testing"
)

func TestDeriveDeviceKeys(t *testing.T) {
	secret := counting(0x81, SecretLen)
	keys := DeriveDeviceKeys(secret)

	m := hmac.New(sha256.New, secret)
	m.Write([]byte("herald client key"))
	clientKey := m.Sum(nil)
	if want := sha256.Sum256(clientKey); keys.Stored != want {
		t.Fatalf("Stored = %x, want %x", keys.Stored, want)
	}
	m = hmac.New(sha256.New, secret)
	m.Write([]byte("herald server key"))
	if want := m.Sum(nil); !bytes.Equal(keys.Server[:], want) {
		t.Fatalf("Server = %x, want %x", keys.Server, want)
	}
	if keys.Stored == DeriveDeviceKeys(counting(0x82, SecretLen)).Stored {
		t.Fatal("different secrets derive the same stored key")
	}
}

func TestClientProof(t *testing.T) {
	secret := counting(0x81, SecretLen)
	other := counting(0x01, SecretLen)
	keys := DeriveDeviceKeys(secret)
	binding := counting(0xb0, BindingLen)
	binding2 := counting(0xb1, BindingLen)
	proof := ClientProof(secret, binding)

	tests := []struct {
		name    string
		stored  [32]byte
		binding []byte
		proof   [32]byte
		want    bool
	}{
		{"valid", keys.Stored, binding, proof, true},
		{"other binding (replay on another connection)", keys.Stored, binding2, proof, false},
		{"wrong secret", keys.Stored, binding, ClientProof(other, binding), false},
		{"other device's stored key", DeriveDeviceKeys(other).Stored, binding, proof, false},
		{"zero proof", keys.Stored, binding, [32]byte{}, false},
		{"proof bit flipped", keys.Stored, binding, flip32(proof, 31), false},
		{"stored key as proof", keys.Stored, binding, keys.Stored, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := VerifyClientProof(tt.stored, tt.binding, tt.proof); got != tt.want {
				t.Fatalf("VerifyClientProof = %v, want %v", got, tt.want)
			}
		})
	}
}

func flip32(b [32]byte, i int) [32]byte {
	b[i] ^= 1
	return b
}

func TestServerSignature(t *testing.T) {
	secret := counting(0x81, SecretLen)
	keys := DeriveDeviceKeys(secret)
	binding := counting(0xb0, BindingLen)
	sig := ServerSignature(keys.Server, binding)

	tests := []struct {
		name    string
		secret  []byte
		binding []byte
		sig     [32]byte
		want    bool
	}{
		{"round trip", secret, binding, sig, true},
		{"other binding", secret, counting(0xb1, BindingLen), sig, false},
		{"other secret", counting(0x01, SecretLen), binding, sig, false},
		{"signature by stored key", secret, binding, ServerSignature(keys.Stored, binding), false},
		{"zero signature", secret, binding, [32]byte{}, false},
		{"bit flipped", secret, binding, flip32(sig, 0), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := VerifyServerSignature(tt.secret, tt.binding, tt.sig); got != tt.want {
				t.Fatalf("VerifyServerSignature = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestAuthOverHandshake runs the authentication over real channel
// bindings: a proof made for one connection fails on another.
func TestAuthOverHandshake(t *testing.T) {
	server := testServerKeypair(t)
	secret := counting(0x81, SecretLen)
	keys := DeriveDeviceKeys(secret)
	cli1, srv1 := handshake(t, server)
	_, srv2 := handshake(t, server)

	proof := ClientProof(secret, cli1.ChannelBinding())
	if !VerifyClientProof(keys.Stored, srv1.ChannelBinding(), proof) {
		t.Fatal("proof rejected on its own connection")
	}
	if VerifyClientProof(keys.Stored, srv2.ChannelBinding(), proof) {
		t.Fatal("proof accepted on another connection")
	}
	sig := ServerSignature(keys.Server, srv1.ChannelBinding())
	if !VerifyServerSignature(secret, cli1.ChannelBinding(), sig) {
		t.Fatal("server signature rejected")
	}
}
