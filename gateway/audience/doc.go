// Package audience is who a push reaches: the audience object of JPush's
// shape ("all", or registration ids, aliases, tags, tag_and, tag_not and a
// saved segment, ANDed, on some platforms), its validation, and its
// resolution into devices.
//
// A Resolver walks an audience page by page in registration id order,
// reading the store's tag, alias and app indexes (one kind drives the
// walk, the others filter), so that a push task can checkpoint a cursor
// and resume after a restart; it also estimates an audience's size from a
// sample. LocalTime narrows an audience to the devices whose clocks show a
// schedule's time.
//
// Concurrency: an Audience is a value; a Resolver is used by one
// goroutine at a time (a task actor).
package audience
