package actors

import (
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/asynkron/protoactor-go/actor"
	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/internal/metrics"
	"github.com/heraldpush/herald/protocol"
)

// Socket is the connector's side of one device connection, as a connection
// actor uses it. Write, CloseWith and Close must not block for long; Write
// may be called after the socket closed and then fails.
type Socket interface {
	// Write sends b, or fails: with ErrSocketFull (wrapped) if the device
	// does not read fast enough, after which only CloseWith sends.
	Write(b []byte) (int, error)
	// CloseWith sends last (an ERROR or a refusal), even after Write
	// failed with ErrSocketFull, then closes.
	CloseWith(last []byte) error
	Close() error
	// Ready tells the event loop the handshake is done: from now on the
	// idle timeout applies instead of the handshake deadline.
	Ready(idle time.Duration)
	// Processed tells the event loop one Inbound was handled, for its bound
	// on unprocessed records per connection.
	Processed()
}

// ErrSocketFull is what Socket.Write returns (wrapped) when the device did
// not read what was sent to it and its output outgrew the socket's bound:
// the connection then ends with ERROR too_slow.
var ErrSocketFull = errors.New("actors: the device does not read its output fast enough")

// connectionInit gives a new connection actor its socket (see
// Env.SpawnConnection).
type connectionInit struct{ sock Socket }

func newConnection(env *Env) actor.Actor {
	return &connection{env: env}
}

// connection is the connection actor. All fields are owned by its Receive.
// An idle, authenticated connection keeps only the fields above pending.
type connection struct {
	env    *Env
	sock   Socket
	phase  connPhase
	sess   *protocol.Session
	device *actor.PID
	seq    uint32 // sequence number of the last frame written
	closed bool
	// upstreams counts the device's UPSTREAM frames handed to
	// env.Upstreams and not yet acknowledged.
	upstreams uint8
	app       string // the device's app, from authentication
	// pending holds what authentication needs, from HELLO to WELCOME.
	pending *pendingAuth
}

type pendingAuth struct {
	rid       string
	proof     [32]byte
	signature [32]byte // server signature for WELCOME
	heartbeat time.Duration
	started   time.Time // HELLO's arrival, for the handshake's duration (metrics.Now)
}

// authResult is the outcome of the device lookup of HELLO.
type authResult struct {
	device dataservice.Device
	err    error
}

func (c *connection) Receive(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *connectionInit:
		c.sock = m.sock
		return
	case *SocketClosed:
		c.closed = true
		if c.device != nil {
			ctx.Send(c.device, &Detach{Conn: ctx.Self()})
			c.device = nil
		}
		ctx.Stop(ctx.Self())
		return
	case *Inbound:
		defer c.sock.Processed()
	case *DeadlinePassed:
		code := protocol.CodeIdleTimeout
		if c.device == nil {
			code = protocol.CodeHandshakeTimeout
		}
		c.fail(&protocol.Error{Code: code, Message: "connection silent past its deadline"})
		return
	case *Drain:
		c.fail(&protocol.Error{Code: protocol.CodeShuttingDown, Message: "connector is shutting down; reconnect to another address"})
		return
	case *Kick:
		c.fail(m.Err)
		return
	}
	if c.closed {
		return
	}
	switch c.phase {
	case handshaking:
		c.handshaking(ctx)
	case awaitingHello:
		c.awaitingHello(ctx)
	case authenticating:
		c.authenticating(ctx)
	case attaching:
		c.attaching(ctx)
	case ready:
		c.ready(ctx)
	}
}

// connPhase is where a connection is in its life; each has its handler
// (a switch rather than protoactor's Behavior, whose stack of closures
// costs about 50 bytes per connection).
type connPhase uint8

const (
	handshaking connPhase = iota
	awaitingHello
	authenticating
	attaching
	ready
)

// handshaking expects record 1 of the Noise handshake.
func (c *connection) handshaking(ctx actor.Context) {
	in, ok := ctx.Message().(*Inbound)
	if !ok {
		return
	}
	reply, sess, err := protocol.Respond(c.env.Key, in.Record, nil)
	if err != nil {
		var perr *protocol.Error
		if !errors.As(err, &perr) {
			perr = &protocol.Error{Code: protocol.CodeHandshakeFailed, Message: err.Error()}
		}
		c.closeWith(protocol.AppendRecord(nil, protocol.AppendRefusal(nil, perr)))
		handshakeFailures.Inc()
		return
	}
	c.sess = sess
	c.write(protocol.AppendRecord(nil, reply))
	c.phase = awaitingHello
}

