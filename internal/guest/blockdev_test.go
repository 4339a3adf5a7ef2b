package guest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAwaitDiskSize: the root disk of a VM restored from a template has
// no size until the host announces it (the template's placeholder is
// empty); the init must wait for the size, not mount a disk of none, and
// give up with a clear error if it never comes. A fake sysfs size file
// stands in for the kernel's.
func TestAwaitDiskSize(t *testing.T) {
	dir := t.TempDir()
	old := sysBlockDir
	sysBlockDir = dir
	t.Cleanup(func() { sysBlockDir = old })
	size := filepath.Join(dir, "vda", "size")
	os.MkdirAll(filepath.Dir(size), 0o755)
	if err := os.WriteFile(size, []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := awaitDiskSize("vda", time.Now().Add(20*time.Millisecond))
	if err == nil || !strings.Contains(err.Error(), "no size") {
		t.Fatalf("a disk of no size: %v", err)
	}
	// The announcement arrives while the init waits.
	go func() {
		time.Sleep(20 * time.Millisecond) // a host's later announcement, not a wait for readiness
		os.WriteFile(size+".new", []byte("409600\n"), 0o644)
		os.Rename(size+".new", size)
	}()
	start := time.Now()
	if err := awaitDiskSize("vda", time.Now().Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if n, _ := diskSectors(size); n != 409600 {
		t.Errorf("returned before the size came: %d", n)
	}
	if time.Since(start) < 20*time.Millisecond {
		t.Errorf("returned after %v, before the size was written", time.Since(start))
	}
	if err := awaitDiskSize("vdb", time.Now()); err == nil {
		t.Error("a missing disk has a size")
	}
}
