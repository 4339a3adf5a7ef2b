package guest

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHostsFile(t *testing.T) {
	tests := []struct {
		name, hostname, addr string
		want                 []string
	}{
		{name: "with address", hostname: "web-1a2b3c4d", addr: "10.213.0.5/24",
			want: []string{"127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback", "10.213.0.5\tweb-1a2b3c4d"}},
		{name: "without address", hostname: "web", want: []string{"127.0.0.1\tlocalhost", "127.0.1.1\tweb"}},
		{name: "no hostname", want: []string{"127.0.0.1\tlocalhost"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := hostsFile(tt.hostname, tt.addr)
			for _, w := range tt.want {
				if !strings.Contains(got, w+"\n") {
					t.Errorf("hosts file lacks %q:\n%s", w, got)
				}
			}
		})
	}
}

// TestRuntimeFiles: an image FROM scratch has no /tmp, no /etc/hosts, and
// devtmpfs has no /dev/stdout; the init must make them, and keep an
// image's own /tmp as it is.
func TestRuntimeFiles(t *testing.T) {
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "dev"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := runtimeFiles(root, "app-1", "10.0.0.2/24"); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(root, "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	if want := fs.ModeDir | fs.ModeSticky | 0o777; st.Mode() != want {
		t.Errorf("/tmp mode %v, want %v", st.Mode(), want)
	}
	for _, l := range devLinks {
		got, err := os.Readlink(filepath.Join(root, l[1]))
		if err != nil || got != l[0] {
			t.Errorf("%s -> %q (%v), want %s", l[1], got, err, l[0])
		}
	}
	b, err := os.ReadFile(filepath.Join(root, "etc/hosts"))
	if err != nil || !strings.Contains(string(b), "10.0.0.2\tapp-1\n") {
		t.Errorf("/etc/hosts %q (%v)", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "etc/hostname")); err != nil || string(b) != "app-1\n" {
		t.Errorf("/etc/hostname %q (%v)", b, err)
	}
	// Again, as after a restart on the same disk, with the image's own /tmp.
	if err := os.Chmod(filepath.Join(root, "tmp"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := runtimeFiles(root, "app-1", "10.0.0.2/24"); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(filepath.Join(root, "tmp")); st.Mode().Perm() != 0o700 {
		t.Errorf("the image's /tmp was changed to %v", st.Mode())
	}
}

func TestEnsureWorkDir(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "srv/app")
	if err := ensureWorkDir(dir); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		t.Fatalf("working directory not made: %v", err)
	}
	file := filepath.Join(root, "file")
	os.WriteFile(file, nil, 0o644)
	if err := ensureWorkDir(file); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("a file as working directory: %v, want not a directory", err)
	}
}

// TestReplaceFileReplacesDanglingSymlink: an image with systemd-resolved
// has /etc/resolv.conf -> ../run/systemd/resolve/stub-resolv.conf, which
// does not exist in a VM; the init's file must take the link's place.
func TestReplaceFileReplacesDanglingSymlink(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "resolv.conf")
	if err := os.Symlink("../run/systemd/resolve/stub-resolv.conf", p); err != nil {
		t.Fatal(err)
	}
	if err := replaceFile(p, []byte("nameserver 10.0.0.1\n")); err != nil {
		t.Fatal(err)
	}
	st, err := os.Lstat(p)
	if err != nil || !st.Mode().IsRegular() {
		t.Fatalf("%s is %v (%v), want a regular file", p, st.Mode(), err)
	}
	if b, _ := os.ReadFile(p); string(b) != "nameserver 10.0.0.1\n" {
		t.Errorf("content %q", b)
	}
}

// TestEmptyOrMissing decides whether /run gets a tmpfs: not over what
// the image put there.
func TestEmptyOrMissing(t *testing.T) {
	dir := t.TempDir()
	if !emptyOrMissing(filepath.Join(dir, "nope")) || !emptyOrMissing(dir) {
		t.Error("a missing or empty directory must get the tmpfs")
	}
	os.Mkdir(filepath.Join(dir, "nginx"), 0o755)
	if emptyOrMissing(dir) {
		t.Error("a /run with the image's directories in it must be kept")
	}
}
