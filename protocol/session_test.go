package protocol

import (
	"bytes"
	"errors"
	"math"
	"runtime"
	"testing"
	"unsafe"

	"github.com/flynn/noise"
)

// flynnConfig is the reference Noise configuration of version 1.
func flynnConfig(initiator bool, server Keypair) noise.Config {
	c := noise.Config{
		CipherSuite: noise.NewCipherSuite(noise.DH25519, noise.CipherChaChaPoly, noise.HashSHA256),
		Pattern:     noise.HandshakeNK,
		Initiator:   initiator,
		Prologue:    []byte("herald/1"),
	}
	if initiator {
		c.PeerStatic = server.Public
	} else {
		c.StaticKeypair = noise.DHKey{Private: server.Private, Public: server.Public}
	}
	return c
}

// TestInteropFlynn runs each side of the protocol against a plain
// flynn/noise HandshakeState and CipherStates, in both roles and both
// directions, to show that the compact Session is standard Noise transport.
func TestInteropFlynn(t *testing.T) {
	server := testServerKeypair(t)

	t.Run("flynn client, Respond server", func(t *testing.T) {
		hs, err := noise.NewHandshakeState(flynnConfig(true, server))
		if err != nil {
			t.Fatal(err)
		}
		msg1, _, _, err := hs.WriteMessage([]byte{Version}, nil)
		if err != nil {
			t.Fatal(err)
		}
		r2, srv, err := Respond(server, msg1, nil)
		if err != nil {
			t.Fatal(err)
		}
		if r2[0] != StatusAccept {
			t.Fatalf("status %d", r2[0])
		}
		_, send, recv, err := hs.ReadMessage(nil, r2[1:])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(hs.ChannelBinding(), srv.ChannelBinding()) {
			t.Fatal("channel bindings differ")
		}
		interop(t, send, recv, srv)
	})

	t.Run("Initiator client, flynn server", func(t *testing.T) {
		in, r1 := startHandshake(t, server.Public, nil)
		hs, err := noise.NewHandshakeState(flynnConfig(false, server))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, _, err := hs.ReadMessage(nil, r1[1:]); err != nil {
			t.Fatal(err)
		}
		r2, i2r, r2i, err := hs.WriteMessage([]byte{StatusAccept}, nil)
		if err != nil {
			t.Fatal(err)
		}
		cli, err := in.ReadRecord2(r2)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(hs.ChannelBinding(), cli.ChannelBinding()) {
			t.Fatal("channel bindings differ")
		}
		interop(t, r2i, i2r, cli)
	})
}

// interop exchanges interleaved messages between a flynn peer (send, recv)
// and a Session.
func interop(t *testing.T, send, recv *noise.CipherState, s *Session) {
	t.Helper()
	for i := 0; i < 8; i++ {
		msg := bytes.Repeat([]byte{byte(i)}, 1+i*37)
		ct, err := send.Encrypt(nil, nil, msg)
		if err != nil {
			t.Fatal(err)
		}
		pt, err := s.Open(nil, ct)
		if err != nil || !bytes.Equal(pt, msg) {
			t.Fatalf("flynn → Session message %d: %v", i, err)
		}
		ct, err = s.Seal(nil, msg)
		if err != nil {
			t.Fatal(err)
		}
		pt, err = recv.Decrypt(nil, nil, ct)
		if err != nil || !bytes.Equal(pt, msg) {
			t.Fatalf("Session → flynn message %d: %v", i, err)
		}
	}
	// Several in a row one way, then the other.
	for i := 0; i < 3; i++ {
		ct, _ := s.Seal(nil, []byte("burst"))
		if _, err := recv.Decrypt(nil, nil, ct); err != nil {
			t.Fatalf("burst %d: %v", i, err)
		}
	}
	// Near the end of the nonce space the nonce encoding still agrees.
	send.SetNonce(1<<40 + 3)
	s.recv.setCounter(1<<40 + 3)
	ct, _ := send.Encrypt(nil, nil, []byte("late"))
	if pt, err := s.Open(nil, ct); err != nil || string(pt) != "late" {
		t.Fatalf("high nonce: %v", err)
	}
}

