package connlimit

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Config configures a Limiter.
type Config struct {
	// Name names the listener in logs, such as "rest" or "device".
	Name string
	// Total caps the connections open at once. Zero or negative means no
	// cap.
	Total int
	// PerAddress caps the connections open at once from one client
	// address (an IPv4 address or an IPv6 /64). Zero or negative means no
	// cap.
	PerAddress int
	// Exempt lists the addresses, such as trusted proxies, whose
	// connections count toward Total only.
	Exempt []netip.Prefix
	// MakeRoom lets Listener close a connection that waits for its client
	// to admit a new one over a cap (see the package doc). Only for HTTP
	// servers, whose ConnState and ConnContext hooks and handlers (Start)
	// tell the Limiter what their connections wait for.
	MakeRoom bool
	// StallAge is how long, at least, a connection must have waited for
	// its first request before it may be closed to make room for a new
	// one: a client that just connected has the time to send it. A
	// connection waiting for a request body may be closed however short
	// its wait: a minimum there lets a flood that opens connections faster
	// than they reach it take every place it frees, and refuse everyone
	// else (issue 16's fault test). Zero means 1s.
	StallAge time.Duration
	// IdleAge is how long, at least, a keep-alive connection must have
	// been idle between requests before it may be closed to make room: a
	// busy client's connection, idle for a moment, may have its next
	// request on the way, which the close would fail. Zero means 2s.
	IdleAge time.Duration
	// Log receives a line about refused connections at most every 10
	// seconds. Nil means slog.Default().
	Log *slog.Logger
}

// logEvery is how often, at most, a Limiter logs what it refused.
const logEvery = 10 * time.Second

// Stats are a Limiter's figures.
type Stats struct {
	// Open is the number of connections open now.
	Open int `json:"open"`
	// Addresses is the number of client addresses they come from.
	Addresses int `json:"addresses"`
	// Refused counts the connections closed at once, over a cap.
	Refused uint64 `json:"refused"`
	// Evicted counts the connections closed to make room for a new one.
	Evicted uint64 `json:"evicted"`
	// Total and PerAddress are the caps; 0 for none.
	Total      int `json:"total_cap"`
	PerAddress int `json:"per_address_cap"`
}

// Limiter counts a listener's open connections and refuses those over its
// caps.
type Limiter struct {
	cfg Config
	log *slog.Logger
	now func() time.Time

	mu    sync.Mutex
	open  int
	addrs map[netip.Addr]*entry // client addresses with open connections
	// shared counts the connections of no known address and those of
	// exempt addresses: they are under Total only.
	shared *entry
	// first and last end the list of every connection accepted through
	// Listener, oldest first: the candidates to make room.
	first, last *conn

	refused, evicted   uint64
	unrefused, unevict uint64 // since the last log line
	lastLog            time.Time
	lastAddr           netip.Addr // of the latest refusal
}

// entry is the count of one client address.
type entry struct {
	key         netip.Addr
	open        int
	first, last *conn // its connections accepted through Listener
}

// New returns a Limiter.
func New(cfg Config) *Limiter {
	if cfg.StallAge <= 0 {
		cfg.StallAge = time.Second
	}
	if cfg.IdleAge <= 0 {
		cfg.IdleAge = 2 * time.Second
	}
	l := &Limiter{cfg: cfg, log: cfg.Log, now: time.Now, addrs: map[netip.Addr]*entry{}, shared: &entry{}}
	if l.log == nil {
		l.log = slog.Default()
	}
	return l
}

// Config returns the configuration of l, defaults filled in.
func (l *Limiter) Config() Config { return l.cfg }

// Stats returns l's figures.
func (l *Limiter) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return Stats{Open: l.open, Addresses: len(l.addrs), Refused: l.refused, Evicted: l.evicted,
		Total: max(l.cfg.Total, 0), PerAddress: max(l.cfg.PerAddress, 0)}
}

