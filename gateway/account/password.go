package account

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// The argon2id parameters of new hashes (OWASP's first recommendation).
// Hashes keep their own parameters, so these can grow without making old
// passwords fail.
const (
	argonMemory  = 19 * 1024 // KiB
	argonTime    = 2
	argonThreads = 1
	argonSaltLen = 16
	argonKeyLen  = 32
)

// Password lengths, in bytes.
const (
	MinPasswordLen = 10
	MaxPasswordLen = 256
)

// CheckPassword says what is wrong with a password a user chose, or
// nothing.
func CheckPassword(pw string) error {
	if len(pw) < MinPasswordLen || len(pw) > MaxPasswordLen {
		return fmt.Errorf("a password has %d to %d bytes; this one has %d", MinPasswordLen, MaxPasswordLen, len(pw))
	}
	return nil
}

// hashPassword returns the PHC string of pw:
// $argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>, both in unpadded base64.
func hashPassword(pw string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

var errBadHash = errors.New("account: not an argon2id PHC string")

// verifyPassword reports whether pw is the password of the PHC string
// phc, hashing it with phc's own parameters.
func verifyPassword(phc, pw string) (bool, error) {
	parts := strings.Split(phc, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	var memory, time uint32
	var threads uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &memory, &time, &threads); err != nil ||
		memory < 8 || memory > 1<<21 || time < 1 || time > 16 || threads < 1 {
		return false, errBadHash
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return false, errBadHash
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) < 16 || len(want) > 64 {
		return false, errBadHash
	}
	got := argon2.IDKey([]byte(pw), salt, time, memory, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// hasher runs password hashes, a few at a time: each takes tens of
// milliseconds of a core and 19 MiB.
type hasher struct {
	slots chan struct{}
}

func newHasher(n int) *hasher { return &hasher{slots: make(chan struct{}, n)} }

func (h *hasher) run(ctx context.Context, f func()) error {
	select {
	case h.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-h.slots }()
	f()
	return nil
}

// hash is hashPassword on a slot.
func (h *hasher) hash(ctx context.Context, pw string) (phc string, err error) {
	if rerr := h.run(ctx, func() { phc, err = hashPassword(pw) }); rerr != nil {
		return "", rerr
	}
	return phc, err
}

// verify is verifyPassword on a slot.
func (h *hasher) verify(ctx context.Context, phc, pw string) (ok bool, err error) {
	if rerr := h.run(ctx, func() { ok, err = verifyPassword(phc, pw) }); rerr != nil {
		return false, rerr
	}
	return ok, err
}
