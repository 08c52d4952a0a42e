//go:build linux && !netpoll_std

package connector_test

// stdLoop says whether the connector runs on the standard library's loop
// (connector/netpoll's fallback) rather than epoll.
const stdLoop = false
