package sdk_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/heraldpush/herald/actors"
	"github.com/heraldpush/herald/connector"
	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/dataservice/leveldb"
	"github.com/heraldpush/herald/node/nodetest"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/sdk"
)

// heldQueue is a dataservice client whose upstream queue records what it
// stores and can hold the calls.
type heldQueue struct {
	dataservice.Client
	mu     sync.Mutex
	stored []dataservice.UpstreamMessage
	hold   chan struct{} // if not nil, calls wait for it to close
	enter  chan struct{} // if not nil, receives once per call
}

func (q *heldQueue) EnqueueUpstream(ctx context.Context, msgs []dataservice.UpstreamMessage) error {
	q.mu.Lock()
	hold, enter := q.hold, q.enter
	q.mu.Unlock()
	if enter != nil {
		enter <- struct{}{}
	}
	if hold != nil {
		<-hold
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, m := range msgs {
		m.Data = slices.Clone(m.Data)
		q.stored = append(q.stored, m)
	}
	return nil
}

// count returns how often id was stored.
func (q *heldQueue) count(id uint64) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for _, m := range q.stored {
		if m.ID == id {
			n++
		}
	}
	return n
}

func (q *heldQueue) get(id uint64) (dataservice.UpstreamMessage, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, m := range q.stored {
		if m.ID == id {
			return m, true
		}
	}
	return dataservice.UpstreamMessage{}, false
}

// noReceipts is a Receipts that is not a writer: a connector given it has
// no upstream queue.
type noReceipts struct{}

func (noReceipts) Add(uint64, dataservice.Counter, int64) {}

// upstreamServer is a connector in process over a held queue.
type upstreamServer struct {
	queue *heldQueue
	conn  *connector.Connector
	key   protocol.Keypair
	data  *dataservice.Service
}

func startUpstreamServer(t *testing.T, withQueue bool) *upstreamServer {
	t.Helper()
	store, err := leveldb.Open(leveldb.Config{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	key, err := protocol.GenerateKeypair(nil)
	if err != nil {
		t.Fatal(err)
	}
	s := &upstreamServer{data: dataservice.New(store), key: key}
	s.queue = &heldQueue{Client: s.data}
	system := actor.NewActorSystemWithConfig(actor.Configure(actor.WithLoggerFactory(func(*actor.ActorSystem) *slog.Logger { return quiet })))
	w := actors.NewWriter(system, actors.WriterConfig{}, s.queue, quiet)
	var receipts actors.Receipts = w
	if !withQueue {
		receipts = noReceipts{}
	}
	s.conn = connector.New(connector.Config{Listen: "127.0.0.1:0", Log: quiet}, system, w, receipts, key)
	if err := s.conn.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.conn.Shutdown(ctx)
		system.Shutdown()
		store.Close()
	})
	return s
}

