package protocol

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// Seed corpora live in testdata/fuzz/<FuzzName>/; the f.Add calls below add
// a few more that are easier to read in code.

func FuzzSplitRecord(f *testing.F) {
	f.Add(AppendRecord(nil, []byte("hello")), uint16(0))
	f.Add([]byte{0, 0}, uint16(0))
	f.Add([]byte{0xff, 0xff, 1}, uint16(65535))
	f.Fuzz(func(t *testing.T, buf []byte, max uint16) {
		limit := limitOf(int(max))
		body, rest, err := SplitRecord(buf, int(max))
		switch {
		case err != nil:
			if body != nil || !bytes.Equal(rest, buf) {
				t.Fatal("error with a body or a consumed buffer")
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrRecordTooLarge) {
				t.Fatalf("unexpected error %v", err)
			}
			n := int(buf[0])<<8 | int(buf[1])
			if (n == 0) != errors.Is(err, ErrMalformed) || (n > limit) != errors.Is(err, ErrRecordTooLarge) {
				t.Fatalf("length %d with limit %d gave %v", n, limit, err)
			}
		case body == nil:
			if !bytes.Equal(rest, buf) {
				t.Fatal("incomplete record consumed bytes")
			}
			if len(buf) >= 2 {
				n := int(buf[0])<<8 | int(buf[1])
				if len(buf)-2 >= n {
					t.Fatalf("complete record of %d bytes not returned", n)
				}
			}
		default:
			if len(body) == 0 || len(body) > limit {
				t.Fatalf("body of %d bytes with limit %d", len(body), limit)
			}
			if len(body)+2+len(rest) != len(buf) {
				t.Fatal("lengths do not add up")
			}
			if re := AppendRecord(nil, body); !bytes.Equal(re, buf[:len(re)]) {
				t.Fatal("re-encoding differs")
			}
		}
		// The streaming reader agrees with SplitRecord.
		rr := NewRecordReader(bytes.NewReader(buf), int(max))
		got, rerr := rr.ReadRecord()
		if body != nil && (rerr != nil || !bytes.Equal(got, body)) {
			t.Fatalf("RecordReader = %x, %v; SplitRecord = %x", got, rerr, body)
		}
		if err != nil && !errors.Is(rerr, err) {
			t.Fatalf("RecordReader error %v, SplitRecord error %v", rerr, err)
		}
	})
}

// bodyCodecs decode a body and, on success, re-encode it as a frame.
var bodyCodecs = []struct {
	typ    FrameType
	decode func(body []byte) (any, error)
	encode func(v any, h Header) []byte
}{
	{TypeHello,
		func(b []byte) (any, error) { var m Hello; return &m, m.Unmarshal(b) },
		func(v any, h Header) []byte { return AppendHello(nil, h.Seq, v.(*Hello)) }},
	{TypeWelcome,
		func(b []byte) (any, error) { var m Welcome; return &m, m.Unmarshal(b) },
		func(v any, h Header) []byte { return AppendWelcome(nil, h.Seq, v.(*Welcome)) }},
	{TypePing,
		func(b []byte) (any, error) { var m Ping; return &m, m.Unmarshal(b) },
		func(v any, h Header) []byte { return AppendPing(nil, h.Seq, v.(*Ping)) }},
	{TypePong,
		func(b []byte) (any, error) { var m Pong; return &m, m.Unmarshal(b) },
		func(v any, h Header) []byte { return AppendPong(nil, h.Seq, v.(*Pong)) }},
	{TypePush,
		func(b []byte) (any, error) { var m Push; return &m, m.Unmarshal(b) },
		func(v any, h Header) []byte { return AppendPush(nil, h.Seq, h.Flags, v.(*Push)) }},
	{TypeAck,
		func(b []byte) (any, error) { var m Ack; return &m, m.Unmarshal(b) },
		func(v any, h Header) []byte { return AppendAck(nil, h.Seq, v.(*Ack)) }},
	{TypeClick,
		func(b []byte) (any, error) { var m Click; return &m, m.Unmarshal(b) },
		func(v any, h Header) []byte { return AppendClick(nil, h.Seq, v.(*Click)) }},
	{TypeUpstream,
		func(b []byte) (any, error) { var m Upstream; return &m, m.Unmarshal(b) },
		func(v any, h Header) []byte { return AppendUpstream(nil, h.Seq, v.(*Upstream)) }},
	{TypeError,
		func(b []byte) (any, error) { var m Error; return &m, m.Unmarshal(b) },
		func(v any, h Header) []byte { return AppendError(nil, h.Seq, v.(*Error)) }},
}

