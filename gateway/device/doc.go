// Package device is what an app may change about its devices, for both
// API faces: an Update adds and removes tags and sets or removes the
// alias, checked against the limits (tags per device and per call,
// devices per alias) before anything changes.
//
// Concurrency: an Update is a value; Apply is safe for concurrent use as
// its Store is.
package device
