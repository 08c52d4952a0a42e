// Package push is what a push is before it is sent: the request both API
// faces build (Request: platform, audience, message, options), its
// validation against the gateway's limits, and the Plan the gateway
// stores and sends — inline to a list of devices, as a broadcast the
// connectors fan out, or as a task that walks the audience.
//
// Decode reads a stored or submitted push body as POST /v1/push does,
// for schedules that keep one.
//
// Concurrency: Limits is a value; a Plan belongs to the call planning it.
package push