// awaitingHello expects the HELLO frame proving the device's identity.
func (c *connection) awaitingHello(ctx actor.Context) {
	in, ok := ctx.Message().(*Inbound)
	if !ok {
		return
	}
	h, body, ok := c.open(in.Record)
	if !ok {
		return
	}
	if h.Type != protocol.TypeHello {
		c.unexpected(h.Type)
		return
	}
	var hello protocol.Hello
	if err := hello.Unmarshal(body); err != nil {
		c.fail(&protocol.Error{Code: protocol.CodeMalformedFrame, Message: err.Error()})
		return
	}
	p := &pendingAuth{rid: string(hello.RegistrationID), heartbeat: c.env.Settings.negotiate(hello.Heartbeat)}
	p.proof = hello.Proof
	p.started = metrics.Now()
	c.pending = p

	self, system, data, rid := ctx.Self(), c.env.System, c.env.Data, p.rid
	err := c.env.Workers.TrySubmit(func() {
		d, err := data.Device(context.Background(), rid)
		system.Root.Send(self, &authResult{device: d, err: err})
	})
	if err != nil {
		c.fail(&protocol.Error{Code: protocol.CodeServerBusy, Message: "connector busy", RetryAfter: 2 * time.Second})
		handshakeFailures.Inc()
		return
	}
	c.phase = authenticating
}

// authenticating waits for the device lookup; the device may not send
// anything before WELCOME.
func (c *connection) authenticating(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *Inbound:
		c.unexpectedBeforeWelcome(m)
	case *authResult:
		if m.err != nil && !errors.Is(m.err, dataservice.ErrNotFound) {
			c.env.Log.Warn("device lookup failed", "rid", c.pending.rid, "err", m.err)
			c.fail(&protocol.Error{Code: protocol.CodeInternalError, Message: "device lookup failed", RetryAfter: 5 * time.Second})
			handshakeFailures.Inc()
			return
		}
		binding := c.sess.ChannelBinding()
		if m.err != nil || !protocol.VerifyClientProof(m.device.StoredKey, binding, c.pending.proof) {
			c.fail(&protocol.Error{Code: protocol.CodeAuthFailed, Message: "authentication failed"})
			handshakeFailures.Inc()
			return
		}
		c.pending.signature = protocol.ServerSignature(m.device.ServerKey, binding)
		c.app = m.device.AppKey
		c.env.Directory.Attach(ctx, m.device, ctx.Self())
		c.phase = attaching
	}
}

// attaching waits for the device actor to take the connection.
func (c *connection) attaching(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *Inbound:
		c.unexpectedBeforeWelcome(m)
	case *Attached:
		c.device = m.Device
		p := c.pending
		c.pending = nil
		c.writeFrame(func(b []byte) []byte {
			return protocol.AppendWelcome(b, c.nextSeq(), &protocol.Welcome{
				Heartbeat:       uint32(p.heartbeat / time.Second),
				ServerSignature: p.signature,
				ServerTime:      c.env.Now().UnixMilli(),
				Connector:       []byte(c.env.Settings.ConnectorID),
				MaxRecord:       uint32(c.env.Settings.MaxRecord),
				Features:        c.features(),
			})
		})
		c.sock.Ready(c.env.Settings.IdleTimeout(p.heartbeat))
		c.phase = ready
		handshakeSeconds.Since(p.started)
	}
}

// features are the optional frames this connection accepts: CLICK, if
// receipts can record it, and UPSTREAM, if there is an upstream queue.
func (c *connection) features() protocol.Feature {
	var f protocol.Feature
	if _, ok := c.env.Receipts.(DeviceReceipts); ok {
		f |= protocol.FeatureClick
	}
	if c.env.Upstreams != nil {
		f |= protocol.FeatureUpstream
	}
	return f
}

