package dataservice

import (
	"encoding/binary"
	"fmt"
	"time"
)

// Records read on hot paths use compact binary forms rather than JSON: they
// are cheaper to encode and decode, and they keep bytes verbatim (JSON
// encoding would escape '<', '>' and '&' inside a message's extras and
// could grow a 4 KiB message past what a device accepts).

// Message record versions: 1 has no delivery options; 2 adds them.
const (
	messageRecordV1      = 1
	messageRecordVersion = 2
)

// encodeMessage: version, created (unix ms), TTL (ns), then app key, title,
// content and extras, each prefixed by its length as a uvarint; then (v2)
// a flags byte, the priority, and the collapse id and audience, prefixed
// likewise.
func encodeMessage(m *Message) []byte {
	b := make([]byte, 0, 1+8+8+2+6*binary.MaxVarintLen32+len(m.AppKey)+len(m.Title)+len(m.Content)+len(m.Extras)+
		len(m.CollapseID)+len(m.Audience))
	b = append(b, messageRecordVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(m.Created.UnixMilli()))
	b = binary.BigEndian.AppendUint64(b, uint64(m.TTL))
	for _, f := range [][]byte{[]byte(m.AppKey), []byte(m.Title), []byte(m.Content), m.Extras} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	var flags byte
	if m.Broadcast {
		flags |= messageFlagBroadcast
	}
	b = append(b, flags, byte(m.Priority))
	for _, f := range [][]byte{[]byte(m.CollapseID), m.Audience} {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

const messageFlagBroadcast = 1

func decodeMessage(id uint64, v []byte) (Message, error) {
	bad := func(why string) (Message, error) {
		return Message{}, fmt.Errorf("dataservice: corrupt message record %d: %s", id, why)
	}
	if len(v) < 17 || (v[0] != messageRecordV1 && v[0] != messageRecordVersion) {
		return bad("bad header")
	}
	m := Message{
		ID:      id,
		Created: time.UnixMilli(int64(binary.BigEndian.Uint64(v[1:9]))).UTC(),
		TTL:     time.Duration(binary.BigEndian.Uint64(v[9:17])),
	}
	rest := v[17:]
	field := func() ([]byte, bool) {
		n, k := binary.Uvarint(rest)
		if k <= 0 || n > uint64(len(rest)-k) {
			return nil, false
		}
		f := rest[k : k+int(n)]
		rest = rest[k+int(n):]
		return f, true
	}
	var fields [4][]byte
	for i := range fields {
		var ok bool
		if fields[i], ok = field(); !ok {
			return bad("truncated field")
		}
	}
	m.AppKey, m.Title, m.Content = string(fields[0]), string(fields[1]), string(fields[2])
	if len(fields[3]) > 0 {
		m.Extras = append([]byte(nil), fields[3]...)
	}
	if v[0] == messageRecordVersion {
		if len(rest) < 2 {
			return bad("truncated options")
		}
		m.Broadcast, m.Priority = rest[0]&messageFlagBroadcast != 0, Priority(rest[1])
		rest = rest[2:]
		collapse, ok := field()
		if !ok {
			return bad("truncated collapse id")
		}
		audience, ok := field()
		if !ok {
			return bad("truncated audience")
		}
		m.CollapseID = string(collapse)
		if len(audience) > 0 {
			m.Audience = append([]byte(nil), audience...)
		}
	}
	if len(rest) != 0 {
		return bad("trailing bytes")
	}
	return m, nil
}

// Device records are read on every connection, so they use a compact
// binary form rather than JSON: version byte, stored key, server key,
// created (unix ms), then app key and platform, each prefixed by a length
// byte, then (v2) the time zone, likewise.
const (
	deviceRecordV1      = 1
	deviceRecordVersion = 2
)

func encodeDevice(d Device) []byte {
	b := make([]byte, 0, 1+64+8+3+len(d.AppKey)+len(d.Platform)+len(d.TimeZone))
	b = append(b, deviceRecordVersion)
	b = append(b, d.StoredKey[:]...)
	b = append(b, d.ServerKey[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(d.Created.UnixMilli()))
	for _, f := range []string{d.AppKey, d.Platform, d.TimeZone} {
		b = append(b, byte(len(f)))
		b = append(b, f...)
	}
	return b
}

func decodeDevice(rid string, v []byte) (Device, error) {
	bad := func() (Device, error) {
		return Device{}, fmt.Errorf("dataservice: corrupt device record %s", rid)
	}
	if len(v) < 1+64+8+2 || (v[0] != deviceRecordV1 && v[0] != deviceRecordVersion) {
		return bad()
	}
	d := Device{RegistrationID: rid}
	copy(d.StoredKey[:], v[1:33])
	copy(d.ServerKey[:], v[33:65])
	d.Created = time.UnixMilli(int64(binary.BigEndian.Uint64(v[65:73]))).UTC()
	rest := v[73:]
	fields := []*string{&d.AppKey, &d.Platform}
	if v[0] == deviceRecordVersion {
		fields = append(fields, &d.TimeZone)
	}
	for _, f := range fields {
		if len(rest) < 1 || len(rest) < 1+int(rest[0]) {
			return bad()
		}
		n := int(rest[0])
		*f = string(rest[1 : 1+n])
		rest = rest[1+n:]
	}
	if len(rest) != 0 {
		return bad()
	}
	return d, nil
}

// Session records are written on every connection and read on every push:
// version, since (unix ms), then the connector id.
const sessionRecordVersion = 1

func encodeSession(s Session) []byte {
	b := make([]byte, 0, 9+len(s.Connector))
	b = append(b, sessionRecordVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(s.Since.UnixMilli()))
	return append(b, s.Connector...)
}

func decodeSession(rid string, v []byte) (Session, error) {
	if len(v) < 10 || v[0] != sessionRecordVersion {
		return Session{}, fmt.Errorf("dataservice: corrupt session record %s", rid)
	}
	return Session{
		RegistrationID: rid,
		Since:          time.UnixMilli(int64(binary.BigEndian.Uint64(v[1:9]))).UTC(),
		Connector:      string(v[9:]),
	}, nil
}
