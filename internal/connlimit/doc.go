// Package connlimit caps the connections of a listener: in total, and per
// client address, so that one client cannot take every connection a
// listener may hold, and one listener cannot take the open files another
// one needs. Every listener of Herald goes through it: the REST API, the
// internal APIs of connectors and dataservice, the portal and the device
// listener.
//
// A connection over a cap is closed at once, before anything is read from
// it; refusals are counted (Stats) and logged at most once every 10
// seconds per listener. Listeners of HTTP servers first try to make room
// by closing the connection that has waited longest for its client to
// send a request body (what a slow-body flood holds); else the one that
// has waited longest, and at least Config.StallAge (1 s), for a first
// request; else the keep-alive connection idle the longest, and at least
// Config.IdleAge (2 s). The device listener has no such notion and only
// refuses.
//
// A client address is an IPv4 address, or the /64 prefix of an IPv6
// address (what one subscriber is usually given). Addresses in
// Config.Exempt (trusted proxies, which carry many clients) count toward
// the total only.
//
// Concurrency: a Limiter is safe for concurrent use; its counts live under
// one mutex, taken once per accepted and per closed connection and, for
// HTTP servers, at each change of a connection's state.
package connlimit
