package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// pushConn sends POST /v1/push requests over one cleartext HTTP/2
// connection of its own, for a load generator that shares the machine
// with the server it measures. Go's HTTP/2 client spends ~40 µs of CPU on
// a request (two writes per request, a stream goroutine, header maps); a
// push through pushConn costs a few: its header block is encoded once,
// requests waiting at the same time go out in one write, and one goroutine
// reads every answer. It speaks only what that needs: requests with a
// body of at most one frame, answers read whole, flow control, SETTINGS,
// PING and GOAWAY; any other trouble ends the connection and fails the
// requests in flight.
type pushConn struct {
	conn   net.Conn
	w      *bufio.Writer
	fr     *http2.Framer
	header []byte // the HEADERS block of every request

	queue chan *pushCall
	// slots has one place per stream the server lets us open, as its first
	// SETTINGS said (later changes are not followed); settled is closed
	// once slots is made.
	slots   chan struct{}
	settled chan struct{}

	mu       sync.Mutex
	cond     *sync.Cond // signalled when window grows or the connection ends
	window   int64      // connection-level send window
	inflight map[uint32]*pushCall
	nextID   uint32
	err      error // set once: the connection is over

	unacked int           // received DATA bytes not yet returned with WINDOW_UPDATE
	done    chan struct{} // closed when err is set
}

// pushCall is one request and, once done is closed, its answer.
type pushCall struct {
	body   []byte
	status int
	answer []byte
	err    error
	done   chan struct{}
}

// maxPushBody bounds a request body: one DATA frame of the default size.
const maxPushBody = 16 << 10

// maxPushStreams bounds the streams of one connection when the server
// allows more, or does not say.
const maxPushStreams = 1000

// dialPushConn opens a pushConn to target (an http:// URL) that sends
// pushes with the Authorization header auth.
func dialPushConn(ctx context.Context, target, auth string) (*pushConn, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" {
		return nil, fmt.Errorf("push connection: %s: only cleartext http:// targets", target)
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "80")
	}
	conn, err := (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, err
	}
	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	// Never indexed: the block leaves the server's table as it was, so
	// the same bytes are right for every request.
	for _, f := range []hpack.HeaderField{
		{Name: ":method", Value: "POST"}, {Name: ":scheme", Value: "http"},
		{Name: ":authority", Value: u.Host}, {Name: ":path", Value: "/v1/push"},
		{Name: "content-type", Value: "application/json"}, {Name: "authorization", Value: auth},
	} {
		f.Sensitive = true
		if err := enc.WriteField(f); err != nil {
			conn.Close()
			return nil, err
		}
	}
	c := &pushConn{
		conn:     conn,
		w:        bufio.NewWriterSize(conn, 64<<10),
		header:   block.Bytes(),
		queue:    make(chan *pushCall, 1024),
		settled:  make(chan struct{}),
		window:   65535,
		inflight: make(map[uint32]*pushCall),
		nextID:   1,
		done:     make(chan struct{}),
	}
	c.cond = sync.NewCond(&c.mu)
	c.fr = http2.NewFramer(c.w, bufio.NewReaderSize(conn, 64<<10))
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.fr.MaxHeaderListSize = 64 << 10
	if err := c.preface(); err != nil {
		conn.Close()
		return nil, err
	}
	go c.readLoop()
	// Nothing is sent before the server said how many streams it takes.
	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	select {
	case <-c.settled:
	case <-c.done:
		return nil, c.failure()
	case <-wait.Done():
		c.close()
		return nil, fmt.Errorf("push connection: no SETTINGS from %s: %w", target, wait.Err())
	}
	go c.writeLoop()
	return c, nil
}

// preface writes the client's connection preface and its SETTINGS.
func (c *pushConn) preface() error {
	if _, err := c.w.WriteString(http2.ClientPreface); err != nil {
		return err
	}
	if err := c.fr.WriteSettings(http2.Setting{ID: http2.SettingEnablePush, Val: 0}); err != nil {
		return err
	}
	return c.w.Flush()
}

// push sends body and returns the status and body of the answer.
func (c *pushConn) push(ctx context.Context, body []byte) (int, []byte, error) {
	if len(body) > maxPushBody {
		return 0, nil, fmt.Errorf("push connection: a %d-byte body exceeds %d", len(body), maxPushBody)
	}
	select {
	case c.slots <- struct{}{}:
	case <-c.done:
		return 0, nil, c.failure()
	case <-ctx.Done():
		return 0, nil, ctx.Err()
	}
	defer func() { <-c.slots }()
	call := &pushCall{body: body, done: make(chan struct{})}
	select {
	case c.queue <- call:
	case <-c.done:
		return 0, nil, c.failure()
	case <-ctx.Done():
		return 0, nil, ctx.Err()
	}
	select {
	case <-call.done:
		return call.status, call.answer, call.err
	case <-c.done:
		// Queued as the connection ended, or in flight then.
		return 0, nil, c.failure()
	case <-ctx.Done():
		// The stream stays open until its answer comes; the slot is
		// given back now, which may let one more stream than the server
		// allows wait for a while.
		return 0, nil, ctx.Err()
	}
}

func (c *pushConn) failure() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// close ends the connection; requests in flight fail.
func (c *pushConn) close() {
	c.fail(errors.New("push connection: closed"))
}

