package protocol_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/heraldpush/herald/protocol"
	pb "github.com/heraldpush/herald/protocol/internal/protocolpb"
)

// The tests in this file tie docs/protocol.proto to the hand-written codec.
// The Go code generated from the .proto (package protocolpb) stands in for
// any conforming protobuf library: a body encoded by either side must decode
// with the other to an equal value, and whatever the hand-written decoder
// accepts, the generated code must decode to the same value. The bodies and
// their values are in protofile_bodies_test.go.

func TestProtoFileDescribesEveryBody(t *testing.T) {
	messages := pb.File_docs_protocol_proto.Messages()
	if messages.Len() != len(bodyTypes) {
		t.Errorf("docs/protocol.proto has %d messages, the tests know %d bodies", messages.Len(), len(bodyTypes))
	}
	frames := map[protocol.FrameType]bool{}
	for _, b := range bodyTypes {
		if frames[b.frame] {
			t.Errorf("two bodies for %v", b.frame)
		}
		frames[b.frame] = true
		if messages.ByName(b.message.Name()) == nil {
			t.Errorf("%v: no message %s in docs/protocol.proto", b.frame, b.message.Name())
		}
		// Every field of the hand-written type is in the .proto under
		// the same name, and the other way round.
		fields := b.message.Fields()
		if b.hand.NumField() != fields.Len() {
			t.Errorf("%v: %s has %d fields, message %s has %d", b.frame, b.hand, b.hand.NumField(), b.message.Name(), fields.Len())
		}
		for i := range b.hand.NumField() {
			if fd := protoField(b, b.hand.Field(i).Name); fd == nil {
				t.Errorf("%v: %s.%s is not in message %s", b.frame, b.hand, b.hand.Field(i).Name, b.message.Name())
			}
		}
	}
}

// protoField returns the field of b's message that the hand-written field
// name stands for: RegistrationID for registration_id.
func protoField(b bodyType, name string) protoreflect.FieldDescriptor {
	fields := b.message.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		if strings.ReplaceAll(string(fd.Name()), "_", "") == strings.ToLower(name) {
			return fd
		}
	}
	return nil
}

func TestBodiesAtTheirLimits(t *testing.T) {
	for _, b := range bodyTypes {
		t.Run(b.frame.String(), func(t *testing.T) {
			for _, m := range b.limits {
				checkBothWays(t, b, m)
			}
		})
	}
}

func TestBodiesPastTheirRules(t *testing.T) {
	for _, b := range bodyTypes {
		t.Run(b.frame.String(), func(t *testing.T) {
			for _, m := range b.beyond {
				wire, err := proto.Marshal(m)
				if err != nil {
					t.Fatalf("generated code cannot encode %v: %v", describe(m), err)
				}
				if got, err := b.decode(wire); !errors.Is(err, protocol.ErrMalformed) {
					t.Errorf("%v decodes %v to %v, %v; want ErrMalformed", b.frame, describe(m), describe(got), err)
				}
			}
		})
	}
}

// TestErrorMessageLength: senders cut an ERROR's message to 1024 bytes,
// receivers accept longer ones.
func TestErrorMessageLength(t *testing.T) {
	long := strings.Repeat("€", protocol.MaxErrorMessage) // 3 bytes a rune
	wire, err := proto.Marshal(&pb.Error{Code: uint32(protocol.CodeInternalError), Message: long})
	if err != nil {
		t.Fatal(err)
	}
	var e protocol.Error
	if err := e.Unmarshal(wire); err != nil || e.Message != long {
		t.Fatalf("a %d-byte message decodes to %d bytes, %v", len(long), len(e.Message), err)
	}

	_, body, err := protocol.ParseHeader(protocol.AppendError(nil, 0, &e))
	if err != nil {
		t.Fatal(err)
	}
	var m pb.Error
	if err := proto.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	if want := long[:protocol.MaxErrorMessage/3*3]; m.Message != want {
		t.Fatalf("AppendError sends %d bytes of the message, want the first %d", len(m.Message), len(want))
	}
}

