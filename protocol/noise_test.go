package protocol

import (
	"crypto/hmac"
	"crypto/sha256"
	"testing"
)

// The stack-buffer HMAC and hash agree with crypto/hmac and crypto/sha256
// for every key and data length, the short ones it hashes itself and the
// long ones it hands over.
func TestHashingMatchesTheStandardLibrary(t *testing.T) {
	for _, keyLen := range []int{0, 1, 32, 63, 64, 65, 100} {
		for _, dataLen := range []int{0, 1, 32, 33, 64, 65, 200} {
			key, data := counting(1, keyLen), counting(0x80, dataLen)
			m := hmac.New(sha256.New, key)
			m.Write(data)
			var got [sha256.Size]byte
			hmacSHA256Into(&got, key, data)
			if want := m.Sum(nil); string(got[:]) != string(want) {
				t.Errorf("HMAC with a %d-byte key over %d bytes differs from crypto/hmac", keyLen, dataLen)
			}
		}
	}
	for _, dataLen := range []int{0, 16, 32, 64, 65, 200} {
		var s symmetric
		copy(s.h[:], "some handshake hash, 32 bytes!!!")
		data := counting(3, dataLen)
		want := sha256.Sum256(append(append([]byte(nil), s.h[:]...), data...))
		s.mixHash(data)
		if s.h != want {
			t.Errorf("mixHash of %d bytes differs from SHA-256(h || data)", dataLen)
		}
	}
}

// A connector runs Respond for every connection: its garbage, in the size
// classes of the connections' own records, fragments the heap after a
// burst (on flynn/noise, Respond made 101 objects; now 22).
func TestRespondAllocatesLittle(t *testing.T) {
	server := testServerKeypair(t)
	_, r1 := startHandshake(t, server.Public, nil)
	allocs := testing.AllocsPerRun(100, func() {
		if _, _, err := Respond(server, r1, nil); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 30 {
		t.Errorf("Respond allocates %v objects, want at most 30", allocs)
	}
}
