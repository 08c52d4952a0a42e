// Package nodetest starts a real `herald all` in process for tests, on
// loopback ports chosen by the kernel and a store in a temporary directory,
// and offers the REST calls tests make: create an app, register a device,
// push, read a report.
package nodetest
