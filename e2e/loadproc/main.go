// Command loadproc is a load process of the end-to-end tests: it holds a
// share of a large fleet of SDK devices, so that the fleet can exceed what
// one process may open (20,000 files here) and the test process, which
// runs under the race detector, holds no device socket itself.
//
// Started with a spec file, it registers one device per entry of the
// spec with the gateway, gives it the entry's tags and alias, prints
//
//	registered <index> <registration_id>
//
// for each, then "ready". It then obeys commands read from stdin, one per
// line, answering each with one line:
//
//	connect <from> <to>      connect devices [from, to)      → connected <ok> <failed>
//	disconnect <from> <to>   close devices [from, to)        → disconnected <n>
//	stats                                                    → stats <online> <connects> <duplicates>
//
// Every message handed to a device's handler is printed as
//
//	delivered <index> <msg_id> <unix_nanoseconds>
//
// duplicates included, so that the test counts what the app saw (the SDK
// drops duplicate ids before the handler). Problems are printed as
// "error <text>". End of stdin closes every device and exits; so does the
// parent's death, which closes the pipe.
//
// Device sockets are opened from the --sources addresses in turn, and all
// REST calls share one cleartext HTTP/2 connection to the gateway.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/internal/h2c"
	"github.com/heraldpush/herald/sdk"
)

// Spec is the spec file: the app the devices belong to and, per device,
// what the app backend says about it.
type Spec struct {
	Gateway      string       `json:"gateway"`
	AppKey       string       `json:"app_key"`
	MasterSecret string       `json:"master_secret"`
	Devices      []DeviceSpec `json:"devices"`
}

// DeviceSpec is one device's tags and alias (both optional).
type DeviceSpec struct {
	Tags  []string `json:"tags,omitempty"`
	Alias string   `json:"alias,omitempty"`
}

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadproc:", err)
		os.Exit(1)
	}
}

func run(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("loadproc", flag.ContinueOnError)
	specPath := fs.String("spec", "", "spec file (JSON)")
	sources := fs.String("sources", "127.0.0.1", "first-last source addresses of device sockets, such as 127.0.0.10-127.0.0.49")
	concurrency := fs.Int("concurrency", 32, "registrations, tag updates and dials in flight at once")
	if err := fs.Parse(args); err != nil {
		return err
	}
	raw, err := os.ReadFile(*specPath)
	if err != nil {
		return err
	}
	var spec Spec
	if err := json.Unmarshal(raw, &spec); err != nil {
		return fmt.Errorf("spec %s: %w", *specPath, err)
	}
	addrs, err := parseRange(*sources)
	if err != nil {
		return err
	}
	out := newOutput(stdout)
	defer out.close()
	p := &proc{
		spec: spec, out: out, concurrency: *concurrency,
		http:    &http.Client{Transport: h2c.NewTransport(), Timeout: 30 * time.Second},
		dialers: make([]net.Dialer, len(addrs)),
		devices: make([]device, len(spec.Devices)),
	}
	for i, a := range addrs {
		p.dialers[i] = net.Dialer{Timeout: 10 * time.Second, KeepAlive: -1, LocalAddr: &net.TCPAddr{IP: a.AsSlice()}}
	}
	if err := p.register(); err != nil {
		return err
	}
	out.line("ready")
	out.flush()
	defer p.disconnect(0, len(p.devices))

	sc := bufio.NewScanner(stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch {
		case f[0] == "connect" && len(f) == 3:
			from, to, err := p.span(f[1], f[2])
			if err != nil {
				out.line("error %v", err)
				break
			}
			ok, failed := p.connect(from, to)
			out.line("connected %d %d", ok, failed)
		case f[0] == "disconnect" && len(f) == 3:
			from, to, err := p.span(f[1], f[2])
			if err != nil {
				out.line("error %v", err)
				break
			}
			out.line("disconnected %d", p.disconnect(from, to))
		case f[0] == "stats" && len(f) == 1:
			out.line("stats %d %d %d", p.online.Load(), p.connects(), p.duplicates())
		default:
			out.line("error unknown command %q", sc.Text())
		}
		out.flush()
	}
	return nil
}

// proc is the load process's state. Commands run one at a time on the
// main goroutine; handlers and state callbacks run on the SDK's
// goroutines and touch only atomics and the output.
type proc struct {
	spec        Spec
	out         *output
	concurrency int
	http        *http.Client
	dialers     []net.Dialer
	nextDialer  atomic.Uint64
	devices     []device
	online      atomic.Int64
}

type device struct {
	cred   sdk.Credentials
	client *sdk.Client // owned by the main goroutine
	up     atomic.Bool
}

func (p *proc) span(a, b string) (int, int, error) {
	from, err1 := strconv.Atoi(a)
	to, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || from < 0 || to > len(p.devices) || from > to {
		return 0, 0, fmt.Errorf("bad range %s %s of %d devices", a, b, len(p.devices))
	}
	return from, to, nil
}

// parallel runs do for every index in [from, to), concurrency at a time.
func (p *proc) parallel(from, to int, do func(i int)) {
	var next atomic.Int64
	next.Store(int64(from))
	var wg sync.WaitGroup
	for range min(p.concurrency, to-from) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= to {
					return
				}
				do(i)
			}
		})
	}
	wg.Wait()
}