// fail ends the connection with err, once. The calls in flight learn of
// it from done: their own fields may still be being written by the
// reader, which alone completes a call it found.
func (c *pushConn) fail(err error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err = err
	c.inflight = nil
	c.cond.Broadcast()
	c.mu.Unlock()
	close(c.done)
	c.conn.Close()
}

// writeLoop writes the queued requests, as many as are waiting, then
// flushes them in one write.
func (c *pushConn) writeLoop() {
	for {
		var call *pushCall
		select {
		case call = <-c.queue:
		case <-c.done:
			return
		}
		for {
			if err := c.send(call); err != nil {
				c.fail(err)
				return
			}
			select {
			case call = <-c.queue:
				continue
			default:
			}
			break
		}
		c.mu.Lock()
		err := c.w.Flush()
		c.mu.Unlock()
		if err != nil {
			c.fail(fmt.Errorf("push connection: %w", err))
			return
		}
	}
}

// send writes one request once the connection's window has room for its
// body.
func (c *pushConn) send(call *pushCall) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.err == nil && c.window < int64(len(call.body)) {
		if c.w.Buffered() > 0 {
			// What is written already may be what the server needs
			// before it gives more window.
			if err := c.w.Flush(); err != nil {
				return fmt.Errorf("push connection: %w", err)
			}
		}
		c.cond.Wait()
	}
	if c.err != nil {
		call.err = c.err
		close(call.done)
		return c.err
	}
	id := c.nextID
	c.nextID += 2
	c.window -= int64(len(call.body))
	c.inflight[id] = call
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.header, EndHeaders: true}); err != nil {
		return fmt.Errorf("push connection: %w", err)
	}
	if err := c.fr.WriteData(id, true, call.body); err != nil {
		return fmt.Errorf("push connection: %w", err)
	}
	return nil
}

// control writes a frame the reader owes the server and flushes it.
func (c *pushConn) control(write func() error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := write(); err != nil {
		return err
	}
	return c.w.Flush()
}

// readLoop reads every frame the server sends until the connection ends.
func (c *pushConn) readLoop() {
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			c.fail(fmt.Errorf("push connection: %w", err))
			return
		}
		if err := c.handle(f); err != nil {
			c.fail(err)
			return
		}
	}
}

func (c *pushConn) handle(f http2.Frame) error {
	switch f := f.(type) {
	case *http2.MetaHeadersFrame:
		call := c.stream(f.StreamID)
		if call == nil {
			return nil // an answer we gave up on
		}
		if call.status != 0 { // trailers
			if f.StreamEnded() {
				c.finish(f.StreamID, nil)
			}
			return nil
		}
		status, err := strconv.Atoi(f.PseudoValue("status"))
		if err != nil {
			return fmt.Errorf("push connection: stream %d: bad :status %q", f.StreamID, f.PseudoValue("status"))
		}
		if status >= 100 && status < 200 {
			return nil // interim answer
		}
		call.status = status
		if f.StreamEnded() {
			c.finish(f.StreamID, nil)
		}
	case *http2.DataFrame:
		if n := len(f.Data()); n > 0 {
			if call := c.stream(f.StreamID); call != nil {
				call.answer = append(call.answer, f.Data()...)
			}
			if err := c.consumed(int(f.Length)); err != nil {
				return err
			}
		}
		if f.StreamEnded() {
			c.finish(f.StreamID, nil)
		}
	case *http2.RSTStreamFrame:
		c.finish(f.StreamID, fmt.Errorf("push connection: stream %d reset: %v", f.StreamID, f.ErrCode))
	case *http2.SettingsFrame:
		if f.IsAck() {
			return nil
		}
		if n, ok := f.Value(http2.SettingInitialWindowSize); ok && n < maxPushBody {
			// Each body goes out as one DATA frame, which the stream's
			// window must take at once.
			return fmt.Errorf("push connection: the server's stream window of %d bytes is below %d", n, maxPushBody)
		}
		if c.slots == nil {
			streams := uint32(maxPushStreams)
			if n, ok := f.Value(http2.SettingMaxConcurrentStreams); ok {
				streams = min(n, maxPushStreams)
			}
			if streams == 0 {
				return errors.New("push connection: the server allows no streams")
			}
			c.slots = make(chan struct{}, streams)
			close(c.settled)
		}
		return c.control(c.fr.WriteSettingsAck)
	case *http2.WindowUpdateFrame:
		if f.StreamID == 0 {
			c.mu.Lock()
			c.window += int64(f.Increment)
			c.cond.Broadcast()
			c.mu.Unlock()
		}
	case *http2.PingFrame:
		if !f.IsAck() {
			return c.control(func() error { return c.fr.WritePing(true, f.Data) })
		}
	case *http2.GoAwayFrame:
		return fmt.Errorf("push connection: the server went away: %v", f.ErrCode)
	}
	return nil
}

// consumed gives received DATA back to the server's window once enough
// of it added up.
func (c *pushConn) consumed(n int) error {
	c.unacked += n
	if c.unacked < 16<<10 {
		return nil
	}
	inc := uint32(c.unacked)
	c.unacked = 0
	return c.control(func() error { return c.fr.WriteWindowUpdate(0, inc) })
}

func (c *pushConn) stream(id uint32) *pushCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.inflight[id]
}

// finish ends stream id with err (nil: answered).
func (c *pushConn) finish(id uint32, err error) {
	c.mu.Lock()
	call := c.inflight[id]
	delete(c.inflight, id)
	c.mu.Unlock()
	if call != nil {
		call.err = err
		close(call.done)
	}
}