// TestZeroBodies encodes each hand-written type's zero value, and decodes an
// empty body, the generated code's zero value.
func TestZeroBodies(t *testing.T) {
	for _, b := range bodyTypes {
		t.Run(b.frame.String(), func(t *testing.T) {
			// The zero value decodes to the generated zero value, but for
			// fixed-size fields (proof, server_signature): the
			// hand-written types hold them in arrays, which are never
			// empty.
			want := b.newMessage()
			for i := range b.hand.NumField() {
				if f := b.hand.Field(i); f.Type.Kind() == reflect.Array {
					want.ProtoReflect().Set(protoField(b, f.Name), protoreflect.ValueOfBytes(make([]byte, f.Type.Len())))
				}
			}
			body := handBody(t, b, b.newMessage())
			got := b.newMessage()
			if err := proto.Unmarshal(body, got); err != nil {
				t.Fatalf("generated code rejects %s: %v", cut(body), err)
			}
			if !proto.Equal(got, want) {
				t.Fatalf("zero value encoded as %s, decodes to %v; want %v", cut(body), describe(got), describe(want))
			}

			// docs/protocol.md: the bodies of PING and PONG may be empty;
			// every other body has a required field.
			emptyValid := b.frame == protocol.TypePing || b.frame == protocol.TypePong
			got, err := b.decode(nil)
			switch {
			case emptyValid && err != nil:
				t.Fatalf("empty body rejected: %v", err)
			case emptyValid && !proto.Equal(got, b.newMessage()):
				t.Fatalf("empty body decodes to %v", describe(got))
			case !emptyValid && !errors.Is(err, protocol.ErrMalformed):
				t.Fatalf("empty body decodes to %v, %v; want ErrMalformed", describe(got), err)
			}
		})
	}
}

// TestFieldTypes checks the type of every field of docs/protocol.proto
// against the hand-written decoder: what a field of that type may hold is
// accepted, a uint32 beyond 32 bits and a string that is not UTF-8 are
// rejected, and so is a known field with the wrong wire type.
func TestFieldTypes(t *testing.T) {
	for _, b := range bodyTypes {
		base, err := proto.Marshal(b.limits[0])
		if err != nil {
			t.Fatal(err)
		}
		fields := b.message.Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			t.Run(fmt.Sprintf("%v/%s", b.frame, fd.Name()), func(t *testing.T) {
				accept := func(typ protowire.Type, value []byte) {
					t.Helper()
					body := append(protowire.AppendTag(slices.Clip(base), fd.Number(), typ), value...)
					if _, err := agree(t, b, body); err != nil {
						t.Fatalf("%s rejected: %v", cut(body), err)
					}
				}
				reject := func(typ protowire.Type, value []byte) {
					t.Helper()
					body := append(protowire.AppendTag(slices.Clip(base), fd.Number(), typ), value...)
					if got, err := b.decode(body); !errors.Is(err, protocol.ErrMalformed) {
						t.Fatalf("%s decodes to %v, %v; want ErrMalformed", cut(body), describe(got), err)
					}
				}
				varint := func(v uint64) []byte { return protowire.AppendVarint(nil, v) }
				if fd.IsList() && (fd.Kind() != protoreflect.Uint64Kind || !fd.IsPacked()) {
					t.Fatalf("repeated field of kind %v: only packed uint64 ids are known here", fd.Kind())
				}
				switch fd.Kind() {
				case protoreflect.Uint32Kind:
					reject(protowire.VarintType, varint(1<<32))
					reject(protowire.Fixed32Type, []byte{1, 0, 0, 0})
				case protoreflect.Uint64Kind, protoreflect.Int64Kind:
					accept(protowire.VarintType, varint(1<<32+1))
					if fd.Kind() == protoreflect.Int64Kind {
						accept(protowire.VarintType, varint(uint64(math.MaxUint64-1))) // -2, plain varint
					}
					if fd.IsList() {
						accept(protowire.BytesType, protowire.AppendBytes(nil, varint(1<<40)))
						reject(protowire.Fixed32Type, []byte{1, 0, 0, 0})
					} else {
						reject(protowire.Fixed64Type, []byte{1, 0, 0, 0, 0, 0, 0, 0})
					}
				case protoreflect.StringKind:
					accept(protowire.BytesType, protowire.AppendString(nil, "é"))
					notUTF8 := protowire.AppendBytes(nil, []byte{0xff})
					reject(protowire.BytesType, notUTF8)
					if proto.Unmarshal(append(protowire.AppendTag(slices.Clip(base), fd.Number(), protowire.BytesType), notUTF8...), b.newMessage()) == nil {
						t.Fatal("generated code accepts a string that is not UTF-8")
					}
					reject(protowire.VarintType, varint(1))
				case protoreflect.BytesKind:
					accept(protowire.BytesType, protowire.AppendBytes(nil, bytes.Repeat([]byte{0xff}, protocol.ProofLen)))
					reject(protowire.VarintType, varint(1))
				default:
					t.Fatalf("field of kind %v: teach this test what the hand-written decoder does with it", fd.Kind())
				}
			})
		}
	}
}

