package sdk

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// pongTimeout is how long past a heartbeat the client waits for any frame
// before it considers the connection dead.
const pongTimeout = 15 * time.Second

// conn is one established connection. Reading (and the handler) happens on
// the goroutine running serve; writes are serialized by mu.
type conn struct {
	client    *Client
	nc        net.Conn
	rr        *protocol.RecordReader
	dedupe    *dedupe
	heartbeat time.Duration
	features  protocol.Feature // what the server's WELCOME announced

	mu   sync.Mutex // guards sess's sending side, seq and wbuf
	sess *protocol.Session
	seq  uint32
	wbuf []byte

	acks  []uint64     // owned by serve
	acked protocol.Ack // decodes the server's ACKs; owned by serve

	pinger *time.Timer // sends a PING every heartbeat, whatever arrives
}

func (cn *conn) nextSeq() uint32 {
	s := cn.seq
	cn.seq++
	return s
}

// write seals one frame, encoded by appendFrame, and sends it.
func (cn *conn) write(appendFrame func([]byte) []byte) error {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	b := append(cn.wbuf[:0], 0, 0)
	b = appendFrame(b)
	b = slices.Grow(b, protocol.TagLen)
	ct, err := cn.sess.Seal(b[2:2], b[2:])
	if err != nil {
		return err
	}
	b = b[:2+len(ct)]
	binary.BigEndian.PutUint16(b, uint16(len(ct)))
	cn.wbuf = b
	_, err = cn.nc.Write(b)
	return err
}

// read returns the next frame. The body is valid until the next read.
func (cn *conn) read() (protocol.Header, []byte, error) {
	rec, err := cn.rr.ReadRecord()
	if err != nil {
		return protocol.Header{}, nil, err
	}
	pt, err := cn.sess.Open(rec[:0], rec)
	if err != nil {
		return protocol.Header{}, nil, err
	}
	return protocol.ParseHeader(pt)
}

// serve reads frames until the connection fails, handling pushes and
// sending heartbeats.
func (cn *conn) serve() error {
	defer cn.nc.Close()
	cn.mu.Lock()
	cn.pinger = time.AfterFunc(cn.heartbeat, cn.ping)
	cn.mu.Unlock()
	defer func() {
		cn.mu.Lock()
		cn.pinger.Stop()
		cn.mu.Unlock()
	}()
	for {
		_ = cn.nc.SetReadDeadline(time.Now().Add(cn.heartbeat + pongTimeout))
		h, body, err := cn.read()
		if err != nil {
			return err
		}
		switch h.Type {
		case protocol.TypePush:
			if err := cn.push(h, body); err != nil {
				return err
			}
		case protocol.TypePong:
		case protocol.TypeAck:
			// The server acknowledges upstream messages (Client.Send).
			if err := cn.acked.Unmarshal(body); err != nil {
				return err
			}
			cn.client.upstreamsAcked(cn.acked.MessageIDs)
		case protocol.TypeError:
			return serverError(body)
		default:
			return fmt.Errorf("herald: unexpected %v frame from the server", h.Type)
		}
		if len(cn.acks) > 0 && (cn.rr.Buffered() == 0 || len(cn.acks) == protocol.MaxAckIDs) {
			if err := cn.flushAcks(); err != nil {
				return err
			}
		}
	}
}

// ping sends a PING and schedules the next one. The server counts only
// what the device sends as a sign of life, so pings keep their own clock.
func (cn *conn) ping() {
	err := cn.write(func(b []byte) []byte {
		return protocol.AppendPing(b, cn.nextSeq(), &protocol.Ping{Time: time.Now().UnixMilli()})
	})
	if err != nil {
		_ = cn.nc.Close() // serve notices and reconnects
		return
	}
	cn.mu.Lock()
	cn.pinger.Reset(cn.heartbeat)
	cn.mu.Unlock()
}

func (cn *conn) push(h protocol.Header, body []byte) error {
	var p protocol.Push
	if err := p.Unmarshal(body); err != nil {
		return err
	}
	ack := h.Flags&protocol.FlagAckRequested != 0
	c := cn.client
	if cn.dedupe.has(p.MessageID) {
		c.duplicates.Add(1)
		if ack {
			cn.acks = append(cn.acks, p.MessageID)
		}
		return nil
	}
	m := &Message{ID: p.MessageID, AppKey: string(p.AppKey), Title: string(p.Title), Content: string(p.Content)}
	if len(p.Extras) > 0 {
		m.Extras = json.RawMessage(append([]byte(nil), p.Extras...))
	}
	if p.ExpiresAt != 0 {
		m.ExpiresAt = time.UnixMilli(p.ExpiresAt)
	}
	if err := c.cfg.Handler(m); err != nil {
		c.log.Debug("herald: handler failed; the message will come again", "id", p.MessageID, "err", err)
		return nil
	}
	cn.dedupe.add(p.MessageID)
	c.received.Add(1)
	if ack {
		cn.acks = append(cn.acks, p.MessageID)
	}
	return nil
}

// click writes one CLICK frame (at most protocol.MaxClickIDs ids).
func (cn *conn) click(ids []uint64) error {
	return cn.write(func(b []byte) []byte {
		return protocol.AppendClick(b, cn.nextSeq(), &protocol.Click{MessageIDs: ids})
	})
}

// upstream writes one UPSTREAM frame.
func (cn *conn) upstream(id uint64, data []byte) error {
	return cn.write(func(b []byte) []byte {
		return protocol.AppendUpstream(b, cn.nextSeq(), &protocol.Upstream{UpstreamID: id, Data: data})
	})
}

func (cn *conn) flushAcks() error {
	ids := cn.acks
	err := cn.write(func(b []byte) []byte {
		return protocol.AppendAck(b, cn.nextSeq(), &protocol.Ack{MessageIDs: ids})
	})
	if err == nil {
		cn.client.acked.Add(int64(len(ids)))
	}
	cn.acks = cn.acks[:0]
	return err
}