// ready is the steady state: PING, ACK, CLICK and UPSTREAM in, PUSH and
// the ACK of upstreams out.
func (c *connection) ready(ctx actor.Context) {
	switch m := ctx.Message().(type) {
	case *Inbound:
		h, body, ok := c.open(m.Record)
		if !ok {
			return
		}
		switch h.Type {
		case protocol.TypePing:
			var ping protocol.Ping
			if err := ping.Unmarshal(body); err != nil {
				c.fail(&protocol.Error{Code: protocol.CodeMalformedFrame, Message: err.Error()})
				return
			}
			c.writeFrame(func(b []byte) []byte {
				return protocol.AppendPong(b, h.Seq, &protocol.Pong{Time: ping.Time})
			})
			ctx.Send(c.device, heartbeat)
		case protocol.TypeAck:
			var ack protocol.Ack
			if err := ack.Unmarshal(body); err != nil {
				c.fail(&protocol.Error{Code: protocol.CodeMalformedFrame, Message: err.Error()})
				return
			}
			ctx.Send(c.device, &Acked{IDs: ack.MessageIDs})
		case protocol.TypeClick:
			receipts, ok := c.env.Receipts.(DeviceReceipts)
			if !ok {
				c.unexpected(h.Type) // not announced in WELCOME
				return
			}
			var click protocol.Click
			if err := click.Unmarshal(body); err != nil {
				c.fail(&protocol.Error{Code: protocol.CodeMalformedFrame, Message: err.Error()})
				return
			}
			c.clicked(receipts, click.MessageIDs)
		case protocol.TypeUpstream:
			c.upstream(ctx, body)
		default:
			c.unexpected(h.Type)
		}
	case *Send:
		c.push(m.Pushes)
	case *UpstreamsQueued:
		c.upstreamsQueued(m)
	}
}

// upstream hands the data of an UPSTREAM frame to the upstream queue; the
// ACK follows once it is durable (upstreamsQueued). A device may have
// protocol.MaxUpstreamsInFlight upstreams unacknowledged on a connection:
// that bounds what one connection holds in the queue's batch.
func (c *connection) upstream(ctx actor.Context, body []byte) {
	if c.env.Upstreams == nil {
		c.unexpected(protocol.TypeUpstream) // not announced in WELCOME
		return
	}
	var up protocol.Upstream
	if err := up.Unmarshal(body); err != nil {
		c.fail(&protocol.Error{Code: protocol.CodeMalformedFrame, Message: err.Error()})
		return
	}
	if c.upstreams >= protocol.MaxUpstreamsInFlight {
		c.fail(&protocol.Error{Code: protocol.CodeTooManyUpstreams,
			Message: "more than " + strconv.Itoa(protocol.MaxUpstreamsInFlight) + " upstreams awaiting their ACK"})
		return
	}
	c.upstreams++
	// up.Data aliases the record, which this actor owns (Inbound) and
	// drops here: the queue may keep it without a copy.
	c.env.Upstreams.QueueUpstream(dataservice.UpstreamMessage{
		AppKey:         c.app,
		RegistrationID: ridOf(c.device.Id),
		ID:             up.UpstreamID,
		Data:           up.Data,
		At:             c.env.Now(),
	}, ctx.Self())
}

// upstreamsQueued acknowledges durable upstreams to the device. If they
// could not be queued the connection ends with a 3xxx ERROR: the device
// reconnects after its retry_after and sends them again (it only resends
// on a new connection, so staying connected would hold them back).
func (c *connection) upstreamsQueued(m *UpstreamsQueued) {
	c.upstreams -= uint8(min(len(m.IDs), int(c.upstreams)))
	if m.Err != nil {
		code, msg := protocol.CodeInternalError, "upstream data could not be queued; send it again"
		if errors.Is(m.Err, ErrUpstreamsBusy) {
			code, msg = protocol.CodeServerBusy, "too much upstream data waiting; send it again later"
		}
		c.fail(&protocol.Error{Code: code, Message: msg, RetryAfter: upstreamRetryAfter})
		return
	}
	for ids := m.IDs; len(ids) > 0; {
		n := min(len(ids), protocol.MaxAckIDs)
		c.writeFrame(func(b []byte) []byte {
			return protocol.AppendAck(b, c.nextSeq(), &protocol.Ack{MessageIDs: ids[:n]})
		})
		ids = ids[n:]
	}
}

var heartbeat = &Heartbeat{}

// clicked records the clicks of the connection's device. The dataservice
// counts each once per device, and only for messages the device got (see
// dataservice.ReportStore.RecordReceipts): a device cannot count clicks of
// messages it never received, nor of another app's.
func (c *connection) clicked(receipts DeviceReceipts, msgIDs []uint64) {
	rid, at := ridOf(c.device.Id), time.Now()
	for _, id := range msgIDs {
		receipts.AddReceipt(dataservice.Receipt{MessageID: id, RegistrationID: rid, Event: dataservice.ReceiptClicked, At: at}, dataservice.CounterClicked, false)
	}
}

