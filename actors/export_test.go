package actors

import "time"

// WithTaskTicks makes the task actor started with cfg tick whenever ticks
// yields, instead of every taskTickEvery: a test counts what the actor
// does per tick without depending on the clock.
func WithTaskTicks(cfg *TaskConfig, ticks <-chan time.Time) { cfg.ticks = ticks }

// OnPool runs the mailboxes of actors spawned with it on a pool, as those
// of Env.Mailboxes: benchmarks spawn stand-ins on the same pool.
var OnPool = onPool
