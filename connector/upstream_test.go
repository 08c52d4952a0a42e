package connector_test

import (
	"testing"

	"github.com/heraldpush/herald/protocol"
)

// Herald all queues upstream data: the connector announces the feature,
// acknowledges an UPSTREAM by its id, and cuts off a malformed one.
func TestUpstreamFrames(t *testing.T) {
	h := startHerald(t)
	app := h.CreateApp()
	cr := register(t, h, app)
	d := dialRaw(t, h)
	d.handshake(h.Node.ServerKey)
	d.hello(cr, 0)
	if w := d.welcome(); w.Features&protocol.FeatureUpstream == 0 {
		t.Fatalf("WELCOME features %#x: upstream not announced", w.Features)
	}
	d.send(protocol.AppendUpstream(nil, d.nextSeq(), &protocol.Upstream{UpstreamID: 41, Data: []byte(`{"t":21}`)}))
	d.send(protocol.AppendUpstream(nil, d.nextSeq(), &protocol.Upstream{UpstreamID: 42, Data: []byte{0xff}}))
	var got []uint64
	for len(got) < 2 {
		hd, body, err := d.next()
		if err != nil || hd.Type != protocol.TypeAck {
			t.Fatalf("want ACK, got %v %v", hd.Type, err)
		}
		var a protocol.Ack
		if err := a.Unmarshal(body); err != nil {
			t.Fatal(err)
		}
		got = append(got, a.MessageIDs...)
	}
	if got[0] != 41 || got[1] != 42 {
		t.Fatalf("acknowledged %v, want [41 42]", got)
	}

	// An UPSTREAM without data is malformed: the connection ends.
	d.send(protocol.AppendUpstream(nil, d.nextSeq(), &protocol.Upstream{UpstreamID: 43}))
	d.expectError(protocol.CodeMalformedFrame)
}
