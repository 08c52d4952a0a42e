// Package tmpfstest gives tests a file system of their own that fills up
// or turns read-only: a tmpfs mounted on a temporary directory. Mounting
// needs root and mount(8) (CI runs as root); where they are missing, Mount
// skips the test and says why, so that tests of a full disk run wherever
// they can and never fail for want of privileges.
//
// Its functions are for tests only, called from the test's goroutine.
package tmpfstest
