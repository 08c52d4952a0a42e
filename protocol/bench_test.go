package protocol

import (
	"fmt"
	"testing"
)

func benchPush(size int) *Push {
	return &Push{
		MessageID: 1 << 40,
		AppKey:    []byte("app-benchmark"),
		Title:     []byte("You have a new message"),
		Content:   make([]byte, size),
		Extras:    []byte(`{"thread":"t-1"}`),
		ExpiresAt: 1700000000000,
	}
}

func benchAck(n int) *Ack {
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = 1<<40 + uint64(i)
	}
	return &Ack{MessageIDs: ids}
}

func benchUpstream(size int) *Upstream {
	return &Upstream{UpstreamID: 1<<40 + 7, Data: make([]byte, size)}
}

func BenchmarkFrameEncode(b *testing.B) {
	for _, size := range []int{0, 256, 4096} {
		b.Run(fmt.Sprintf("type=push/size=%d", size), func(b *testing.B) {
			p := benchPush(size)
			buf := make([]byte, 0, size+256)
			b.ReportAllocs()
			b.SetBytes(int64(len(AppendPush(nil, 1, FlagAckRequested, p))))
			for i := 0; i < b.N; i++ {
				buf = AppendPush(buf[:0], uint32(i), FlagAckRequested, p)
			}
		})
	}
	for _, size := range []int{16, 256, 4096} {
		b.Run(fmt.Sprintf("type=upstream/size=%d", size), func(b *testing.B) {
			u := benchUpstream(size)
			buf := make([]byte, 0, size+64)
			b.ReportAllocs()
			b.SetBytes(int64(len(AppendUpstream(nil, 1, u))))
			for i := 0; i < b.N; i++ {
				buf = AppendUpstream(buf[:0], uint32(i), u)
			}
		})
	}
	for _, n := range []int{1, 64, 256} {
		b.Run(fmt.Sprintf("type=ack/ids=%d", n), func(b *testing.B) {
			a := benchAck(n)
			buf := make([]byte, 0, 4096)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				buf = AppendAck(buf[:0], uint32(i), a)
			}
		})
	}
}

func BenchmarkFrameDecode(b *testing.B) {
	var (
		p Push
		u Upstream
		a Ack
	)
	for _, size := range []int{0, 256, 4096} {
		b.Run(fmt.Sprintf("type=push/size=%d", size), func(b *testing.B) {
			benchDecode(b, AppendPush(nil, 1, FlagAckRequested, benchPush(size)), p.Unmarshal)
		})
	}
	for _, size := range []int{16, 256, 4096} {
		b.Run(fmt.Sprintf("type=upstream/size=%d", size), func(b *testing.B) {
			benchDecode(b, AppendUpstream(nil, 1, benchUpstream(size)), u.Unmarshal)
		})
	}
	for _, n := range []int{1, 64, 256} {
		b.Run(fmt.Sprintf("type=ack/ids=%d", n), func(b *testing.B) {
			benchDecode(b, AppendAck(nil, 1, benchAck(n)), a.Unmarshal)
		})
	}
}

// benchDecode parses frame's header and decodes its body with unmarshal,
// b.N times.
func benchDecode(b *testing.B, frame []byte, unmarshal func([]byte) error) {
	b.ReportAllocs()
	b.SetBytes(int64(len(frame)))
	for i := 0; i < b.N; i++ {
		_, body, err := ParseHeader(frame)
		if err != nil {
			b.Fatal(err)
		}
		if err := unmarshal(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSealOpen seals a frame into a record and opens it in place, as
// the connector and the SDK do for every frame.
func BenchmarkSealOpen(b *testing.B) {
	for _, size := range []int{64, 256, 4096} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			cli, srv := handshake(b, testServerKeypair(b))
			frame := make([]byte, size)
			buf := make([]byte, 0, size+RecordHeaderLen+TagLen)
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for i := 0; i < b.N; i++ {
				rec, err := srv.SealRecord(buf[:0], frame)
				if err != nil {
					b.Fatal(err)
				}
				body, _, err := SplitRecord(rec, MaxRecordLimit)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := cli.Open(body[:0], body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHandshake is a full connection setup: record 1, Respond, record
// 2, then the client proof and its verification and the server signature
// and its verification.
func BenchmarkHandshake(b *testing.B) {
	server := testServerKeypair(b)
	secret := counting(0x81, SecretLen)
	keys := DeriveDeviceKeys(secret)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		in, r1 := startHandshake(b, server.Public, nil)
		r2, srv, err := Respond(server, r1, nil)
		if err != nil {
			b.Fatal(err)
		}
		cli, err := in.ReadRecord2(r2)
		if err != nil {
			b.Fatal(err)
		}
		proof := ClientProof(secret, cli.ChannelBinding())
		if !VerifyClientProof(keys.Stored, srv.ChannelBinding(), proof) {
			b.Fatal("proof rejected")
		}
		sig := ServerSignature(keys.Server, srv.ChannelBinding())
		if !VerifyServerSignature(secret, cli.ChannelBinding(), sig) {
			b.Fatal("signature rejected")
		}
	}
}

// BenchmarkRespond is the server's share of BenchmarkHandshake, the cost the
// connector pays per connection.
func BenchmarkRespond(b *testing.B) {
	server := testServerKeypair(b)
	_, r1 := startHandshake(b, server.Public, nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := Respond(server, r1, nil); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
