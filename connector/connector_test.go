package connector_test

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/heraldpush/herald/node"
	"github.com/heraldpush/herald/node/nodetest"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/sdk"
)

// startHerald starts a server with short deadlines, so timeouts are
// testable in seconds.
func startHerald(t *testing.T) *nodetest.Herald {
	return nodetest.Start(t, func(c *node.AllConfig) {
		c.Connector.HandshakeTimeout = time.Second
		c.Connector.Settings.MinHeartbeat = time.Second
		c.Connector.Settings.IdleSlack = time.Millisecond
		c.Connector.MaxUnprocessed = 16
	})
}

// rawDevice speaks the device protocol by hand, to misbehave on purpose.
type rawDevice struct {
	t    *testing.T
	nc   net.Conn
	rr   *protocol.RecordReader
	sess *protocol.Session
	seq  uint32
}

// withReceiveBuffer shrinks a raw device's receive buffer to n bytes, so
// that what the server sends backs up quickly when it does not read.
func withReceiveBuffer(n int) func(*net.Dialer) {
	return func(d *net.Dialer) {
		d.Control = func(_, _ string, rc syscall.RawConn) error {
			return rc.Control(func(fd uintptr) {
				_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, n)
			})
		}
	}
}

func dialRaw(t *testing.T, h *nodetest.Herald, opts ...func(*net.Dialer)) *rawDevice {
	t.Helper()
	var dialer net.Dialer
	for _, o := range opts {
		o(&dialer)
	}
	nc, err := dialer.Dial("tcp", h.Node.DeviceAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawDevice{t: t, nc: nc, rr: protocol.NewRecordReader(nc, 0)}
}

func (d *rawDevice) handshake(serverKey []byte) {
	d.t.Helper()
	in, err := protocol.NewInitiator(serverKey, nil)
	if err != nil {
		d.t.Fatal(err)
	}
	rec1, err := in.AppendRecord1(nil)
	if err != nil {
		d.t.Fatal(err)
	}
	d.writeRaw(protocol.AppendRecord(nil, rec1))
	body, err := d.rr.ReadRecord()
	if err != nil {
		d.t.Fatal(err)
	}
	if d.sess, err = in.ReadRecord2(body); err != nil {
		d.t.Fatal(err)
	}
}

func (d *rawDevice) hello(cr sdk.Credentials, heartbeat uint32) {
	d.t.Helper()
	secret, err := base64.RawURLEncoding.DecodeString(cr.DeviceSecret)
	if err != nil {
		d.t.Fatal(err)
	}
	d.send(protocol.AppendHello(nil, d.nextSeq(), &protocol.Hello{
		RegistrationID: []byte(cr.RegistrationID),
		Proof:          protocol.ClientProof(secret, d.sess.ChannelBinding()),
		Heartbeat:      heartbeat,
	}))
}

func (d *rawDevice) nextSeq() uint32 { d.seq++; return d.seq - 1 }

func (d *rawDevice) writeRaw(b []byte) {
	d.t.Helper()
	if _, err := d.nc.Write(b); err != nil {
		d.t.Fatal(err)
	}
}

func (d *rawDevice) send(frame []byte) {
	d.t.Helper()
	rec, err := d.sess.SealRecord(nil, frame)
	if err != nil {
		d.t.Fatal(err)
	}
	d.writeRaw(rec)
}

// next reads the next frame.
func (d *rawDevice) next() (protocol.Header, []byte, error) {
	rec, err := d.rr.ReadRecord()
	if err != nil {
		return protocol.Header{}, nil, err
	}
	pt, err := d.sess.Open(rec[:0], rec)
	if err != nil {
		return protocol.Header{}, nil, err
	}
	return protocol.ParseHeader(pt)
}

// expectError reads frames until an ERROR and checks its code, then checks
// that the server closes the connection.
func (d *rawDevice) expectError(want protocol.Code) {
	d.t.Helper()
	for {
		h, body, err := d.next()
		if err != nil {
			d.t.Fatalf("waiting for ERROR %v: %v", want, err)
		}
		if h.Type != protocol.TypeError {
			continue
		}
		var e protocol.Error
		if err := e.Unmarshal(body); err != nil {
			d.t.Fatal(err)
		}
		if e.Code != want {
			d.t.Fatalf("ERROR %v (%s), want %v", e.Code, e.Message, want)
		}
		break
	}
	d.expectClosed()
}

// expectRefusal reads record 2 and checks it refuses with code want.
func (d *rawDevice) expectRefusal(want protocol.Code) {
	d.t.Helper()
	body, err := d.rr.ReadRecord()
	if err != nil {
		d.t.Fatalf("waiting for refusal %v: %v", want, err)
	}
	if len(body) < 3 || body[0] != protocol.StatusRefuse {
		d.t.Fatalf("record 2 %x is not a refusal", body)
	}
	if got := protocol.Code(body[1])<<8 | protocol.Code(body[2]); got != want {
		d.t.Fatalf("refusal %v (%s), want %v", got, body[3:], want)
	}
	d.expectClosed()
}

func (d *rawDevice) expectClosed() {
	d.t.Helper()
	_ = d.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b [64]byte
	for {
		_, err := d.nc.Read(b[:])
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || isReset(err) {
			return
		}
		if err != nil {
			d.t.Fatalf("connection not closed by the server: %v", err)
		}
	}
}

func isReset(err error) bool {
	var ne *net.OpError
	return errors.As(err, &ne) && !ne.Timeout()
}

func register(t *testing.T, h *nodetest.Herald, app nodetest.App) sdk.Credentials {
	t.Helper()
	cr, err := sdk.Register(context.Background(), h.URL, app.Key, nil)
	if err != nil {
		t.Fatal(err)
	}
	return cr
}

func TestViolationsCloseTheConnectionWithACode(t *testing.T) {
	h := startHerald(t)
	app := h.CreateApp()
	key := h.Node.ServerKey
	tests := []struct {
		name string
		run  func(t *testing.T, d *rawDevice, cr sdk.Credentials)
	}{
		{"garbage instead of a handshake", func(t *testing.T, d *rawDevice, _ sdk.Credentials) {
			d.writeRaw(protocol.AppendRecord(nil, []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")))
			d.expectRefusal(protocol.CodeUnsupportedVersion)
		}},
		{"record 1 of the wrong size", func(t *testing.T, d *rawDevice, _ sdk.Credentials) {
			d.writeRaw(protocol.AppendRecord(nil, append([]byte{protocol.Version}, make([]byte, 20)...)))
			d.expectRefusal(protocol.CodeHandshakeFailed)
		}},
		{"handshake against another server key", func(t *testing.T, d *rawDevice, _ sdk.Credentials) {
			other, _ := protocol.GenerateKeypair(nil)
			in, _ := protocol.NewInitiator(other.Public, nil)
			rec1, _ := in.AppendRecord1(nil)
			d.writeRaw(protocol.AppendRecord(nil, rec1))
			d.expectRefusal(protocol.CodeHandshakeFailed)
		}},
		{"record 1 announced longer than it is, refused before its body", func(t *testing.T, d *rawDevice, _ sdk.Credentials) {
			d.writeRaw([]byte{0x10, 0x00, protocol.Version})
			d.expectRefusal(protocol.CodeHandshakeFailed)
		}},
		{"record 1 of another version announced longer than it is", func(t *testing.T, d *rawDevice, _ sdk.Credentials) {
			d.writeRaw([]byte{0x00, 0x60, 2})
			d.expectRefusal(protocol.CodeUnsupportedVersion)
		}},
		{"oversized record header", func(t *testing.T, d *rawDevice, _ sdk.Credentials) {
			d.writeRaw([]byte{0xff, 0xff, 1, 2, 3})
			d.expectRefusal(protocol.CodeFrameTooLarge)
		}},
		{"zero-length record", func(t *testing.T, d *rawDevice, _ sdk.Credentials) {
			d.writeRaw([]byte{0, 0})
			d.expectRefusal(protocol.CodeMalformedFrame)
		}},
		{"frame before HELLO", func(t *testing.T, d *rawDevice, _ sdk.Credentials) {
			d.handshake(key)
			d.send(protocol.AppendPing(nil, 0, &protocol.Ping{}))
			d.expectError(protocol.CodeUnexpectedFrame)
		}},
		{"bad proof", func(t *testing.T, d *rawDevice, cr sdk.Credentials) {
			d.handshake(key)
			d.send(protocol.AppendHello(nil, 0, &protocol.Hello{RegistrationID: []byte(cr.RegistrationID), Proof: [32]byte{1}}))
			d.expectError(protocol.CodeAuthFailed)
		}},
		{"unknown device", func(t *testing.T, d *rawDevice, cr sdk.Credentials) {
			cr.RegistrationID = "ffffffffffffffffffff"
			d.handshake(key)
			d.hello(cr, 0)
			d.expectError(protocol.CodeAuthFailed)
		}},
		{"garbled record after the handshake", func(t *testing.T, d *rawDevice, cr sdk.Credentials) {
			d.handshake(key)
			rec, _ := d.sess.SealRecord(nil, protocol.AppendPing(nil, 0, &protocol.Ping{}))
			rec[len(rec)-1] ^= 1
			d.writeRaw(rec)
			d.expectError(protocol.CodeMalformedFrame)
		}},
		{"malformed HELLO body", func(t *testing.T, d *rawDevice, _ sdk.Credentials) {
			d.handshake(key)
			d.send(append(protocol.AppendHeader(nil, protocol.Header{Type: protocol.TypeHello}), 0xff, 0xff))
			d.expectError(protocol.CodeMalformedFrame)
		}},
		{"frame sent before WELCOME", func(t *testing.T, d *rawDevice, cr sdk.Credentials) {
			d.handshake(key)
			d.hello(cr, 0)
			d.send(protocol.AppendPing(nil, 1, &protocol.Ping{}))
			// Either the PING arrives while authenticating (1003), or after
			// WELCOME, where it is fine: then a PONG comes back.
			for {
				h, body, err := d.next()
				if err != nil {
					t.Fatal(err)
				}
				if h.Type == protocol.TypePong {
					return
				}
				if h.Type == protocol.TypeError {
					var e protocol.Error
					_ = e.Unmarshal(body)
					if e.Code != protocol.CodeUnexpectedFrame {
						t.Fatalf("ERROR %v", e.Code)
					}
					d.expectClosed()
					return
				}
			}
		}},
		{"server frame type from the device", func(t *testing.T, d *rawDevice, cr sdk.Credentials) {
			d.handshake(key)
			d.hello(cr, 0)
			if h, _, err := d.next(); err != nil || h.Type != protocol.TypeWelcome {
				t.Fatalf("want WELCOME, got %v %v", h.Type, err)
			}
			d.send(protocol.AppendPush(nil, 1, 0, &protocol.Push{MessageID: 1}))
			d.expectError(protocol.CodeUnexpectedFrame)
		}},
		{"reserved frame type", func(t *testing.T, d *rawDevice, cr sdk.Credentials) {
			d.handshake(key)
			d.hello(cr, 0)
			if h, _, err := d.next(); err != nil || h.Type != protocol.TypeWelcome {
				t.Fatalf("want WELCOME, got %v %v", h.Type, err)
			}
			d.send(protocol.AppendHeader(nil, protocol.Header{Type: protocol.TypeGrab}))
			d.expectError(protocol.CodeUnexpectedFrame)
		}},
		{"silent after connecting", func(t *testing.T, d *rawDevice, _ sdk.Credentials) {
			d.expectRefusal(protocol.CodeHandshakeTimeout)
		}},
		{"half of record 1, then silent", func(t *testing.T, d *rawDevice, _ sdk.Credentials) {
			in, _ := protocol.NewInitiator(key, nil)
			rec1, _ := in.AppendRecord1(nil)
			d.writeRaw(protocol.AppendRecord(nil, rec1)[:25])
			d.expectRefusal(protocol.CodeHandshakeTimeout)
		}},
		{"silent after the handshake", func(t *testing.T, d *rawDevice, _ sdk.Credentials) {
			d.handshake(key)
			d.expectError(protocol.CodeHandshakeTimeout)
		}},
		{"half of HELLO, then silent", func(t *testing.T, d *rawDevice, cr sdk.Credentials) {
			d.handshake(key)
			secret, _ := base64.RawURLEncoding.DecodeString(cr.DeviceSecret)
			rec, _ := d.sess.SealRecord(nil, protocol.AppendHello(nil, d.nextSeq(), &protocol.Hello{
				RegistrationID: []byte(cr.RegistrationID),
				Proof:          protocol.ClientProof(secret, d.sess.ChannelBinding()),
			}))
			d.writeRaw(rec[:len(rec)/2])
			d.expectError(protocol.CodeHandshakeTimeout)
		}},
		{"silent past the heartbeat", func(t *testing.T, d *rawDevice, cr sdk.Credentials) {
			d.handshake(key)
			d.hello(cr, 1)
			h, body, err := d.next()
			if err != nil || h.Type != protocol.TypeWelcome {
				t.Fatalf("want WELCOME, got %v %v", h.Type, err)
			}
			var w protocol.Welcome
			if err := w.Unmarshal(body); err != nil || w.Heartbeat != 1 {
				t.Fatalf("WELCOME %+v %v: want the requested heartbeat of 1s", w, err)
			}
			d.expectError(protocol.CodeIdleTimeout)
		}},
		{"flooding", func(t *testing.T, d *rawDevice, cr sdk.Credentials) {
			d.handshake(key)
			d.hello(cr, 0)
			if h, _, err := d.next(); err != nil || h.Type != protocol.TypeWelcome {
				t.Fatalf("want WELCOME, got %v %v", h.Type, err)
			}
			var burst []byte
			for i := range 5000 {
				rec, _ := d.sess.SealRecord(nil, protocol.AppendPing(nil, uint32(i), &protocol.Ping{}))
				burst = append(burst, rec...)
			}
			_, _ = d.nc.Write(burst) // the server may cut us off mid-write
			d.expectError(protocol.CodeFlooding)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, dialRaw(t, h), register(t, h, app))
		})
	}
}

// A misbehaving client is cut off while well-behaved devices on the same
// connector keep receiving.
func TestGarbageClientDoesNotDisturbOthers(t *testing.T) {
	h := startHerald(t)
	app := h.CreateApp()
	const devices = 20
	var received atomic.Int64
	var rids []string
	for range devices {
		cr := register(t, h, app)
		rids = append(rids, cr.RegistrationID)
		c, err := sdk.Dial(context.Background(), sdk.Config{Gateway: h.URL, Credentials: cr, Handler: func(*sdk.Message) error {
			received.Add(1)
			return nil
		}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
	stop, stopped := make(chan struct{}), make(chan struct{})
	defer func() { close(stop); <-stopped }()
	addr := h.Node.DeviceAddr().String()
	go func() {
		defer close(stopped)
		for {
			select {
			case <-stop:
				return
			default:
			}
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				continue
			}
			_, _ = nc.Write([]byte{0, 49, 1, 0xde, 0xad, 0xbe, 0xef})
			_, _ = nc.Write(make([]byte, 4096))
			nc.Close()
		}
	}()
	const rounds = 5
	for range rounds {
		h.Push(app, nodetest.Push{RegistrationIDs: rids, Content: "still here"})
	}
	nodetest.Eventually(t, 10*time.Second, func() bool { return received.Load() == devices*rounds }, func() string {
		return "received " + time.Duration(received.Load()).String()
	})
}