// TestRandomBodies runs every body type through both codecs with random
// values (the seed is fixed, so a failure repeats), as proto.Marshal writes
// them and as another conforming encoder might: fields in another order,
// earlier occurrences of a field that a later one overrides, ids split
// between packed and unpacked runs, unknown fields anywhere. It then damages
// the bytes: whatever the hand-written decoder still accepts, the generated
// code must decode to the same value.
func TestRandomBodies(t *testing.T) {
	iterations := 300
	if testing.Short() {
		iterations = 50
	}
	for _, b := range bodyTypes {
		t.Run(b.frame.String(), func(t *testing.T) {
			r := rand.New(rand.NewPCG(20240611, uint64(b.frame)))
			damaged, accepted := 0, 0
			for range iterations {
				m := b.random(r)
				checkBothWays(t, b, m)

				wire, err := proto.Marshal(m)
				if err != nil {
					t.Fatal(err)
				}
				variant, unknown := rewrite(t, r, b, wire)
				got, err := agree(t, b, variant)
				if err != nil {
					t.Fatalf("%s, another encoding of %v, rejected: %v", cut(variant), describe(m), err)
				}
				if !proto.Equal(got, m) {
					t.Fatalf("%s, another encoding of %v, decodes to %v", cut(variant), describe(m), describe(got))
				}
				gen := b.newMessage()
				if err := proto.Unmarshal(variant, gen); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(gen.ProtoReflect().GetUnknown(), unknown) {
					t.Fatalf("generated code kept unknown fields %x, want %x", gen.ProtoReflect().GetUnknown(), unknown)
				}

				for range 4 {
					damaged++
					if _, err := agree(t, b, damage(r, variant)); err == nil {
						accepted++
					}
				}
			}
			t.Logf("the hand-written decoder accepted %d of %d damaged bodies", accepted, damaged)
		})
	}
}

// FuzzDecodersAgree decodes arbitrary bytes as a body with both decoders:
// whatever the hand-written decoder accepts, the generated code must decode
// to the same value.
func FuzzDecodersAgree(f *testing.F) {
	for i, b := range bodyTypes {
		for _, m := range b.limits {
			if wire, err := proto.Marshal(m); err == nil && len(wire) <= 4096 {
				f.Add(uint8(i), wire)
			}
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		agree(t, bodyTypes[int(which)%len(bodyTypes)], body)
	})
}

// checkBothWays encodes m with the hand-written encoder and decodes it with
// the generated code, and the other way round; both must give m back. The
// hand-written encoder must also write what proto.Marshal writes: fields in
// number order, zero values left out, ids packed (this holds for
// google.golang.org/protobuf v1.34.2, though it does not promise stable
// output across versions).
func checkBothWays(t testing.TB, b bodyType, m proto.Message) {
	t.Helper()
	body := handBody(t, b, m)
	got := b.newMessage()
	if err := proto.Unmarshal(body, got); err != nil {
		t.Fatalf("package protocol encodes %v as %s; generated code rejects it: %v", describe(m), cut(body), err)
	}
	if !proto.Equal(got, m) {
		t.Fatalf("package protocol encodes %v as %s; generated code decodes %v", describe(m), cut(body), describe(got))
	}
	wire, err := proto.Marshal(m)
	if err != nil {
		t.Fatalf("generated code cannot encode %v: %v", describe(m), err)
	}
	if !bytes.Equal(wire, body) {
		i := 0
		for i < min(len(body), len(wire)) && body[i] == wire[i] {
			i++
		}
		t.Fatalf("%v: package protocol writes %s, proto.Marshal %s (they differ from byte %d)", describe(m), cut(body), cut(wire), i)
	}
	back, err := b.decode(wire)
	if err != nil {
		t.Fatalf("generated code encodes %v as %s; package protocol rejects it: %v", describe(m), cut(wire), err)
	}
	if !proto.Equal(back, m) {
		t.Fatalf("generated code encodes %v as %s; package protocol decodes %v", describe(m), cut(wire), describe(back))
	}
}