// device registers a device of app "app" directly in the store and
// connects a client to the connector; it returns the client and the
// device's registration id.
func (s *upstreamServer) device(t *testing.T, dial func(context.Context, string, string) (net.Conn, error)) (*sdk.Client, string) {
	t.Helper()
	secret := make([]byte, protocol.SecretLen)
	_, _ = rand.Read(secret)
	keys := protocol.DeriveDeviceKeys(secret)
	rid := "dev-" + base64.RawURLEncoding.EncodeToString(secret[:6])
	if err := s.data.CreateDevice(context.Background(), dataservice.Device{RegistrationID: rid, AppKey: "app", StoredKey: keys.Stored, ServerKey: keys.Server, Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := sdk.Dial(ctx, sdk.Config{
		Gateway:     "http://127.0.0.1:1", // unused: the endpoints are given
		Credentials: sdk.Credentials{AppKey: "app", RegistrationID: rid, DeviceSecret: base64.RawURLEncoding.EncodeToString(secret)},
		Handler:     func(*sdk.Message) error { return nil },
		Endpoints:   &sdk.Endpoints{Addresses: []string{s.conn.Addr().String()}, ServerKey: s.key.Public},
		Dial:        dial,
		Logger:      quiet,
		MinBackoff:  20 * time.Millisecond,
		MaxBackoff:  200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, rid
}

// cut closes the connections dialed so far, staying online.
func (s *switchableNet) cut() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
}

func TestSendIsStoredWithTheDevicesIdentity(t *testing.T) {
	s := startUpstreamServer(t, true)
	c, rid := s.device(t, nil)
	ctx := context.Background()
	before := time.Now()
	const n = 100
	ids := make([]uint64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			id, err := c.Send(ctx, []byte(fmt.Sprint("reading ", i)))
			if err != nil {
				t.Error(err)
			}
			ids[i] = id
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for i, id := range ids {
		m, ok := s.queue.get(id)
		if !ok || id == 0 {
			t.Fatalf("id %d of send %d not stored", id, i)
		}
		if want := fmt.Sprint("reading ", i); string(m.Data) != want || m.AppKey != "app" || m.RegistrationID != rid || m.At.Before(before) {
			t.Fatalf("stored %+v for send %d", m, i)
		}
	}
	slices.Sort(ids)
	if len(slices.Compact(ids)) != n {
		t.Fatal("Send returned the same id twice")
	}
	if got := c.Stats().Sent; got != n {
		t.Fatalf("Stats().Sent = %d, want %d", got, n)
	}
}

// A message whose ACK was lost with its connection is sent again on the
// next one: Send returns once that copy is acknowledged, and the backend
// sees the id twice (at least once).
func TestSendIsResentAfterAConnectionDrops(t *testing.T) {
	s := startUpstreamServer(t, true)
	var sn switchableNet
	c, _ := s.device(t, sn.dial)
	hold := make(chan struct{})
	s.queue.mu.Lock()
	s.queue.hold, s.queue.enter = hold, make(chan struct{}, 16)
	s.queue.mu.Unlock()

	type result struct {
		id  uint64
		err error
	}
	done := make(chan result, 1)
	go func() {
		id, err := c.Send(context.Background(), []byte("survives a drop"))
		done <- result{id, err}
	}()
	<-s.queue.enter // the connector is storing it
	sn.cut()        // and the connection drops before the ACK
	s.queue.mu.Lock()
	s.queue.hold, s.queue.enter = nil, nil
	s.queue.mu.Unlock()
	close(hold)

	select {
	case r := <-done:
		if r.err != nil {
			t.Fatal(r.err)
		}
		if n := s.queue.count(r.id); n != 2 {
			t.Fatalf("message stored %d times, want 2 (before and after the drop)", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Send did not return after the reconnection")
	}
	if st := c.Stats(); st.Sent != 1 || st.Connects < 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSendErrors(t *testing.T) {
	s := startUpstreamServer(t, true)
	c, _ := s.device(t, nil)
	tests := []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, sdk.ErrUpstreamSize},
		{"too large", make([]byte, sdk.MaxUpstreamData+1), sdk.ErrUpstreamSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := c.Send(context.Background(), tt.data); !errors.Is(err, tt.want) {
				t.Fatalf("Send = %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("largest", func(t *testing.T) {
		if _, err := c.Send(context.Background(), make([]byte, sdk.MaxUpstreamData)); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("unsupported", func(t *testing.T) {
		old := startUpstreamServer(t, false)
		oc, _ := old.device(t, nil)
		if _, err := oc.Send(context.Background(), []byte("x")); !errors.Is(err, sdk.ErrUpstreamUnsupported) {
			t.Fatalf("Send = %v, want ErrUpstreamUnsupported", err)
		}
	})
	t.Run("closed", func(t *testing.T) {
		cc, _ := s.device(t, nil)
		cc.Close()
		if _, err := cc.Send(context.Background(), []byte("x")); !errors.Is(err, sdk.ErrClosed) {
			t.Fatalf("Send = %v, want ErrClosed", err)
		}
	})
}

// A Send whose context ends returns at once, but its message stays
// pending and is still delivered; beyond MaxPendingUpstreams pending
// messages Send refuses.
func TestSendCanceledAndPendingBound(t *testing.T) {
	s := startUpstreamServer(t, true)
	c, _ := s.device(t, nil)
	hold := make(chan struct{})
	s.queue.mu.Lock()
	s.queue.hold = hold
	s.queue.mu.Unlock()
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	for i := range sdk.MaxPendingUpstreams {
		if _, err := c.Send(canceled, []byte(fmt.Sprint(i))); !errors.Is(err, context.Canceled) {
			t.Fatalf("Send %d = %v, want context.Canceled", i, err)
		}
	}
	if _, err := c.Send(context.Background(), []byte("one more")); !errors.Is(err, sdk.ErrTooManyUpstreams) {
		t.Fatalf("Send = %v, want ErrTooManyUpstreams", err)
	}
	s.queue.mu.Lock()
	s.queue.hold = nil
	s.queue.mu.Unlock()
	close(hold)
	nodetest.Eventually(t, 10*time.Second, func() bool { return c.Stats().Sent == sdk.MaxPendingUpstreams },
		func() string { return fmt.Sprintf("stats %+v", c.Stats()) })
	if _, err := c.Send(context.Background(), []byte("room again")); err != nil {
		t.Fatal(err)
	}
}
