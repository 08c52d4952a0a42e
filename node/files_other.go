//go:build !unix

package node

// openFileLimit returns fallbackFileLimit: this system has no limit to
// read.
func openFileLimit() int { return fallbackFileLimit }
