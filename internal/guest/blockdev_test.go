package guest

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// TestReleaseAndBindDisks: the init unbinds the block driver from each
// virtio device bound to it before a template can be saved, and binds the
// same devices once the Config has come. A fake sysfs driver directory
// records what was written.
func TestReleaseAndBindDisks(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"virtio1", "virtio3"} {
		if err := os.Symlink("../../../devices/"+d, filepath.Join(dir, d)); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{"bind", "unbind", "uevent", "new_id"} {
		os.WriteFile(filepath.Join(dir, f), nil, 0o644)
	}
	os.Mkdir(filepath.Join(dir, "module"), 0o755)
	devs, err := releaseDisks(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"virtio1", "virtio3"}; !reflect.DeepEqual(devs, want) {
		t.Fatalf("released %v, want %v", devs, want)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "unbind")); string(b) != "virtio3" {
		t.Errorf("unbind last got %q", b) // each write is one device
	}
	if err := bindDisks(dir, devs); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "bind")); string(b) != "virtio3" {
		t.Errorf("bind last got %q", b)
	}
	// No driver: nothing to release.
	if devs, err := releaseDisks(filepath.Join(dir, "missing")); err != nil || devs != nil {
		t.Errorf("releaseDisks without a driver = %v, %v", devs, err)
	}
}
