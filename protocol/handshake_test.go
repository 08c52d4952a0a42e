package protocol

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"testing/iotest"
)

func TestGenerateKeypair(t *testing.T) {
	a, err := GenerateKeypair(nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := GenerateKeypair(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Private) != KeyLen || len(a.Public) != KeyLen {
		t.Fatalf("key lengths %d/%d", len(a.Private), len(a.Public))
	}
	if bytes.Equal(a.Private, b.Private) || bytes.Equal(a.Public, b.Public) {
		t.Fatal("two generated keypairs are equal")
	}
	if _, err := GenerateKeypair(iotest.ErrReader(errors.New("no entropy"))); err == nil {
		t.Fatal("GenerateKeypair succeeded with a failing random source")
	}
}

func TestHandshake(t *testing.T) {
	server := testServerKeypair(t)
	in, err := NewInitiator(server.Public, nil)
	if err != nil {
		t.Fatal(err)
	}
	prefix := []byte("prefix")
	r1, err := in.AppendRecord1(append([]byte(nil), prefix...))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(r1, prefix) || len(r1)-len(prefix) != Record1Len || r1[len(prefix)] != Version {
		t.Fatalf("record 1 = %x", r1)
	}
	r2, srv, err := Respond(server, r1[len(prefix):], append([]byte(nil), prefix...))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(r2, prefix) || len(r2)-len(prefix) != Record2Len || r2[len(prefix)] != StatusAccept {
		t.Fatalf("record 2 = %x", r2)
	}
	cli, err := in.ReadRecord2(r2[len(prefix):])
	if err != nil {
		t.Fatal(err)
	}
	if len(cli.ChannelBinding()) != BindingLen || !bytes.Equal(cli.ChannelBinding(), srv.ChannelBinding()) {
		t.Fatalf("bindings differ: %x vs %x", cli.ChannelBinding(), srv.ChannelBinding())
	}
	exchange(t, cli, srv, 5)
	exchange(t, srv, cli, 5)

	// A second handshake with the same keys yields a different binding.
	cli2, _ := handshake(t, server)
	if bytes.Equal(cli.ChannelBinding(), cli2.ChannelBinding()) {
		t.Fatal("two handshakes share a channel binding")
	}
}

// exchange sends n messages from a to b and checks each one.
func exchange(tb testing.TB, a, b *Session, n int) {
	tb.Helper()
	for i := 0; i < n; i++ {
		msg := bytes.Repeat([]byte{byte(i)}, i*10)
		ct, err := a.Seal(nil, msg)
		if err != nil {
			tb.Fatal(err)
		}
		if len(ct) != len(msg)+TagLen {
			tb.Fatalf("ciphertext is %d bytes for %d of plaintext", len(ct), len(msg))
		}
		pt, err := b.Open(nil, ct)
		if err != nil {
			tb.Fatalf("message %d: %v", i, err)
		}
		if !bytes.Equal(pt, msg) {
			tb.Fatalf("message %d: got %x", i, pt)
		}
	}
}

func TestHandshakeWrongServerKey(t *testing.T) {
	server := testServerKeypair(t)
	other, err := GenerateKeypair(nil)
	if err != nil {
		t.Fatal(err)
	}
	// The client pinned other.Public (say, a key rotated away) but talks to
	// server: the server cannot decrypt record 1 and refuses.
	in, r1 := startHandshake(t, other.Public, nil)
	_, s, err := Respond(server, r1, nil)
	if s != nil {
		t.Fatal("Respond returned a session for a record 1 sealed to another key")
	}
	wantCode(t, err, CodeHandshakeFailed)
	var e *Error
	errors.As(err, &e)
	s, err = in.ReadRecord2(AppendRefusal(nil, e))
	if s != nil {
		t.Fatal("client got a session from a refusal")
	}
	wantCode(t, err, CodeHandshakeFailed)
}

func TestHandshakeImpostorServer(t *testing.T) {
	// An impostor without the server's private key answers record 1 with a
	// well-formed record 2 of its own: the client must reject it.
	server := testServerKeypair(t)
	impostor, err := GenerateKeypair(nil)
	if err != nil {
		t.Fatal(err)
	}
	in, err := NewInitiator(server.Public, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.AppendRecord1(nil); err != nil {
		t.Fatal(err)
	}
	// The impostor speaks to a client of its own to obtain a plausible
	// record 2 (it cannot decrypt the real record 1).
	in2, _ := NewInitiator(impostor.Public, nil)
	r1b, _ := in2.AppendRecord1(nil)
	r2, _, err := Respond(impostor, r1b, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := in.ReadRecord2(r2)
	if s != nil || !errors.Is(err, ErrHandshake) {
		t.Fatalf("ReadRecord2 = %v, %v; want ErrHandshake", s, err)
	}
}

func TestRespondRejects(t *testing.T) {
	server := testServerKeypair(t)
	_, valid := startHandshake(t, server.Public, nil)
	flip := func(i int) []byte {
		b := append([]byte(nil), valid...)
		b[i] ^= 0x40
		return b
	}
	lowOrder := append([]byte{Version}, make([]byte, KeyLen+TagLen)...)
	tests := []struct {
		name   string
		static Keypair
		record []byte
		want   Code
	}{
		{"empty", server, nil, CodeHandshakeFailed},
		{"version only", server, []byte{Version}, CodeHandshakeFailed},
		{"version 0", server, append([]byte{0}, valid[1:]...), CodeUnsupportedVersion},
		{"version 2", server, append([]byte{2}, valid[1:]...), CodeUnsupportedVersion},
		{"version 2 any length", server, []byte{2}, CodeUnsupportedVersion},
		{"short", server, valid[:Record1Len-1], CodeHandshakeFailed},
		{"long (payload not empty)", server, append(append([]byte(nil), valid...), 0), CodeHandshakeFailed},
		{"ephemeral tampered", server, flip(1), CodeHandshakeFailed},
		{"tag tampered", server, flip(Record1Len - 1), CodeHandshakeFailed},
		{"low-order ephemeral", server, lowOrder, CodeHandshakeFailed},
		{"bad static key", Keypair{Private: server.Private}, valid, CodeInternalError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, s, err := Respond(tt.static, tt.record, []byte("dst"))
			if s != nil || body != nil {
				t.Fatalf("Respond returned a session or body: %x", body)
			}
			wantCode(t, err, tt.want)
		})
	}
}

func TestRefusal(t *testing.T) {
	tests := []struct {
		name string
		e    *Error
		want Error
	}{
		{"busy", &Error{Code: CodeServerBusy, Message: "try later", RetryAfter: 5e9}, Error{Code: CodeServerBusy, Message: "try later"}},
		{"no message", &Error{Code: CodeUnsupportedVersion}, Error{Code: CodeUnsupportedVersion}},
		{"nil", nil, Error{Code: CodeInternalError}},
		{"long message cut", &Error{Code: CodeServerBusy, Message: strings.Repeat("é", 200)}, Error{Code: CodeServerBusy, Message: strings.Repeat("é", 128)}},
		{"long message cut at rune", &Error{Code: CodeServerBusy, Message: "x" + strings.Repeat("é", 200)}, Error{Code: CodeServerBusy, Message: "x" + strings.Repeat("é", 127)}},
		{"invalid utf-8", &Error{Code: CodeServerBusy, Message: "a\xffb"}, Error{Code: CodeServerBusy, Message: "a\uFFFDb"}},
	}
	server := testServerKeypair(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := AppendRefusal([]byte("dst"), tt.e)
			if !bytes.HasPrefix(body, []byte("dst")) || body[3] != StatusRefuse {
				t.Fatalf("refusal = %x", body)
			}
			in, _ := NewInitiator(server.Public, nil)
			if _, err := in.AppendRecord1(nil); err != nil {
				t.Fatal(err)
			}
			s, err := in.ReadRecord2(body[3:])
			if s != nil {
				t.Fatal("session from a refusal")
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *Error", err)
			}
			if *e != tt.want {
				t.Fatalf("got %+v, want %+v", *e, tt.want)
			}
		})
	}
}

