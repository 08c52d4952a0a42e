// Package jpush is the gateway's JPush-compatible face: JPush's REST API
// v3 (push, schedules, reports, devices, tags and aliases) over Herald's
// core, so that an app backend written against a JPush server SDK works by
// changing only the host.
//
// It authenticates as /v1 does (Basic app_key:master_secret; Herald's keys
// have JPush's shape), answers in JPush's shapes, reports errors with
// JPush's numeric codes per part of the API (WriteError), and limits each
// app's calls per minute with JPush's X-Rate-Limit-* headers. It builds
// the same push.Plan as /v1 and sends it through the gateway's Pusher; it
// keeps schedules in the same schedule.Service. docs/jpush.md describes
// the mapping and what is not supported.
//
// Concurrency: a Face is safe for concurrent use; its only state is the
// rate limiter's counts, behind a lock.
package jpush
