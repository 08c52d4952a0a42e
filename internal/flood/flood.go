package flood

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Config says what a Flood holds.
type Config struct {
	// REST is the host:port of the HTTP server given slow bodies.
	REST string
	// Path is the path the slow bodies are posted to. Empty means
	// /v1/devices.
	Path string
	// SlowBodies is how many slow-body connections to keep trying to
	// hold.
	SlowBodies int
	// Device is the host:port of the device listener given half-open
	// handshakes.
	Device string
	// HalfOpen is how many half-open handshakes to keep trying to hold.
	HalfOpen int
	// Sources are the local addresses connections are opened from, in
	// turn, so that the flood comes from many clients; empty means the
	// system's choice.
	Sources []netip.Addr
	// Trickle is how often a slow body sends one more byte. Zero means 5s.
	Trickle time.Duration
	// Retry is how long a slot waits before opening a connection again
	// once the server closed (or refused) its last one. Zero means 1s.
	Retry time.Duration
	// DialTimeout bounds a connection attempt. Zero means 3s.
	DialTimeout time.Duration
}

// Stats are a Flood's figures.
type Stats struct {
	// SlowOpen and HalfOpenOpen count the connections held now.
	SlowOpen, HalfOpenOpen int64
	// Opened counts connections opened; Closed those the server closed
	// (or answered: a slow body's 408, a refusal); Failed the attempts
	// that did not connect.
	Opened, Closed, Failed int64
	// SlowHeldMax is the longest a slow-body connection was held before
	// the server closed it.
	SlowHeldMax time.Duration
}

// Flood holds connections as Config says until Stop.
type Flood struct {
	cfg    Config
	cancel context.CancelFunc
	wg     sync.WaitGroup
	next   atomic.Uint64 // round robin over Sources

	slowOpen, halfOpen     atomic.Int64
	opened, closed, failed atomic.Int64
	slowHeldMax            atomic.Int64 // nanoseconds
}

// Start starts a flood; it runs until ctx ends or Stop.
func Start(ctx context.Context, cfg Config) (*Flood, error) {
	if cfg.SlowBodies > 0 && cfg.REST == "" || cfg.HalfOpen > 0 && cfg.Device == "" {
		return nil, errors.New("flood: name the REST address for slow bodies and the device address for half-open handshakes")
	}
	if cfg.Path == "" {
		cfg.Path = "/v1/devices"
	}
	if cfg.Trickle <= 0 {
		cfg.Trickle = 5 * time.Second
	}
	if cfg.Retry <= 0 {
		cfg.Retry = time.Second
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 3 * time.Second
	}
	ctx, cancel := context.WithCancel(ctx)
	f := &Flood{cfg: cfg, cancel: cancel}
	for i := range cfg.SlowBodies + cfg.HalfOpen {
		slow := i < cfg.SlowBodies
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			// Spread the first connections over a second, as a flood
			// ramps up, rather than one burst of accepts.
			if !sleep(ctx, time.Duration(i)*time.Second/time.Duration(cfg.SlowBodies+cfg.HalfOpen)) {
				return
			}
			f.slot(ctx, slow)
		}()
	}
	return f, nil
}

// Stop closes every connection and waits for the slots to end.
func (f *Flood) Stop() {
	f.cancel()
	f.wg.Wait()
}

// Stats returns f's figures.
func (f *Flood) Stats() Stats {
	return Stats{
		SlowOpen: f.slowOpen.Load(), HalfOpenOpen: f.halfOpen.Load(),
		Opened: f.opened.Load(), Closed: f.closed.Load(), Failed: f.failed.Load(),
		SlowHeldMax: time.Duration(f.slowHeldMax.Load()),
	}
}

func (s Stats) String() string {
	return fmt.Sprintf("holding %d slow bodies and %d half-open handshakes; opened %d, closed by the server %d, failed %d; longest slow body held %v",
		s.SlowOpen, s.HalfOpenOpen, s.Opened, s.Closed, s.Failed, s.SlowHeldMax.Round(time.Millisecond))
}

// slot keeps one connection open, again and again, until ctx ends.
func (f *Flood) slot(ctx context.Context, slow bool) {
	for ctx.Err() == nil {
		addr, open := f.cfg.Device, &f.halfOpen
		if slow {
			addr, open = f.cfg.REST, &f.slowOpen
		}
		c, err := f.dial(ctx, addr)
		if err != nil {
			f.failed.Add(1)
		} else {
			f.opened.Add(1)
			open.Add(1)
			start := time.Now()
			closedByServer := f.hold(ctx, c, slow)
			open.Add(-1)
			c.Close()
			if closedByServer {
				f.closed.Add(1)
				if held := int64(time.Since(start)); slow {
					for {
						m := f.slowHeldMax.Load()
						if held <= m || f.slowHeldMax.CompareAndSwap(m, held) {
							break
						}
					}
				}
			}
		}
		if !sleep(ctx, f.cfg.Retry) {
			return
		}
	}
}

func (f *Flood) dial(ctx context.Context, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: f.cfg.DialTimeout, KeepAlive: -1}
	if n := len(f.cfg.Sources); n > 0 {
		src := f.cfg.Sources[(f.next.Add(1)-1)%uint64(n)]
		d.LocalAddr = &net.TCPAddr{IP: src.AsSlice()}
	}
	return d.DialContext(ctx, "tcp", addr)
}

// hold sends the start of a request or of a handshake on c, then a byte
// of the body every Trickle (nothing more for a handshake), until the
// server answers or closes c (true) or ctx ends (false).
func (f *Flood) hold(ctx context.Context, c net.Conn, slow bool) bool {
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	var start []byte
	if slow {
		start = fmt.Appendf(nil, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n{", f.cfg.Path, f.cfg.REST)
	} else {
		// The first byte of record 1's length, and no more: the
		// connector waits for the rest of the handshake.
		start = []byte{0x00}
	}
	if _, err := c.Write(start); err != nil {
		return ctx.Err() == nil
	}
	buf := make([]byte, 512)
	for {
		if slow {
			c.SetReadDeadline(time.Now().Add(f.cfg.Trickle))
		}
		_, err := c.Read(buf)
		if ctx.Err() != nil {
			return false
		}
		var ne net.Error
		if slow && errors.As(err, &ne) && ne.Timeout() {
			if _, err := c.Write([]byte(" ")); err != nil {
				return true
			}
			continue
		}
		// An answer (408, an error) or the end of the connection: the
		// server let go.
		return true
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