func TestReadRecord2Rejects(t *testing.T) {
	server := testServerKeypair(t)
	tests := []struct {
		name    string
		mangle  func(r2 []byte) []byte
		wantErr error
	}{
		{"empty", func([]byte) []byte { return nil }, ErrMalformed},
		{"unknown status", func(r2 []byte) []byte { r2[0] = 2; return r2 }, ErrMalformed},
		{"short", func(r2 []byte) []byte { return r2[:Record2Len-1] }, ErrMalformed},
		{"long", func(r2 []byte) []byte { return append(r2, 0) }, ErrMalformed},
		{"truncated refusal", func([]byte) []byte { return []byte{StatusRefuse, 3} }, ErrMalformed},
		{"ephemeral tampered", func(r2 []byte) []byte { r2[5] ^= 1; return r2 }, ErrHandshake},
		{"tag tampered", func(r2 []byte) []byte { r2[Record2Len-1] ^= 1; return r2 }, ErrHandshake},
		{"low-order ephemeral", func(r2 []byte) []byte { clear(r2[1:33]); return r2 }, ErrHandshake},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, r1 := startHandshake(t, server.Public, nil)
			r2, _, err := Respond(server, r1, nil)
			if err != nil {
				t.Fatal(err)
			}
			s, err := in.ReadRecord2(tt.mangle(r2))
			if s != nil || !errors.Is(err, tt.wantErr) {
				t.Fatalf("ReadRecord2 = %v, %v; want %v", s, err, tt.wantErr)
			}
			// The Initiator is spent after a failure.
			if _, err := in.ReadRecord2(r2); !errors.Is(err, ErrHandshake) {
				t.Fatalf("second ReadRecord2: %v", err)
			}
		})
	}
}

