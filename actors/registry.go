package actors

import (
	"github.com/asynkron/protoactor-go/actor"
	cmap "github.com/orcaman/concurrent-map"
)

// CompactRegistry reshapes system's process registry for a process that
// holds tens of thousands of actors. Call it on a new system, before
// anything spawns actors in it: it moves the entries the system registered
// for itself, and a concurrent registration could be lost.
//
// protoactor spreads the registry over 1,024 concurrent maps of 32 shards
// each: 32,768 Go maps. A connector registers two actors per connection,
// so at 18,000 connections most of those maps hold one or two entries and
// each pays a whole map group for them, about 370 bytes per actor in all.
// One concurrent map (its 32 shards, each behind its own lock) holds the
// same actors for about 60 bytes each; registry lookups take one shard
// lock as before.
func CompactRegistry(system *actor.ActorSystem) {
	reg := system.ProcessRegistry
	one := cmap.New()
	for _, bucket := range reg.LocalPIDs.LocalPIDs {
		// IterCb, not Items: Items starts a goroutine and a channel per
		// shard, 32,768 of each for a registry that holds a handful.
		bucket.IterCb(func(id string, p any) { one.Set(id, p) })
	}
	reg.LocalPIDs = &actor.SliceMap{LocalPIDs: []cmap.ConcurrentMap{one}}
}
