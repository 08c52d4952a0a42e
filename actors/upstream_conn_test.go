package actors_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/heraldpush/herald/actors"
	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/protocol"
)

// fakeSocket is the connector's side of a connection as a connection actor
// sees it: what the actor writes is split into records for the test.
type fakeSocket struct {
	mu      sync.Mutex
	pending []byte
	records chan []byte
	closed  chan struct{}
	once    sync.Once
}

func newFakeSocket() *fakeSocket {
	return &fakeSocket{records: make(chan []byte, 1024), closed: make(chan struct{})}
}

func (s *fakeSocket) Write(b []byte) (int, error) {
	select {
	case <-s.closed:
		return 0, errors.New("fake socket closed")
	default:
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = append(s.pending, b...)
	for {
		body, rest, err := protocol.SplitRecord(s.pending, protocol.MaxRecordLimit)
		if err != nil || body == nil {
			break
		}
		s.records <- append([]byte(nil), body...)
		s.pending = append(s.pending[:0], rest...)
	}
	return len(b), nil
}

func (s *fakeSocket) Close() error { s.once.Do(func() { close(s.closed) }); return nil }
func (s *fakeSocket) CloseWith(last []byte) error {
	_, _ = s.Write(last)
	return s.Close()
}
func (s *fakeSocket) Ready(time.Duration) {}
func (s *fakeSocket) Processed()          {}
func (s *fakeSocket) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// connHarness runs connection actors over fake sockets, with a writer
// over a fake upstream queue.
type connHarness struct {
	*harness
	queue *fakeQueue
	key   protocol.Keypair
}

// newConnHarness starts the actors; withQueue says whether the connector
// has an upstream queue, and cfg configures its writer.
func newConnHarness(t *testing.T, withQueue bool, cfg ...actors.WriterConfig) *connHarness {
	t.Helper()
	key, err := protocol.GenerateKeypair(nil)
	if err != nil {
		t.Fatal(err)
	}
	h := &connHarness{harness: newHarness(t, nil), key: key}
	h.env.Key = key
	h.queue = &fakeQueue{Client: h.data}
	if withQueue {
		var wcfg actors.WriterConfig
		if len(cfg) > 0 {
			wcfg = cfg[0]
		}
		h.env.Upstreams = actors.NewWriter(h.env.System, wcfg, h.queue, h.env.Log).Upstreams()
	}
	return h
}

// device is a device speaking to a connection actor.
type device struct {
	t       testing.TB
	rid     string
	sock    *fakeSocket
	pid     *actor.PID
	sess    *protocol.Session
	seq     uint32
	welcome protocol.Welcome
	h       *connHarness
}

// connect registers a device, opens a connection and reads WELCOME.
func (h *connHarness) connect(rid string) *device {
	h.t.Helper()
	secret := make([]byte, protocol.SecretLen)
	copy(secret, rid)
	keys := protocol.DeriveDeviceKeys(secret)
	err := h.data.CreateDevice(context.Background(), dataservice.Device{RegistrationID: rid, AppKey: testApp, StoredKey: keys.Stored, ServerKey: keys.Server, Created: time.Now()})
	if err != nil {
		h.t.Fatal(err)
	}
	d := &device{t: h.t, rid: rid, sock: newFakeSocket(), h: h}
	d.pid = h.env.SpawnConnection(d.sock)
	in, err := protocol.NewInitiator(h.key.Public, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	rec1, err := in.AppendRecord1(nil)
	if err != nil {
		h.t.Fatal(err)
	}
	h.env.System.Root.Send(d.pid, &actors.Inbound{Record: rec1})
	if d.sess, err = in.ReadRecord2(d.record()); err != nil {
		h.t.Fatal(err)
	}
	d.send(protocol.AppendHello(nil, d.nextSeq(), &protocol.Hello{
		RegistrationID: []byte(rid),
		Proof:          protocol.ClientProof(secret, d.sess.ChannelBinding()),
	}))
	hd, body := d.frame()
	if hd.Type != protocol.TypeWelcome {
		h.t.Fatalf("got %v, want WELCOME", hd.Type)
	}
	if err := d.welcome.Unmarshal(body); err != nil {
		h.t.Fatal(err)
	}
	return d
}

func (d *device) nextSeq() uint32 { d.seq++; return d.seq - 1 }

// record returns the next record the connection wrote.
func (d *device) record() []byte {
	d.t.Helper()
	select {
	case r := <-d.sock.records:
		return r
	case <-time.After(5 * time.Second):
		d.t.Fatal("no record from the connection")
		return nil
	}
}

// frame returns the next frame the connection wrote.
func (d *device) frame() (protocol.Header, []byte) {
	d.t.Helper()
	rec := d.record()
	pt, err := d.sess.Open(rec[:0], rec)
	if err != nil {
		d.t.Fatal(err)
	}
	h, body, err := protocol.ParseHeader(pt)
	if err != nil {
		d.t.Fatal(err)
	}
	return h, body
}

// send seals frame and hands it to the connection actor.
func (d *device) send(frame []byte) {
	d.t.Helper()
	rec, err := d.sess.SealRecord(nil, frame)
	if err != nil {
		d.t.Fatal(err)
	}
	d.h.env.System.Root.Send(d.pid, &actors.Inbound{Record: rec[protocol.RecordHeaderLen:]})
}

func (d *device) upstream(id uint64, data string) {
	d.send(protocol.AppendUpstream(nil, d.nextSeq(), &protocol.Upstream{UpstreamID: id, Data: []byte(data)}))
}

// acked reads ACK frames until they cover n ids.
func (d *device) acked(n int) []uint64 {
	d.t.Helper()
	var ids []uint64
	for len(ids) < n {
		h, body := d.frame()
		if h.Type != protocol.TypeAck {
			d.t.Fatalf("got %v, want ACK", h.Type)
		}
		var a protocol.Ack
		if err := a.Unmarshal(body); err != nil {
			d.t.Fatal(err)
		}
		ids = append(ids, a.MessageIDs...)
	}
	return ids
}

// expectError reads the next frame, an ERROR with code want, and checks
// that the connection is closed.
func (d *device) expectError(want protocol.Code) protocol.Error {
	d.t.Helper()
	h, body := d.frame()
	if h.Type != protocol.TypeError {
		d.t.Fatalf("got %v, want ERROR %v", h.Type, want)
	}
	var e protocol.Error
	if err := e.Unmarshal(body); err != nil {
		d.t.Fatal(err)
	}
	if e.Code != want {
		d.t.Fatalf("ERROR %v (%s), want %v", e.Code, e.Message, want)
	}
	select {
	case <-d.sock.closed:
	case <-time.After(5 * time.Second):
		d.t.Fatal("connection not closed after ERROR")
	}
	return e
}

// nothing checks that the connection writes nothing for a while.
func (d *device) nothing() {
	d.t.Helper()
	select {
	case r := <-d.sock.records:
		d.t.Fatalf("unexpected record of %d bytes", len(r))
	case <-time.After(50 * time.Millisecond):
	}
}

func TestUpstreamFeatureFollowsTheQueue(t *testing.T) {
	for _, withQueue := range []bool{true, false} {
		h := newConnHarness(t, withQueue)
		d := h.connect("dev-feature")
		if got := d.welcome.Features&protocol.FeatureUpstream != 0; got != withQueue {
			t.Fatalf("with queue %v: WELCOME features %#x", withQueue, d.welcome.Features)
		}
		if !withQueue {
			// Not announced, so not accepted.
			d.upstream(1, "x")
			d.expectError(protocol.CodeUnexpectedFrame)
		}
	}
}

// An UPSTREAM is acknowledged only once the queue has stored it, with the
// device's app and registration id.
func TestUpstreamIsAcknowledgedOnceDurable(t *testing.T) {
	h := newConnHarness(t, true)
	h.queue.hold = make(chan struct{})
	h.queue.enter = make(chan struct{}, 16)
	d := h.connect("dev-ack")
	before := time.Now()
	d.upstream(7, "hello")
	<-h.queue.enter
	d.nothing() // held in the store: no ACK yet
	d.upstream(8, "world")
	d.upstream(9, "again")
	close(h.queue.hold)
	ids := d.acked(3)
	if len(ids) != 3 || ids[0] != 7 || ids[1] != 8 || ids[2] != 9 {
		t.Fatalf("acknowledged %v, want [7 8 9]", ids)
	}
	got := h.queue.stored()
	if len(got) != 3 {
		t.Fatalf("stored %d messages", len(got))
	}
	for i, want := range []string{"hello", "world", "again"} {
		m := got[i]
		if m.AppKey != testApp || m.RegistrationID != "dev-ack" || m.ID != uint64(7+i) || string(m.Data) != want || m.At.Before(before) {
			t.Fatalf("stored %+v", m)
		}
	}
	// The connection goes on: PING still works.
	d.send(protocol.AppendPing(nil, d.nextSeq(), &protocol.Ping{Time: 5}))
	if hd, _ := d.frame(); hd.Type != protocol.TypePong {
		t.Fatalf("got %v, want PONG", hd.Type)
	}
}

// A failed store gets no ACK: the connection ends with a retry_after, and
// the device sends the data again on its next connection.
func TestUpstreamStoreFailureEndsTheConnection(t *testing.T) {
	h := newConnHarness(t, true)
	h.queue.fail = errors.New("store down")
	d := h.connect("dev-fail")
	d.upstream(1, "lost?")
	e := d.expectError(protocol.CodeInternalError)
	if e.RetryAfter <= 0 {
		t.Fatalf("ERROR %+v without retry_after", e)
	}
	h.queue.mu.Lock()
	h.queue.fail = nil
	h.queue.mu.Unlock()
	d2 := h.connect("dev-fail2")
	d2.upstream(1, "sent again")
	if ids := d2.acked(1); ids[0] != 1 {
		t.Fatalf("acknowledged %v", ids)
	}
}

// Beyond the writer's budget the connector is busy: the device gets no
// ACK, and reconnects later (to another connector first) to send again.
func TestUpstreamOverTheWritersBudgetIsBusy(t *testing.T) {
	h := newConnHarness(t, true, actors.WriterConfig{MaxUpstreamBytes: 2 * (protocol.MaxUpstreamData + 100)})
	h.queue.hold = make(chan struct{})
	h.queue.enter = make(chan struct{}, 16)
	d := h.connect("dev-busy")
	big := string(make([]byte, protocol.MaxUpstreamData))
	d.upstream(1, big)
	<-h.queue.enter
	d.upstream(2, big)
	d.upstream(3, big)
	e := d.expectError(protocol.CodeServerBusy)
	if e.RetryAfter <= 0 {
		t.Fatalf("ERROR %+v without retry_after", e)
	}
	close(h.queue.hold)
}

// A device may have MaxUpstreamsInFlight upstreams unacknowledged; one more
// ends the connection with too_many_upstreams.
func TestUpstreamsInFlightAreBounded(t *testing.T) {
	h := newConnHarness(t, true)
	h.queue.hold = make(chan struct{})
	d := h.connect("dev-flood")
	for i := range protocol.MaxUpstreamsInFlight {
		d.upstream(uint64(i+1), "x")
	}
	d.nothing()
	d.upstream(protocol.MaxUpstreamsInFlight+1, "one too many")
	d.expectError(protocol.CodeTooManyUpstreams)
	close(h.queue.hold)

	// Acknowledged upstreams free their place.
	h2 := newConnHarness(t, true)
	d2 := h2.connect("dev-steady")
	for i := range 3 * protocol.MaxUpstreamsInFlight {
		d2.upstream(uint64(i+1), "x")
		if got := d2.acked(1); got[0] != uint64(i+1) {
			t.Fatalf("acknowledged %v, want %d", got, i+1)
		}
	}
}

func TestMalformedUpstreamEndsTheConnection(t *testing.T) {
	tests := []struct {
		name string
		up   protocol.Upstream
	}{
		{"zero id", protocol.Upstream{Data: []byte("x")}},
		{"no data", protocol.Upstream{UpstreamID: 1}},
		{"data too long", protocol.Upstream{UpstreamID: 1, Data: make([]byte, protocol.MaxUpstreamData+1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newConnHarness(t, true)
			d := h.connect("dev-bad")
			d.send(protocol.AppendUpstream(nil, d.nextSeq(), &tt.up))
			d.expectError(protocol.CodeMalformedFrame)
			if n := len(h.queue.stored()); n != 0 {
				t.Fatalf("%d messages stored", n)
			}
		})
	}
}
