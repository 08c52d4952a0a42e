// Package clienttest is the conformance suite of dataservice.Client: every
// implementation (the in-process Service, the HTTP/2 client of package
// remote, with or without caches) must pass it, so components cannot tell
// which one they were given.
//
// The cases of each concern (one interface of dataservice, or two close
// ones) are in the file named after it, which lists them in a table:
// devices.go holds deviceTests, the cases of DeviceStore and DeviceIndex.
// A new operation's cases go into its concern's table; Run runs every
// table.
package clienttest
