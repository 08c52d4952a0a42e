package e2e

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/node/nodetest"
	"github.com/heraldpush/herald/sdk"
)

// upstreamHook is an app backend's webhook: it checks each call's
// signature as docs/webhooks.md says and keeps every message once
// (deduplicated by registration id and id).
type upstreamHook struct {
	secret string

	mu      sync.Mutex
	got     map[string][]byte // "rid/id" → data
	at      map[string]time.Time
	calls   int
	repeats int
	badSigs int
}

func (h *upstreamHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls++
	ts := r.Header.Get("X-Herald-Timestamp")
	mac := hmac.New(sha256.New, []byte(h.secret))
	mac.Write([]byte(ts + "." + string(body)))
	sec, terr := strconv.ParseInt(ts, 10, 64)
	if terr != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute ||
		!hmac.Equal([]byte(r.Header.Get("X-Herald-Signature")), []byte("v1="+hex.EncodeToString(mac.Sum(nil)))) {
		h.badSigs++
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var d struct {
		AppKey   string `json:"app_key"`
		Messages []struct {
			RegistrationID string `json:"registration_id"`
			ID             string `json:"id"`
			Data           []byte `json:"data"`
		} `json:"messages"`
	}
	if err := json.Unmarshal(body, &d); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	for _, m := range d.Messages {
		key := m.RegistrationID + "/" + m.ID
		if _, dup := h.got[key]; dup {
			h.repeats++
			continue
		}
		h.got[key] = m.Data
		h.at[key] = time.Now()
	}
	w.WriteHeader(http.StatusNoContent)
}

func (h *upstreamHook) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.got)
}

// SDK devices send upstream data; the app's webhook receives every message
// exactly once after deduplication, each call signed: in herald all (the
// webhook delivery woken in process) and in the distributed form (connectors
// and gateway apart from the dataservice; the webhook delivery polls).
func TestUpstreamReachesTheWebhook(t *testing.T) {
	t.Run("all", func(t *testing.T) {
		p := startHerald(t, t.TempDir(), "127.0.0.1:0", "127.0.0.1:0")
		upstreamRoundTrip(t, "http://"+p.http, p.h)
	})
	t.Run("cluster", func(t *testing.T) {
		c := startCluster(t, 2)
		upstreamRoundTrip(t, c.gateway, c.h)
	})
}

func upstreamRoundTrip(t *testing.T, gateway string, h *nodetest.Herald) {
	app := h.CreateApp()

	hook := &upstreamHook{got: map[string][]byte{}, at: map[string]time.Time{}}
	srv := httptest.NewServer(hook)
	t.Cleanup(srv.Close)
	var set struct {
		URL    string `json:"url"`
		Secret string `json:"secret"`
	}
	h.Do(http.MethodPut, "/v1/webhook", nodetest.Basic(app), map[string]any{"url": srv.URL + "/herald"}, http.StatusOK, &set)
	hook.mu.Lock()
	hook.secret = set.Secret
	hook.mu.Unlock()

	const devices, each = 20, 10
	f := startLocalFleet(t, gateway, app, devices)
	f.connect(0, devices)
	clients := make([]*sdk.Client, devices)
	for i := range clients {
		clients[i] = f.client(i)
	}

	type sent struct {
		key  string
		data string
		at   time.Time
	}
	var mu sync.Mutex
	var all []sent
	var wg sync.WaitGroup
	errs := make(chan error, devices*each)
	for i, c := range clients {
		rid := f.rids[i]
		wg.Go(func() {
			for j := range each {
				data := fmt.Sprintf("device %d message %d \x00\xff", i, j)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				start := time.Now()
				id, err := c.Send(ctx, []byte(data))
				cancel()
				if err != nil {
					errs <- fmt.Errorf("device %s: Send: %w", rid, err)
					return
				}
				mu.Lock()
				all = append(all, sent{key: rid + "/" + strconv.FormatUint(id, 10), data: data, at: start})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	nodetest.Eventually(t, 30*time.Second, func() bool { return hook.count() >= devices*each }, func() string {
		return fmt.Sprintf("the webhook has %d of %d messages", hook.count(), devices*each)
	})

	hook.mu.Lock()
	defer hook.mu.Unlock()
	if hook.badSigs != 0 {
		t.Fatalf("%d calls with a signature that does not verify", hook.badSigs)
	}
	if len(hook.got) != len(all) {
		t.Fatalf("the webhook has %d distinct messages, the devices sent %d", len(hook.got), len(all))
	}
	var lat []time.Duration
	for _, s := range all {
		data, ok := hook.got[s.key]
		if !ok {
			t.Fatalf("message %s was sent but never reached the webhook", s.key)
		}
		if string(data) != s.data {
			t.Fatalf("message %s: data %q, sent %q", s.key, data, s.data)
		}
		lat = append(lat, hook.at[s.key].Sub(s.at))
	}
	slices.Sort(lat)
	t.Logf("%d messages in %d webhook calls (%d repeats dropped); Send → webhook: median %v, max %v",
		len(all), hook.calls, hook.repeats, lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))
}
