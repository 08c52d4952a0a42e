// Package remote serves a dataservice over HTTP/2 and is its client.
//
// Server exposes, under /internal/v1/ and behind a cluster token:
//   - store/{op}: the Store methods (Get goes out as a GetMany), so a
//     RemoteStore is a Store like any other (it passes dataservice/storetest);
//   - one endpoint per dataservice.Client method (the domain operations);
//     the reads each connecting device makes (its inbox, its app's
//     broadcasts) are "_each" endpoints answering many queries in one call;
//   - sentinel: a full-duplex stream of invalidations for caches in other
//     processes, acknowledged by them (see dataservice.Source).
//
// Dial returns a dataservice.Client whose reads of cached kinds go through a
// local cache kept exact by the sentinel streams of every dataservice
// instance, and whose other calls are domain endpoints: components cannot
// tell it from the in-process dataservice.Service. Point reads made while
// an earlier one of their kind is in flight wait and go out together, as
// one call (GetMany, broadcast_cursors, the "_each" endpoints).
//
// Bodies are JSON; record values travel as base64. Calls between
// components use cleartext HTTP/2 (prior knowledge), one multiplexed
// connection per peer, with pings to notice dead peers.
//
// Concurrency: Server, RemoteStore and the Client returned by Dial are safe
// for concurrent use.
package remote
