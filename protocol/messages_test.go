package protocol

import (
	"bytes"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

func TestParseHeader(t *testing.T) {
	tests := []struct {
		name     string
		frame    []byte
		want     Header
		wantBody []byte
		wantErr  error
	}{
		{"empty", nil, Header{}, nil, ErrMalformed},
		{"five bytes", []byte{5, 0, 0, 0, 0}, Header{}, nil, ErrMalformed},
		{"header only", []byte{3, 0, 0, 0, 0, 9}, Header{Type: TypePing, Seq: 9}, []byte{}, nil},
		{"push with flags", []byte{5, 0x81, 1, 2, 3, 4, 0xaa}, Header{Type: TypePush, Flags: 0x81, Seq: 0x01020304}, []byte{0xaa}, nil},
		{"unknown type parses", []byte{200, 0, 0xff, 0xff, 0xff, 0xff}, Header{Type: 200, Seq: math.MaxUint32}, []byte{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, body, err := ParseHeader(tt.frame)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if h != tt.want || !bytes.Equal(body, tt.wantBody) {
				t.Fatalf("got %+v %x, want %+v %x", h, body, tt.want, tt.wantBody)
			}
			if err == nil {
				if re := AppendHeader(nil, h); !bytes.Equal(re, tt.frame[:FrameHeaderLen]) {
					t.Fatalf("AppendHeader = %x", re)
				}
			}
		})
	}
}

func TestFrameTypeString(t *testing.T) {
	tests := []struct {
		t    FrameType
		want string
	}{
		{TypeHello, "HELLO"}, {TypeWelcome, "WELCOME"}, {TypePing, "PING"}, {TypePong, "PONG"},
		{TypePush, "PUSH"}, {TypeAck, "ACK"}, {TypeError, "ERROR"}, {TypeUpstream, "UPSTREAM"},
		{TypeBind, "BIND"}, {TypeUnbind, "UNBIND"}, {TypeGrab, "GRAB"}, {TypeGrabResult, "GRAB_RESULT"},
		{TypeClick, "CLICK"}, {TypeRedirect, "REDIRECT"}, {TypeKick, "KICK"},
		{0, "FrameType(0)"}, {16, "FrameType(16)"}, {255, "FrameType(255)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.t.String(); got != tt.want {
				t.Fatalf("String() = %q", got)
			}
		})
	}
}

// message is implemented by every frame body.
type message interface {
	Unmarshal(body []byte) error
}

// frameCase is one frame in the round-trip table: how to encode it, and a
// fresh value to decode it into.
type frameCase struct {
	name   string
	typ    FrameType
	flags  Flags
	encode func(dst []byte, seq uint32) []byte
	want   message
	fresh  func() message
}

