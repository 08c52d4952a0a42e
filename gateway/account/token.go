package account

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
)

// tokenLen is the length of a session token: 32 random bytes in unpadded
// base64url.
var tokenLen = base64.RawURLEncoding.EncodedLen(32)

// newToken returns a new session token and its SHA-256.
func newToken() (string, [32]byte, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", [32]byte{}, err
	}
	t := base64.RawURLEncoding.EncodeToString(b)
	return t, sha256.Sum256([]byte(t)), nil
}

// tokenHash returns the SHA-256 of a token, and false if token cannot be
// one.
func tokenHash(token string) ([32]byte, bool) {
	if len(token) != tokenLen {
		return [32]byte{}, false
	}
	if _, err := base64.RawURLEncoding.DecodeString(token); err != nil {
		return [32]byte{}, false
	}
	return sha256.Sum256([]byte(token)), true
}
