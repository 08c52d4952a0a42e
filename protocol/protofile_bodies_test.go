package protocol_test

import (
	"bytes"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/heraldpush/herald/protocol"
	pb "github.com/heraldpush/herald/protocol/internal/protocolpb"
)

// bodyType is one frame body seen from both sides: the hand-written codec of
// package protocol and the code generated from docs/protocol.proto. Values
// are held as generated messages; encode and decode convert them to and from
// the hand-written type field by field.
type bodyType struct {
	// frame is the frame type whose body this is.
	frame protocol.FrameType
	// message describes the body in docs/protocol.proto.
	message protoreflect.MessageDescriptor
	// hand is the hand-written type.
	hand reflect.Type
	// encode converts m to the hand-written type and appends its frame
	// with the hand-written encoder.
	encode func(dst []byte, m proto.Message) []byte
	// decode decodes body with the hand-written decoder and converts the
	// result.
	decode func(body []byte) (proto.Message, error)
	// random returns a value the protocol's rules accept.
	random func(r *rand.Rand) proto.Message
	// limits are values at the edges of the rules, all accepted. The first
	// is the smallest valid value.
	limits []proto.Message
	// beyond are values just past a rule: they encode with the generated
	// code, and the hand-written decoder rejects them as malformed.
	beyond []proto.Message
}

// newMessage returns an empty message of b's generated type.
func (b bodyType) newMessage() proto.Message {
	return b.limits[0].ProtoReflect().New().Interface()
}

// unmarshaler is a pointer to a hand-written body type.
type unmarshaler[H any] interface {
	*H
	Unmarshal(body []byte) error
}

// rules lists the values of one body type for the tests.
type rules[P proto.Message] struct {
	random func(r *rand.Rand) P
	limits []P
	beyond []P
}

// newBodyType builds a bodyType from typed conversions: toHand and fromHand
// convert between the generated type P and the hand-written type H, and
// appendFrame is H's hand-written encoder.
func newBodyType[H any, PH unmarshaler[H], P proto.Message](
	frame protocol.FrameType,
	toHand func(P) *H,
	fromHand func(*H) P,
	appendFrame func(dst []byte, h *H) []byte,
	values rules[P],
) bodyType {
	generic := func(ps []P) []proto.Message {
		out := make([]proto.Message, len(ps))
		for i, p := range ps {
			out[i] = p
		}
		return out
	}
	return bodyType{
		frame:   frame,
		message: values.limits[0].ProtoReflect().Descriptor(),
		hand:    reflect.TypeFor[H](),
		encode: func(dst []byte, m proto.Message) []byte {
			return appendFrame(dst, toHand(m.(P)))
		},
		decode: func(body []byte) (proto.Message, error) {
			h := PH(new(H))
			if err := h.Unmarshal(body); err != nil {
				return nil, err
			}
			return fromHand(h), nil
		},
		random: func(r *rand.Rand) proto.Message { return values.random(r) },
		limits: generic(values.limits),
		beyond: generic(values.beyond),
	}
}

