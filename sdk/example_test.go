package sdk_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/heraldpush/herald/node"
	"github.com/heraldpush/herald/sdk"
)

// A device registers, connects, and receives a push an app backend sends
// through the REST API.
func Example() {
	// Herald itself, as `herald all` runs it (the example's own setup).
	dir, _ := os.MkdirTemp("", "herald-example")
	defer os.RemoveAll(dir)
	cfg := node.AllConfig{DataDir: dir, HTTP: "127.0.0.1:0", AdminToken: "secret", Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	cfg.Connector.Listen = "127.0.0.1:0"
	herald, err := node.StartAll(cfg)
	if err != nil {
		panic(err)
	}
	defer herald.Close(context.Background())
	gateway := "http://" + herald.HTTPAddr().String()
	app := createApp(gateway, "secret")

	// On the device: register once, keep the credentials, connect.
	ctx := context.Background()
	creds, err := sdk.Register(ctx, gateway, app.Key, &sdk.RegisterOptions{Platform: "android"})
	if err != nil {
		panic(err)
	}
	received := make(chan *sdk.Message, 1)
	client, err := sdk.Dial(ctx, sdk.Config{
		Gateway:     gateway,
		Credentials: creds,
		Handler: func(m *sdk.Message) error {
			received <- m
			return nil // acknowledged once the handler returns nil
		},
	})
	if err != nil {
		panic(err)
	}
	defer client.Close()

	// On the app backend: push to the device.
	push(gateway, app, creds.RegistrationID, "Your order shipped")

	select {
	case m := <-received:
		fmt.Println(m.Title, "-", m.Content)
	case <-time.After(10 * time.Second):
		fmt.Println("nothing received")
	}
	// Output: Orders - Your order shipped
}

// A device sends data to its app's backend. Send returns once Herald has
// stored the data; Herald then delivers it to the webhook the app
// configured, with the device's registration id and the returned id, by
// which the backend drops the repeats at-least-once delivery can bring.
func ExampleClient_Send() {
	dir, _ := os.MkdirTemp("", "herald-example")
	defer os.RemoveAll(dir)
	cfg := node.AllConfig{DataDir: dir, HTTP: "127.0.0.1:0", AdminToken: "secret", Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	cfg.Connector.Listen = "127.0.0.1:0"
	herald, err := node.StartAll(cfg)
	if err != nil {
		panic(err)
	}
	defer herald.Close(context.Background())
	gateway := "http://" + herald.HTTPAddr().String()
	app := createApp(gateway, "secret")

	ctx := context.Background()
	creds, err := sdk.Register(ctx, gateway, app.Key, nil)
	if err != nil {
		panic(err)
	}
	client, err := sdk.Dial(ctx, sdk.Config{Gateway: gateway, Credentials: creds, Handler: func(*sdk.Message) error { return nil }})
	if err != nil {
		panic(err)
	}
	defer client.Close()

	// If the connection drops before Herald acknowledges the data, the
	// client sends it again by itself; the context bounds the wait.
	sendCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	id, err := client.Send(sendCtx, []byte(`{"temperature":21.5}`))
	if err != nil {
		fmt.Println("not sent:", err)
		return
	}
	fmt.Println("stored:", id != 0, "- sent so far:", client.Stats().Sent)
	// Output: stored: true - sent so far: 1
}

type appCredentials struct {
	Key    string `json:"app_key"`
	Secret string `json:"master_secret"`
}

func createApp(gateway, adminToken string) appCredentials {
	req, _ := http.NewRequest("POST", gateway+"/v1/apps", bytes.NewBufferString(`{"name":"shop"}`))
	req.Header.Set("Authorization", "Bearer "+adminToken)
	var app appCredentials
	mustDo(req, &app)
	return app
}

func push(gateway string, app appCredentials, rid, content string) {
	body, _ := json.Marshal(map[string]any{
		"audience": map[string]any{"registration_id": []string{rid}},
		"message":  map[string]any{"title": "Orders", "content": content},
	})
	req, _ := http.NewRequest("POST", gateway+"/v1/push", bytes.NewReader(body))
	req.SetBasicAuth(app.Key, app.Secret)
	mustDo(req, &struct{}{})
}

func mustDo(req *http.Request, out any) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		b, _ := io.ReadAll(resp.Body)
		panic(fmt.Sprint(resp.Status, string(b)))
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		panic(err)
	}
}
