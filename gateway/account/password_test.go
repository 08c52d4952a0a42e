package account

import (
	"context"
	"regexp"
	"strings"
	"testing"
)

func TestPasswordHashIsArgon2idPHC(t *testing.T) {
	h, err := hashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`).MatchString(h) {
		t.Fatalf("hash %q is not argon2id with m=19 MiB, t=2, p=1, a 16-byte salt, in PHC form", h)
	}
	h2, _ := hashPassword("correct horse battery")
	if h == h2 {
		t.Fatal("two hashes of one password are equal: no salt")
	}
	for _, tc := range []struct {
		pw string
		ok bool
	}{{"correct horse battery", true}, {"correct horse batterY", false}, {"", false}} {
		if ok, err := verifyPassword(h, tc.pw); err != nil || ok != tc.ok {
			t.Errorf("verify %q = %v, %v; want %v", tc.pw, ok, err, tc.ok)
		}
	}
	// Hashes keep their parameters: a cheaper one made elsewhere verifies.
	cheap := "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHRzYWx0$" // salt "saltsaltsalt"
	if _, err := verifyPassword(cheap+"AAAAAAAAAAAAAAAAAAAAAA", "x"); err != nil {
		t.Errorf("a hash with other parameters: %v", err)
	}
	for _, bad := range []string{"", "plain", "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA", "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$AAAAAAAAAAAAAAAAAAAAAA",
		"$argon2id$v=19$m=64,t=1,p=1$!!$AAAAAAAAAAAAAAAAAAAAAA"} {
		if _, err := verifyPassword(bad, "x"); err == nil {
			t.Errorf("verify against %q: no error", bad)
		}
	}
}

func TestCheckPassword(t *testing.T) {
	for _, tc := range []struct {
		pw string
		ok bool
	}{{strings.Repeat("a", 9), false}, {strings.Repeat("a", 10), true}, {strings.Repeat("a", 256), true}, {strings.Repeat("a", 257), false}} {
		if err := CheckPassword(tc.pw); (err == nil) != tc.ok {
			t.Errorf("CheckPassword of %d bytes = %v", len(tc.pw), err)
		}
	}
}

func TestHasherBoundsAndHonoursContext(t *testing.T) {
	h := newHasher(1)
	h.slots <- struct{}{} // the one slot is taken
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := h.hash(ctx, "whatever password"); err == nil {
		t.Fatal("a hash ran with no slot free and its context done")
	}
	<-h.slots
	if _, err := h.hash(context.Background(), "whatever password"); err != nil {
		t.Fatal(err)
	}
}

func TestTokens(t *testing.T) {
	tok, hash, err := newToken()
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) != 43 {
		t.Fatalf("token of %d characters, want 43 (32 bytes, base64url)", len(tok))
	}
	if got, ok := tokenHash(tok); !ok || got != hash {
		t.Fatal("tokenHash does not give the token's hash")
	}
	for _, bad := range []string{"", "short", tok + "A", strings.Repeat("*", 43)} {
		if _, ok := tokenHash(bad); ok {
			t.Errorf("tokenHash(%q) accepted", bad)
		}
	}
}
