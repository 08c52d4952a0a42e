package protocol_test

import (
	"fmt"

	"github.com/heraldpush/herald/protocol"
)

// A connection from handshake to the first push, both sides in one
// process. A real client and server exchange each record over TCP.
func Example() {
	// Out of band: the connector's static key (its public half travels in
	// the dispatch answer) and the device secret (issued at registration;
	// the server stores only the derived keys).
	serverKey, _ := protocol.GenerateKeypair(nil)
	secret := []byte("0123456789abcdef0123456789abcdef")
	stored := protocol.DeriveDeviceKeys(secret)

	// Record 1, client → server.
	in, _ := protocol.NewInitiator(serverKey.Public, nil)
	record1, _ := in.AppendRecord1(nil)

	// Record 2, server → client. On failure the server sends
	// protocol.AppendRefusal(nil, err) instead, and closes.
	record2, server, err := protocol.Respond(serverKey, record1, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	client, err := in.ReadRecord2(record2)
	if err != nil {
		fmt.Println(err)
		return
	}

	// HELLO, with a proof bound to this connection.
	hello := protocol.AppendHello(nil, 0, &protocol.Hello{
		RegistrationID: []byte("dev-0001"),
		Proof:          protocol.ClientProof(secret, client.ChannelBinding()),
	})
	wire, _ := client.SealRecord(nil, hello)

	// The server cuts the record, opens it in place, and checks the proof.
	body, _, _ := protocol.SplitRecord(wire, protocol.DefaultMaxRecord)
	frame, _ := server.Open(body[:0], body)
	h, payload, _ := protocol.ParseHeader(frame)
	var got protocol.Hello
	if err := got.Unmarshal(payload); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(h.Type, string(got.RegistrationID),
		protocol.VerifyClientProof(stored.Stored, server.ChannelBinding(), got.Proof))

	// WELCOME proves the server knows the device too.
	sig := protocol.ServerSignature(stored.Server, server.ChannelBinding())
	fmt.Println(protocol.VerifyServerSignature(secret, client.ChannelBinding(), sig))

	// A QoS 1 push: the client must ACK message 42 once handled.
	push := protocol.AppendPush(nil, 1, protocol.FlagAckRequested, &protocol.Push{
		MessageID: 42,
		Title:     []byte("Hello"),
	})
	wire, _ = server.SealRecord(nil, push)
	body, _, _ = protocol.SplitRecord(wire, protocol.DefaultMaxRecord)
	frame, _ = client.Open(body[:0], body)
	h, payload, _ = protocol.ParseHeader(frame)
	var p protocol.Push
	_ = p.Unmarshal(payload)
	fmt.Println(h.Type, p.MessageID, string(p.Title), h.Flags&protocol.FlagAckRequested != 0)
	// Output:
	// HELLO dev-0001 true
	// true
	// PUSH 42 Hello true
}

// The client's reaction to an error code, by range.
func ExampleCode_Reconnect() {
	for _, c := range []protocol.Code{
		protocol.CodeIdleTimeout, protocol.CodeAuthFailed, protocol.CodeServerBusy, protocol.CodeReplaced, 1234,
	} {
		fmt.Println(c, c.Reconnect())
	}
	// Output:
	// idle_timeout true
	// auth_failed false
	// server_busy true
	// replaced false
	// code(1234) true
}
