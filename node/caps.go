package node

import (
	"log/slog"
	"net/http"
	"net/netip"
	"time"

	"github.com/heraldpush/herald/internal/connlimit"
	"github.com/heraldpush/herald/internal/h2c"
)

// A process's open files are shared by its listeners' connections and by
// what else it opens: the store's table files (LevelDB keeps up to 500
// open), the cache's spill (64), calls to other components, logs. Each
// listener has a budget of its own, so that a flood on one port (slow
// request bodies on the REST port, half-open handshakes on the device
// port) meets that port's cap and leaves the files the others need
// (issue 16).
//
// Defaults, from the process's limit on open files (after Go raised the
// soft limit to the hard one), L:
//   - the --http port (REST API, portal, or internal API): L/8, at most
//     1,024 connections;
//   - files kept for everything else: 768 in a process with a LevelDB
//     store (herald all, dataservice), 256 in the others, or L/4 if less;
//   - the --device port: what is left;
//   - per client address: an eighth of the port's cap, at least 8.
//
// With the 20,000 files of a test machine, herald all holds 1,024 REST
// and 18,208 device connections, a connector 1,024 internal and 18,720
// device connections.

// ConnCaps caps the connections of one listener.
type ConnCaps struct {
	// Total caps the connections open at once. Zero means the default
	// (above); negative means no cap.
	Total int
	// PerAddress caps those from one client address (an IPv4 address or
	// an IPv6 /64). Zero means an eighth of Total, at least 8; negative
	// means no cap.
	PerAddress int
}

// File reserves: the open files a process keeps for what is not a
// connection of its listeners.
const (
	storeReserve = 768 // a process with an embedded LevelDB store
	plainReserve = 256 // the others
	maxHTTPConns = 1024
)

// budgets are the default caps of a process's listeners.
type budgets struct {
	http, device ConnCaps
}

// defaultBudgets splits limit open files between the listeners of a
// process keeping reserve for the rest; device is false for a process
// without a device listener.
func defaultBudgets(limit, reserve int, device bool) budgets {
	reserve = min(reserve, limit/4)
	var b budgets
	b.http.Total = max(1, min(maxHTTPConns, limit/8))
	if device {
		b.device.Total = max(1, limit-reserve-b.http.Total)
	}
	b.http.PerAddress = perAddress(b.http.Total)
	b.device.PerAddress = perAddress(b.device.Total)
	return b
}

func perAddress(total int) int { return max(8, total/8) }

// resolve fills c's zeros from def; a negative field becomes 0, no cap.
func (c ConnCaps) resolve(def ConnCaps) ConnCaps {
	if c.Total == 0 {
		c.Total = def.Total
	}
	if c.PerAddress == 0 {
		c.PerAddress = def.PerAddress
		if c.Total != def.Total && c.Total > 0 {
			c.PerAddress = perAddress(c.Total)
		}
	}
	return ConnCaps{Total: max(c.Total, 0), PerAddress: max(c.PerAddress, 0)}
}

// httpServer returns the server of h on a listener named name, with caps
// c (resolved), the addresses of exempt counted toward the total only,
// and bodies read within bodyTimeout (zero: h2c's default).
func httpServer(h http.Handler, name string, c ConnCaps, exempt []netip.Prefix, bodyTimeout time.Duration, log *slog.Logger) *h2c.Server {
	lim := connlimit.New(connlimit.Config{Name: name, Total: c.Total, PerAddress: c.PerAddress, Exempt: exempt, MakeRoom: true, Log: log})
	return h2c.NewServer(h, h2c.ServerConfig{BodyTimeout: bodyTimeout, Conns: lim})
}

// warnOverLimit logs when a process's caps and reserve add up to more
// than its open-file limit: it may then run out of files before a cap
// refuses anything.
func warnOverLimit(log *slog.Logger, limit, reserve int, caps ...ConnCaps) {
	sum := min(reserve, limit/4)
	for _, c := range caps {
		if c.Total <= 0 {
			log.Warn("a listener has no connection cap: a flood of connections can take every open file of the process", "open_file_limit", limit)
			return
		}
		sum += c.Total
	}
	if sum > limit {
		log.Warn("connection caps add up to more than the open-file limit: the process may run out of files before refusing connections",
			"open_file_limit", limit, "caps_and_reserve", sum)
	}
}

// fallbackFileLimit is the open-file limit assumed where it cannot be
// read.
const fallbackFileLimit = 4096
