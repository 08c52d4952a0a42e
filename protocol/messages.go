package protocol

import (
	"math"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// Frame bodies. docs/protocol.proto describes them as proto3 messages.
//
// Decoding: Unmarshal resets the message, decodes body, and validates it;
// any failure wraps ErrMalformed. []byte fields alias body and are valid only
// until the buffer holding it is reused; copy what you keep. Empty and absent
// fields both decode as nil / zero. Unmarshal does not allocate (Ack and
// Click reuse their slices; Error allocates its Message string).
//
// Encoding: each Append* function appends a whole frame, the 6-byte header
// then the body, to dst, and does not allocate when dst has room. Encoders do
// not validate; call Validate first when the values come from outside.

// Limits on frame bodies.
const (
	// MaxRegistrationIDLen is the longest registration id HELLO accepts.
	MaxRegistrationIDLen = 64
	// ProofLen is the length of a client proof and of a server signature.
	ProofLen = 32
	// MaxAckIDs is the largest number of message ids in one ACK.
	MaxAckIDs = 256
	// MaxClickIDs is the largest number of message ids in one CLICK: a
	// user opens notifications one at a time, and a client sends those
	// opened while it was disconnected together.
	MaxClickIDs = 64
	// MaxErrorMessage is the longest message AppendError writes; longer
	// messages are cut at a rune boundary.
	MaxErrorMessage = 1024
	// MaxUpstreamData is the largest payload of one UPSTREAM, in bytes
	// (dataservice.MaxUpstreamData).
	MaxUpstreamData = 4096
	// MaxUpstreamsInFlight is how many UPSTREAM frames a client may have
	// sent on one connection and not yet seen acknowledged. The server
	// answers one more with ERROR 1008 too_many_upstreams and closes.
	MaxUpstreamsInFlight = 64
)

// Preallocated validation errors: rejecting a frame does not allocate.
var (
	errHelloRegistrationID = malformed("hello: registration_id must be 1..64 bytes")
	errHelloProof          = malformed("hello: proof must be exactly 32 bytes")
	errWelcomeSignature    = malformed("welcome: server_signature must be exactly 32 bytes")
	errWelcomeMaxRecord    = malformed("welcome: max_record above 65535")
	errPushMessageID       = malformed("push: message_id missing or zero")
	errAckEmpty            = malformed("ack: no message_ids")
	errAckTooMany          = malformed("ack: more than 256 message_ids")
	errAckZero             = malformed("ack: message_id zero")
	errClickEmpty          = malformed("click: no message_ids")
	errClickTooMany        = malformed("click: more than 64 message_ids")
	errClickZero           = malformed("click: message_id zero")
	errUpstreamID          = malformed("upstream: upstream_id missing or zero")
	errUpstreamData        = malformed("upstream: data must be 1..4096 bytes")
	errErrorCode           = malformed("error: code missing, zero or above 65535")
)

// Hello is the body of HELLO, the client's first frame after the handshake.
type Hello struct {
	// RegistrationID identifies the device (field 1, string, 1..64 bytes,
	// required).
	RegistrationID []byte
	// Proof is ClientProof(secret, session.ChannelBinding()) (field 2,
	// bytes, exactly 32, required).
	Proof [ProofLen]byte
	// Heartbeat is the PING interval the client asks for, in seconds
	// (field 3). Zero means the server's default.
	Heartbeat uint32
	// SDK names the client library and its version, e.g.
	// "herald-go/0.1.0" (field 4, optional).
	SDK []byte
	// Platform names the device platform, e.g. "android" (field 5,
	// optional).
	Platform []byte
}

// Validate checks the rules Unmarshal enforces on a decoded Hello.
func (m *Hello) Validate() error {
	if n := len(m.RegistrationID); n == 0 || n > MaxRegistrationIDLen {
		return errHelloRegistrationID
	}
	if !utf8.Valid(m.RegistrationID) || !utf8.Valid(m.SDK) || !utf8.Valid(m.Platform) {
		return errInvalidUTF8
	}
	return nil
}

// AppendHello appends a HELLO frame to dst.
func AppendHello(dst []byte, seq uint32, m *Hello) []byte {
	dst = AppendHeader(dst, Header{Type: TypeHello, Seq: seq})
	dst = appendBytesField(dst, 1, m.RegistrationID)
	dst = protowire.AppendTag(dst, 2, protowire.BytesType)
	dst = protowire.AppendBytes(dst, m.Proof[:])
	dst = appendVarintField(dst, 3, uint64(m.Heartbeat))
	dst = appendBytesField(dst, 4, m.SDK)
	return appendBytesField(dst, 5, m.Platform)
}

// Unmarshal decodes the body of a HELLO frame into m.
func (m *Hello) Unmarshal(body []byte) error {
	*m = Hello{}
	hasProof := false
	for len(body) > 0 {
		num, typ, n, err := nextTag(body)
		if err != nil {
			return err
		}
		body = body[n:]
		switch num {
		case 1:
			m.RegistrationID, n, err = stringField(typ, body)
		case 2:
			var v []byte
			v, n, err = bytesField(typ, body)
			if err == nil && len(v) != ProofLen {
				err = errHelloProof
			}
			copy(m.Proof[:], v)
			hasProof = true
		case 3:
			m.Heartbeat, n, err = uint32Field(typ, body)
		case 4:
			m.SDK, n, err = stringField(typ, body)
		case 5:
			m.Platform, n, err = stringField(typ, body)
		default:
			n, err = skipField(num, typ, body)
		}
		if err != nil {
			return err
		}
		body = body[n:]
	}
	if !hasProof {
		return errHelloProof
	}
	return m.Validate()
}

// Welcome is the body of WELCOME, the server's answer to an accepted HELLO.
type Welcome struct {
	// Heartbeat is the negotiated PING interval in seconds (field 1).
	Heartbeat uint32
	// ServerSignature is ServerSignature(keys.Server, binding) (field 2,
	// bytes, exactly 32, required). The client checks it with
	// VerifyServerSignature and closes the connection on a mismatch.
	ServerSignature [ProofLen]byte
	// ServerTime is the server clock in Unix milliseconds (field 3).
	ServerTime int64
	// Connector identifies the connector instance, for logs (field 4).
	Connector []byte
	// MaxRecord is the largest record length the server accepts on this
	// connection and the largest it will send (field 5). Zero means
	// DefaultMaxRecord; at most MaxRecordLimit.
	MaxRecord uint32
	// Features are the optional frames the server accepts on this
	// connection, a set of Feature bits (field 6). A client sends such a
	// frame only if its bit is set; receivers ignore bits they do not
	// know.
	Features Feature
}

// Feature is a bit of Welcome.Features.
type Feature uint32

// Features of version 1.
const (
	// FeatureClick says the server accepts CLICK frames.
	FeatureClick Feature = 1 << 0
	// FeatureUpstream says the server accepts UPSTREAM frames (and
	// acknowledges them with ACK).
	FeatureUpstream Feature = 1 << 1
)

// Validate checks the rules Unmarshal enforces on a decoded Welcome.
func (m *Welcome) Validate() error {
	if m.MaxRecord > MaxRecordLimit {
		return errWelcomeMaxRecord
	}
	if !utf8.Valid(m.Connector) {
		return errInvalidUTF8
	}
	return nil
}

// AppendWelcome appends a WELCOME frame to dst.
func AppendWelcome(dst []byte, seq uint32, m *Welcome) []byte {
	dst = AppendHeader(dst, Header{Type: TypeWelcome, Seq: seq})
	dst = appendVarintField(dst, 1, uint64(m.Heartbeat))
	dst = protowire.AppendTag(dst, 2, protowire.BytesType)
	dst = protowire.AppendBytes(dst, m.ServerSignature[:])
	dst = appendVarintField(dst, 3, uint64(m.ServerTime))
	dst = appendBytesField(dst, 4, m.Connector)
	dst = appendVarintField(dst, 5, uint64(m.MaxRecord))
	return appendVarintField(dst, 6, uint64(m.Features))
}

// Unmarshal decodes the body of a WELCOME frame into m.
func (m *Welcome) Unmarshal(body []byte) error {
	*m = Welcome{}
	hasSignature := false
	for len(body) > 0 {
		num, typ, n, err := nextTag(body)
		if err != nil {
			return err
		}
		body = body[n:]
		switch num {
		case 1:
			m.Heartbeat, n, err = uint32Field(typ, body)
		case 2:
			var v []byte
			v, n, err = bytesField(typ, body)
			if err == nil && len(v) != ProofLen {
				err = errWelcomeSignature
			}
			copy(m.ServerSignature[:], v)
			hasSignature = true
		case 3:
			var v uint64
			v, n, err = varintField(typ, body)
			m.ServerTime = int64(v)
		case 4:
			m.Connector, n, err = stringField(typ, body)
		case 5:
			m.MaxRecord, n, err = uint32Field(typ, body)
		case 6:
			var f uint32
			f, n, err = uint32Field(typ, body)
			m.Features = Feature(f)
		default:
			n, err = skipField(num, typ, body)
		}
		if err != nil {
			return err
		}
		body = body[n:]
	}
	if !hasSignature {
		return errWelcomeSignature
	}
	return m.Validate()
}

// Ping is the body of PING, the client's heartbeat. An empty body is valid.
type Ping struct {
	// Time is the client clock in Unix milliseconds (field 1, optional);
	// the PONG echoes it, so the client can measure the round trip.
	Time int64
}

// AppendPing appends a PING frame to dst.
func AppendPing(dst []byte, seq uint32, m *Ping) []byte {
	dst = AppendHeader(dst, Header{Type: TypePing, Seq: seq})
	return appendVarintField(dst, 1, uint64(m.Time))
}

// Unmarshal decodes the body of a PING frame into m.
func (m *Ping) Unmarshal(body []byte) error {
	t, err := unmarshalTime(body)
	m.Time = t
	return err
}

// Pong is the body of PONG, the server's answer to PING.
type Pong struct {
	// Time echoes Ping.Time (field 1).
	Time int64
}

// AppendPong appends a PONG frame to dst.
func AppendPong(dst []byte, seq uint32, m *Pong) []byte {
	dst = AppendHeader(dst, Header{Type: TypePong, Seq: seq})
	return appendVarintField(dst, 1, uint64(m.Time))
}

// Unmarshal decodes the body of a PONG frame into m.
func (m *Pong) Unmarshal(body []byte) error {
	t, err := unmarshalTime(body)
	m.Time = t
	return err
}

// unmarshalTime decodes the shared body of PING and PONG.
func unmarshalTime(body []byte) (int64, error) {
	var t int64
	for len(body) > 0 {
		num, typ, n, err := nextTag(body)
		if err != nil {
			return 0, err
		}
		body = body[n:]
		if num == 1 {
			var v uint64
			v, n, err = varintField(typ, body)
			t = int64(v)
		} else {
			n, err = skipField(num, typ, body)
		}
		if err != nil {
			return 0, err
		}
		body = body[n:]
	}
	return t, nil
}

// Push is the body of PUSH, one notification. The header's
// FlagAckRequested asks the client to ACK MessageID.
type Push struct {
	// MessageID identifies the message (field 1, required, nonzero). A
	// message may arrive twice after a reconnect; clients dedupe by it.
	MessageID uint64
	// AppKey identifies the application the message is for (field 2).
	AppKey []byte
	// Title is the notification title (field 3, string).
	Title []byte
	// Content is the payload (field 4, bytes).
	Content []byte
	// Extras is a JSON object of app-defined keys (field 5, may be empty).
	// It is not parsed here.
	Extras []byte
	// ExpiresAt is when the message stops being worth showing, in Unix
	// milliseconds (field 6). Zero means never.
	ExpiresAt int64
}

// Validate checks the rules Unmarshal enforces on a decoded Push.
func (m *Push) Validate() error {
	if m.MessageID == 0 {
		return errPushMessageID
	}
	if !utf8.Valid(m.AppKey) || !utf8.Valid(m.Title) {
		return errInvalidUTF8
	}
	return nil
}

// AppendPush appends a PUSH frame to dst. Pass FlagAckRequested in flags for
// QoS 1 delivery.
func AppendPush(dst []byte, seq uint32, flags Flags, m *Push) []byte {
	dst = AppendHeader(dst, Header{Type: TypePush, Flags: flags, Seq: seq})
	dst = appendVarintField(dst, 1, m.MessageID)
	dst = appendBytesField(dst, 2, m.AppKey)
	dst = appendBytesField(dst, 3, m.Title)
	dst = appendBytesField(dst, 4, m.Content)
	dst = appendBytesField(dst, 5, m.Extras)
	return appendVarintField(dst, 6, uint64(m.ExpiresAt))
}

// Unmarshal decodes the body of a PUSH frame into m.
func (m *Push) Unmarshal(body []byte) error {
	*m = Push{}
	for len(body) > 0 {
		num, typ, n, err := nextTag(body)
		if err != nil {
			return err
		}
		body = body[n:]
		switch num {
		case 1:
			m.MessageID, n, err = varintField(typ, body)
		case 2:
			m.AppKey, n, err = stringField(typ, body)
		case 3:
			m.Title, n, err = stringField(typ, body)
		case 4:
			m.Content, n, err = bytesField(typ, body)
		case 5:
			m.Extras, n, err = bytesField(typ, body)
		case 6:
			var v uint64
			v, n, err = varintField(typ, body)
			m.ExpiresAt = int64(v)
		default:
			n, err = skipField(num, typ, body)
		}
		if err != nil {
			return err
		}
		body = body[n:]
	}
	return m.Validate()
}

// Ack is the body of ACK. From the client: the ids of pushes the app has
// handled. From the server: the upstream ids of UPSTREAM frames it has
// durably queued.
type Ack struct {
	// MessageIDs are the acknowledged ids, message ids or upstream ids by
	// direction (field 1, packed repeated uint64, 1..256 ids, all
	// nonzero). Unmarshal reuses the slice's capacity.
	MessageIDs []uint64
}

// Validate checks the rules Unmarshal enforces on a decoded Ack.
func (m *Ack) Validate() error { return ackIDRules.validate(m.MessageIDs) }

// AppendAck appends an ACK frame to dst, its ids packed.
func AppendAck(dst []byte, seq uint32, m *Ack) []byte {
	dst = AppendHeader(dst, Header{Type: TypeAck, Seq: seq})
	return appendPackedIDs(dst, m.MessageIDs)
}

// Unmarshal decodes the body of an ACK frame into m, appending the ids to
// m.MessageIDs[:0]. Both the packed and the unpacked encodings of field 1
// are accepted, as proto3 requires. Decoding stops at the 257th id, so a
// hostile frame cannot grow the slice beyond MaxAckIDs.
func (m *Ack) Unmarshal(body []byte) error { return ackIDRules.unmarshal(body, &m.MessageIDs) }

// idRules are the limits of a list of message ids (ACK, CLICK), with the
// errors that report them.
type idRules struct {
	max                  int
	empty, zero, tooMany error
}

var (
	ackIDRules   = idRules{max: MaxAckIDs, empty: errAckEmpty, zero: errAckZero, tooMany: errAckTooMany}
	clickIDRules = idRules{max: MaxClickIDs, empty: errClickEmpty, zero: errClickZero, tooMany: errClickTooMany}
)

// validate checks a decoded list of ids: 1 to max, all nonzero.
func (r idRules) validate(ids []uint64) error {
	switch {
	case len(ids) == 0:
		return r.empty
	case len(ids) > r.max:
		return r.tooMany
	}
	for _, id := range ids {
		if id == 0 {
			return r.zero
		}
	}
	return nil
}

// unmarshal decodes a body of ids into (*ids)[:0], reusing its capacity,
// and validates them; on error *ids is left empty.
func (r idRules) unmarshal(body []byte, ids *[]uint64) error {
	out := (*ids)[:0]
	if err := unmarshalIDs(body, &out, r); err != nil {
		*ids = out[:0]
		return err
	}
	*ids = out
	return r.validate(out)
}

// unmarshalIDs decodes field 1, packed or not, of a body holding message
// ids; it stops at the id past rules.max.
func unmarshalIDs(body []byte, ids *[]uint64, rules idRules) error {
	for len(body) > 0 {
		num, typ, n, err := nextTag(body)
		if err != nil {
			return err
		}
		body = body[n:]
		switch {
		case num == 1 && typ == protowire.VarintType:
			var v uint64
			v, n, err = varintField(typ, body)
			if err == nil {
				err = addID(ids, v, rules)
			}
		case num == 1 && typ == protowire.BytesType:
			var packed []byte
			packed, n, err = bytesField(typ, body)
			for err == nil && len(packed) > 0 {
				v, k := protowire.ConsumeVarint(packed)
				if k < 0 {
					err = errTrailingData
					break
				}
				packed = packed[k:]
				err = addID(ids, v, rules)
			}
		case num == 1:
			err = errWireType
		default:
			n, err = skipField(num, typ, body)
		}
		if err != nil {
			return err
		}
		body = body[n:]
	}
	return nil
}

func addID(ids *[]uint64, id uint64, rules idRules) error {
	switch {
	case id == 0:
		return rules.zero
	case len(*ids) >= rules.max:
		return rules.tooMany
	}
	*ids = append(*ids, id)
	return nil
}

// Click is the body of CLICK: pushes whose notification the user opened.
// The server counts each message once per device, however often it is
// reported, and only for messages the device received.
type Click struct {
	// MessageIDs are the opened messages (field 1, packed repeated
	// uint64, 1..MaxClickIDs ids, all nonzero). Unmarshal reuses the
	// slice's capacity.
	MessageIDs []uint64
}

// Validate checks the rules Unmarshal enforces on a decoded Click.
func (m *Click) Validate() error { return clickIDRules.validate(m.MessageIDs) }

// AppendClick appends a CLICK frame to dst, its ids packed.
func AppendClick(dst []byte, seq uint32, m *Click) []byte {
	dst = AppendHeader(dst, Header{Type: TypeClick, Seq: seq})
	return appendPackedIDs(dst, m.MessageIDs)
}

// Unmarshal decodes the body of a CLICK frame into m, appending the ids to
// m.MessageIDs[:0]. Like ACK it accepts the packed and the unpacked
// encodings, and stops decoding at the id past MaxClickIDs.
func (m *Click) Unmarshal(body []byte) error { return clickIDRules.unmarshal(body, &m.MessageIDs) }

// Upstream is the body of UPSTREAM: data from the device to its app's
// backend. The server acknowledges it with an ACK frame carrying
// UpstreamID once the data is durably queued; until then the client keeps
// it and sends it again on its next connection. The app's backend may so
// receive it twice and drops repeats by (registration id, UpstreamID).
type Upstream struct {
	// UpstreamID is chosen by the client, nonzero and unique per device
	// (field 1, required).
	UpstreamID uint64
	// Data is the payload, opaque to Herald (field 2, bytes, 1 to
	// MaxUpstreamData bytes, required). Unmarshal aliases the body.
	Data []byte
}

// Validate checks the rules Unmarshal enforces on a decoded Upstream.
func (m *Upstream) Validate() error {
	if m.UpstreamID == 0 {
		return errUpstreamID
	}
	if n := len(m.Data); n == 0 || n > MaxUpstreamData {
		return errUpstreamData
	}
	return nil
}

// AppendUpstream appends an UPSTREAM frame to dst.
func AppendUpstream(dst []byte, seq uint32, m *Upstream) []byte {
	dst = AppendHeader(dst, Header{Type: TypeUpstream, Seq: seq})
	dst = appendVarintField(dst, 1, m.UpstreamID)
	return appendBytesField(dst, 2, m.Data)
}

// Unmarshal decodes the body of an UPSTREAM frame into m. m.Data aliases
// body.
func (m *Upstream) Unmarshal(body []byte) error {
	*m = Upstream{}
	for len(body) > 0 {
		num, typ, n, err := nextTag(body)
		if err != nil {
			return err
		}
		body = body[n:]
		switch num {
		case 1:
			m.UpstreamID, n, err = varintField(typ, body)
		case 2:
			m.Data, n, err = bytesField(typ, body)
		default:
			n, err = skipField(num, typ, body)
		}
		if err != nil {
			return err
		}
		body = body[n:]
	}
	return m.Validate()
}

// appendPackedIDs appends ids as field 1, packed; nothing if there are
// none.
func appendPackedIDs(dst []byte, ids []uint64) []byte {
	if len(ids) == 0 {
		return dst
	}
	size := 0
	for _, id := range ids {
		size += protowire.SizeVarint(id)
	}
	dst = protowire.AppendTag(dst, 1, protowire.BytesType)
	dst = protowire.AppendVarint(dst, uint64(size))
	for _, id := range ids {
		dst = protowire.AppendVarint(dst, id)
	}
	return dst
}

// Validate checks the rules Unmarshal enforces on a decoded Error.
func (e *Error) Validate() error {
	if e.Code == 0 {
		return errErrorCode
	}
	if !utf8.ValidString(e.Message) {
		return errInvalidUTF8
	}
	return nil
}

// AppendError appends an ERROR frame carrying e to dst. The message is cut to
// MaxErrorMessage bytes and RetryAfter is rounded up to whole seconds. A nil
// e is sent as CodeInternalError.
func AppendError(dst []byte, seq uint32, e *Error) []byte {
	if e == nil {
		e = &Error{Code: CodeInternalError}
	}
	dst = AppendHeader(dst, Header{Type: TypeError, Seq: seq})
	dst = appendVarintField(dst, 1, uint64(e.Code))
	dst = appendStringField(dst, 2, clipMessage(e.Message, MaxErrorMessage))
	return appendVarintField(dst, 3, uint64(retrySeconds(e.RetryAfter)))
}

// retrySeconds rounds d up to whole seconds, within uint32.
func retrySeconds(d time.Duration) uint32 {
	if d <= 0 {
		return 0
	}
	s := d / time.Second
	if d%time.Second != 0 {
		s++
	}
	if s > math.MaxUint32 {
		return math.MaxUint32
	}
	return uint32(s)
}

// Unmarshal decodes the body of an ERROR frame into e. Unlike the other
// decoders it allocates (the Message string): an ERROR ends the connection.
func (e *Error) Unmarshal(body []byte) error {
	*e = Error{}
	var code uint32
	for len(body) > 0 {
		num, typ, n, err := nextTag(body)
		if err != nil {
			return err
		}
		body = body[n:]
		switch num {
		case 1:
			code, n, err = uint32Field(typ, body)
		case 2:
			var v []byte
			v, n, err = stringField(typ, body)
			e.Message = string(v)
		case 3:
			var s uint32
			s, n, err = uint32Field(typ, body)
			e.RetryAfter = time.Duration(s) * time.Second
		default:
			n, err = skipField(num, typ, body)
		}
		if err != nil {
			return err
		}
		body = body[n:]
	}
	if code == 0 || code > math.MaxUint16 {
		return errErrorCode
	}
	e.Code = Code(code)
	return e.Validate()
}
