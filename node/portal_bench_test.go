package node_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/dataservice"
	"github.com/heraldpush/herald/dataservice/storespec"
	"github.com/heraldpush/herald/internal/ids"
	"github.com/heraldpush/herald/node"
)

// BenchmarkPortalPages measures every portal page, and the portal's
// estimate endpoint, on an app of HERALD_BENCH_DEVICES devices (default
// 1,000,000; one in ten tagged vip, with an alias each hundredth) and
// HERALD_BENCH_MESSAGES messages (default 10,000, all sent today: the
// worst case for the overview's figures of the day), in `herald all` over
// an embedded LevelDB. Each page is read over loopback HTTP as a logged-in
// owner, one request at a time; the reported p50-ms and p99-ms are of the
// whole request as the client times it, so they bound the server's time.
//
// Seeding a million devices takes a few minutes; HERALD_BENCH_DIR keeps
// the seeded store between runs:
//
//	HERALD_BENCH_DIR=/tmp/portalbench go test -run '^$' -bench PortalPages -benchtime 200x ./node/
func BenchmarkPortalPages(b *testing.B) {
	devices, messages := envInt(b, "HERALD_BENCH_DEVICES", 1_000_000), envInt(b, "HERALD_BENCH_MESSAGES", 10_000)
	dir := os.Getenv("HERALD_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	storeDir := filepath.Join(dir, "store")
	app := seedPortalBench(b, storeDir, devices, messages)

	n, err := node.StartAll(node.AllConfig{DataDir: dir, Store: "leveldb:" + storeDir, HTTP: "127.0.0.1:0", AdminToken: "portal-bench",
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close(context.Background())
	base := "http://" + n.HTTPAddr().String()
	const email, password = "bench@example.com", "correct horse battery staple"
	body, _ := json.Marshal(map[string]any{"email": email, "password": password, "apps": map[string]string{app.Key: "owner"}})
	req, _ := http.NewRequest(http.MethodPut, base+"/v1/admin/portal-users/"+url.PathEscape(email), bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer portal-bench")
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode >= 300 {
		// Not there yet: create it.
		req, _ = http.NewRequest(http.MethodPost, base+"/v1/admin/portal-users", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer portal-bench")
		if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusCreated {
			b.Fatalf("creating the portal user: %v %v", res.Status, err)
		}
	}
	jar, _ := cookiejar.New(nil)
	client := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	login(b, client, base, email, password)

	var msg uint64
	var seg string
	{
		// A message and a segment to look at: the newest ones.
		page := get(b, client, base+"/portal/apps/"+app.Key+"/messages")
		m := regexp.MustCompile(`messages/(\d+)`).FindStringSubmatch(page)
		if m == nil {
			b.Fatal("the messages page lists no message")
		}
		msg, _ = strconv.ParseUint(m[1], 10, 64)
		page = get(b, client, base+"/portal/apps/"+app.Key+"/segments")
		if m := regexp.MustCompile(`segments/([0-9a-f]+)`).FindStringSubmatch(page); m != nil {
			seg = m[1]
		}
	}
	a := "/portal/apps/" + app.Key + "/"
	pages := []struct{ name, path string }{
		{"overview", "/portal/"},
		{"compose", a + "compose"},
		{"messages", a + "messages"},
		{"messages-filtered", a + "messages?state=done&broadcast=false"},
		{"message", a + "messages/" + strconv.FormatUint(msg, 10)},
		{"schedules", a + "schedules"},
		{"segments", a + "segments"},
		{"segment", a + "segments/" + seg},
		{"tags", a + "tags"},
		{"tag", a + "tags/vip"},
		{"devices-by-tag", a + "devices?by=tag&q=vip"},
		{"device-by-alias", a + "devices?by=alias&q=alias-100"},
		{"settings", a + "settings"},
		{"audit", a + "audit"},
	}
	for _, p := range pages {
		b.Run("page="+p.name, func(b *testing.B) {
			get(b, client, base+p.path) // warm the caches a user's first visit would
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				get(b, client, base+p.path)
				lat = append(lat, time.Since(start))
			}
			report(b, lat)
		})
	}
	for _, aud := range []struct{ name, form string }{
		{"all", "audience=all"},
		{"tag", "audience=filter&tag=vip"},
		{"tag-and-not", "audience=filter&tag=vip&tag_not=vip2"},
		{"segment", "audience=filter&segment=" + seg},
	} {
		b.Run("estimate="+aud.name, func(b *testing.B) {
			csrf := csrfOf(b, get(b, client, base+a+"compose"))
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for range b.N {
				req, _ := http.NewRequest(http.MethodPost, base+a+"estimate", strings.NewReader(aud.form))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("X-CSRF-Token", csrf)
				req.Header.Set("Accept", "application/json")
				req.Header.Set("Sec-Fetch-Site", "same-origin")
				start := time.Now()
				res, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				out, _ := io.ReadAll(res.Body)
				res.Body.Close()
				lat = append(lat, time.Since(start))
				if res.StatusCode != http.StatusOK {
					b.Fatalf("estimate: %s %s", res.Status, out)
				}
			}
			report(b, lat)
		})
	}
}

func envInt(b *testing.B, name string, def int) int {
	if s := os.Getenv(name); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			b.Fatalf("%s: %v", name, err)
		}
		return n
	}
	return def
}

type benchApp struct{ Key string }

// seedPortalBench fills the store in dir with an app of the given devices
// and messages, unless a run before did (a marker file says so).
func seedPortalBench(b *testing.B, dir string, devices, messages int) benchApp {
	marker := filepath.Join(filepath.Dir(dir), fmt.Sprintf("seeded-%d-%d", devices, messages))
	if key, err := os.ReadFile(marker); err == nil {
		return benchApp{Key: string(key)}
	}
	start := time.Now()
	store, err := storespec.Open("leveldb:"+dir, storespec.Defaults{LevelDBWriteBufferBytes: storespec.WriteBufferBytes})
	if err != nil {
		b.Fatal(err)
	}
	data := dataservice.New(store)
	ctx := context.Background()
	app := dataservice.App{Key: ids.AppKey(), Name: "Portal bench", SecretHash: sha256.Sum256([]byte("secret")), Created: time.Now()}
	if err := data.CreateApp(ctx, app); err != nil {
		b.Fatal(err)
	}
	platforms := []string{"android", "ios", "hmos", "web"}
	var wg sync.WaitGroup
	const workers = 8
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < devices; i += workers {
				rid := fmt.Sprintf("bench%08d", i)
				d := dataservice.Device{RegistrationID: rid, AppKey: app.Key, Platform: platforms[i%len(platforms)], TimeZone: "Asia/Shanghai", Created: time.Now()}
				if err := data.CreateDevice(ctx, d); err != nil {
					errs <- err
					return
				}
				var tags []string
				if i%10 == 0 {
					tags = append(tags, "vip")
				}
				if i%7 == 0 {
					tags = append(tags, "vip2")
				}
				if len(tags) > 0 {
					if _, err := data.UpdateTags(ctx, app.Key, rid, tags, nil); err != nil {
						errs <- err
						return
					}
				}
				if i%100 == 0 {
					if err := data.SetAlias(ctx, app.Key, rid, "alias-"+strconv.Itoa(i)); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatal(err)
	}
	gen, _ := ids.NewGenerator(7)
	for i := range messages {
		aud, _ := json.Marshal(map[string]any{"tag": []string{"vip"}})
		m := &dataservice.Message{ID: gen.Next(), AppKey: app.Key, Title: "Message " + strconv.Itoa(i), Content: "Hello", TTL: time.Hour,
			Created: time.Now(), Audience: aud}
		if err := data.SaveNewMessage(ctx, m, nil); err != nil {
			b.Fatal(err)
		}
	}
	if err := data.CreateSegment(ctx, dataservice.Segment{ID: "0123456789abcdef", AppKey: app.Key, Name: "VIP", Tags: []string{"vip"},
		Created: time.Now(), Updated: time.Now()}); err != nil {
		b.Fatal(err)
	}
	if err := store.Close(); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(marker, []byte(app.Key), 0o644); err != nil {
		b.Fatal(err)
	}
	b.Logf("seeded %d devices and %d messages in %v", devices, messages, time.Since(start).Round(time.Second))
	return benchApp{Key: app.Key}
}

func login(b *testing.B, c *http.Client, base, email, password string) {
	page := get(b, c, base+"/portal/login")
	form := url.Values{"email": {email}, "password": {password}}
	if m := regexp.MustCompile(`name="login_nonce" value="([^"]+)"`).FindStringSubmatch(page); m != nil {
		form.Set("login_nonce", m[1])
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/portal/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	res, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		b.Fatalf("login: %s", res.Status)
	}
}

func get(b *testing.B, c *http.Client, u string) string {
	res, err := c.Get(u)
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: %s\n%.500s", u, res.Status, body)
	}
	return string(body)
}

func csrfOf(b *testing.B, page string) string {
	m := regexp.MustCompile(`name="csrf-token" content="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		b.Fatal("no CSRF token on the page")
	}
	return m[1]
}

// report adds the latency percentiles of one page to the benchmark.
func report(b *testing.B, lat []time.Duration) {
	slices.Sort(lat)
	at := func(q float64) float64 {
		return float64(lat[min(len(lat)-1, int(q*float64(len(lat))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1])/float64(time.Millisecond), "max-ms")
}
