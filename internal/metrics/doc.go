// Package metrics is the thin layer between Herald's components and
// Prometheus (github.com/prometheus/client_golang): each component keeps
// its metrics in a Set of its own (a metrics.go per package), whose
// observations on hot paths are pre-resolved children — an atomic add, no
// allocation, no lookup by label value — and the composition root
// (package node) registers the Sets of the components a process runs into
// that process's registry and serves it at /metrics.
//
// Built with the tag nometrics, Enabled is false: every observation
// compiles to nothing (and Now returns the zero time without reading the
// clock), so the cost of metrics can be measured against a build without
// them (docs/benchmarks.md). The Sets still exist and /metrics still
// answers, with zeros.
//
// Concurrency: everything here is safe for concurrent use; observations
// never block.
//
// Label cardinality is bounded by construction: label values are fixed
// lists (routes, frame types, outcomes, kinds) known when a Set is built,
// never device, message or app identifiers.
package metrics
