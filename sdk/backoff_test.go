package sdk_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/sdk"
)

// errorServer is a connector stand-in that welcomes every connection and
// then ends it at once with the ERROR it was given: what a client sees when
// the server cuts it off.
type errorServer struct {
	ln     net.Listener
	key    protocol.Keypair
	secret []byte
	err    protocol.Error

	mu      sync.Mutex
	accepts []time.Time
}

func startErrorServer(t *testing.T, e protocol.Error) *errorServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	key, err := protocol.GenerateKeypair(nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &errorServer{ln: ln, key: key, secret: make([]byte, 32), err: e}
	_, _ = rand.Read(s.secret)
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.accepts = append(s.accepts, time.Now())
			s.mu.Unlock()
			s.serve(nc)
		}
	}()
	return s
}

// serve runs one connection: record 1, record 2, HELLO (not checked),
// WELCOME, the ERROR, close.
func (s *errorServer) serve(nc net.Conn) {
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
	rec1, err := readRecord(nc)
	if err != nil {
		return
	}
	rec2, sess, err := protocol.Respond(s.key, rec1, nil)
	if err != nil {
		return
	}
	if _, err := nc.Write(protocol.AppendRecord(nil, rec2)); err != nil {
		return
	}
	if _, err := readRecord(nc); err != nil { // HELLO
		return
	}
	keys := protocol.DeriveDeviceKeys(s.secret)
	welcome, _ := sess.SealRecord(nil, protocol.AppendWelcome(nil, 0, &protocol.Welcome{
		Heartbeat:       30,
		ServerSignature: protocol.ServerSignature(keys.Server, sess.ChannelBinding()),
	}))
	bye, _ := sess.SealRecord(nil, protocol.AppendError(nil, 1, &s.err))
	_, _ = nc.Write(append(welcome, bye...))
}

func readRecord(r io.Reader) ([]byte, error) {
	var hd [protocol.RecordHeaderLen]byte
	if _, err := io.ReadFull(r, hd[:]); err != nil {
		return nil, err
	}
	body := make([]byte, int(hd[0])<<8|int(hd[1]))
	_, err := io.ReadFull(r, body)
	return body, err
}

// gaps returns the times between the server's first n+1 accepts, waiting
// for them.
func (s *errorServer) gaps(t *testing.T, n int) []time.Duration {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		s.mu.Lock()
		accepts := append([]time.Time(nil), s.accepts...)
		s.mu.Unlock()
		if len(accepts) > n {
			gaps := make([]time.Duration, n)
			for i := range gaps {
				gaps[i] = accepts[i+1].Sub(accepts[i])
			}
			return gaps
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections, want %d", len(accepts), n+1)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A client the server cut off for what it did (codes 1000–1999) backs off
// before it connects again, growing, and never sooner than retry_after
// (docs/protocol.md, 8.3): a client that floods, or reads too slowly, does
// not keep the server busy by reconnecting at once.
func TestClientBacksOffAfterItWasCutOff(t *testing.T) {
	const minBackoff = 100 * time.Millisecond
	tests := []struct {
		name  string
		err   protocol.Error
		check func(t *testing.T, gaps []time.Duration)
	}{
		{"flooding with retry_after", protocol.Error{Code: protocol.CodeFlooding, RetryAfter: time.Second},
			func(t *testing.T, gaps []time.Duration) {
				for i, g := range gaps {
					if g < time.Second {
						t.Errorf("reconnect %d after %v, want at least retry_after (1s)", i+1, g)
					}
				}
			}},
		{"too slow", protocol.Error{Code: protocol.CodeTooSlow},
			func(t *testing.T, gaps []time.Duration) {
				// Backoff b, 2b, 4b, 8b, each waited for a random time
				// from a quarter of it: the fourth wait is at least 2b,
				// where a client that merely dropped waits less than b.
				if gaps[3] < 2*minBackoff {
					t.Errorf("reconnects after %v, want the fourth at least %v", gaps, 2*minBackoff)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startErrorServer(t, tt.err)
			states := make(chan error, 16)
			c, err := sdk.Dial(context.Background(), sdk.Config{
				Gateway: "http://127.0.0.1:1", // not asked: Endpoints is set
				Credentials: sdk.Credentials{
					AppKey:         "app",
					RegistrationID: "device",
					DeviceSecret:   base64.RawURLEncoding.EncodeToString(s.secret),
				},
				Handler:    func(*sdk.Message) error { return nil },
				Endpoints:  &sdk.Endpoints{Addresses: []string{s.ln.Addr().String()}, ServerKey: s.key.Public},
				MinBackoff: minBackoff,
				MaxBackoff: 10 * time.Second,
				OnState: func(st sdk.State, err error) {
					if st == sdk.StateDisconnected {
						select {
						case states <- err:
						default:
						}
					}
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			n := 4
			if tt.err.RetryAfter > 0 {
				n = 2
			}
			tt.check(t, s.gaps(t, n))
			var perr *protocol.Error
			if err := <-states; !errors.As(err, &perr) || perr.Code != tt.err.Code {
				t.Errorf("disconnected with %v, want code %v", err, tt.err.Code)
			}
		})
	}
}
