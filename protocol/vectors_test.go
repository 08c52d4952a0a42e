package protocol

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/flynn/noise"
)

// The worked example of docs/protocol.md, reproduced byte for byte. All
// randomness is replaced by counting bytes:
//
//	server static private key  01 02 … 20
//	client ephemeral private   21 22 … 40
//	server ephemeral private   41 42 … 60
//	device secret              81 82 … a0
//
// If this test fails, the wire format changed: update docs/protocol.md.
var exampleVectors = map[string]string{
	"server_public":       "07a37cbc142093c8b755dc1b10e86cb426374ad16aa853ed0bdfc0b2b86d1c7c",
	"record1":             "0031015869aff450549732cbaaed5e5df9b30a6da31cb0e5742bad5ad4a1a768f1a67b127a29be76400f782b3845e959c645d6",
	"record2":             "00310064b101b1d0be5a8704bd078f9895001fc03e8e9f9522f188dd128d9846d4846699a6822cdac2c9e39017b92bdbed7b07",
	"binding":             "3b7b64c723ab6e50a8ed3352e49511dca7d5de7506357932ce7eb723b3367533",
	"stored_key":          "c96a96265baafe617e76ef57ac3077f5221e9e21415d2bb015cb584dfc50b683",
	"server_key":          "ec826191872953f31760df47e411ede1c69498e40f1239e2d1266a6245535eab",
	"proof":               "9e7ec28133a61cd844e44faafa532b01627412f07c46bfbb0125763e72d32362",
	"hello_frame":         "0100000000000a086465762d3030303112209e7ec28133a61cd844e44faafa532b01627412f07c46bfbb0125763e72d3236218f001220f686572616c642d676f2f302e312e302a056c696e7578",
	"hello_record":        "005ddfa72d1678c6460aa99459833f9a88407302ecba66783bdfb63ffef8c9febff840baf9af312717f098bae21192e0cf0f54d2ebb41e4fa476f30b4c978e30195bb293d8ef51cf794c240412354e96ae2b07abc792060eea13fd4624efcc",
	"server_sig":          "252273de46401211e2ff4bc1105be78dfb12004701f9e3b370393f0cb7c7dc18",
	"welcome_frame":       "02000000000008f0011220252273de46401211e2ff4bc1105be78dfb12004701f9e3b370393f0cb7c7dc181880d095ffbc312206636f6e6e2d31288040",
	"welcome_record":      "004de53844eb35d545ae401504836163363c0994494e60b2259cf920a0576920c2e416e12e0f3e2ac1783c1f86beffe0f6eaca105e226a4c2c3b3ccfe94ecbe3f285a4fc19e277f9a397fa6589b678",
	"push_frame":          "050100000001082a12086170702d64656d6f1a0548656c6c6f220268692a097b226b223a2276227d",
	"push_record":         "00388a2b12b06237b82e404f5311548936270980630b103a2aac3da8b624d34aec9c0b62a3f2a4362f3393fe09d03b91c5bb9ee5ed684c1f1942",
	"ack_frame":           "0600000000010a012a",
	"ack_record":          "001994c8302fea154f957ce19a1e3df6b44b6bdcddbf7e62909a13",
	"click_frame":         "0d00000000020a012a",
	"click_record":        "0019e0dcffbf0680f87f6d7517a53126145b8069ba9b49a8863c88",
	"upstream_frame":      "080000000003080712026869",
	"upstream_record":     "001c78467e0b5c9702ea075fc0049896ee99fba2693b51371dc56e0677ef",
	"upstream_ack_frame":  "0600000000020a0107",
	"upstream_ack_record": "001957eac3d3f7519b27b10e2a74c146f6d911699003c94986b9bf",
	"key_i2r":             "19e9d2e6bb42b613963cf2045db53bb3c82d336709b56fbb62c4236b09655782",
	"key_r2i":             "6e63fbd0502bbf9e3172bf093e3cdbf27ff3c2055acb3373ee14409180a2c68c",
}

