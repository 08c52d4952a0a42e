//go:build unix

package node

import "syscall"

// openFileLimit returns the process's limit on open files (Go raises the
// soft limit to the hard one at start), or fallbackFileLimit if it cannot
// be read.
func openFileLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur == 0 {
		return fallbackFileLimit
	}
	return int(min(rl.Cur, 1<<30))
}
