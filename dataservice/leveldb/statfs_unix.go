//go:build unix

package leveldb

import "golang.org/x/sys/unix"

// freeBytes returns the bytes of the file system of dir that an
// unprivileged process may still use.
func freeBytes(dir string) (uint64, bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return uint64(st.Bavail) * uint64(st.Bsize), true
}
