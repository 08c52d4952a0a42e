// Package ratelimit limits how often each of many keys (a client
// address, an app) may do something: a token bucket per key, holding up
// to Limit tokens and refilled at Limit per Window, so a key may do Limit
// things at once and then one every Window/Limit. A key refused is told
// how long until it may try again, for a Retry-After header.
//
// Limits are in memory, per process: behind several gateways a key may
// do Limit things per Window on each. The gateway's login limits, which
// must hold across gateways and restarts, count failures in the store
// instead (gateway/account); both key clients the same way
// (connlimit.ClientKey behind account.ClientAddress).
//
// The table of keys is bounded (Config.MaxKeys). When it is full, keys
// whose bucket has refilled (as good as never seen) are forgotten; if
// none has, a new key shares one overflow bucket with every other key
// that found the table full, so memory stays bounded and the limit still
// holds in aggregate.
//
// Concurrency: a Limiter is safe for concurrent use; its table lives
// under one mutex, taken once per Allow.
package ratelimit