// handBody encodes m with the hand-written encoder and returns the frame's
// body.
func handBody(t testing.TB, b bodyType, m proto.Message) []byte {
	t.Helper()
	h, body, err := protocol.ParseHeader(b.encode(nil, m))
	if err != nil || h.Type != b.frame {
		t.Fatalf("encoding %v: header %+v, %v", describe(m), h, err)
	}
	return body
}

// agree decodes body with both decoders. If the hand-written one accepts it,
// the generated one must too, with the same value, unknown fields aside. It
// returns the hand-written decoder's result.
func agree(t testing.TB, b bodyType, body []byte) (proto.Message, error) {
	t.Helper()
	hand, err := b.decode(body)
	if err != nil {
		if !errors.Is(err, protocol.ErrMalformed) {
			t.Fatalf("%v rejects %s with %v, which does not wrap ErrMalformed", b.frame, cut(body), err)
		}
		return nil, err
	}
	gen := b.newMessage()
	if err := proto.Unmarshal(body, gen); err != nil {
		t.Fatalf("package protocol decodes %s to %v; generated code rejects it: %v", cut(body), describe(hand), err)
	}
	gen.ProtoReflect().SetUnknown(nil)
	if !proto.Equal(hand, gen) {
		t.Fatalf("%s: package protocol decodes %v, generated code %v", cut(body), describe(hand), describe(gen))
	}
	return hand, nil
}

// field is one encoded field of a body: tag and value.
type field struct {
	num protowire.Number
	raw []byte
}

// splitFields cuts a valid body into its fields.
func splitFields(t testing.TB, body []byte) []field {
	t.Helper()
	var fields []field
	for len(body) > 0 {
		num, typ, n := protowire.ConsumeTag(body)
		if n < 0 {
			t.Fatalf("bad tag in %s", cut(body))
		}
		m := protowire.ConsumeFieldValue(num, typ, body[n:])
		if m < 0 {
			t.Fatalf("bad field in %s", cut(body))
		}
		fields = append(fields, field{num, body[:n+m]})
		body = body[n+m:]
	}
	return fields
}

// rewrite returns another encoding of wire, a body proto.Marshal wrote,
// that a conforming decoder reads as the same value, and the unknown fields
// it added, in order.
func rewrite(t testing.TB, r *rand.Rand, b bodyType, wire []byte) (variant, unknown []byte) {
	t.Helper()
	known := b.message.Fields()
	var singular, runs []field
	for _, f := range splitFields(t, wire) {
		if known.ByNumber(f.num).IsList() {
			runs = append(runs, splitIDs(r, f)...)
		} else {
			singular = append(singular, f)
		}
	}

	// Singular fields in any order, some after an earlier occurrence that
	// they override.
	r.Shuffle(len(singular), func(i, j int) { singular[i], singular[j] = singular[j], singular[i] })
	other, err := proto.Marshal(b.random(r))
	if err != nil {
		t.Fatal(err)
	}
	earlier := splitFields(t, other)
	var out []field
	for _, f := range singular {
		if i := slices.IndexFunc(earlier, func(e field) bool { return e.num == f.num }); i >= 0 && r.IntN(3) == 0 {
			out = slices.Insert(out, r.IntN(len(out)+1), earlier[i])
		}
		out = append(out, f)
	}

	// Runs of ids among them, in their order.
	at := 0
	for _, run := range runs {
		at += r.IntN(len(out) - at + 1)
		out = slices.Insert(out, at, run)
		at++
	}

	// Unknown fields anywhere.
	for range r.IntN(4) {
		out = slices.Insert(out, r.IntN(len(out)+1), unknownField(r, known))
	}

	for _, f := range out {
		variant = append(variant, f.raw...)
		if known.ByNumber(f.num) == nil {
			unknown = append(unknown, f.raw...)
		}
	}
	return variant, unknown
}

