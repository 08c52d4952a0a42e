// Package dataservice owns Herald's persistent data.
//
// Two layers live here. Store is the record-level contract (values with
// generation and TTL, batch reads, conditional writes, counters, group
// scans) that every backend implements: dataservice/leveldb embedded, by
// default. Client is the domain API the other components use, and Service
// implements it over any Store. The in-process Service and the HTTP/2
// client of dataservice/remote are interchangeable: both pass
// dataservice/clienttest.
//
// # The data API, by concern
//
// Client is the sum of one small interface per concern, each stating its
// contract:
//
//   - AppStore: apps.
//   - DeviceStore: device records. DeviceIndex: what audiences are
//     resolved from (tags, aliases, the devices and device count of an
//     app, last-active times).
//   - SessionStore: which connector holds each online device.
//   - MessageStore: message bodies and idempotency keys. InboxStore: the
//     undelivered copies waiting for each device. BroadcastStore:
//     messages to a whole app, and how far each device got through them.
//   - ReportStore: counters, per-device receipts, an app's message list.
//   - TaskStore: pushes sent page by page, resumable by any gateway.
//   - ScheduleStore, SegmentStore: saved schedules and audiences.
//   - UpstreamStore (UpstreamQueue for connectors): data devices send to
//     their apps. WebhookStore: where gateways deliver it.
//   - ConnectorRegistry, NodeClaims, ConfigStore: cluster membership,
//     gateway node numbers, cluster-wide settings.
//   - PortalStore: the portal's users, their roles on apps and their
//     sessions, login failures, and each app's audit log.
//
// A component asks for the few it uses: the connector's actors for an
// actors.Store (devices, sessions, messages, inboxes, broadcasts), the
// router for a SessionStore, a task actor for tasks, inboxes and
// broadcasts, node's gateway claim for NodeClaims. Client is for what
// hands the whole API around: node, the remote server, the conformance
// suite, and the gateway for now.
//
// Reads of apps, devices, sessions, message bodies and settings
// (CachedKinds) may be served from caches in every process; the
// invalidation stream (invalidation.go, docs/design.md "Caches and
// invalidation") keeps those caches exact, so a read never returns less
// than a write that returned before it.
//
// # Files
//
// Each concern has the same four files, named after it (devices here):
//
//	devices.go                the interfaces, types, record kinds, checks
//	devices_service.go        Service's implementation and key layouts
//	remote/devices.go         request bodies, server routes, client methods
//	clienttest/devices.go     the conformance cases, in deviceTests
//
// Close interfaces share their files: devices.go holds DeviceStore and
// DeviceIndex, messages.go MessageStore and InboxStore, upstream.go
// UpstreamStore and UpstreamQueue, cluster.go ConnectorRegistry,
// NodeClaims and ConfigStore. The other files hold what the concerns
// share: client.go (Client), service.go (Service, key layouts of
// ids, checks), store.go and validate.go (Store), encoding.go (the
// compact records of messages, devices and sessions), cached.go
// (CachedStore), invalidation.go (Source), errors.go.
//
// Adding an operation to a concern touches those four files and nothing
// else:
//
//  1. declare the method, with its contract, in the concern's interface
//     (devices.go); Client embeds it, so every implementation must follow;
//  2. implement it on Service (devices_service.go);
//  3. in remote/devices.go, add its request body, a handle line in the
//     concern's route function (routeDevices) and the client method that
//     calls it; a read of a cached kind goes through c.reads instead;
//  4. add its cases to clienttest/devices.go and list them in deviceTests.
//
// Wrappers that embed an interface (actors.Writer embeds actors.Store)
// pass the new method through. A new concern adds its interface to
// Client, its route function to remote.NewServer and its table to
// clienttest.Run.
//
// # Concurrency
//
// Store and Client implementations are safe for concurrent use. Their
// methods block on I/O; actors call them from a worker pool, never from
// Receive.
package dataservice
