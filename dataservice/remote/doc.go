// Package remote serves a dataservice over HTTP/2 and is its client.
//
// Server exposes, under /internal/v1/ and behind a cluster token:
//   - store/{op}: the Store methods (Get goes out as a GetMany), so a
//     RemoteStore is a Store like any other (it passes dataservice/storetest);
//   - data/{op}: one endpoint per dataservice.Client method (the domain
//     operations); the reads each connecting device makes (its inbox, its
//     app's broadcasts) are "_each" endpoints answering many queries in
//     one call;
//   - sentinel: the invalidation stream, full duplex, that keeps the
//     caches of other processes exact: it tells them which keys were
//     written, and they acknowledge (see dataservice.Source). The path
//     keeps the stream's former name, for clusters of mixed versions.
//
// Dial returns a dataservice.Client whose reads of cached kinds go through
// a local cache, kept exact by a CacheFollower that follows the
// invalidation streams of every dataservice instance, and whose other
// calls are domain endpoints: components cannot tell it from the
// in-process dataservice.Service. Point reads made while an earlier one of
// their kind is in flight wait and go out together, as one call (GetMany,
// broadcast_cursors, the "_each" endpoints).
//
// Bodies are JSON; record values travel as base64. Calls between
// components use cleartext HTTP/2 (prior knowledge), one multiplexed
// connection per peer, with pings to notice dead peers.
//
// Files follow the concerns of dataservice: devices.go holds the request
// bodies, the server's routes and the client's methods of DeviceStore and
// DeviceIndex, and so on for each concern. store.go serves the Store;
// invalidation.go (frames, the server's end) and follower.go (the
// client's end) are the invalidation stream; client.go, server.go and
// wire.go hold what the concerns share.
//
// Concurrency: Server, RemoteStore and the Client returned by Dial are safe
// for concurrent use.
package remote