func TestSessionTamperedAndReordered(t *testing.T) {
	cli, srv := handshake(t, testServerKeypair(t))
	first, _ := cli.Seal(nil, []byte("first"))
	second, _ := cli.Seal(nil, []byte("second"))

	tests := []struct {
		name string
		ct   []byte
	}{
		{"reordered", second},
		{"bit flipped in ciphertext", flipped(first, 0)},
		{"bit flipped in tag", flipped(first, len(first)-1)},
		{"truncated", first[:len(first)-1]},
		{"shorter than a tag", first[:TagLen-1]},
		{"empty", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := srv.Open(nil, tt.ct); !errors.Is(err, ErrDecrypt) {
				t.Fatalf("Open = %v, want ErrDecrypt", err)
			}
		})
	}
	// Failures do not advance the counter: the genuine records still open.
	for _, want := range []string{"first", "second"} {
		ct := map[string][]byte{"first": first, "second": second}[want]
		pt, err := srv.Open(nil, ct)
		if err != nil || string(pt) != want {
			t.Fatalf("Open(%s) = %q, %v", want, pt, err)
		}
	}
	// A replay fails.
	if _, err := srv.Open(nil, first); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("replay: %v", err)
	}
	// A record sealed for the other direction does not open.
	back, _ := srv.Seal(nil, []byte("x"))
	if _, err := srv.Open(nil, back); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("reflected record: %v", err)
	}
}

func flipped(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 1
	return c
}

func TestSessionInPlace(t *testing.T) {
	cli, srv := handshake(t, testServerKeypair(t))
	buf := make([]byte, 5, 5+TagLen)
	copy(buf, "hello")
	ct, err := cli.Seal(buf[:0], buf)
	if err != nil {
		t.Fatal(err)
	}
	if &ct[0] != &buf[0] {
		t.Fatal("in-place Seal moved the buffer")
	}
	pt, err := srv.Open(ct[:0], ct)
	if err != nil || string(pt) != "hello" {
		t.Fatalf("in-place Open = %q, %v", pt, err)
	}
	if &pt[0] != &buf[0] {
		t.Fatal("in-place Open moved the buffer")
	}
}

func TestSealRecord(t *testing.T) {
	cli, srv := handshake(t, testServerKeypair(t))
	frame := AppendPing(nil, 7, &Ping{Time: 1234})
	stream, err := cli.SealRecord([]byte("x"), frame)
	if err != nil {
		t.Fatal(err)
	}
	body, rest, err := SplitRecord(stream[1:], 0)
	if err != nil || len(rest) != 0 {
		t.Fatalf("SplitRecord: %v, rest %d", err, len(rest))
	}
	pt, err := srv.Open(body[:0], body)
	if err != nil || !bytes.Equal(pt, frame) {
		t.Fatalf("Open = %x, %v", pt, err)
	}

	dst := []byte("keep")
	got, err := cli.SealRecord(dst, make([]byte, MaxRecordLimit-TagLen+1))
	if !errors.Is(err, ErrRecordTooLarge) || string(got) != "keep" {
		t.Fatalf("oversized SealRecord = %q, %v", got, err)
	}
	if _, err := cli.SealRecord(nil, make([]byte, MaxRecordLimit-TagLen)); err != nil {
		t.Fatalf("largest SealRecord: %v", err)
	}
}