// bodyTypes are all the frame bodies of version 1, one per message of
// docs/protocol.proto.
var bodyTypes = []bodyType{
	newBodyType(protocol.TypeHello,
		func(m *pb.Hello) *protocol.Hello {
			h := &protocol.Hello{
				RegistrationID: []byte(m.RegistrationId),
				Heartbeat:      m.Heartbeat,
				SDK:            []byte(m.Sdk),
				Platform:       []byte(m.Platform),
			}
			copy(h.Proof[:], m.Proof)
			return h
		},
		func(h *protocol.Hello) *pb.Hello {
			return &pb.Hello{
				RegistrationId: string(h.RegistrationID),
				Proof:          slices.Clone(h.Proof[:]),
				Heartbeat:      h.Heartbeat,
				Sdk:            string(h.SDK),
				Platform:       string(h.Platform),
			}
		},
		func(dst []byte, h *protocol.Hello) []byte { return protocol.AppendHello(dst, 1, h) },
		rules[*pb.Hello]{
			random: func(r *rand.Rand) *pb.Hello {
				return &pb.Hello{
					RegistrationId: randomString(r, 1, protocol.MaxRegistrationIDLen),
					Proof:          randomBytes(r, protocol.ProofLen, protocol.ProofLen),
					Heartbeat:      randomUint32(r),
					Sdk:            randomString(r, 0, 64),
					Platform:       randomString(r, 0, 16),
				}
			},
			limits: []*pb.Hello{
				{RegistrationId: "d", Proof: make([]byte, protocol.ProofLen)},
				{
					RegistrationId: strings.Repeat("é", protocol.MaxRegistrationIDLen/2),
					Proof:          bytes.Repeat([]byte{0xff}, protocol.ProofLen),
					Heartbeat:      math.MaxUint32,
					Sdk:            "herald-go/0.1.0",
					Platform:       "linux",
				},
				{RegistrationId: "dev-0001", Proof: counting(0x20, protocol.ProofLen), Sdk: strings.Repeat("s", 5000), Platform: "🐧"},
			},
			beyond: []*pb.Hello{
				{Proof: make([]byte, protocol.ProofLen)},
				{RegistrationId: strings.Repeat("r", protocol.MaxRegistrationIDLen+1), Proof: make([]byte, protocol.ProofLen)},
				{RegistrationId: "d"},
				{RegistrationId: "d", Proof: make([]byte, protocol.ProofLen-1)},
				{RegistrationId: "d", Proof: make([]byte, protocol.ProofLen+1)},
			},
		}),
	newBodyType(protocol.TypeWelcome,
		func(m *pb.Welcome) *protocol.Welcome {
			w := &protocol.Welcome{
				Heartbeat:  m.Heartbeat,
				ServerTime: m.ServerTime,
				Connector:  []byte(m.Connector),
				MaxRecord:  m.MaxRecord,
				Features:   protocol.Feature(m.Features),
			}
			copy(w.ServerSignature[:], m.ServerSignature)
			return w
		},
		func(w *protocol.Welcome) *pb.Welcome {
			return &pb.Welcome{
				Heartbeat:       w.Heartbeat,
				ServerSignature: slices.Clone(w.ServerSignature[:]),
				ServerTime:      w.ServerTime,
				Connector:       string(w.Connector),
				MaxRecord:       w.MaxRecord,
				Features:        uint32(w.Features),
			}
		},
		func(dst []byte, w *protocol.Welcome) []byte { return protocol.AppendWelcome(dst, 1, w) },
		rules[*pb.Welcome]{
			random: func(r *rand.Rand) *pb.Welcome {
				return &pb.Welcome{
					Heartbeat:       randomUint32(r),
					ServerSignature: randomBytes(r, protocol.ProofLen, protocol.ProofLen),
					ServerTime:      randomInt64(r),
					Connector:       randomString(r, 0, 32),
					MaxRecord:       uint32(randomSize(r, 0, protocol.MaxRecordLimit)),
					Features:        randomUint32(r),
				}
			},
			limits: []*pb.Welcome{
				{ServerSignature: make([]byte, protocol.ProofLen)},
				{
					Heartbeat:       math.MaxUint32,
					ServerSignature: bytes.Repeat([]byte{0xff}, protocol.ProofLen),
					ServerTime:      math.MaxInt64,
					Connector:       "conn-1",
					MaxRecord:       protocol.MaxRecordLimit,
					Features:        math.MaxUint32,
				},
				{ServerSignature: counting(1, protocol.ProofLen), ServerTime: math.MinInt64, MaxRecord: protocol.DefaultMaxRecord, Features: uint32(protocol.FeatureClick | protocol.FeatureUpstream)},
				{ServerSignature: counting(2, protocol.ProofLen), ServerTime: -1, MaxRecord: 1},
			},
			beyond: []*pb.Welcome{
				{Heartbeat: 1},
				{ServerSignature: make([]byte, protocol.ProofLen-1)},
				{ServerSignature: make([]byte, protocol.ProofLen+1)},
				{ServerSignature: make([]byte, protocol.ProofLen), MaxRecord: protocol.MaxRecordLimit + 1},
				{ServerSignature: make([]byte, protocol.ProofLen), MaxRecord: math.MaxUint32},
			},
		}),
	newBodyType(protocol.TypePing,
		func(m *pb.Ping) *protocol.Ping { return &protocol.Ping{Time: m.Time} },
		func(p *protocol.Ping) *pb.Ping { return &pb.Ping{Time: p.Time} },
		func(dst []byte, p *protocol.Ping) []byte { return protocol.AppendPing(dst, 1, p) },
		rules[*pb.Ping]{
			random: func(r *rand.Rand) *pb.Ping { return &pb.Ping{Time: randomInt64(r)} },
			limits: []*pb.Ping{{}, {Time: 1}, {Time: -1}, {Time: math.MinInt64}, {Time: math.MaxInt64}},
		}),
	newBodyType(protocol.TypePong,
		func(m *pb.Pong) *protocol.Pong { return &protocol.Pong{Time: m.Time} },
		func(p *protocol.Pong) *pb.Pong { return &pb.Pong{Time: p.Time} },
		func(dst []byte, p *protocol.Pong) []byte { return protocol.AppendPong(dst, 1, p) },
		rules[*pb.Pong]{
			random: func(r *rand.Rand) *pb.Pong { return &pb.Pong{Time: randomInt64(r)} },
			limits: []*pb.Pong{{}, {Time: 1}, {Time: -1}, {Time: math.MinInt64}, {Time: math.MaxInt64}},
		}),
	newBodyType(protocol.TypePush,
		func(m *pb.Push) *protocol.Push {
			return &protocol.Push{
				MessageID: m.MessageId,
				AppKey:    []byte(m.AppKey),
				Title:     []byte(m.Title),
				Content:   m.Content,
				Extras:    m.Extras,
				ExpiresAt: m.ExpiresAt,
			}
		},
		func(p *protocol.Push) *pb.Push {
			return &pb.Push{
				MessageId: p.MessageID,
				AppKey:    string(p.AppKey),
				Title:     string(p.Title),
				Content:   slices.Clone(p.Content),
				Extras:    slices.Clone(p.Extras),
				ExpiresAt: p.ExpiresAt,
			}
		},
		func(dst []byte, p *protocol.Push) []byte {
			return protocol.AppendPush(dst, 1, protocol.FlagAckRequested, p)
		},
		rules[*pb.Push]{
			random: func(r *rand.Rand) *pb.Push {
				return &pb.Push{
					MessageId: randomID(r),
					AppKey:    randomString(r, 0, 32),
					Title:     randomString(r, 0, 256),
					Content:   randomBytes(r, 0, 2048),
					Extras:    randomBytes(r, 0, 256),
					ExpiresAt: randomInt64(r),
				}
			},
			limits: []*pb.Push{
				{MessageId: 1},
				{
					MessageId: math.MaxUint64,
					AppKey:    "app-demo",
					Title:     "𝄞 Hello ✓",
					Content:   bytes.Repeat([]byte{0xc0}, protocol.MaxRecordLimit-16-protocol.FrameHeaderLen-64),
					Extras:    []byte(`{"k":"v"}`),
					ExpiresAt: math.MaxInt64,
				},
				{MessageId: 1 << 63, Content: counting(0, 1<<20), ExpiresAt: math.MinInt64},
				{MessageId: 42, Title: "\x00", ExpiresAt: -1},
			},
			beyond: []*pb.Push{
				{},
				{AppKey: "app", Title: "no id", Content: []byte("hi")},
			},
		}),
	newBodyType(protocol.TypeAck,
		func(m *pb.Ack) *protocol.Ack { return &protocol.Ack{MessageIDs: m.MessageIds} },
		func(a *protocol.Ack) *pb.Ack { return &pb.Ack{MessageIds: slices.Clone(a.MessageIDs)} },
		func(dst []byte, a *protocol.Ack) []byte { return protocol.AppendAck(dst, 1, a) },
		rules[*pb.Ack]{
			random: func(r *rand.Rand) *pb.Ack { return &pb.Ack{MessageIds: randomIDs(r, protocol.MaxAckIDs)} },
			limits: []*pb.Ack{
				{MessageIds: []uint64{1}},
				{MessageIds: repeatID(math.MaxUint64, protocol.MaxAckIDs)},
				{MessageIds: countingIDs(protocol.MaxAckIDs)},
				{MessageIds: varintSizes()},
			},
			beyond: []*pb.Ack{
				{},
				{MessageIds: countingIDs(protocol.MaxAckIDs + 1)},
				{MessageIds: []uint64{1, 0, 2}},
				{MessageIds: []uint64{0}},
			},
		}),
	newBodyType(protocol.TypeError,
		func(m *pb.Error) *protocol.Error {
			return &protocol.Error{
				Code:       protocol.Code(m.Code),
				Message:    m.Message,
				RetryAfter: time.Duration(m.RetryAfter) * time.Second,
			}
		},
		func(e *protocol.Error) *pb.Error {
			return &pb.Error{
				Code:       uint32(e.Code),
				Message:    e.Message,
				RetryAfter: uint32(e.RetryAfter / time.Second),
			}
		},
		func(dst []byte, e *protocol.Error) []byte { return protocol.AppendError(dst, 1, e) },
		rules[*pb.Error]{
			random: func(r *rand.Rand) *pb.Error {
				return &pb.Error{
					Code:       uint32(randomSize(r, 1, math.MaxUint16)),
					Message:    randomString(r, 0, protocol.MaxErrorMessage),
					RetryAfter: randomUint32(r),
				}
			},
			limits: []*pb.Error{
				{Code: 1},
				{Code: math.MaxUint16, Message: strings.Repeat("€", protocol.MaxErrorMessage/3) + "x", RetryAfter: math.MaxUint32},
				{Code: uint32(protocol.CodeServerBusy), Message: "slow down", RetryAfter: 30},
			},
			beyond: []*pb.Error{
				{},
				{Message: "no code", RetryAfter: 5},
				{Code: math.MaxUint16 + 1},
				{Code: math.MaxUint32},
			},
		}),
	newBodyType(protocol.TypeUpstream,
		func(m *pb.Upstream) *protocol.Upstream {
			return &protocol.Upstream{UpstreamID: m.UpstreamId, Data: m.Data}
		},
		func(u *protocol.Upstream) *pb.Upstream {
			return &pb.Upstream{UpstreamId: u.UpstreamID, Data: slices.Clone(u.Data)}
		},
		func(dst []byte, u *protocol.Upstream) []byte { return protocol.AppendUpstream(dst, 1, u) },
		rules[*pb.Upstream]{
			random: func(r *rand.Rand) *pb.Upstream {
				return &pb.Upstream{UpstreamId: randomID(r), Data: randomBytes(r, 1, protocol.MaxUpstreamData)}
			},
			limits: []*pb.Upstream{
				{UpstreamId: 1, Data: []byte{0}},
				{UpstreamId: math.MaxUint64, Data: bytes.Repeat([]byte{0xff}, protocol.MaxUpstreamData)},
			},
			beyond: []*pb.Upstream{
				{},
				{Data: []byte("no id")},
				{UpstreamId: 1},
				{UpstreamId: 1, Data: make([]byte, protocol.MaxUpstreamData+1)},
			},
		}),
	newBodyType(protocol.TypeClick,
		func(m *pb.Click) *protocol.Click { return &protocol.Click{MessageIDs: m.MessageIds} },
		func(c *protocol.Click) *pb.Click { return &pb.Click{MessageIds: slices.Clone(c.MessageIDs)} },
		func(dst []byte, c *protocol.Click) []byte { return protocol.AppendClick(dst, 1, c) },
		rules[*pb.Click]{
			random: func(r *rand.Rand) *pb.Click { return &pb.Click{MessageIds: randomIDs(r, protocol.MaxClickIDs)} },
			limits: []*pb.Click{
				{MessageIds: []uint64{1}},
				{MessageIds: repeatID(math.MaxUint64, protocol.MaxClickIDs)},
				{MessageIds: varintSizes()},
			},
			beyond: []*pb.Click{
				{},
				{MessageIds: countingIDs(protocol.MaxClickIDs + 1)},
				{MessageIds: []uint64{7, 0}},
			},
		}),
}