func roundTripCases() []frameCase {
	proof := [32]byte(counting(0xc0, 32))
	hello := &Hello{RegistrationID: []byte("dev-0001"), Proof: proof, Heartbeat: 240, SDK: []byte("herald-go/0.1.0"), Platform: []byte("linux")}
	helloMin := &Hello{RegistrationID: []byte(strings.Repeat("r", MaxRegistrationIDLen)), Proof: proof}
	welcome := &Welcome{Heartbeat: 300, ServerSignature: proof, ServerTime: 1700000000123, Connector: []byte("conn-7"), MaxRecord: MaxRecordLimit}
	welcomeMin := &Welcome{ServerSignature: proof}
	welcomeFeatures := &Welcome{ServerSignature: proof, Features: FeatureClick | FeatureUpstream | 1<<31}
	push := &Push{MessageID: math.MaxUint64, AppKey: []byte("app"), Title: []byte("Hi ✓"), Content: []byte{0, 1, 2, 0xff}, Extras: []byte(`{"a":1}`), ExpiresAt: -1}
	pushMin := &Push{MessageID: 1}
	ids := make([]uint64, MaxAckIDs)
	for i := range ids {
		ids[i] = uint64(i+1) << (i % 57)
	}
	ack := &Ack{MessageIDs: ids}
	ackOne := &Ack{MessageIDs: []uint64{1}}
	clickIDs := make([]uint64, MaxClickIDs)
	for i := range clickIDs {
		clickIDs[i] = math.MaxUint64 - uint64(i)
	}
	click := &Click{MessageIDs: clickIDs}
	clickOne := &Click{MessageIDs: []uint64{42}}
	upstream := &Upstream{UpstreamID: math.MaxUint64, Data: bytes.Repeat([]byte{0, 0xff}, MaxUpstreamData/2)}
	upstreamOne := &Upstream{UpstreamID: 1, Data: []byte{0xc0}} // not UTF-8: data is bytes
	errFull := &Error{Code: CodeServerBusy, Message: "slow down", RetryAfter: 30 * time.Second}
	errMin := &Error{Code: Code(65535)}
	return []frameCase{
		{"hello", TypeHello, 0, func(d []byte, s uint32) []byte { return AppendHello(d, s, hello) }, hello, func() message { return new(Hello) }},
		{"hello minimal", TypeHello, 0, func(d []byte, s uint32) []byte { return AppendHello(d, s, helloMin) }, helloMin, func() message { return new(Hello) }},
		{"welcome", TypeWelcome, 0, func(d []byte, s uint32) []byte { return AppendWelcome(d, s, welcome) }, welcome, func() message { return new(Welcome) }},
		{"welcome minimal", TypeWelcome, 0, func(d []byte, s uint32) []byte { return AppendWelcome(d, s, welcomeMin) }, welcomeMin, func() message { return new(Welcome) }},
		{"welcome features", TypeWelcome, 0, func(d []byte, s uint32) []byte { return AppendWelcome(d, s, welcomeFeatures) }, welcomeFeatures, func() message { return new(Welcome) }},
		{"ping", TypePing, 0, func(d []byte, s uint32) []byte { return AppendPing(d, s, &Ping{Time: 42}) }, &Ping{Time: 42}, func() message { return new(Ping) }},
		{"ping empty", TypePing, 0, func(d []byte, s uint32) []byte { return AppendPing(d, s, &Ping{}) }, &Ping{}, func() message { return new(Ping) }},
		{"pong", TypePong, 0, func(d []byte, s uint32) []byte { return AppendPong(d, s, &Pong{Time: -5}) }, &Pong{Time: -5}, func() message { return new(Pong) }},
		{"push", TypePush, FlagAckRequested, func(d []byte, s uint32) []byte { return AppendPush(d, s, FlagAckRequested, push) }, push, func() message { return new(Push) }},
		{"push minimal fire and forget", TypePush, 0, func(d []byte, s uint32) []byte { return AppendPush(d, s, 0, pushMin) }, pushMin, func() message { return new(Push) }},
		{"ack 256", TypeAck, 0, func(d []byte, s uint32) []byte { return AppendAck(d, s, ack) }, ack, func() message { return new(Ack) }},
		{"ack one", TypeAck, 0, func(d []byte, s uint32) []byte { return AppendAck(d, s, ackOne) }, ackOne, func() message { return new(Ack) }},
		{"click 64", TypeClick, 0, func(d []byte, s uint32) []byte { return AppendClick(d, s, click) }, click, func() message { return new(Click) }},
		{"click one", TypeClick, 0, func(d []byte, s uint32) []byte { return AppendClick(d, s, clickOne) }, clickOne, func() message { return new(Click) }},
		{"upstream 4096", TypeUpstream, 0, func(d []byte, s uint32) []byte { return AppendUpstream(d, s, upstream) }, upstream, func() message { return new(Upstream) }},
		{"upstream one byte", TypeUpstream, 0, func(d []byte, s uint32) []byte { return AppendUpstream(d, s, upstreamOne) }, upstreamOne, func() message { return new(Upstream) }},
		{"error", TypeError, 0, func(d []byte, s uint32) []byte { return AppendError(d, s, errFull) }, errFull, func() message { return new(Error) }},
		{"error minimal", TypeError, 0, func(d []byte, s uint32) []byte { return AppendError(d, s, errMin) }, errMin, func() message { return new(Error) }},
	}
}

