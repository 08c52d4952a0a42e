package node_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice/remote"
	"github.com/heraldpush/herald/node"
	"github.com/heraldpush/herald/node/nodetest"
)

// Issue 16, item 1: 420 connections sending a POST body one byte every
// 5 s held the REST port forever and, under ulimit -n 400, took every
// file of the process. These are the same flood in miniature.

// dialFrom connects to addr from the loopback address src.
func dialFrom(t *testing.T, src, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// closedWithin reports whether the server closes c within d.
func closedWithin(c net.Conn, d time.Duration) bool {
	_ = c.SetReadDeadline(time.Now().Add(d))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// slowBody starts the request on c: a large Content-Length, one
// byte, then nothing.
func slowBody(c net.Conn) {
	fmt.Fprint(c, "POST /v1/devices HTTP/1.1\r\nHost: x\r\nContent-Length: 60000\r\n\r\n{")
}

// runtimeFigures reads GET /v1/admin/runtime's components.
func runtimeFigures(t *testing.T, h *nodetest.Herald) map[string]json.RawMessage {
	t.Helper()
	var out struct {
		Components map[string]json.RawMessage `json:"components"`
	}
	h.Do("GET", "/v1/admin/runtime", "Bearer "+nodetest.AdminToken, nil, http.StatusOK, &out)
	return out.Components
}

func TestSlowBodiesMeetTheRESTPortsCapsAndDeadline(t *testing.T) {
	h := nodetest.Start(t, func(c *node.AllConfig) {
		c.HTTPConns = node.ConnCaps{Total: 8, PerAddress: 3}
		c.BodyTimeout = 500 * time.Millisecond
	})
	addr := h.Node.HTTPAddr().String()
	var slow []net.Conn
	for range 3 {
		c := dialFrom(t, "127.0.0.2", addr)
		slowBody(c)
		slow = append(slow, c)
	}
	time.Sleep(50 * time.Millisecond) // the server reads their headers
	// A fourth connection from the flooding address takes the place of
	// one of its slow bodies (the one waiting longest): the address still
	// holds 3.
	over := dialFrom(t, "127.0.0.2", addr)
	var kept []net.Conn
	for _, c := range slow {
		if !closedWithin(c, 100*time.Millisecond) {
			kept = append(kept, c)
		}
	}
	if len(kept) != 2 {
		t.Fatalf("a fourth connection from the flooding address left %d of its 3 slow bodies, want 2; the cap per address is 3", len(kept))
	}
	if closedWithin(over, 50*time.Millisecond) {
		t.Fatal("the fourth connection was closed")
	}
	// Others are served meanwhile.
	var health map[string]string
	h.Do("GET", "/healthz", "", nil, http.StatusOK, &health)
	// The slow bodies end with a 408 once the deadline passes.
	for i, c := range kept {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("slow body %d: no answer: %v", i, err)
		}
		if res.StatusCode != http.StatusRequestTimeout {
			t.Fatalf("slow body %d: status %d, want 408", i, res.StatusCode)
		}
	}
	var stats struct {
		Refused int `json:"refused"`
		Evicted int `json:"evicted"`
	}
	if err := json.Unmarshal(runtimeFigures(t, h)["http"], &stats); err != nil || stats.Refused != 0 || stats.Evicted != 1 {
		t.Fatalf("the REST port's figures say %d refused, %d closed to make room (%v), want 0 and 1", stats.Refused, stats.Evicted, err)
	}
}

func TestDeviceConnectionsOverTheCapsAreClosedBeforeTheHandshake(t *testing.T) {
	h := nodetest.Start(t, func(c *node.AllConfig) {
		c.Connector.MaxConnections = 3
		c.Connector.MaxConnectionsPerAddress = 2
	})
	addr := h.Node.DeviceAddr().String()
	held := []net.Conn{dialFrom(t, "127.0.0.3", addr), dialFrom(t, "127.0.0.3", addr)}
	if c := dialFrom(t, "127.0.0.3", addr); !closedWithin(c, 300*time.Millisecond) {
		t.Fatal("a third half-open handshake from one address was kept; the cap per address is 2")
	}
	held = append(held, dialFrom(t, "127.0.0.4", addr))
	if c := dialFrom(t, "127.0.0.5", addr); !closedWithin(c, 300*time.Millisecond) {
		t.Fatal("a fourth connection was kept; the total cap is 3")
	}
	for _, c := range held {
		if closedWithin(c, 50*time.Millisecond) {
			t.Fatal("a connection within the caps was closed")
		}
	}
	var figures struct {
		Listener struct {
			Open    int `json:"open"`
			Refused int `json:"refused"`
		} `json:"listener"`
	}
	if err := json.Unmarshal(runtimeFigures(t, h)["connector"], &figures); err != nil || figures.Listener.Refused != 2 || figures.Listener.Open != 3 {
		t.Fatalf("the device listener's figures say %+v (%v), want 3 open and 2 refused", figures.Listener, err)
	}
}

// TestInvalidationStreamOutlivesTheBodyTimeout: the invalidation stream's
// request body carries acknowledgements for as long as the stream lasts;
// the deadline on reading bodies must not cut it.
func TestInvalidationStreamOutlivesTheBodyTimeout(t *testing.T) {
	ds, err := node.StartDataservice(node.DataserviceConfig{Store: "leveldb:" + t.TempDir(), HTTP: "127.0.0.1:0", Token: clusterToken,
		BodyTimeout: 100 * time.Millisecond, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ds.Close(context.Background()) })
	c, err := remote.Dial(remote.ClientConfig{URLs: []string{"http://" + ds.Addr().String()}, Token: clusterToken, Log: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Follower().Ready(ctx); err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(600 * time.Millisecond); time.Now().Before(end); time.Sleep(2 * time.Millisecond) {
		if !c.Follower().Serving() {
			t.Fatal("the invalidation stream was cut: the follower stopped serving from its cache")
		}
	}
}
