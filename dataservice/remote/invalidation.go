package remote

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/heraldpush/herald/dataservice"
)

// The invalidation stream of a dataservice instance (dataservice.Source)
// on the wire: the server's end is streamInvalidations, the client's a
// CacheFollower. Server to follower, it is a sequence of frames: type
// (1 byte), payload length (4 bytes, big-endian), payload. The follower
// answers with acknowledgements: the sequence number it processed, 8 bytes
// big-endian each.
const (
	frameHello         = 1 // source id (len-prefixed), start seq, lease (ns)
	frameInvalidations = 2 // count, then per record: seq, generation, kind, key
	frameHeartbeat     = 3 // last seq sent on this stream
)

// maxFrame bounds a frame a follower accepts.
const maxFrame = 64 << 20

type hello struct {
	Source string
	Start  uint64
	Lease  time.Duration
}

func beUint64(b []byte) uint64 { return binary.BigEndian.Uint64(b) }

// frame appends a frame header whose length is patched by finish.
func frame(dst []byte, t byte) ([]byte, int) {
	dst = append(dst, t, 0, 0, 0, 0)
	return dst, len(dst)
}

func finish(dst []byte, start int) []byte {
	binary.BigEndian.PutUint32(dst[start-4:start], uint32(len(dst)-start))
	return dst
}

func appendHello(dst []byte, h hello) []byte {
	dst, start := frame(dst, frameHello)
	dst = append(dst, byte(len(h.Source)))
	dst = append(dst, h.Source...)
	dst = binary.BigEndian.AppendUint64(dst, h.Start)
	dst = binary.BigEndian.AppendUint64(dst, uint64(h.Lease))
	return finish(dst, start)
}

func appendInvalidations(dst []byte, inv []dataservice.Invalidation) []byte {
	dst, start := frame(dst, frameInvalidations)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(inv)))
	for _, v := range inv {
		dst = binary.BigEndian.AppendUint64(dst, v.Seq)
		dst = binary.BigEndian.AppendUint32(dst, v.Generation)
		dst = append(dst, byte(len(v.Kind)))
		dst = append(dst, v.Kind...)
		dst = binary.BigEndian.AppendUint16(dst, uint16(len(v.Key)))
		dst = append(dst, v.Key...)
	}
	return finish(dst, start)
}

func appendHeartbeat(dst []byte, seq uint64) []byte {
	dst, start := frame(dst, frameHeartbeat)
	dst = binary.BigEndian.AppendUint64(dst, seq)
	return finish(dst, start)
}

var errBadFrame = errors.New("remote: malformed invalidation frame")

// frameReader reads invalidation frames.
type frameReader struct {
	r   io.Reader
	buf []byte
}

// next returns the next frame's type and payload (valid until the next call).
func (fr *frameReader) next() (byte, []byte, error) {
	var h [5]byte
	if _, err := io.ReadFull(fr.r, h[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(h[1:])
	if n > maxFrame {
		return 0, nil, fmt.Errorf("%w: %d-byte frame", errBadFrame, n)
	}
	if cap(fr.buf) < int(n) {
		fr.buf = make([]byte, n)
	}
	fr.buf = fr.buf[:n]
	if _, err := io.ReadFull(fr.r, fr.buf); err != nil {
		return 0, nil, err
	}
	return h[0], fr.buf, nil
}

func parseHello(p []byte) (hello, error) {
	if len(p) < 1 || len(p) != 1+int(p[0])+16 {
		return hello{}, errBadFrame
	}
	n := int(p[0])
	return hello{Source: string(p[1 : 1+n]), Start: beUint64(p[1+n:]), Lease: time.Duration(beUint64(p[9+n:]))}, nil
}

// parseInvalidations calls fn for each invalidation of a frame.
func parseInvalidations(p []byte, fn func(seq uint64, gen uint32, kind dataservice.Kind, key string)) error {
	if len(p) < 4 {
		return errBadFrame
	}
	count := binary.BigEndian.Uint32(p)
	p = p[4:]
	for range count {
		if len(p) < 13 {
			return errBadFrame
		}
		seq, gen, kl := beUint64(p), binary.BigEndian.Uint32(p[8:]), int(p[12])
		p = p[13:]
		if len(p) < kl+2 {
			return errBadFrame
		}
		kind := dataservice.Kind(p[:kl])
		keyLen := int(binary.BigEndian.Uint16(p[kl:]))
		p = p[kl+2:]
		if len(p) < keyLen {
			return errBadFrame
		}
		fn(seq, gen, kind, string(p[:keyLen]))
		p = p[keyLen:]
	}
	if len(p) != 0 {
		return errBadFrame
	}
	return nil
}

// maxFrameInvalidations bounds the invalidations merged into one frame.
const maxFrameInvalidations = 4096

// streamInvalidations streams the source's invalidations to a
// CacheFollower and reads its acknowledgements from the request body
// (HTTP/2 is full duplex).
func (s *Server) streamInvalidations(w http.ResponseWriter, r *http.Request) {
	sub := s.source.Subscribe()
	defer sub.Close()
	rc := http.NewResponseController(w)
	// The request body carries acknowledgements for as long as the stream
	// lasts: lift the deadline servers put on reading bodies (h2c).
	_ = rc.SetReadDeadline(time.Time{})
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
	cfg := s.source.Config()
	var buf []byte
	send := func(b []byte) bool {
		if _, err := w.Write(b); err != nil {
			return false
		}
		if err := rc.Flush(); err != nil {
			return false
		}
		sub.Sent(time.Now())
		return true
	}
	if !send(appendHello(buf[:0], hello{Source: s.source.ID(), Start: sub.Start, Lease: cfg.Lease})) {
		return
	}
	go func() {
		// Acknowledgements; the stream ends when the follower goes away.
		defer sub.Close()
		var ack [8]byte
		for {
			if _, err := io.ReadFull(r.Body, ack[:]); err != nil {
				return
			}
			sub.Ack(beUint64(ack[:]))
		}
	}()
	last := sub.Start
	beat := time.NewTicker(cfg.Heartbeat)
	defer beat.Stop()
	var merged []dataservice.Invalidation
	for {
		select {
		case batch, ok := <-sub.C:
			if !ok {
				return // cut off: the follower drops its cache
			}
			// Batches published meanwhile (concurrent writes) go out in
			// the same frame: one write here, one acknowledgement there.
			merged = append(merged[:0], batch...)
		more:
			for len(merged) < maxFrameInvalidations {
				select {
				case batch, ok := <-sub.C:
					if !ok {
						return
					}
					merged = append(merged, batch...)
				default:
					break more
				}
			}
			buf = appendInvalidations(buf[:0], merged)
			if !send(buf) {
				return
			}
			last = merged[len(merged)-1].Seq
		case <-beat.C:
			if !send(appendHeartbeat(buf[:0], last)) {
				return
			}
		case <-r.Context().Done():
			return
		}
	}
}
