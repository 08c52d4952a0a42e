// Package health answers what an orchestrator asks a Herald process: is
// it alive (GET /healthz: it serves HTTP), and is it ready (GET /readyz:
// it can do its work now — its store writes, its dataservice answers,
// connectors are registered, as its checks say). Both answer JSON.
//
// A Checker runs its checks at most once per Config.Interval however often
// it is asked, in parallel, each bounded by Config.Timeout, so a probe is
// cheap and a stuck dependency cannot hold it. Once the process starts
// shutting down (Drain), readiness fails at once, so that load balancers
// stop sending it work while it drains.
//
// A Checker is safe for concurrent use; checks must be too.
package health
