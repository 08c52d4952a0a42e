package protocol

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestAppendRecord(t *testing.T) {
	tests := []struct {
		name string
		dst  []byte
		body []byte
		want []byte
	}{
		{"one byte", nil, []byte{0xaa}, []byte{0, 1, 0xaa}},
		{"appends", []byte{9}, []byte("hi"), []byte{9, 0, 2, 'h', 'i'}},
		{"256 bytes", nil, bytes.Repeat([]byte{7}, 256), append([]byte{1, 0}, bytes.Repeat([]byte{7}, 256)...)},
		{"limit", nil, make([]byte, MaxRecordLimit), append([]byte{0xff, 0xff}, make([]byte, MaxRecordLimit)...)},
		// Broken caller guarantees produce a record every receiver rejects.
		{"empty body poisons", []byte{9}, nil, []byte{9, 0, 0}},
		{"oversized body poisons", nil, make([]byte, MaxRecordLimit+1), []byte{0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := AppendRecord(tt.dst, tt.body)
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("AppendRecord = %x, want %x", head(got), head(tt.want))
			}
		})
	}
}

func head(b []byte) []byte {
	if len(b) > 16 {
		return b[:16]
	}
	return b
}

func TestAppendRecordChecked(t *testing.T) {
	tests := []struct {
		name    string
		body    []byte
		wantErr error
	}{
		{"ok", []byte("x"), nil},
		{"limit", make([]byte, MaxRecordLimit), nil},
		{"empty", nil, ErrMalformed},
		{"too large", make([]byte, MaxRecordLimit+1), ErrRecordTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte{1, 2}
			got, err := AppendRecordChecked(dst, tt.body)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if !bytes.Equal(got, dst) {
					t.Fatalf("dst changed on error: %x", got)
				}
				return
			}
			body, rest, err := SplitRecord(got[2:], MaxRecordLimit)
			if err != nil || len(rest) != 0 || !bytes.Equal(body, tt.body) {
				t.Fatalf("does not split back: %v", err)
			}
		})
	}
}

func TestSplitRecord(t *testing.T) {
	tests := []struct {
		name     string
		buf      []byte
		max      int
		wantBody []byte
		wantRest []byte
		wantErr  error
	}{
		{"empty", nil, 0, nil, nil, nil},
		{"one header byte", []byte{0}, 0, nil, []byte{0}, nil},
		{"header only", []byte{0, 3}, 0, nil, []byte{0, 3}, nil},
		{"partial body", []byte{0, 3, 'a', 'b'}, 0, nil, []byte{0, 3, 'a', 'b'}, nil},
		{"complete", []byte{0, 3, 'a', 'b', 'c'}, 0, []byte("abc"), []byte{}, nil},
		{"with rest", []byte{0, 1, 'a', 0, 2, 'b'}, 0, []byte("a"), []byte{0, 2, 'b'}, nil},
		{"zero length", []byte{0, 0, 'a'}, 0, nil, []byte{0, 0, 'a'}, ErrMalformed},
		{"zero length header only", []byte{0, 0}, 0, nil, []byte{0, 0}, ErrMalformed},
		{"default max accepted", append([]byte{0x20, 0x00}, make([]byte, DefaultMaxRecord)...), 0, make([]byte, DefaultMaxRecord), []byte{}, nil},
		{"default max exceeded before body", []byte{0x20, 0x01}, 0, nil, []byte{0x20, 0x01}, ErrRecordTooLarge},
		{"custom max", []byte{0, 5, 1, 2, 3, 4, 5}, 4, nil, []byte{0, 5, 1, 2, 3, 4, 5}, ErrRecordTooLarge},
		{"custom max boundary", []byte{0, 4, 1, 2, 3, 4}, 4, []byte{1, 2, 3, 4}, []byte{}, nil},
		{"max capped at limit", []byte{0xff, 0xff}, 1 << 20, nil, []byte{0xff, 0xff}, nil},
		{"negative max is default", []byte{0x20, 0x01}, -1, nil, []byte{0x20, 0x01}, ErrRecordTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, rest, err := SplitRecord(tt.buf, tt.max)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if !bytes.Equal(body, tt.wantBody) || (body == nil) != (tt.wantBody == nil) {
				t.Fatalf("body = %x, want %x", head(body), head(tt.wantBody))
			}
			if !bytes.Equal(rest, tt.wantRest) {
				t.Fatalf("rest = %x, want %x", head(rest), head(tt.wantRest))
			}
			if body != nil && cap(body) != len(body) {
				t.Fatalf("body capacity %d exceeds its length %d: appending would overwrite rest", cap(body), len(body))
			}
		})
	}
}

func TestSplitRecordAllocs(t *testing.T) {
	buf := AppendRecord(AppendRecord(nil, make([]byte, 300)), []byte{1})
	bad := []byte{0, 0}
	big := []byte{0xff, 0xff}
	allocs := testing.AllocsPerRun(100, func() {
		rest := buf
		for len(rest) > 0 {
			var err error
			if _, rest, err = SplitRecord(rest, 0); err != nil {
				t.Fatal(err)
			}
		}
		_, _, _ = SplitRecord(bad, 0)
		_, _, _ = SplitRecord(big, 0)
	})
	if allocs != 0 {
		t.Fatalf("SplitRecord allocates %v times per run", allocs)
	}
}

// records builds a stream of n records of the given sizes.
func records(sizes ...int) (stream []byte, bodies [][]byte) {
	for i, n := range sizes {
		body := bytes.Repeat([]byte{byte(i + 1)}, n)
		bodies = append(bodies, body)
		stream = AppendRecord(stream, body)
	}
	return stream, bodies
}

