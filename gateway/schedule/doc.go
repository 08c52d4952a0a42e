// Package schedule is pushes an app wants sent later — once, or
// periodically (every n days, weeks on some weekdays, or months on some
// days of the month) — at a time of day read in a fixed time zone or in
// each device's own: their triggers and the firings they yield, their
// validated storage for both API faces, and the loop that fires them.
//
// A trigger's JSON form (TriggerJSON) follows JPush's schedule API
// (trigger.single.time, trigger.periodical {start, end, time, time_unit,
// frequency, point}), so that the /v1 and /v3 faces map onto one Service:
//
//	parse      a face reads its body into a Def (Trigger, push body)
//	store      Service.Create, Replace, Get, List and Delete validate and
//	           store it; another app's schedule is as unknown as one that
//	           does not exist
//	render     ReadDef gives the definition back; each face shows it in
//	           its own shape
//
// A schedule's push is exactly the body POST /v1/push takes; each firing
// sends it once, whatever gateways crash or run side by side
// (scheduler.go).
//
// Concurrency: Triggers are values; a Service is safe for concurrent use
// and runs its firing loop in its own goroutine from Start to Close.
package schedule