// Ticket is an admitted connection's place in the counts, handed back
// with Release. The zero Ticket stands for no connection.
type Ticket struct{ e *entry }

// Admit counts a new connection from addr (invalid if unknown, as for a
// Unix socket) if the caps allow it; otherwise it counts and logs the
// refusal, and the caller closes the connection at once.
func (l *Limiter) Admit(addr netip.Addr) (Ticket, bool) {
	l.mu.Lock()
	e, full := l.admitLocked(addr)
	var line func()
	if e == nil {
		line = l.refuseLocked(addr, full)
	}
	l.mu.Unlock()
	if line != nil {
		line()
	}
	return Ticket{e}, e != nil
}

// Release gives back the count of a connection admitted with t. It must
// be called once per admitted connection, when it closes.
func (l *Limiter) Release(t Ticket) {
	if t.e == nil {
		return
	}
	l.mu.Lock()
	l.releaseLocked(t.e)
	l.mu.Unlock()
}

// scope names the cap a connection would exceed.
type scope uint8

const (
	withinCaps scope = iota
	totalCap
	addressCap
)

// admitLocked counts a connection from addr and returns its entry, or nil
// and the cap it would exceed. l.mu must be held.
func (l *Limiter) admitLocked(addr netip.Addr) (*entry, scope) {
	if l.cfg.Total > 0 && l.open >= l.cfg.Total {
		return nil, totalCap
	}
	e := l.shared
	if key, ok := ClientKey(addr); ok && !l.exempt(addr) {
		e = l.addrs[key]
		if e == nil {
			e = &entry{key: key}
		}
		if l.cfg.PerAddress > 0 && e.open >= l.cfg.PerAddress {
			return nil, addressCap
		}
		if e.open == 0 {
			l.addrs[key] = e
		}
	}
	e.open++
	l.open++
	return e, withinCaps
}

// releaseLocked gives back a connection of e. l.mu must be held.
func (l *Limiter) releaseLocked(e *entry) {
	e.open--
	l.open--
	if e.open == 0 && e != l.shared {
		delete(l.addrs, e.key)
	}
}

// refuseLocked counts a refusal and returns the log line to write once
// l.mu is released, if one is due. l.mu must be held.
func (l *Limiter) refuseLocked(addr netip.Addr, full scope) func() {
	l.refused++
	l.unrefused++
	l.lastAddr = addr
	return l.lineLocked(full)
}

// lineLocked returns the periodic log line if it is due. l.mu must be
// held.
func (l *Limiter) lineLocked(full scope) func() {
	now := l.now()
	if now.Sub(l.lastLog) < logEvery {
		return nil
	}
	refused, evicted, addr := l.unrefused, l.unevict, l.lastAddr
	l.unrefused, l.unevict, l.lastLog = 0, 0, now
	which := "total"
	if full == addressCap {
		which = "per address"
	}
	return func() {
		l.log.Warn("connections over a cap: refused at once, or others closed to make room", "listener", l.cfg.Name,
			"refused", refused, "closed_to_make_room", evicted, "cap", which, "last_client", addr.String(),
			"total_cap", max(l.cfg.Total, 0), "per_address_cap", max(l.cfg.PerAddress, 0))
	}
}

// exempt reports whether addr's connections count toward the total only.
func (l *Limiter) exempt(addr netip.Addr) bool {
	addr = addr.Unmap().WithZone("")
	for _, p := range l.cfg.Exempt {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// ClientKey returns what a client address is counted as: the address
// itself for IPv4, its /64 for IPv6; false if addr is not valid. The
// rate limits of the REST API (package ratelimit's users) key clients
// the same way.
func ClientKey(addr netip.Addr) (netip.Addr, bool) {
	if !addr.IsValid() {
		return addr, false
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.Addr(), true
	}
	return addr, true
}

// AddrOf returns the IP address of a network address, or the invalid
// Addr if it has none (a Unix socket).
func AddrOf(a net.Addr) netip.Addr {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.AddrPort().Addr()
	case nil:
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr()
}