// splitIDs cuts a packed field of ids into a random mix of shorter packed
// runs and single unpacked values.
func splitIDs(r *rand.Rand, f field) []field {
	_, _, n := protowire.ConsumeTag(f.raw)
	packed, _ := protowire.ConsumeBytes(f.raw[n:])
	var ids []uint64
	for len(packed) > 0 {
		id, k := protowire.ConsumeVarint(packed)
		ids = append(ids, id)
		packed = packed[k:]
	}
	var runs []field
	for len(ids) > 0 {
		size := 1 + r.IntN(len(ids))
		var raw []byte
		if size == 1 && r.IntN(2) == 0 {
			raw = protowire.AppendVarint(protowire.AppendTag(nil, f.num, protowire.VarintType), ids[0])
		} else {
			var values []byte
			for _, id := range ids[:size] {
				values = protowire.AppendVarint(values, id)
			}
			raw = protowire.AppendBytes(protowire.AppendTag(nil, f.num, protowire.BytesType), values)
		}
		runs = append(runs, field{f.num, raw})
		ids = ids[size:]
	}
	return runs
}

// unknownField returns a field that is not in known, of any number and any
// wire type but the group ones (which receivers reject).
func unknownField(r *rand.Rand, known protoreflect.FieldDescriptors) field {
	var num protowire.Number
	for num == 0 || known.ByNumber(num) != nil {
		if r.IntN(2) == 0 {
			num = protowire.Number(1 + r.IntN(32))
		} else {
			num = protowire.Number(1 + r.IntN(int(protowire.MaxValidNumber)))
		}
	}
	var raw []byte
	switch r.IntN(4) {
	case 0:
		raw = protowire.AppendVarint(protowire.AppendTag(nil, num, protowire.VarintType), randomUint64(r))
	case 1:
		raw = protowire.AppendFixed32(protowire.AppendTag(nil, num, protowire.Fixed32Type), r.Uint32())
	case 2:
		raw = protowire.AppendFixed64(protowire.AppendTag(nil, num, protowire.Fixed64Type), r.Uint64())
	default:
		raw = protowire.AppendBytes(protowire.AppendTag(nil, num, protowire.BytesType), randomBytes(r, 0, 24))
	}
	return field{num, raw}
}

// damage returns a copy of body with one random change: a bit flipped, a
// byte replaced, inserted or deleted, the end cut off, or a span repeated.
func damage(r *rand.Rand, body []byte) []byte {
	out := slices.Clone(body)
	if len(out) == 0 {
		return append(out, byte(r.Uint32()))
	}
	i := r.IntN(len(out))
	switch r.IntN(6) {
	case 0:
		out[i] ^= 1 << r.IntN(8)
	case 1:
		out[i] = byte(r.Uint32())
	case 2:
		out = slices.Insert(out, i, byte(r.Uint32()))
	case 3:
		out = slices.Delete(out, i, i+1)
	case 4:
		out = out[:i]
	default:
		j := i + r.IntN(len(out)-i+1)
		out = slices.Insert(out, j, out[i:j]...)
	}
	return out
}

// describe formats m for a failure message, cut to a readable length.
func describe(m proto.Message) string {
	if m == nil {
		return "<nil>"
	}
	s := fmt.Sprintf("%s{%v}", m.ProtoReflect().Descriptor().Name(), m)
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// cut formats b in hex for a failure message, cut to a readable length.
func cut(b []byte) string {
	if len(b) > 200 {
		return fmt.Sprintf("%x… (%d bytes)", b[:200], len(b))
	}
	return fmt.Sprintf("%x", b)
}