func TestFrameRoundTrip(t *testing.T) {
	for _, tc := range roundTripCases() {
		t.Run(tc.name, func(t *testing.T) {
			frame := tc.encode([]byte("prefix"), 77)
			if !bytes.HasPrefix(frame, []byte("prefix")) {
				t.Fatal("encoder did not append")
			}
			h, body, err := ParseHeader(frame[len("prefix"):])
			if err != nil {
				t.Fatal(err)
			}
			if want := (Header{Type: tc.typ, Flags: tc.flags, Seq: 77}); h != want {
				t.Fatalf("header = %+v, want %+v", h, want)
			}
			got := tc.fresh()
			if err := got.Unmarshal(body); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("decoded %+v\nwant    %+v", got, tc.want)
			}
		})
	}
}

// field builders for hand-made bodies.
func vfield(num protowire.Number, v uint64) []byte {
	return protowire.AppendVarint(protowire.AppendTag(nil, num, protowire.VarintType), v)
}

func bfield(num protowire.Number, v []byte) []byte {
	return protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), v)
}

func cat(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

func TestUnmarshalRejects(t *testing.T) {
	proof := bfield(2, make([]byte, 32))
	regID := bfield(1, []byte("dev"))
	sig := bfield(2, make([]byte, 32))
	tests := []struct {
		name string
		msg  message
		body []byte
	}{
		// Generic protobuf damage.
		{"truncated tag", new(Push), []byte{0x80}},
		{"field number zero", new(Push), []byte{0x00, 0x01}},
		{"field number above 2^29-1", new(Push), cat(vfield(1, 1), protowire.AppendVarint(nil, uint64(protowire.MaxValidNumber+1)<<3), []byte{0x01})},
		{"field number 2^31-1", new(Push), cat(vfield(1, 1), protowire.AppendVarint(nil, math.MaxInt32<<3|uint64(protowire.BytesType)), []byte{0x00})},
		{"truncated varint", new(Push), []byte{0x08, 0x80}},
		{"truncated bytes", new(Push), cat(vfield(1, 1), []byte{0x12, 0x05, 'a'})},
		{"overlong varint", new(Push), append([]byte{0x08}, bytes.Repeat([]byte{0xff}, 10)...)},
		{"wrong wire type", new(Push), cat(bfield(1, []byte{1}))},
		{"group", new(Push), cat(vfield(1, 1), protowire.AppendTag(nil, 9, protowire.StartGroupType), protowire.AppendTag(nil, 9, protowire.EndGroupType))},
		{"end group", new(Push), cat(vfield(1, 1), protowire.AppendTag(nil, 9, protowire.EndGroupType))},
		{"reserved wire type 6", new(Push), cat(vfield(1, 1), []byte{0x4e})},
		{"truncated unknown fixed64", new(Push), cat(vfield(1, 1), protowire.AppendTag(nil, 9, protowire.Fixed64Type), []byte{1, 2})},
		{"invalid utf-8 string", new(Push), cat(vfield(1, 1), bfield(3, []byte{0xff}))},
		// Hello.
		{"hello empty", new(Hello), nil},
		{"hello without proof", new(Hello), regID},
		{"hello without registration id", new(Hello), proof},
		{"hello short proof", new(Hello), cat(regID, bfield(2, make([]byte, 31)))},
		{"hello long proof", new(Hello), cat(regID, bfield(2, make([]byte, 33)))},
		{"hello registration id too long", new(Hello), cat(bfield(1, bytes.Repeat([]byte{'r'}, 65)), proof)},
		{"hello heartbeat overflow", new(Hello), cat(regID, proof, vfield(3, 1<<32))},
		{"hello invalid utf-8 sdk", new(Hello), cat(regID, proof, bfield(4, []byte{0xc0}))},
		// Welcome.
		{"welcome without signature", new(Welcome), vfield(1, 30)},
		{"welcome short signature", new(Welcome), bfield(2, make([]byte, 16))},
		{"welcome max_record too large", new(Welcome), cat(sig, vfield(5, 65536))},
		{"welcome max_record overflow", new(Welcome), cat(sig, vfield(5, 1<<33))},
		{"welcome features overflow", new(Welcome), cat(sig, vfield(6, 1<<32))},
		{"welcome features wrong wire type", new(Welcome), cat(sig, bfield(6, []byte{1}))},
		// Ping.
		{"ping garbage", new(Ping), []byte{0xff}},
		{"ping wrong type", new(Ping), bfield(1, []byte{1})},
		{"pong garbage", new(Pong), []byte{0x08}},
		// Push.
		{"push empty", new(Push), nil},
		{"push zero id", new(Push), vfield(1, 0)},
		{"push without id", new(Push), bfield(3, []byte("title"))},
		// Ack.
		{"ack empty", new(Ack), nil},
		{"ack empty packed", new(Ack), bfield(1, nil)},
		{"ack zero id", new(Ack), bfield(1, []byte{1, 0, 2})},
		{"ack zero id unpacked", new(Ack), vfield(1, 0)},
		{"ack 257 ids", new(Ack), bfield(1, bytes.Repeat([]byte{1}, 257))},
		{"ack 257 ids mixed", new(Ack), cat(bfield(1, bytes.Repeat([]byte{1}, 256)), vfield(1, 5))},
		{"ack truncated packed varint", new(Ack), bfield(1, []byte{1, 0x80})},
		{"ack wrong wire type", new(Ack), cat(protowire.AppendTag(nil, 1, protowire.Fixed64Type), make([]byte, 8))},
		// Click.
		{"click empty", new(Click), nil},
		{"click empty packed", new(Click), bfield(1, nil)},
		{"click only unknown fields", new(Click), vfield(2, 7)},
		{"click zero id", new(Click), bfield(1, []byte{1, 0})},
		{"click zero id unpacked", new(Click), vfield(1, 0)},
		{"click 65 ids", new(Click), bfield(1, bytes.Repeat([]byte{1}, MaxClickIDs+1))},
		{"click 65 ids mixed", new(Click), cat(bfield(1, bytes.Repeat([]byte{1}, MaxClickIDs)), vfield(1, 5))},
		{"click truncated packed varint", new(Click), bfield(1, []byte{1, 0x80})},
		{"click wrong wire type", new(Click), cat(protowire.AppendTag(nil, 1, protowire.Fixed32Type), make([]byte, 4))},
		// Upstream.
		{"upstream empty", new(Upstream), nil},
		{"upstream without id", new(Upstream), bfield(2, []byte("x"))},
		{"upstream zero id", new(Upstream), cat(vfield(1, 0), bfield(2, []byte("x")))},
		{"upstream without data", new(Upstream), vfield(1, 7)},
		{"upstream empty data", new(Upstream), cat(vfield(1, 7), bfield(2, nil))},
		{"upstream data too long", new(Upstream), cat(vfield(1, 7), bfield(2, make([]byte, MaxUpstreamData+1)))},
		{"upstream id wrong wire type", new(Upstream), cat(bfield(1, []byte{7}), bfield(2, []byte("x")))},
		{"upstream data wrong wire type", new(Upstream), cat(vfield(1, 7), vfield(2, 1))},
		{"upstream truncated data", new(Upstream), cat(vfield(1, 7), []byte{0x12, 0x05, 'a'})},
		// Error.
		{"error without code", new(Error), bfield(2, []byte("x"))},
		{"error code zero", new(Error), vfield(1, 0)},
		{"error code above uint16", new(Error), vfield(1, 65536)},
		{"error invalid utf-8 message", new(Error), cat(vfield(1, 1001), bfield(2, []byte{0xff}))},
		{"error retry overflow", new(Error), cat(vfield(1, 1001), vfield(3, 1<<32))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.msg.Unmarshal(tt.body); !errors.Is(err, ErrMalformed) {
				t.Fatalf("Unmarshal(%x) = %v, want ErrMalformed", tt.body, err)
			}
		})
	}
}

