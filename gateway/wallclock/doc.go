// Package wallclock reads wall-clock times in time zones, as schedules
// and device-local audiences need them: a wall-clock reading is a
// time.Time whose date and clock fields, in UTC, are what the clocks of a
// zone show.
//
// Concurrency: every function is safe for concurrent use; Zone caches the
// zones it loaded.
package wallclock
