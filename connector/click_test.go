package connector_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/heraldpush/herald/node/nodetest"
	"github.com/heraldpush/herald/protocol"
)

// welcome reads WELCOME.
func (d *rawDevice) welcome() protocol.Welcome {
	d.t.Helper()
	h, body, err := d.next()
	if err != nil || h.Type != protocol.TypeWelcome {
		d.t.Fatalf("want WELCOME, got %v %v", h.Type, err)
	}
	var w protocol.Welcome
	if err := w.Unmarshal(body); err != nil {
		d.t.Fatal(err)
	}
	return w
}

// The connector announces clicks in WELCOME, counts a CLICK of a message
// the device got once however often it comes, ignores the ids of messages
// the device never got, and cuts off a malformed CLICK.
func TestClickFrames(t *testing.T) {
	h := startHerald(t)
	app := h.CreateApp()
	cr := register(t, h, app)
	d := dialRaw(t, h)
	d.handshake(h.Node.ServerKey)
	d.hello(cr, 0)
	if w := d.welcome(); w.Features&protocol.FeatureClick == 0 {
		t.Fatalf("WELCOME features %#x: clicks not announced", w.Features)
	}
	msgID := h.Push(app, nodetest.Push{RegistrationIDs: []string{cr.RegistrationID}, Content: "click me"})
	hd, body, err := d.next()
	if err != nil || hd.Type != protocol.TypePush {
		t.Fatalf("want PUSH, got %v %v", hd.Type, err)
	}
	var p protocol.Push
	if err := p.Unmarshal(body); err != nil || strconv.FormatUint(p.MessageID, 10) != msgID {
		t.Fatalf("PUSH %+v %v", p, err)
	}
	d.send(protocol.AppendAck(nil, d.nextSeq(), &protocol.Ack{MessageIDs: []uint64{p.MessageID}}))
	for range 3 {
		d.send(protocol.AppendClick(nil, d.nextSeq(), &protocol.Click{MessageIDs: []uint64{p.MessageID, p.MessageID + 1}}))
	}
	var r struct{ Delivered, Clicked int64 }
	nodetest.Eventually(t, 10*time.Second, func() bool {
		h.Do(http.MethodGet, "/v1/messages/"+msgID, nodetest.Basic(app), nil, http.StatusOK, &r)
		return r.Delivered == 1 && r.Clicked == 1
	}, func() string { return "report " + strconv.FormatInt(r.Clicked, 10) + " clicked" })

	// A CLICK without ids is malformed: the connection ends.
	d.send(protocol.AppendHeader(nil, protocol.Header{Type: protocol.TypeClick, Seq: d.nextSeq()}))
	d.expectError(protocol.CodeMalformedFrame)
	h.Do(http.MethodGet, "/v1/messages/"+msgID, nodetest.Basic(app), nil, http.StatusOK, &r)
	if r.Clicked != 1 {
		t.Fatalf("clicked %d after the repeats, want 1", r.Clicked)
	}
}
