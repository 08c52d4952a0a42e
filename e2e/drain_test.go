package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heraldpush/herald/node/nodetest"
)

// pusher pushes unicasts to random devices of a fleet from several
// goroutines, tolerating a server that goes away, and keeps the msg_id of
// every push the server accepted with the index of its device.
type pusher struct {
	mu       sync.Mutex
	accepted map[uint64]int // msg id → device index
	refused  map[int]int    // status (0: no answer) → pushes
	stop     chan struct{}
	wg       sync.WaitGroup
}

func startPushing(t *testing.T, url string, app nodetest.App, f *testFleet, senders int) *pusher {
	p := &pusher{accepted: map[uint64]int{}, refused: map[int]int{}, stop: make(chan struct{})}
	client := &http.Client{Timeout: 10 * time.Second}
	auth := nodetest.Basic(app)
	for s := range senders {
		p.wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-p.stop:
					return
				default:
				}
				i := rand.IntN(f.size)
				body, _ := json.Marshal(map[string]any{
					"audience": map[string]any{"registration_id": []string{f.rids[i]}},
					"message":  map[string]any{"content": fmt.Sprintf("sender %d push %d", s, n)},
				})
				req, _ := http.NewRequest(http.MethodPost, url+"/v1/push", bytes.NewReader(body))
				req.Header.Set("Authorization", auth)
				res, err := client.Do(req)
				status := 0
				var out struct {
					MsgID string `json:"msg_id"`
				}
				if err == nil {
					status = res.StatusCode
					_ = json.NewDecoder(res.Body).Decode(&out)
					res.Body.Close()
				}
				p.mu.Lock()
				if id, err := strconv.ParseUint(out.MsgID, 10, 64); status == http.StatusOK && err == nil {
					p.accepted[id] = i
				} else {
					p.refused[status]++
				}
				p.mu.Unlock()
				if status != http.StatusOK {
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	return p
}

func (p *pusher) halt() {
	close(p.stop)
	p.wg.Wait()
}

// SIGTERM in the middle of unicasts drains: devices are sent elsewhere
// (here: back to the same Herald once restarted), what was acknowledged is
// counted and what was not is delivered after the restart, so every
// accepted push reaches its device and its report counts exactly one
// delivery.
func TestSIGTERMDrainsWithoutDroppingCounts(t *testing.T) {
	dataDir := t.TempDir()
	p := startHerald(t, dataDir, "127.0.0.1:0", "127.0.0.1:0")
	app := p.h.CreateApp()
	gateway := "http://" + p.http
	f := startLocalFleet(t, gateway, app, 200)
	f.connect(0, f.size)
	nodetest.Eventually(t, 30*time.Second, func() bool { return f.online() == f.size },
		func() string { return fmt.Sprintf("%d of %d devices online", f.online(), f.size) })

	pushes := startPushing(t, gateway, app, f, 8)
	time.Sleep(1500 * time.Millisecond)
	p.stop(syscall.SIGTERM)
	time.Sleep(200 * time.Millisecond) // pushes meet a closed port
	pushes.halt()
	p = startHerald(t, dataDir, p.http, p.device)

	accepted := pushes.accepted
	if len(accepted) < 100 {
		t.Fatalf("only %d pushes accepted before SIGTERM (refused: %v)", len(accepted), pushes.refused)
	}
	nodetest.Eventually(t, 60*time.Second, func() bool {
		for id, i := range accepted {
			if f.has(i, id) == 0 {
				return false
			}
		}
		return true
	}, func() string {
		missing := 0
		for id, i := range accepted {
			if f.has(i, id) == 0 {
				missing++
			}
		}
		return fmt.Sprintf("%d of %d accepted pushes never reached their device", missing, len(accepted))
	})
	for id := range accepted {
		p.h.WaitReport(app, strconv.FormatUint(id, 10), func(r nodetest.Report) bool {
			return r.Targeted == 1 && r.Delivered == 1
		})
	}
	t.Logf("%d pushes accepted before SIGTERM, all delivered and counted once; refused: %v", len(accepted), pushes.refused)
	p.stop(syscall.SIGTERM)
}