// counting returns n bytes start, start+1, … (wrapping).
func counting(start byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)
	}
	return b
}

// countingIDs returns the ids 1..n.
func countingIDs(n int) []uint64 {
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = uint64(i + 1)
	}
	return ids
}

// repeatID returns n copies of id.
func repeatID(id uint64, n int) []uint64 {
	ids := make([]uint64, n)
	for i := range ids {
		ids[i] = id
	}
	return ids
}

// varintSizes returns one id of each varint length, 1 to 10 bytes.
func varintSizes() []uint64 {
	var ids []uint64
	for shift := 0; shift < 64; shift += 7 {
		ids = append(ids, 1<<shift)
	}
	return append(ids, math.MaxUint64)
}

// randomSize returns a number in [lo, hi], lo or hi more often than the
// others.
func randomSize(r *rand.Rand, lo, hi int) int {
	switch r.IntN(8) {
	case 0:
		return lo
	case 1:
		return hi
	}
	return lo + r.IntN(hi-lo+1)
}

// randomBytes returns lo to hi random bytes.
func randomBytes(r *rand.Rand, lo, hi int) []byte {
	b := make([]byte, randomSize(r, lo, hi))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// randomString returns valid UTF-8 of lo to hi bytes, mixing runes of every
// encoded length.
func randomString(r *rand.Rand, lo, hi int) string {
	n := randomSize(r, lo, hi)
	b := make([]byte, 0, n)
	for len(b) < n {
		var c rune
		switch size := min(1+r.IntN(4), n-len(b)); size {
		case 1:
			c = rune(r.IntN(0x80))
		case 2:
			c = rune(0x80 + r.IntN(0x800-0x80))
		case 3:
			c = rune(0x800 + r.IntN(0x10000-0x800))
			if utf8.RuneLen(c) < 0 { // a surrogate
				c = 0xfffd
			}
		default:
			c = rune(0x10000 + r.IntN(utf8.MaxRune+1-0x10000))
		}
		b = utf8.AppendRune(b, c)
	}
	return string(b)
}

// randomUint64 returns a number whose varint is 1 to 10 bytes long, each
// length about as likely.
func randomUint64(r *rand.Rand) uint64 { return r.Uint64() >> r.UintN(65) }

// randomUint32 is randomUint64 for 32 bits.
func randomUint32(r *rand.Rand) uint32 { return r.Uint32() >> r.UintN(33) }

// randomInt64 returns a positive or negative number of any size.
func randomInt64(r *rand.Rand) int64 {
	v := int64(randomUint64(r))
	if r.IntN(2) == 0 {
		v = -v
	}
	return v
}

// randomID returns a nonzero id of any size.
func randomID(r *rand.Rand) uint64 {
	for {
		if id := randomUint64(r); id != 0 {
			return id
		}
	}
}

// randomIDs returns 1 to max nonzero ids.
func randomIDs(r *rand.Rand, max int) []uint64 {
	ids := make([]uint64, randomSize(r, 1, max))
	for i := range ids {
		ids[i] = randomID(r)
	}
	return ids
}