func TestUnmarshalLenient(t *testing.T) {
	unknown := cat(
		vfield(99, 7),
		bfield(100, []byte("future")),
		protowire.AppendFixed32(protowire.AppendTag(nil, 101, protowire.Fixed32Type), 1),
		protowire.AppendFixed64(protowire.AppendTag(nil, 102, protowire.Fixed64Type), 1),
	)
	t.Run("unknown fields skipped", func(t *testing.T) {
		var p Push
		if err := p.Unmarshal(cat(unknown, vfield(1, 9), unknown, bfield(3, []byte("t")))); err != nil {
			t.Fatal(err)
		}
		if p.MessageID != 9 || string(p.Title) != "t" {
			t.Fatalf("got %+v", p)
		}
	})
	t.Run("last value wins", func(t *testing.T) {
		var p Push
		if err := p.Unmarshal(cat(vfield(1, 9), bfield(3, []byte("a")), vfield(1, 10), bfield(3, []byte("b")))); err != nil {
			t.Fatal(err)
		}
		if p.MessageID != 10 || string(p.Title) != "b" {
			t.Fatalf("got %+v", p)
		}
	})
	t.Run("empty strings decode as nil", func(t *testing.T) {
		var p Push
		if err := p.Unmarshal(cat(vfield(1, 9), bfield(2, nil))); err != nil {
			t.Fatal(err)
		}
		if p.AppKey != nil {
			t.Fatalf("AppKey = %#v", p.AppKey)
		}
	})
	t.Run("ack unpacked and mixed", func(t *testing.T) {
		var a Ack
		body := cat(vfield(1, 5), unknown, bfield(1, []byte{6, 7}), vfield(1, 300))
		if err := a.Unmarshal(body); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a.MessageIDs, []uint64{5, 6, 7, 300}) {
			t.Fatalf("ids = %v", a.MessageIDs)
		}
	})
	t.Run("unknown flags ignored", func(t *testing.T) {
		frame := AppendPush(nil, 1, 0xfe|FlagAckRequested, &Push{MessageID: 3})
		h, body, err := ParseHeader(frame)
		if err != nil || h.Flags&FlagAckRequested == 0 {
			t.Fatalf("header %+v, %v", h, err)
		}
		var p Push
		if err := p.Unmarshal(body); err != nil || p.MessageID != 3 {
			t.Fatalf("%+v, %v", p, err)
		}
	})
	t.Run("unmarshal resets", func(t *testing.T) {
		p := Push{MessageID: 1, Title: []byte("old"), ExpiresAt: 5}
		if err := p.Unmarshal(vfield(1, 2)); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(p, Push{MessageID: 2}) {
			t.Fatalf("stale fields: %+v", p)
		}
		ping := Ping{Time: 9}
		if err := ping.Unmarshal(nil); err != nil || ping.Time != 0 {
			t.Fatalf("ping %+v, %v", ping, err)
		}
	})
	t.Run("click unpacked and mixed", func(t *testing.T) {
		var c Click
		if err := c.Unmarshal(cat(vfield(1, 9), unknown, bfield(1, []byte{10, 11}))); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(c.MessageIDs, []uint64{9, 10, 11}) {
			t.Fatalf("ids = %v", c.MessageIDs)
		}
	})
	t.Run("welcome unknown feature bits kept", func(t *testing.T) {
		var w Welcome
		if err := w.Unmarshal(cat(bfield(2, make([]byte, 32)), vfield(6, 0x80000003))); err != nil {
			t.Fatal(err)
		}
		if w.Features&FeatureClick == 0 || w.Features != 0x80000003 {
			t.Fatalf("features = %#x", w.Features)
		}
	})
	t.Run("upstream unknown fields skipped, last value wins", func(t *testing.T) {
		var u Upstream
		if err := u.Unmarshal(cat(vfield(1, 3), unknown, bfield(2, []byte("a")), vfield(1, 4), bfield(2, []byte("bc")))); err != nil {
			t.Fatal(err)
		}
		if u.UpstreamID != 4 || string(u.Data) != "bc" {
			t.Fatalf("got %+v", u)
		}
	})
	t.Run("ack reuses its slice", func(t *testing.T) {
		a := Ack{MessageIDs: make([]uint64, 0, 8)}
		p := &a.MessageIDs[:1][0]
		if err := a.Unmarshal(bfield(1, []byte{1, 2, 3})); err != nil {
			t.Fatal(err)
		}
		if &a.MessageIDs[0] != p {
			t.Fatal("Unmarshal did not reuse the slice")
		}
	})
}