func TestInitiatorMisuse(t *testing.T) {
	server := testServerKeypair(t)
	t.Run("bad key length", func(t *testing.T) {
		for _, k := range [][]byte{nil, make([]byte, 31), make([]byte, 33)} {
			if _, err := NewInitiator(k, nil); !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("NewInitiator(%d bytes) = %v", len(k), err)
			}
		}
	})
	t.Run("low-order server key", func(t *testing.T) {
		in, err := NewInitiator(make([]byte, KeyLen), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := in.AppendRecord1(nil); !errors.Is(err, ErrHandshake) {
			t.Fatalf("AppendRecord1 = %v", err)
		}
	})
	t.Run("record 2 before record 1", func(t *testing.T) {
		in, _ := NewInitiator(server.Public, nil)
		if _, err := in.ReadRecord2([]byte{StatusAccept}); !errors.Is(err, ErrHandshake) {
			t.Fatalf("ReadRecord2 = %v", err)
		}
	})
	t.Run("record 1 twice", func(t *testing.T) {
		in, _ := NewInitiator(server.Public, nil)
		if _, err := in.AppendRecord1(nil); err != nil {
			t.Fatal(err)
		}
		dst := []byte("keep")
		got, err := in.AppendRecord1(dst)
		if !errors.Is(err, ErrHandshake) || string(got) != "keep" {
			t.Fatalf("AppendRecord1 = %q, %v", got, err)
		}
	})
	t.Run("failing random source", func(t *testing.T) {
		in, _ := NewInitiator(server.Public, iotest.ErrReader(errors.New("no entropy")))
		if _, err := in.AppendRecord1(nil); !errors.Is(err, ErrHandshake) {
			t.Fatalf("AppendRecord1 = %v", err)
		}
	})
	t.Run("server random source fails", func(t *testing.T) {
		in, _ := NewInitiator(server.Public, nil)
		r1, _ := in.AppendRecord1(nil)
		_, s, err := respond(server, r1, nil, iotest.ErrReader(errors.New("no entropy")))
		if s != nil {
			t.Fatal("session despite failing randomness")
		}
		wantCode(t, err, CodeInternalError)
	})
}
