package tmpfstest

import (
	"os/exec"
	"strings"
	"testing"
)

// Mount mounts a tmpfs with options (mount's -o, such as "size=8m" or
// "size=8m,ro") on a new temporary directory, unmounted when tb ends, and
// returns the directory. It skips tb if the tmpfs cannot be mounted.
func Mount(tb testing.TB, options string) string {
	tb.Helper()
	dir := tb.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", options, "tmpfs", dir).CombinedOutput(); err != nil {
		tb.Skipf("cannot mount a tmpfs (needs root and mount(8)): %v: %s", err, strings.TrimSpace(string(out)))
	}
	tb.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			tb.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// Remount changes the options of the tmpfs Mount mounted at dir ("size=64m"
// to grow it, "ro" or "rw"), failing tb if it cannot.
func Remount(tb testing.TB, dir, options string) {
	tb.Helper()
	if out, err := exec.Command("mount", "-o", "remount,"+options, dir).CombinedOutput(); err != nil {
		tb.Fatalf("remount %s %s: %v: %s", dir, options, err, out)
	}
}
