package qemu

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSocketRootKeepsSocketNamesShort(t *testing.T) {
	links, err := os.MkdirTemp("/tmp", "zwl") // short, like /run/zeitwork
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(links) })
	old := socketLinkDir
	socketLinkDir = links
	t.Cleanup(func() { socketLinkDir = old })
	short := t.TempDir()
	if got, err := socketRoot(short); err != nil || got != short {
		t.Fatalf("short state dir: %q %v", got, err)
	}
	deep := filepath.Join(t.TempDir(), strings.Repeat("deep-directory/", 6), "vms")
	vmDir := filepath.Join(deep, "0d9e8f7a-1234-4bcd-9abc-def012345678")
	if err := os.MkdirAll(vmDir, 0o700); err != nil {
		t.Fatal(err)
	}
	root, err := socketRoot(deep)
	if err != nil {
		t.Fatal(err)
	}
	p := vmPaths(root, vmDir)
	if len(p.control) > maxSocketPath {
		t.Fatalf("socket name still %d bytes: %s", len(p.control), p.control)
	}
	// The socket works under its short name and lives in the VM's directory.
	ln, err := net.Listen("unix", p.control)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := os.Stat(filepath.Join(vmDir, "control.sock")); err != nil {
		t.Fatalf("socket not in the state directory: %v", err)
	}
	if again, err := socketRoot(deep); err != nil || again != root {
		t.Fatalf("second call: %q %v", again, err)
	}
}