func TestRecordReader(t *testing.T) {
	stream, bodies := records(1, 100, DefaultMaxRecord, 3, DefaultMaxRecord-1, 7)
	readers := []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"whole", func(r io.Reader) io.Reader { return r }},
		{"one byte", iotest.OneByteReader},
		{"half", iotest.HalfReader},
		{"data and EOF", iotest.DataErrReader},
	}
	for _, rd := range readers {
		t.Run(rd.name, func(t *testing.T) {
			rr := NewRecordReader(rd.wrap(bytes.NewReader(stream)), 0)
			for i, want := range bodies {
				got, err := rr.ReadRecord()
				if err != nil {
					t.Fatalf("record %d: %v", i, err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("record %d: %d bytes, want %d", i, len(got), len(want))
				}
			}
			if _, err := rr.ReadRecord(); err != io.EOF {
				t.Fatalf("after last record: %v, want io.EOF", err)
			}
			if _, err := rr.ReadRecord(); err != io.EOF {
				t.Fatalf("error is not sticky: %v", err)
			}
		})
	}
}

func TestRecordReaderErrors(t *testing.T) {
	ok := AppendRecord(nil, []byte("ok"))
	tests := []struct {
		name    string
		stream  []byte
		max     int
		wantErr error
	}{
		{"clean EOF", nil, 0, io.EOF},
		{"EOF in header", []byte{0}, 0, io.ErrUnexpectedEOF},
		{"EOF in body", []byte{0, 5, 'a'}, 0, io.ErrUnexpectedEOF},
		{"zero length", []byte{0, 0}, 0, ErrMalformed},
		{"too large", []byte{0x20, 0x01}, 0, ErrRecordTooLarge},
		{"too large custom", AppendRecord(nil, []byte("12345")), 4, ErrRecordTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rr := NewRecordReader(bytes.NewReader(append(append([]byte(nil), ok...), tt.stream...)), tt.max)
			if got, err := rr.ReadRecord(); err != nil || string(got) != "ok" {
				t.Fatalf("first record: %q, %v", got, err)
			}
			_, err := rr.ReadRecord()
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if _, again := rr.ReadRecord(); again != err {
				t.Fatalf("error not sticky: %v then %v", err, again)
			}
		})
	}
}

func TestRecordReaderReadError(t *testing.T) {
	boom := errors.New("boom")
	stream := AppendRecord(nil, []byte("ok"))
	rr := NewRecordReader(io.MultiReader(bytes.NewReader(stream), iotest.ErrReader(boom)), 0)
	if got, err := rr.ReadRecord(); err != nil || string(got) != "ok" {
		t.Fatalf("first record: %q, %v", got, err)
	}
	if _, err := rr.ReadRecord(); err != boom {
		t.Fatalf("err = %v, want %v", err, boom)
	}
}

type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

func TestRecordReaderNoProgress(t *testing.T) {
	rr := NewRecordReader(zeroReader{}, 0)
	if _, err := rr.ReadRecord(); err != io.ErrNoProgress {
		t.Fatalf("err = %v, want io.ErrNoProgress", err)
	}
}

func TestRecordReaderSetMax(t *testing.T) {
	stream, _ := records(10, DefaultMaxRecord+1, MaxRecordLimit)
	rr := NewRecordReader(iotest.HalfReader(bytes.NewReader(stream)), 0)
	if _, err := rr.ReadRecord(); err != nil {
		t.Fatal(err)
	}
	rr.SetMax(MaxRecordLimit)
	for i := 0; i < 2; i++ {
		if _, err := rr.ReadRecord(); err != nil {
			t.Fatalf("after SetMax: %v", err)
		}
	}
	if _, err := rr.ReadRecord(); err != io.EOF {
		t.Fatalf("err = %v, want io.EOF", err)
	}
}

// loopReader replays the same stream forever.
type loopReader struct {
	data []byte
	off  int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := copy(p, l.data[l.off:])
	l.off = (l.off + n) % len(l.data)
	return n, nil
}

func TestRecordReaderAllocs(t *testing.T) {
	stream, _ := records(300, 17, 4000, 1)
	rr := NewRecordReader(&loopReader{data: stream}, 0)
	if _, err := rr.ReadRecord(); err != nil { // allocates the buffer
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if _, err := rr.ReadRecord(); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("ReadRecord allocates %v times per record in steady state", allocs)
	}
}

func TestRecordReaderBadReader(t *testing.T) {
	rr := NewRecordReader(badCountReader{}, 0)
	if _, err := rr.ReadRecord(); err == nil || !strings.Contains(err.Error(), "invalid count") {
		t.Fatalf("err = %v, want invalid count", err)
	}
}

type badCountReader struct{}

func (badCountReader) Read(p []byte) (int, error) { return len(p) + 1, nil }

func TestRecordReaderBuffered(t *testing.T) {
	stream := AppendRecord(AppendRecord(nil, []byte("one")), []byte("two"))
	rr := NewRecordReader(bytes.NewReader(stream), 0)
	if n := rr.Buffered(); n != 0 {
		t.Fatalf("before the first read: %d buffered", n)
	}
	if _, err := rr.ReadRecord(); err != nil {
		t.Fatal(err)
	}
	if n := rr.Buffered(); n != RecordHeaderLen+3 {
		t.Fatalf("after the first of two records read at once: %d buffered, want %d", n, RecordHeaderLen+3)
	}
	if _, err := rr.ReadRecord(); err != nil {
		t.Fatal(err)
	}
	if n := rr.Buffered(); n != 0 {
		t.Fatalf("after both records: %d buffered", n)
	}
}
