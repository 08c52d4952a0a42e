package protocol

import (
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/runtimestats"
)

// BenchmarkLoopbackConnection is the floor under what a new connection
// costs on this machine: a TCP connection over loopback, the NK handshake,
// HELLO with its proof and WELCOME with the server's signature, with a
// goroutine per connection on both sides and nothing else: no device
// lookup, no session write, no actors. Both sides run in this process, so
// its CPU time per connection (cpu-µs/conn, from getrusage: user and
// system, closing excluded) is what a connector and herald-bench storm
// together could not go below; 2 cores divided by it bounds the
// connections per second they could reach on it.
//
//	go test -run '^$' -bench LoopbackConnection -benchtime 16000x ./protocol/
func BenchmarkLoopbackConnection(b *testing.B) {
	server := testServerKeypair(b)
	secret := counting(0x81, SecretLen)
	keys := DeriveDeviceKeys(secret)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	var (
		conns  []net.Conn // both ends of every connection open
		mu     sync.Mutex
		wg     sync.WaitGroup
		served sync.WaitGroup
	)
	keep := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			keep(c)
			served.Add(1)
			go func() {
				defer served.Done()
				if err := serveFloor(c, server, keys); err != nil {
					b.Error(err)
				}
			}()
		}
	}()
	// Connections stay open, as a storm's do, until held of them are
	// open: then they are closed with the clock and the CPU count stopped
	// (the descriptors of one process are limited).
	const held, inFlight = 4000, 256
	var (
		cpu  time.Duration
		from = runtimestats.CPUTime()
		sem  = make(chan struct{}, inFlight)
	)
	closeAll := func() {
		wg.Wait()
		b.StopTimer()
		cpu += runtimestats.CPUTime() - from
		served.Wait()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		conns = conns[:0]
		mu.Unlock()
		from = runtimestats.CPUTime()
		b.StartTimer()
	}
	b.ResetTimer()
	from = runtimestats.CPUTime()
	for i := 0; i < b.N; i++ {
		if i > 0 && i%held == 0 {
			closeAll()
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			// Source addresses spread the connections over 4-tuples, as
			// herald-bench's --sources does.
			d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i%250))}}
			c, err := d.Dial("tcp", ln.Addr().String())
			if err != nil {
				b.Error(err)
				return
			}
			keep(c)
			if err := connectFloor(c, server.Public, secret); err != nil {
				b.Error(err)
			}
		}()
	}
	closeAll()
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/conn")
}

// connectFloor is a device's side: record 1, record 2, HELLO, WELCOME.
func connectFloor(c net.Conn, serverPublic, secret []byte) error {
	in, err := NewInitiator(serverPublic, nil)
	if err != nil {
		return err
	}
	r1, err := in.AppendRecord1(nil)
	if err != nil {
		return err
	}
	if _, err := c.Write(AppendRecord(nil, r1)); err != nil {
		return err
	}
	rr := NewRecordReader(c, 0)
	body, err := rr.ReadRecord()
	if err != nil {
		return err
	}
	s, err := in.ReadRecord2(body)
	if err != nil {
		return err
	}
	hello := Hello{RegistrationID: []byte("floor-device-0000000000"), Proof: ClientProof(secret, s.ChannelBinding()), Heartbeat: 180}
	rec, err := s.SealRecord(nil, AppendHello(nil, 1, &hello))
	if err != nil {
		return err
	}
	if _, err := c.Write(rec); err != nil {
		return err
	}
	_, payload, err := readFrame(rr, s)
	if err != nil {
		return err
	}
	var w Welcome
	if err := w.Unmarshal(payload); err != nil {
		return err
	}
	if !VerifyServerSignature(secret, s.ChannelBinding(), w.ServerSignature) {
		return errors.New("server signature rejected")
	}
	return nil
}

// serveFloor is a connector's side: Respond, HELLO checked, WELCOME.
func serveFloor(c net.Conn, server Keypair, keys DeviceKeys) error {
	rr := NewRecordReader(c, 0)
	body, err := rr.ReadRecord()
	if err != nil {
		return err
	}
	r2, s, err := Respond(server, body, nil)
	if err != nil {
		return err
	}
	if _, err := c.Write(AppendRecord(nil, r2)); err != nil {
		return err
	}
	_, payload, err := readFrame(rr, s)
	if err != nil {
		return err
	}
	var h Hello
	if err := h.Unmarshal(payload); err != nil {
		return err
	}
	if !VerifyClientProof(keys.Stored, s.ChannelBinding(), h.Proof) {
		return errors.New("client proof rejected")
	}
	w := Welcome{Heartbeat: h.Heartbeat, ServerSignature: ServerSignature(keys.Server, s.ChannelBinding())}
	rec, err := s.SealRecord(nil, AppendWelcome(nil, 1, &w))
	if err != nil {
		return err
	}
	_, err = c.Write(rec)
	return err
}

// readFrame reads the next record and returns its frame's header and
// body.
func readFrame(rr *RecordReader, s *Session) (Header, []byte, error) {
	body, err := rr.ReadRecord()
	if err != nil {
		return Header{}, nil, err
	}
	frame, err := s.Open(body[:0], body)
	if err != nil {
		return Header{}, nil, err
	}
	return ParseHeader(frame)
}
