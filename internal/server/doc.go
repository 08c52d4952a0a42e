// Package server assembles Herald's components into running processes.
// StartAll is `herald all`: store, dataservice, connector, batching writer and
// gateway in one process. The CLI and in-process tests both use it, so
// what tests start is what users run.
package server
