package ids

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
)

// AppKey returns a new app key: 24 lowercase hexadecimal characters, the
// shape JPush uses, so JPush server libraries that check it accept ours.
func AppKey() string { return randomHex(12) }

// MasterSecret returns a new master secret in the same shape as AppKey.
func MasterSecret() string { return randomHex(12) }

// RegistrationID returns a new device registration id: 20 lowercase
// hexadecimal characters (80 random bits).
func RegistrationID() string { return randomHex(10) }

// Secret returns n random bytes and their unpadded base64url text form.
func Secret(n int) ([]byte, string) {
	b := make([]byte, n)
	mustRead(b)
	return b, base64.RawURLEncoding.EncodeToString(b)
}

func randomHex(n int) string {
	b := make([]byte, n)
	mustRead(b)
	return hex.EncodeToString(b)
}

// mustRead fills b from crypto/rand, which never fails on Linux since Go 1.24
// (it crashes the program instead of returning an error).
func mustRead(b []byte) {
	_, _ = rand.Read(b)
}