func TestNonceExhausted(t *testing.T) {
	cli, srv := handshake(t, testServerKeypair(t))
	// The last usable nonce is 2^64-2; 2^64-1 is reserved.
	cli.send.setCounter(math.MaxUint64 - 1)
	srv.recv.setCounter(math.MaxUint64 - 1)
	ct, err := cli.Seal(nil, []byte("last"))
	if err != nil {
		t.Fatalf("Seal with nonce 2^64-2: %v", err)
	}
	if pt, err := srv.Open(nil, ct); err != nil || string(pt) != "last" {
		t.Fatalf("Open with nonce 2^64-2: %q, %v", pt, err)
	}
	dst := []byte("keep")
	if got, err := cli.Seal(dst, []byte("one more")); !errors.Is(err, ErrNonceExhausted) || string(got) != "keep" {
		t.Fatalf("Seal past the last nonce = %q, %v", got, err)
	}
	if got, err := cli.SealRecord(dst, []byte("one more")); !errors.Is(err, ErrNonceExhausted) || string(got) != "keep" {
		t.Fatalf("SealRecord past the last nonce = %q, %v", got, err)
	}
	if _, err := srv.Open(nil, ct); !errors.Is(err, ErrNonceExhausted) {
		t.Fatalf("Open past the last nonce: %v", err)
	}
}

func TestZeroSession(t *testing.T) {
	var s Session
	if _, err := s.Seal(nil, []byte("x")); !errors.Is(err, ErrHandshake) {
		t.Fatalf("Seal on zero Session: %v", err)
	}
	if _, err := s.Open(nil, make([]byte, 20)); !errors.Is(err, ErrHandshake) {
		t.Fatalf("Open on zero Session: %v", err)
	}
}

func TestSealOpenAllocs(t *testing.T) {
	cli, srv := handshake(t, testServerKeypair(t))
	plain := make([]byte, 256)
	buf := make([]byte, 0, 512)
	allocs := testing.AllocsPerRun(1000, func() {
		rec, err := cli.SealRecord(buf[:0], plain)
		if err != nil {
			t.Fatal(err)
		}
		body, _, _ := SplitRecord(rec, 0)
		if _, err := srv.Open(body[:0], body); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("SealRecord+Open allocate %v times", allocs)
	}
}

// TestSessionMemory measures the heap a Session keeps after the handshake:
// the connector holds one per connection. It logs the figure and fails only
// if it is far above the ~150-byte budget.
func TestSessionMemory(t *testing.T) {
	n := 10000
	if testing.Short() || raceEnabled {
		n = 1000
	}
	server := testServerKeypair(t)
	_, r1 := startHandshake(t, server.Public, nil)
	sessions := make([]*Session, n)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range sessions {
		// Replaying one record 1 is fine here: each Respond draws a fresh
		// ephemeral key and builds an independent Session.
		_, s, err := Respond(server, r1, nil)
		if err != nil {
			t.Fatal(err)
		}
		sessions[i] = s
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	perSession := float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
	runtime.KeepAlive(sessions)
	t.Logf("heap per Session: %.1f bytes over %d sessions (struct %d bytes + 2 AEADs)",
		perSession, n, unsafe.Sizeof(Session{}))
	if perSession > 300 {
		t.Errorf("heap per Session = %.1f bytes, budget ~150", perSession)
	}
}

// TestSessionFullDuplex uses each Session from two goroutines at once, one
// sealing and one opening, as the concurrency contract allows; run it with
// -race.
func TestSessionFullDuplex(t *testing.T) {
	cli, srv := handshake(t, testServerKeypair(t))
	const n = 500
	up := make(chan []byte, 16)
	down := make(chan []byte, 16)
	errs := make(chan error, 4)
	seal := func(s *Session, out chan<- []byte) {
		defer close(out)
		for i := 0; i < n; i++ {
			ct, err := s.Seal(nil, []byte{byte(i)})
			if err != nil {
				errs <- err
				return
			}
			out <- ct
		}
		errs <- nil
	}
	open := func(s *Session, in <-chan []byte) {
		i := 0
		for ct := range in {
			pt, err := s.Open(ct[:0], ct)
			if err != nil || len(pt) != 1 || pt[0] != byte(i) {
				errs <- errors.New("record out of order or corrupt")
				return
			}
			i++
		}
		if i != n {
			errs <- errors.New("records lost")
			return
		}
		errs <- nil
	}
	go seal(cli, up)
	go open(cli, down)
	go seal(srv, down)
	go open(srv, up)
	for i := 0; i < 4; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