// push writes PUSH frames as consecutive records in one socket write.
func (c *connection) push(pushes []*Outgoing) {
	buf := getBuffer()
	defer putBuffer(buf)
	b := (*buf)[:0]
	for _, p := range pushes {
		start := len(b)
		b = append(b, 0, 0)
		b = append(b, p.Frame...)
		protocol.SetSeq(b[start+2:], c.nextSeq())
		b = c.sealTail(b, start)
	}
	*buf = b
	c.write(b)
	framesOut[protocol.TypePush].Add(len(pushes))
	messagesSent.Add(len(pushes))
}

// writeFrame writes one frame, encoded by appendFrame, as one record.
func (c *connection) writeFrame(appendFrame func([]byte) []byte) {
	buf := getBuffer()
	defer putBuffer(buf)
	b := appendFrame(append(*buf, 0, 0))
	framesOut[b[2]].Inc() // the frame's type, after the record length
	b = c.sealTail(b, 0)
	*buf = b
	c.write(b)
}

// sealTail encrypts the plaintext frame b[start+2:] in place and fills in
// the record length at b[start:start+2].
func (c *connection) sealTail(b []byte, start int) []byte {
	b = slices.Grow(b, protocol.TagLen)
	pt := b[start+2:]
	ct, err := c.sess.Seal(pt[:0], pt)
	if err != nil {
		// The session's nonces are spent (after 2^64 records): the
		// connection cannot say anything more.
		c.close()
		return b[:start]
	}
	b = b[:start+2+len(ct)]
	binary.BigEndian.PutUint16(b[start:], uint16(len(ct)))
	return b
}

// open decrypts a record in place and parses its frame header; on failure
// it sends the ERROR and closes.
func (c *connection) open(record []byte) (protocol.Header, []byte, bool) {
	pt, err := c.sess.Open(record[:0], record)
	if err != nil {
		c.fail(&protocol.Error{Code: protocol.CodeMalformedFrame, Message: "record failed authentication"})
		return protocol.Header{}, nil, false
	}
	h, body, err := protocol.ParseHeader(pt)
	if err != nil {
		c.fail(&protocol.Error{Code: protocol.CodeMalformedFrame, Message: err.Error()})
		return h, nil, false
	}
	framesIn[h.Type].Inc()
	return h, body, true
}

func (c *connection) unexpected(t protocol.FrameType) {
	c.fail(&protocol.Error{Code: protocol.CodeUnexpectedFrame, Message: "frame " + t.String() + " not allowed now"})
}

func (c *connection) unexpectedBeforeWelcome(in *Inbound) {
	if h, _, ok := c.open(in.Record); ok {
		c.unexpected(h.Type)
	}
}

// fail sends an ERROR frame (or, before the handshake completed, a
// refusal), then closes: even to a device that reads too slowly, whose
// pushes outgrew the socket's bound, the ERROR goes out after them.
func (c *connection) fail(e *protocol.Error) {
	if c.closed {
		return
	}
	if c.sess == nil {
		c.closeWith(protocol.AppendRecord(nil, protocol.AppendRefusal(nil, e)))
		return
	}
	buf := getBuffer()
	defer putBuffer(buf)
	b := append(*buf, 0, 0)
	b = c.sealTail(protocol.AppendError(b, c.nextSeq(), e), 0)
	*buf = b
	if len(b) == 0 {
		return // the session is spent; sealTail closed
	}
	c.closeWith(b)
}

// write sends b; a device that does not read fast enough is told so
// (ERROR too_slow), other failures close.
func (c *connection) write(b []byte) {
	if _, err := c.sock.Write(b); err != nil {
		if errors.Is(err, ErrSocketFull) {
			c.fail(&protocol.Error{Code: protocol.CodeTooSlow, Message: "the device did not read what was sent to it"})
			tooSlow.Inc()
			return
		}
		c.close()
	}
}

// closeWith sends last and closes.
func (c *connection) closeWith(last []byte) {
	if !c.closed {
		c.closed = true
		_ = c.sock.CloseWith(last)
	}
}

func (c *connection) close() {
	if !c.closed {
		c.closed = true
		_ = c.sock.Close()
	}
}

func (c *connection) nextSeq() uint32 {
	c.seq++
	return c.seq
}

// Write buffers are pooled, not kept per connection: an idle connection
// owns no buffer at all.
var buffers = sync.Pool{New: func() any {
	b := make([]byte, 0, 16<<10)
	return &b
}}

func getBuffer() *[]byte {
	b := buffers.Get().(*[]byte)
	*b = (*b)[:0]
	return b
}

func putBuffer(b *[]byte) {
	if cap(*b) <= 256<<10 {
		buffers.Put(b)
	}
}
