package testenv

import (
	"os"
	"syscall"
	"testing"
)

// MountTmpfs mounts a tmpfs of size bytes ("4m") at a new directory and
// unmounts it when the test ends: a file system a test can fill (disk
// full) or remount read-only. It needs root (make test runs as root, here
// and in CI); without it the test fails, naming why.
func MountTmpfs(tb testing.TB, size string) string {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Fatalf("this test mounts a tmpfs to fill or freeze a file system, which needs root (make test runs as root)")
	}
	dir := tb.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		tb.Fatalf("mount tmpfs on %s: %v (the tests need CAP_SYS_ADMIN to mount)", dir, err)
	}
	tb.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			tb.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// RemountTmpfs remounts MountTmpfs's dir with flags (syscall.MS_RDONLY,
// or 0 for read-write) and data ("size=64m", or "" to keep the size).
func RemountTmpfs(tb testing.TB, dir string, flags uintptr, data string) {
	tb.Helper()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT|flags, data); err != nil {
		tb.Fatalf("remount %s (%s): %v", dir, data, err)
	}
}
