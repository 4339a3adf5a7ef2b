package image

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func sampleFiles() map[string]File {
	files := PasswdFiles("app")
	files["/app"] = File{Mode: 0o755, Data: []byte("#!/bin/true\n")}
	files["/srv/data/big"] = File{Mode: 0o640, Data: make([]byte, 1<<20), UID: 1000, GID: 1000}
	files["/bin/sh"] = File{Mode: fs.ModeSymlink, Link: "/app"}
	return files
}

func debugfs(t *testing.T, img, request string) string {
	t.Helper()
	out, err := exec.Command("debugfs", "-R", request, img).CombinedOutput()
	if err != nil {
		t.Fatalf("debugfs -R %q: %v\n%s", request, err, out)
	}
	return string(out)
}

func TestBuildExt4(t *testing.T) {
	img, err := FromFiles(sampleFiles(), ImageConfig{Entrypoint: []string{"/app"}})
	if err != nil {
		t.Fatal(err)
	}
	rootfs := t.TempDir()
	if _, err := Flatten(context.Background(), img, rootfs, Limits{}); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "root.ext4")
	const free = 64 << 20
	size, err := BuildExt4(context.Background(), rootfs, out, free)
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size() != size || size < free {
		t.Errorf("image is %d bytes, BuildExt4 said %d (free %d)", info.Size(), size, free)
	}
	if used := info.Sys().(*syscall.Stat_t).Blocks * 512; used > size/4 {
		t.Errorf("image uses %d of %d bytes on disk; want it sparse", used, size)
	}

	ls := debugfs(t, out, "ls -l /")
	for _, name := range []string{" app", " etc", " srv", " bin", " home", " tmp"} {
		if !strings.Contains(ls, name) {
			t.Errorf("root listing lacks%s:\n%s", name, ls)
		}
	}
	stat := debugfs(t, out, "stat /srv/data/big")
	for _, want := range []string{"User:  1000", "Group:  1000", "Mode:  0640", "Size: 1048576"} {
		if !strings.Contains(stat, want) {
			t.Errorf("stat /srv/data/big lacks %q:\n%s", want, stat)
		}
	}
	if link := debugfs(t, out, "stat /bin/sh"); !strings.Contains(link, `Fast link dest: "/app"`) {
		t.Errorf("/bin/sh is not a symlink to /app:\n%s", link)
	}
	if root := debugfs(t, out, "stat /"); !strings.Contains(root, "User:     0   Group:     0") {
		t.Errorf("root directory not owned by root:\n%s", root)
	}
	// The guest must not have inode tables to zero after mounting.
	dump, err := exec.Command("dumpe2fs", out).CombinedOutput()
	if err != nil {
		t.Fatalf("dumpe2fs: %v\n%s", err, dump)
	}
	if strings.Contains(string(dump), "ITABLE_ZEROED") == false {
		t.Errorf("inode tables not marked zeroed:\n%.2000s", dump)
	}
	if fsck, err := exec.Command("e2fsck", "-fn", out).CombinedOutput(); err != nil {
		t.Errorf("e2fsck: %v\n%s", err, fsck)
	}
}
