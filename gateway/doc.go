// Package gateway is Herald's public REST API: it assembles the API's
// faces over one push core, and is itself the /v1 face — apps, device
// registration, dispatch (where a device connects), push, delivery
// reports, tags, aliases, segments, schedules, the webhook, and what the
// portal needs: logging in, the app at a glance, its master secret, its
// members and audit log, and the admin's portal users.
//
// The core it owns: submitting a push (stored first, then sent inline to
// a list of devices, fanned out by the connectors as a broadcast, or
// walked page by page by a task actor), push tasks and their leases
// (tasks.go, the TaskContainer of docs/design.md), cancelling, and
// reports. Its rooms, none of which imports this package:
//
//	api        routes, authentication and roles, the audit hook, JSON bodies,
//	           the error table, paging
//	account    portal users, passwords, sessions, login limits, members, audit
//	audience   who a push reaches: the audience object and its resolution
//	push       a push request, its validation, the Plan that is sent
//	device     the tag and alias change both faces apply to a device
//	schedule   triggers, the schedule store, the loop that fires them
//	webhook    delivery of devices' upstream data to the apps' webhooks
//	jpush      the JPush-compatible /v3 face
//	cluster    the view of the connectors: routing and GET /v1/dispatch
//	lease      names a gateway run in the leases it holds
//	wallclock  wall-clock time in time zones
//
// It speaks JSON over HTTP/1.1 and cleartext HTTP/2 on one port. Every
// error is a JSON body {"error":{"code":…,"message":…}} with a stable code
// and a message that says what to fix; statuses come from one table
// (api.ToError).
//
// Concurrency: a Gateway serves requests concurrently; it holds no
// per-request state between calls.
package gateway