func TestErrorFrameEncoding(t *testing.T) {
	tests := []struct {
		name string
		in   *Error
		want Error
	}{
		{"retry rounded up", &Error{Code: CodeServerBusy, RetryAfter: 1500 * time.Millisecond}, Error{Code: CodeServerBusy, RetryAfter: 2 * time.Second}},
		{"negative retry dropped", &Error{Code: CodeServerBusy, RetryAfter: -time.Second}, Error{Code: CodeServerBusy}},
		{"huge retry clamped", &Error{Code: CodeServerBusy, RetryAfter: math.MaxInt64}, Error{Code: CodeServerBusy, RetryAfter: math.MaxUint32 * time.Second}},
		{"nil is internal error", nil, Error{Code: CodeInternalError}},
		{"long message cut", &Error{Code: CodeIdleTimeout, Message: strings.Repeat("ab", MaxErrorMessage)}, Error{Code: CodeIdleTimeout, Message: strings.Repeat("ab", MaxErrorMessage/2)}},
		{"invalid utf-8 repaired", &Error{Code: CodeIdleTimeout, Message: "\xff"}, Error{Code: CodeIdleTimeout, Message: "\uFFFD"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, body, err := ParseHeader(AppendError(nil, 0, tt.in))
			if err != nil {
				t.Fatal(err)
			}
			var got Error
			if err := got.Unmarshal(body); err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		err  error
	}{
		{"hello", (&Hello{RegistrationID: []byte("x")}).Validate()},
		{"welcome", (&Welcome{}).Validate()},
		{"push", (&Push{MessageID: 1}).Validate()},
		{"ack", (&Ack{MessageIDs: []uint64{1}}).Validate()},
		{"click", (&Click{MessageIDs: []uint64{1}}).Validate()},
		{"upstream", (&Upstream{UpstreamID: 1, Data: make([]byte, MaxUpstreamData)}).Validate()},
		{"error", (&Error{Code: 1}).Validate()},
	}
	for _, tt := range tests {
		t.Run(tt.name+" valid", func(t *testing.T) {
			if tt.err != nil {
				t.Fatal(tt.err)
			}
		})
	}
	invalid := []struct {
		name string
		err  error
	}{
		{"hello", (&Hello{}).Validate()},
		{"hello utf-8", (&Hello{RegistrationID: []byte{0xff}}).Validate()},
		{"welcome", (&Welcome{MaxRecord: 1 << 20}).Validate()},
		{"welcome utf-8", (&Welcome{Connector: []byte{0xff}}).Validate()},
		{"push", (&Push{}).Validate()},
		{"push utf-8", (&Push{MessageID: 1, AppKey: []byte{0xff}}).Validate()},
		{"ack", (&Ack{}).Validate()},
		{"ack too many", (&Ack{MessageIDs: make([]uint64, MaxAckIDs+1)}).Validate()},
		{"ack zero", (&Ack{MessageIDs: []uint64{1, 0}}).Validate()},
		{"click", (&Click{}).Validate()},
		{"click too many", (&Click{MessageIDs: make([]uint64, MaxClickIDs+1)}).Validate()},
		{"click zero", (&Click{MessageIDs: []uint64{0}}).Validate()},
		{"upstream", (&Upstream{Data: []byte("x")}).Validate()},
		{"upstream no data", (&Upstream{UpstreamID: 1}).Validate()},
		{"upstream too long", (&Upstream{UpstreamID: 1, Data: make([]byte, MaxUpstreamData+1)}).Validate()},
		{"error", (&Error{}).Validate()},
		{"error utf-8", (&Error{Code: 1, Message: "\xff"}).Validate()},
	}
	for _, tt := range invalid {
		t.Run(tt.name+" invalid", func(t *testing.T) {
			if !errors.Is(tt.err, ErrMalformed) {
				t.Fatalf("Validate = %v, want ErrMalformed", tt.err)
			}
		})
	}
}

func TestCodecAllocs(t *testing.T) {
	push := &Push{MessageID: 7, AppKey: []byte("app"), Title: []byte("title"), Content: make([]byte, 256), Extras: []byte(`{}`)}
	hello := &Hello{RegistrationID: []byte("dev"), Heartbeat: 60}
	ids := &Ack{MessageIDs: []uint64{1, 2, 3, 1 << 40}}
	clickIDs := &Click{MessageIDs: []uint64{7, 1 << 50}}
	upstream := &Upstream{UpstreamID: 1 << 45, Data: make([]byte, 512)}
	var bufs [6][]byte
	for i := range bufs {
		bufs[i] = make([]byte, 0, 1024)
	}
	var (
		p Push
		h Hello
		w Welcome
		a Ack
		c Click
		g Ping
		u Upstream
	)
	a.MessageIDs = make([]uint64, 0, MaxAckIDs)
	c.MessageIDs = make([]uint64, 0, MaxClickIDs)
	welcome := AppendWelcome(nil, 0, &Welcome{Heartbeat: 1, Connector: []byte("c")})
	bad := []byte{0x08, 0x80}
	allocs := testing.AllocsPerRun(200, func() {
		for _, f := range [][]byte{
			AppendPush(bufs[0][:0], 1, FlagAckRequested, push),
			AppendHello(bufs[1][:0], 1, hello),
			AppendAck(bufs[2][:0], 1, ids),
			AppendPing(bufs[3][:0], 1, &Ping{Time: 5}),
			AppendClick(bufs[4][:0], 1, clickIDs),
			AppendUpstream(bufs[5][:0], 1, upstream),
			welcome,
		} {
			hd, body, err := ParseHeader(f)
			if err != nil {
				t.Fatal(err)
			}
			switch hd.Type {
			case TypePush:
				err = p.Unmarshal(body)
			case TypeHello:
				err = h.Unmarshal(body)
			case TypeAck:
				err = a.Unmarshal(body)
			case TypeClick:
				err = c.Unmarshal(body)
			case TypeUpstream:
				err = u.Unmarshal(body)
			case TypePing:
				err = g.Unmarshal(body)
			case TypeWelcome:
				err = w.Unmarshal(body)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		// Rejections do not allocate either.
		if p.Unmarshal(bad) == nil || a.Unmarshal(bad) == nil || c.Unmarshal(bad) == nil || u.Unmarshal(bad) == nil {
			t.Fatal("garbage accepted")
		}
	})
	if allocs != 0 {
		t.Fatalf("encode/decode allocates %v times per run", allocs)
	}
}

func TestSetSeq(t *testing.T) {
	frame := AppendPush(nil, 0, FlagAckRequested, &Push{MessageID: 7, Content: []byte("hi")})
	SetSeq(frame, 0xdeadbeef)
	h, body, err := ParseHeader(frame)
	if err != nil {
		t.Fatal(err)
	}
	if h.Seq != 0xdeadbeef || h.Type != TypePush || h.Flags != FlagAckRequested {
		t.Fatalf("header after SetSeq: %+v", h)
	}
	var p Push
	if err := p.Unmarshal(body); err != nil || p.MessageID != 7 || string(p.Content) != "hi" {
		t.Fatalf("body changed by SetSeq: %+v, %v", p, err)
	}
}