// exampleRun performs the worked example and returns every intermediate
// value, hex encoded.
func exampleRun(t *testing.T) map[string][]byte {
	t.Helper()
	got := map[string][]byte{}
	server := testServerKeypair(t)
	got["server_public"] = server.Public

	in, body1 := startHandshake(t, server.Public, bytes.NewReader(counting(0x21, KeyLen)))
	got["record1"] = AppendRecord(nil, body1)

	body2, srv, err := respond(server, body1, nil, bytes.NewReader(counting(0x41, KeyLen)))
	if err != nil {
		t.Fatal(err)
	}
	got["record2"] = AppendRecord(nil, body2)
	cli, err := in.ReadRecord2(body2)
	if err != nil {
		t.Fatal(err)
	}
	got["binding"] = cli.ChannelBinding()

	secret := counting(0x81, SecretLen)
	keys := DeriveDeviceKeys(secret)
	got["stored_key"] = keys.Stored[:]
	got["server_key"] = keys.Server[:]
	proof := ClientProof(secret, cli.ChannelBinding())
	got["proof"] = proof[:]

	hello := AppendHello(nil, 0, &Hello{
		RegistrationID: []byte("dev-0001"),
		Proof:          proof,
		Heartbeat:      240,
		SDK:            []byte("herald-go/0.1.0"),
		Platform:       []byte("linux"),
	})
	got["hello_frame"] = hello
	if got["hello_record"], err = cli.SealRecord(nil, hello); err != nil {
		t.Fatal(err)
	}
	sig := ServerSignature(keys.Server, srv.ChannelBinding())
	got["server_sig"] = sig[:]
	welcome := AppendWelcome(nil, 0, &Welcome{
		Heartbeat:       240,
		ServerSignature: sig,
		ServerTime:      1700000000000,
		Connector:       []byte("conn-1"),
		MaxRecord:       DefaultMaxRecord,
	})
	got["welcome_frame"] = welcome
	if got["welcome_record"], err = srv.SealRecord(nil, welcome); err != nil {
		t.Fatal(err)
	}
	push := AppendPush(nil, 1, FlagAckRequested, &Push{
		MessageID: 42,
		AppKey:    []byte("app-demo"),
		Title:     []byte("Hello"),
		Content:   []byte("hi"),
		Extras:    []byte(`{"k":"v"}`),
	})
	got["push_frame"] = push
	if got["push_record"], err = srv.SealRecord(nil, push); err != nil {
		t.Fatal(err)
	}
	ack := AppendAck(nil, 1, &Ack{MessageIDs: []uint64{42}})
	got["ack_frame"] = ack
	if got["ack_record"], err = cli.SealRecord(nil, ack); err != nil {
		t.Fatal(err)
	}
	click := AppendClick(nil, 2, &Click{MessageIDs: []uint64{42}})
	got["click_frame"] = click
	if got["click_record"], err = cli.SealRecord(nil, click); err != nil {
		t.Fatal(err)
	}
	upstream := AppendUpstream(nil, 3, &Upstream{UpstreamID: 7, Data: []byte("hi")})
	got["upstream_frame"] = upstream
	if got["upstream_record"], err = cli.SealRecord(nil, upstream); err != nil {
		t.Fatal(err)
	}
	upAck := AppendAck(nil, 2, &Ack{MessageIDs: []uint64{7}})
	got["upstream_ack_frame"] = upAck
	if got["upstream_ack_record"], err = srv.SealRecord(nil, upAck); err != nil {
		t.Fatal(err)
	}

	// The transport keys, from a plain flynn/noise run with the same
	// randomness (the compact Session does not expose them).
	hi, _ := noise.NewHandshakeState(withRandom(flynnConfig(true, server), counting(0x21, KeyLen)))
	hr, _ := noise.NewHandshakeState(withRandom(flynnConfig(false, server), counting(0x41, KeyLen)))
	m1, _, _, _ := hi.WriteMessage(nil, nil)
	if _, _, _, err := hr.ReadMessage(nil, m1); err != nil {
		t.Fatal(err)
	}
	m2, _, _, _ := hr.WriteMessage(nil, nil)
	_, i2r, r2i, err := hi.ReadMessage(nil, m2)
	if err != nil {
		t.Fatal(err)
	}
	k1, k2 := i2r.UnsafeKey(), r2i.UnsafeKey()
	got["key_i2r"], got["key_r2i"] = k1[:], k2[:]

	// The example must also make sense: the server accepts the proof, the
	// client accepts the signature, and each record opens.
	if !VerifyClientProof(keys.Stored, srv.ChannelBinding(), proof) {
		t.Error("example proof rejected")
	}
	if !VerifyServerSignature(secret, cli.ChannelBinding(), sig) {
		t.Error("example server signature rejected")
	}
	for _, c := range []struct {
		s      *Session
		record string
		frame  string
	}{
		{srv, "hello_record", "hello_frame"},
		{cli, "welcome_record", "welcome_frame"},
		{cli, "push_record", "push_frame"},
		{srv, "ack_record", "ack_frame"},
		{srv, "click_record", "click_frame"},
		{srv, "upstream_record", "upstream_frame"},
		{cli, "upstream_ack_record", "upstream_ack_frame"},
	} {
		body, rest, err := SplitRecord(got[c.record], 0)
		if err != nil || len(rest) != 0 {
			t.Fatalf("%s: SplitRecord: %v, %d bytes left", c.record, err, len(rest))
		}
		plain, err := c.s.Open(nil, body)
		if err != nil || !bytes.Equal(plain, got[c.frame]) {
			t.Fatalf("%s does not open to %s: %v", c.record, c.frame, err)
		}
	}
	return got
}

func withRandom(c noise.Config, r []byte) noise.Config {
	c.Random = bytes.NewReader(r)
	return c
}

func TestVectors(t *testing.T) {
	got := exampleRun(t)
	for name, want := range exampleVectors {
		t.Run(name, func(t *testing.T) {
			if h := hex.EncodeToString(got[name]); h != want {
				t.Errorf("%s =\n%s\nwant\n%s", name, spaced(h), spaced(want))
			}
		})
	}
}

// spaced groups hex in 32-character lines, as docs/protocol.md shows it.
func spaced(h string) string {
	var b strings.Builder
	for len(h) > 64 {
		b.WriteString(h[:64])
		b.WriteByte('\n')
		h = h[64:]
	}
	b.WriteString(h)
	return b.String()
}
