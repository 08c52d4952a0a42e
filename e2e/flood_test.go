package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/fleet"
	"github.com/heraldpush/herald/internal/flood"
	"github.com/heraldpush/herald/node/nodetest"
)

// Issue 16, item 1: 420 connections sending POST /v1/devices with
// Content-Length: 60000, "{", then one byte every 5 s, against herald all
// under ulimit -n 400, made /healthz, /v1/push and device connects time
// out (accept4: too many open files) until the sender stopped; none of
// them was closed.
//
// Here herald all runs with 400 open files (so the REST port holds at
// most 50 connections, 8 per client address, the device port 250) while
// 420 slow bodies and 150 half-open device handshakes come from 100
// client addresses and are opened again as soon as they are closed; the
// devices connected before keep receiving pushes, new devices connect,
// /healthz answers, and the server closes the slow bodies.
func TestSlowBodyAndHalfOpenHandshakeFloodWhilePushesContinue(t *testing.T) {
	p := startHeraldWithFiles(t, 400, t.TempDir(), "127.0.0.1:0", "127.0.0.1:0", "--http-body-timeout", "3s")
	app := p.h.CreateApp()
	gateway := "http://" + p.http
	const before, during = 20, 10
	f := startLocalFleet(t, gateway, app, before+during)
	f.connect(0, before)

	sources, err := fleet.ParseSources("127.0.3.1-127.0.3.100")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	fl, err := flood.Start(ctx, flood.Config{REST: p.http, SlowBodies: 420, Device: p.device, HalfOpen: 150, Sources: sources})
	if err != nil {
		t.Fatal(err)
	}
	defer fl.Stop()
	nodetest.Eventually(t, 20*time.Second, func() bool {
		s := fl.Stats()
		return s.HalfOpenOpen >= 140 && s.Opened >= 570 // every slot connected once
	}, func() string { return "the flood did not get going: " + fl.Stats().String() })

	probeCtx, stopProbe := context.WithCancel(ctx)
	probed := make(chan flood.ProbeResult, 1)
	go func() { probed <- flood.Probe(probeCtx, gateway+"/healthz", 100*time.Millisecond, 5*time.Second) }()

	// Pushes continue, to every device connected before the flood, five
	// rounds a second apart (the flood and the probe go on meanwhile);
	// then devices connect during it and get one too.
	pushes := &carefulPusher{gateway: gateway, app: app, client: &http.Client{Timeout: 10 * time.Second}}
	var ids []string
	for round := range 5 {
		if round > 0 {
			time.Sleep(time.Second)
		}
		for i := range before {
			ids = append(ids, pushes.push(t, f.rids[i], fmt.Sprintf("r%d-d%d", round, i)))
		}
	}
	f.connect(before, before+during)
	for i := before; i < before+during; i++ {
		ids = append(ids, pushes.push(t, f.rids[i], fmt.Sprintf("late-d%d", i)))
	}
	nodetest.Eventually(t, 60*time.Second, func() bool { return f.total() == len(ids) }, func() string {
		return fmt.Sprintf("%d of %d pushes received during the flood; %v", f.total(), len(ids), fl.Stats())
	})
	for i := range before + during {
		want := 5
		if i >= before {
			want = 1
		}
		if got := f.received(i); got != want {
			t.Errorf("device %d received %d messages, want %d", i, got, want)
		}
	}
	stopProbe()
	health := <-probed
	stats := fl.Stats()
	t.Logf("flood: %v; /healthz: %d answered (p50 %v, p99 %v, max %v), %d failed; pushes retried after a transport error: %d",
		stats, health.Answered, health.P50, health.P99, health.Max, health.Failed, pushes.retries)
	// A new connection may still be closed at once in the instant the
	// cap is full of connections whose requests the server has not read
	// yet (the flood here opens some 400 a second against a cap of 50); a
	// health checker tries again. Nearly every probe must be answered.
	if health.Answered < 10 || health.Failed*20 > health.Answered+health.Failed {
		t.Errorf("/healthz under the flood: %d answered, %d not within 5 s (over 5%%): %v", health.Answered, health.Failed, health.Errors)
	}
	// The server let go of slow bodies (over a cap at once, or after the
	// 3 s body timeout) instead of holding them all.
	if stats.Closed == 0 || stats.SlowOpen > 50 {
		t.Errorf("the server holds %d slow bodies and closed %d connections; want at most 50 held, some closed", stats.SlowOpen, stats.Closed)
	}
	for _, id := range ids[:5] {
		p.h.WaitReport(app, id, func(r nodetest.Report) bool { return r == nodetest.Report{Targeted: 1, Sent: 1, Delivered: 1} })
	}
	fl.Stop()
	p.stop(syscall.SIGTERM)
}

// carefulPusher sends unicasts as a careful client does under a flood: each with
// an idempotency key (cid), sent again after a transport error (its
// keep-alive connection closed by the server to make room, say), so that
// it is accepted once.
type carefulPusher struct {
	gateway string
	app     nodetest.App
	client  *http.Client
	mu      sync.Mutex
	retries int
}

func (p *carefulPusher) push(t *testing.T, rid, cid string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"audience": map[string]any{"registration_id": []string{rid}},
		"message":  map[string]any{"content": cid},
		"options":  map[string]any{"cid": cid},
	})
	var lastErr error
	for attempt := range 5 {
		if attempt > 0 {
			p.mu.Lock()
			p.retries++
			p.mu.Unlock()
			time.Sleep(100 * time.Millisecond)
		}
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, p.gateway+"/v1/push", bytes.NewReader(body))
		req.Header.Set("Authorization", nodetest.Basic(p.app))
		req.Header.Set("Content-Type", "application/json")
		resp, err := p.client.Do(req)
		if err != nil {
			lastErr = err
			continue
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST /v1/push under the flood: %d %s", resp.StatusCode, data)
		}
		var out struct {
			MsgID string `json:"msg_id"`
		}
		if err := json.Unmarshal(data, &out); err != nil {
			t.Fatal(err)
		}
		if _, err := strconv.ParseUint(out.MsgID, 10, 64); err != nil {
			t.Fatalf("msg_id %q", out.MsgID)
		}
		return out.MsgID
	}
	t.Fatalf("POST /v1/push under the flood: %v", lastErr)
	return ""
}
