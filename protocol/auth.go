package protocol

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
)

// SecretLen is the length of the device secret the gateway issues at
// registration. The derivations accept any length; the gateway issues 32
// random bytes.
const SecretLen = 32

// Labels of the key derivations.
const (
	clientKeyLabel = "herald client key"
	serverKeyLabel = "herald server key"
)

// DeviceKeys are what the server stores for a device instead of its secret.
// Stored lets the server verify a client proof but not compute one; Server
// lets it sign its answer. Both are useless to an attacker who wants to
// impersonate the device.
type DeviceKeys struct {
	// Stored is SHA256(HMAC-SHA256(secret, "herald client key")).
	Stored [32]byte
	// Server is HMAC-SHA256(secret, "herald server key").
	Server [32]byte
}

func hmacSHA256(key []byte, data ...[]byte) [32]byte {
	m := hmac.New(sha256.New, key)
	for _, d := range data {
		m.Write(d)
	}
	var out [32]byte
	m.Sum(out[:0])
	return out
}

func clientKey(secret []byte) [32]byte {
	return hmacSHA256(secret, []byte(clientKeyLabel))
}

// DeriveDeviceKeys derives the keys the server stores for a device secret.
func DeriveDeviceKeys(secret []byte) DeviceKeys {
	ck := clientKey(secret)
	return DeviceKeys{
		Stored: sha256.Sum256(ck[:]),
		Server: hmacSHA256(secret, []byte(serverKeyLabel)),
	}
}

// ClientProof returns the proof a client sends in HELLO:
// client_key XOR HMAC-SHA256(stored_key, binding), where binding is the
// Session's channel binding. A proof is only valid for the connection whose
// handshake produced binding.
func ClientProof(secret, binding []byte) [32]byte {
	ck := clientKey(secret)
	stored := sha256.Sum256(ck[:])
	sig := hmacSHA256(stored[:], binding)
	var proof [32]byte
	subtle.XORBytes(proof[:], ck[:], sig[:])
	return proof
}

// VerifyClientProof reports whether proof was computed for binding by a
// holder of the secret behind stored. It recovers
// client_key' = proof XOR HMAC-SHA256(stored, binding) and compares
// SHA256(client_key') with stored in constant time.
func VerifyClientProof(stored [32]byte, binding []byte, proof [32]byte) bool {
	sig := hmacSHA256(stored[:], binding)
	var ck [32]byte
	subtle.XORBytes(ck[:], proof[:], sig[:])
	got := sha256.Sum256(ck[:])
	return subtle.ConstantTimeCompare(got[:], stored[:]) == 1
}

// ServerSignature returns the signature the server sends in WELCOME:
// HMAC-SHA256(server_key, binding).
func ServerSignature(server [32]byte, binding []byte) [32]byte {
	return hmacSHA256(server[:], binding)
}

// VerifyServerSignature reports, in constant time, whether sig is the
// server signature for binding under the keys derived from secret. A
// mismatch means the peer does not know the device's keys: the client closes
// the connection and treats it as an authentication failure of the server.
func VerifyServerSignature(secret, binding []byte, sig [32]byte) bool {
	want := ServerSignature(hmacSHA256(secret, []byte(serverKeyLabel)), binding)
	return hmac.Equal(want[:], sig[:])
}