// register registers every device and applies its tags and alias, trying
// each call up to three times.
func (p *proc) register() error {
	var failed atomic.Pointer[error]
	p.parallel(0, len(p.devices), func(i int) {
		if failed.Load() != nil {
			return
		}
		err := retry(func(ctx context.Context) error {
			cr, err := sdk.Register(ctx, p.spec.Gateway, p.spec.AppKey, &sdk.RegisterOptions{Platform: "android", HTTPClient: p.http})
			p.devices[i].cred = cr
			return err
		})
		if err == nil {
			err = retry(func(ctx context.Context) error { return p.describe(ctx, i) })
		}
		if err != nil {
			err = fmt.Errorf("device %d: %w", i, err)
			failed.CompareAndSwap(nil, &err)
			return
		}
		p.out.line("registered %d %s", i, p.devices[i].cred.RegistrationID)
	})
	if err := failed.Load(); err != nil {
		return *err
	}
	return nil
}

func retry(call func(ctx context.Context) error) error {
	var err error
	for range 3 {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err = call(ctx)
		cancel()
		if err == nil {
			return nil
		}
	}
	return err
}

// describe sends the device's tags and alias to the gateway, as the app
// backend would.
func (p *proc) describe(ctx context.Context, i int) error {
	ds := p.spec.Devices[i]
	if len(ds.Tags) == 0 && ds.Alias == "" {
		return nil
	}
	body := map[string]any{}
	if len(ds.Tags) > 0 {
		body["tags"] = map[string][]string{"add": ds.Tags}
	}
	if ds.Alias != "" {
		body["alias"] = ds.Alias
	}
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.spec.Gateway+"/v1/devices/"+p.devices[i].cred.RegistrationID, strings.NewReader(string(b)))
	if err != nil {
		return err
	}
	req.SetBasicAuth(p.spec.AppKey, p.spec.MasterSecret)
	req.Header.Set("Content-Type", "application/json")
	res, err := p.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("POST /v1/devices/%s: HTTP %d: %s", p.devices[i].cred.RegistrationID, res.StatusCode, answer)
	}
	return nil
}

var quiet = slog.New(slog.DiscardHandler)

// connect connects the devices of [from, to) that are not connected and
// returns how many connected and how many failed to.
func (p *proc) connect(from, to int) (ok, failed int) {
	var nok, nfailed atomic.Int64
	p.parallel(from, to, func(i int) {
		d := &p.devices[i]
		if d.client != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		c, err := sdk.Dial(ctx, sdk.Config{
			Gateway:     p.spec.Gateway,
			Credentials: d.cred,
			HTTPClient:  p.http,
			Dial:        p.dial,
			Heartbeat:   5 * time.Minute,
			MinBackoff:  100 * time.Millisecond,
			MaxBackoff:  2 * time.Second,
			Logger:      quiet,
			Handler: func(m *sdk.Message) error {
				p.out.line("delivered %d %d %d", i, m.ID, time.Now().UnixNano())
				return nil
			},
			OnState: func(s sdk.State, _ error) {
				switch s {
				case sdk.StateConnected:
					if !d.up.Swap(true) {
						p.online.Add(1)
					}
				case sdk.StateDisconnected, sdk.StateClosed:
					if d.up.Swap(false) {
						p.online.Add(-1)
					}
				}
			},
		})
		if err != nil {
			nfailed.Add(1)
			p.out.line("error device %d (%s) did not connect: %v", i, d.cred.RegistrationID, err)
			return
		}
		d.client = c
		nok.Add(1)
	})
	return int(nok.Load()), int(nfailed.Load())
}

// dial opens a device socket from the next source address.
func (p *proc) dial(ctx context.Context, network, address string) (net.Conn, error) {
	d := &p.dialers[(p.nextDialer.Add(1)-1)%uint64(len(p.dialers))]
	return d.DialContext(ctx, network, address)
}

// disconnect closes the devices of [from, to) and returns how many were
// connected.
func (p *proc) disconnect(from, to int) int {
	var n atomic.Int64
	p.parallel(from, to, func(i int) {
		if c := p.devices[i].client; c != nil {
			c.Close()
			p.devices[i].client = nil
			n.Add(1)
		}
	})
	return int(n.Load())
}

func (p *proc) connects() (n int64) {
	for i := range p.devices {
		if c := p.devices[i].client; c != nil {
			n += c.Stats().Connects
		}
	}
	return n
}

func (p *proc) duplicates() (n int64) {
	for i := range p.devices {
		if c := p.devices[i].client; c != nil {
			n += c.Stats().Duplicates
		}
	}
	return n
}

// parseRange parses "a" or "a-b" (inclusive) into addresses.
func parseRange(s string) ([]netip.Addr, error) {
	lo, hi, isRange := strings.Cut(s, "-")
	first, err := netip.ParseAddr(lo)
	if err != nil {
		return nil, fmt.Errorf("--sources: %w", err)
	}
	last := first
	if isRange {
		if last, err = netip.ParseAddr(hi); err != nil {
			return nil, fmt.Errorf("--sources: %w", err)
		}
	}
	if last.Less(first) {
		return nil, errors.New("--sources: the range runs backwards")
	}
	var out []netip.Addr
	for a := first; ; a = a.Next() {
		out = append(out, a)
		if a == last || len(out) > 1<<16 {
			return out, nil
		}
	}
}

// output writes lines to stdout from any goroutine. Lines are buffered
// and flushed at least every 5ms, and at once by flush.
type output struct {
	mu   sync.Mutex
	w    *bufio.Writer
	stop chan struct{}
	done chan struct{}
}

func newOutput(w io.Writer) *output {
	o := &output{w: bufio.NewWriterSize(w, 64<<10), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(o.done)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-o.stop:
				return
			case <-t.C:
				o.flush()
			}
		}
	}()
	return o
}

func (o *output) line(format string, args ...any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	fmt.Fprintf(o.w, format+"\n", args...)
}

func (o *output) flush() {
	o.mu.Lock()
	defer o.mu.Unlock()
	_ = o.w.Flush()
}

func (o *output) close() {
	close(o.stop)
	<-o.done
	o.flush()
}
