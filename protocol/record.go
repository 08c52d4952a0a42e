package protocol

import (
	"errors"
	"io"
)

// Record layer limits.
const (
	// RecordHeaderLen is the length of a record header: the body length as
	// a big-endian uint16.
	RecordHeaderLen = 2
	// DefaultMaxRecord is the largest record body a receiver accepts unless
	// configured otherwise (and, for the client, until WELCOME says more).
	DefaultMaxRecord = 8192
	// MaxRecordLimit is the largest record body the 2-byte header can
	// describe, and the largest maximum a receiver may be configured with.
	MaxRecordLimit = 65535
)

// limitOf normalizes a receiver's maximum: zero or negative means
// DefaultMaxRecord, and nothing above MaxRecordLimit.
func limitOf(max int) int {
	switch {
	case max <= 0:
		return DefaultMaxRecord
	case max > MaxRecordLimit:
		return MaxRecordLimit
	default:
		return max
	}
}

// AppendRecord appends a record carrying body to dst: the 2-byte big-endian
// length, then body.
//
// The caller guarantees 1 ≤ len(body) ≤ MaxRecordLimit (the frame encoders
// and Session.SealRecord produce bodies within that range when the frame
// fits the negotiated maximum). If the guarantee is broken, AppendRecord does
// not truncate and does not panic: it appends a header of length zero and no
// body, a record every receiver rejects as malformed, so the bug shows up as
// a closed connection rather than a desynchronized stream. Use
// AppendRecordChecked where the length is not known to be valid.
func AppendRecord(dst, body []byte) []byte {
	n := len(body)
	if n == 0 || n > MaxRecordLimit {
		return append(dst, 0, 0)
	}
	dst = append(dst, byte(n>>8), byte(n))
	return append(dst, body...)
}

// AppendRecordChecked is AppendRecord for bodies of unknown length: it
// returns dst unchanged and ErrRecordTooLarge if len(body) > MaxRecordLimit,
// or ErrMalformed if body is empty.
func AppendRecordChecked(dst, body []byte) ([]byte, error) {
	switch {
	case len(body) == 0:
		return dst, malformed("empty record body")
	case len(body) > MaxRecordLimit:
		return dst, ErrRecordTooLarge
	}
	return AppendRecord(dst, body), nil
}

// SplitRecord cuts the first record out of buf. The body aliases buf; rest
// is what follows it.
//
// If buf does not yet hold a complete record, SplitRecord returns a nil body,
// rest == buf and a nil error: read more and call again. As soon as the
// header is present it is checked, before the body has arrived: a length of
// zero returns ErrMalformed and a length above max returns
// ErrRecordTooLarge, so a receiver never buffers an oversized record. A max
// of zero or less means DefaultMaxRecord; max is capped at MaxRecordLimit.
// SplitRecord does not allocate.
func SplitRecord(buf []byte, max int) (body, rest []byte, err error) {
	if len(buf) < RecordHeaderLen {
		return nil, buf, nil
	}
	n := int(buf[0])<<8 | int(buf[1])
	if n == 0 {
		return nil, buf, errZeroRecord
	}
	if n > limitOf(max) {
		return nil, buf, ErrRecordTooLarge
	}
	if len(buf)-RecordHeaderLen < n {
		return nil, buf, nil
	}
	end := RecordHeaderLen + n
	return buf[RecordHeaderLen:end:end], buf[end:], nil
}

// errZeroRecord is preallocated: SplitRecord promises not to allocate.
var errZeroRecord = malformed("zero record length")

// maxEmptyReads bounds how many times in a row RecordReader accepts a read
// of zero bytes with no error before giving up with io.ErrNoProgress.
const maxEmptyReads = 100

// RecordReader reads records from a blocking io.Reader (the SDK's socket).
// It buffers reads, so several small records cost one read call, and it
// reuses one internal buffer of max+2 bytes: after the first call it does not
// allocate. A RecordReader belongs to one goroutine.
type RecordReader struct {
	r     io.Reader
	max   int
	buf   []byte // buffered bytes are buf[start:end]
	start int
	end   int
	rerr  error // error from r, returned once the buffer is drained
	err   error // sticky error returned by every later call
}

// NewRecordReader returns a RecordReader that rejects records longer than
// max with ErrRecordTooLarge. A max of zero or less means DefaultMaxRecord;
// max is capped at MaxRecordLimit.
func NewRecordReader(r io.Reader, max int) *RecordReader {
	return &RecordReader{r: r, max: limitOf(max)}
}

// SetMax changes the largest accepted record, for instance to the
// max_record announced by WELCOME. It has the same normalization as
// NewRecordReader. Raising it may cost one allocation at the next read.
func (rr *RecordReader) SetMax(max int) {
	rr.max = limitOf(max)
}

// ReadRecord returns the next record body. The slice aliases the reader's
// buffer and is valid only until the next call.
//
// At a clean end of stream it returns io.EOF; if the stream ends inside a
// record it returns io.ErrUnexpectedEOF. ErrMalformed and ErrRecordTooLarge
// report an invalid header. Errors are sticky: once ReadRecord fails, every
// later call returns the same error.
func (rr *RecordReader) ReadRecord() ([]byte, error) {
	if rr.err != nil {
		return nil, rr.err
	}
	empty := 0
	for {
		body, _, err := SplitRecord(rr.buf[rr.start:rr.end], rr.max)
		if err != nil {
			rr.err = err
			return nil, err
		}
		if body != nil {
			rr.start += RecordHeaderLen + len(body)
			return body, nil
		}
		if rr.rerr != nil {
			rr.err = rr.rerr
			if rr.err == io.EOF && rr.end > rr.start {
				rr.err = io.ErrUnexpectedEOF
			}
			return nil, rr.err
		}
		if rr.fill() == 0 && rr.rerr == nil {
			// Guard against readers that keep returning (0, nil).
			if empty++; empty >= maxEmptyReads {
				rr.rerr = io.ErrNoProgress
			}
		}
	}
}

// Buffered returns the number of bytes read from the stream and not yet
// returned as records. Zero means the next ReadRecord will block on the
// underlying reader: the moment for a client to flush batched ACKs.
func (rr *RecordReader) Buffered() int { return rr.end - rr.start }

// errBadCount reports an io.Reader that broke the io.Reader contract.
var errBadCount = errors.New("protocol: reader returned an invalid count")

// fill compacts the buffer, grows it to max+2 if needed, reads once and
// returns the number of bytes read.
func (rr *RecordReader) fill() int {
	if rr.start > 0 {
		rr.end = copy(rr.buf, rr.buf[rr.start:rr.end])
		rr.start = 0
	}
	if want := rr.max + RecordHeaderLen; len(rr.buf) < want {
		buf := make([]byte, want)
		copy(buf, rr.buf[:rr.end])
		rr.buf = buf
	}
	n, err := rr.r.Read(rr.buf[rr.end:])
	if n < 0 || n > len(rr.buf)-rr.end {
		n, err = 0, errBadCount
	}
	rr.end += n
	if err != nil {
		rr.rerr = err
	}
	return n
}