// FuzzFrames parses arbitrary bytes as a frame and decodes the body as every
// body type. Nothing may panic; whatever decodes must re-encode to a frame
// that decodes to the same value.
func FuzzFrames(f *testing.F) {
	for _, tc := range roundTripCases() {
		f.Add(tc.encode(nil, 1))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		h, body, err := ParseHeader(frame)
		if err != nil {
			if len(frame) >= FrameHeaderLen {
				t.Fatalf("ParseHeader rejected %d bytes: %v", len(frame), err)
			}
			return
		}
		for _, c := range bodyCodecs {
			v, err := c.decode(body)
			if err != nil {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("%v: error %v does not wrap ErrMalformed", c.typ, err)
				}
				continue
			}
			if e, ok := v.(*Error); ok && len(e.Message) > MaxErrorMessage {
				// AppendError cuts long messages; compare with the cut.
				e.Message = clipMessage(e.Message, MaxErrorMessage)
			}
			h.Type = c.typ
			if c.typ != TypePush {
				h.Flags = 0
			}
			re := c.encode(v, h)
			h2, body2, err := ParseHeader(re)
			if err != nil || h2 != h {
				t.Fatalf("%v: re-encoded header %+v, %v; want %+v", c.typ, h2, err, h)
			}
			v2, err := c.decode(body2)
			if err != nil {
				t.Fatalf("%v: re-encoded body %x does not decode: %v (first decode %+v)", c.typ, body2, err, v)
			}
			if !reflect.DeepEqual(v, v2) {
				t.Fatalf("%v: round trip changed the value:\n%+v\n%+v", c.typ, v, v2)
			}
		}
	})
}

// FuzzRespond runs the server handshake on arbitrary record-1 bodies with
// the test vectors' static key. It must never panic, must answer every
// failure with an *Error the caller can send as a refusal, and must never
// return a session for bytes that are not a genuine message 1.
func FuzzRespond(f *testing.F) {
	server := testServerKeypair(f)
	_, valid := startHandshake(f, server.Public, bytes.NewReader(counting(0x21, KeyLen)))
	f.Add(valid)
	f.Add([]byte{})
	f.Add([]byte{2})
	f.Fuzz(func(t *testing.T, record1 []byte) {
		body, s, err := Respond(server, record1, nil)
		if err != nil {
			if s != nil || body != nil {
				t.Fatal("session or body returned with an error")
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %v is not an *Error", err)
			}
			refusal := AppendRefusal(nil, e)
			if refusal[0] != StatusRefuse || len(refusal) < 3 {
				t.Fatalf("refusal %x", refusal)
			}
			if len(record1) > 0 && record1[0] != Version && e.Code != CodeUnsupportedVersion {
				t.Fatalf("version %d answered with %v", record1[0], e.Code)
			}
			return
		}
		if s == nil || len(body) != Record2Len || body[0] != StatusAccept {
			t.Fatalf("success without a session or with record 2 %x", body)
		}
		if len(record1) != Record1Len || record1[0] != Version {
			t.Fatalf("accepted a record 1 of %d bytes, version %d", len(record1), record1[0])
		}
		// The only genuine message 1 the fuzzer can hold is one produced
		// by an initiator; anything it accepts must be usable by one.
		if !bytes.Equal(record1, valid) && !isGenuineSeed(record1) {
			t.Fatalf("accepted a record 1 no initiator made: %x", record1)
		}
	})
}

// isGenuineSeed reports whether record1 is one of the checked-in seeds made
// by real initiators (testdata/fuzz/FuzzRespond/valid-*).
func isGenuineSeed(record1 []byte) bool {
	for i := byte(0); i < 4; i++ {
		in, err := NewInitiator(testKeyPublic(), bytes.NewReader(counting(0x21+i*0x20, KeyLen)))
		if err != nil {
			return false
		}
		r1, err := in.AppendRecord1(nil)
		if err == nil && bytes.Equal(r1, record1) {
			return true
		}
	}
	return false
}

func testKeyPublic() []byte {
	k, _ := GenerateKeypair(bytes.NewReader(counting(0x01, KeyLen)))
	return k.Public
}
