package protocol

import (
	"math"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// Helpers for the hand-written protobuf codec of the frame bodies. Decoding
// follows proto3: unknown fields are skipped, the last occurrence of a
// singular field wins, zero values may be omitted. It is stricter than a
// generic decoder in three ways, all of which a conforming encoder never
// triggers: a known field with the wrong wire type, a uint32 field whose
// value overflows 32 bits, and group wire types are rejected as malformed.
//
// The errors are preallocated so that rejecting a frame does not allocate
// either.
var (
	errBadTag       = malformed("protobuf: bad field tag")
	errTruncated    = malformed("protobuf: truncated field")
	errWireType     = malformed("protobuf: wrong wire type for field")
	errGroup        = malformed("protobuf: group wire type")
	errUint32Range  = malformed("protobuf: uint32 field out of range")
	errInvalidUTF8  = malformed("protobuf: string field is not valid UTF-8")
	errTrailingData = malformed("protobuf: garbage after packed varints")
)

// nextTag consumes a field tag. Field numbers run from 1 to 2^29-1;
// protowire.ConsumeTag lets larger ones through, up to 2^31-1.
func nextTag(b []byte) (protowire.Number, protowire.Type, int, error) {
	num, typ, n := protowire.ConsumeTag(b)
	if n < 0 || num > protowire.MaxValidNumber {
		return 0, 0, 0, errBadTag
	}
	return num, typ, n, nil
}

func varintField(typ protowire.Type, b []byte) (uint64, int, error) {
	if typ != protowire.VarintType {
		return 0, 0, errWireType
	}
	v, n := protowire.ConsumeVarint(b)
	if n < 0 {
		return 0, 0, errTruncated
	}
	return v, n, nil
}

func uint32Field(typ protowire.Type, b []byte) (uint32, int, error) {
	v, n, err := varintField(typ, b)
	if err != nil {
		return 0, 0, err
	}
	if v > math.MaxUint32 {
		return 0, 0, errUint32Range
	}
	return uint32(v), n, nil
}

// bytesField returns the field's value aliasing b, or nil if it is empty
// (proto3 does not distinguish an empty field from an absent one).
func bytesField(typ protowire.Type, b []byte) ([]byte, int, error) {
	if typ != protowire.BytesType {
		return nil, 0, errWireType
	}
	v, n := protowire.ConsumeBytes(b)
	if n < 0 {
		return nil, 0, errTruncated
	}
	if len(v) == 0 {
		v = nil
	}
	return v, n, nil
}

func stringField(typ protowire.Type, b []byte) ([]byte, int, error) {
	v, n, err := bytesField(typ, b)
	if err == nil && !utf8.Valid(v) {
		return nil, 0, errInvalidUTF8
	}
	return v, n, err
}

// skipField skips the value of a field this version does not know.
func skipField(num protowire.Number, typ protowire.Type, b []byte) (int, error) {
	if typ == protowire.StartGroupType || typ == protowire.EndGroupType {
		return 0, errGroup
	}
	n := protowire.ConsumeFieldValue(num, typ, b)
	if n < 0 {
		return 0, errTruncated
	}
	return n, nil
}

func appendVarintField(dst []byte, num protowire.Number, v uint64) []byte {
	if v == 0 {
		return dst
	}
	dst = protowire.AppendTag(dst, num, protowire.VarintType)
	return protowire.AppendVarint(dst, v)
}

func appendBytesField(dst []byte, num protowire.Number, v []byte) []byte {
	if len(v) == 0 {
		return dst
	}
	dst = protowire.AppendTag(dst, num, protowire.BytesType)
	return protowire.AppendBytes(dst, v)
}

func appendStringField(dst []byte, num protowire.Number, v string) []byte {
	if len(v) == 0 {
		return dst
	}
	dst = protowire.AppendTag(dst, num, protowire.BytesType)
	return protowire.AppendString(dst, v)
}
