package ids

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// Layout of a message id, most significant bit first: 41 bits of
// milliseconds since Epoch, 10 bits of node, 12 bits of sequence within the
// millisecond. Ids from one node strictly increase; ids from different nodes
// never collide; sorting ids sorts messages by creation time to the
// millisecond. 41 bits of milliseconds last until 2094.
const (
	nodeBits = 10
	seqBits  = 12
	// MaxNode is the largest node number a Generator accepts.
	MaxNode = 1<<nodeBits - 1
	maxSeq  = 1<<seqBits - 1
)

// Epoch is the zero time of message ids: 2025-01-01T00:00:00Z.
var Epoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

// Generator hands out message ids for one node.
type Generator struct {
	node uint64
	now  func() time.Time

	mu   sync.Mutex // guards last and seq
	last int64      // milliseconds since Epoch of the last id
	seq  uint64
}

// NewGenerator returns a generator for node (0..MaxNode).
func NewGenerator(node int) (*Generator, error) {
	if node < 0 || node > MaxNode {
		return nil, fmt.Errorf("ids: node %d out of range 0..%d", node, MaxNode)
	}
	return &Generator{node: uint64(node), now: time.Now}, nil
}

// Node returns the node the generator numbers ids for.
func (g *Generator) Node() int { return int(g.node) }

// Next returns a new id, greater than every id this generator returned
// before. If the clock steps back, ids keep increasing from the last one: a
// burst of more than 4096 ids in one millisecond borrows from the next.
func (g *Generator) Next() uint64 {
	ms := g.now().Sub(Epoch).Milliseconds()
	g.mu.Lock()
	if ms > g.last {
		g.last, g.seq = ms, 0
	} else if g.seq < maxSeq {
		g.seq++
	} else {
		g.last, g.seq = g.last+1, 0
	}
	id := uint64(g.last)<<(nodeBits+seqBits) | g.node<<seqBits | g.seq
	g.mu.Unlock()
	return id
}

// Time returns when id was generated, to the millisecond.
func Time(id uint64) time.Time {
	return Epoch.Add(time.Duration(id>>(nodeBits+seqBits)) * time.Millisecond)
}

// FirstAt returns the smallest id generated at or after t: ids below it
// were generated before t. Times before Epoch give 0.
func FirstAt(t time.Time) uint64 {
	ms := t.Sub(Epoch).Milliseconds()
	if ms <= 0 {
		return 0
	}
	if t.Sub(Epoch) > time.Duration(ms)*time.Millisecond {
		ms++ // t falls inside a millisecond whose ids may predate it
	}
	return uint64(ms) << (nodeBits + seqBits)
}

// ErrBadMessageID reports a message id that is not a positive decimal 64-bit
// number.
var ErrBadMessageID = errors.New("ids: message id must be a positive decimal 64-bit number")

// ParseMessageID parses the decimal form used in the REST API.
func ParseMessageID(s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || id == 0 {
		return 0, ErrBadMessageID
	}
	return id, nil
}

// FormatMessageID returns the decimal form used in the REST API. JSON carries
// it as a string: JavaScript numbers lose precision above 2^53.
func FormatMessageID(id uint64) string { return strconv.FormatUint(id, 10) }
