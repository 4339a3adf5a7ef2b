package guest

import (
	"os"
	"path/filepath"
	"testing"
)

// TestNoLinkLocal: before eth0 comes up in what may become a template,
// the init turns off its IPv6 link-local address (addr_gen_mode none), so
// that no template carries an address of its own MAC; on a kernel without
// IPv6 there is nothing to turn off. A fake /proc/sys/net/ipv6/conf
// stands in for the kernel's.
func TestNoLinkLocal(t *testing.T) {
	dir := t.TempDir()
	old := ipv6ConfDir
	ipv6ConfDir = dir
	t.Cleanup(func() { ipv6ConfDir = old })
	mode := filepath.Join(dir, "eth0", "addr_gen_mode")
	os.MkdirAll(filepath.Dir(mode), 0o755)
	if err := os.WriteFile(mode, []byte("0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := noLinkLocal("eth0"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(mode); string(b) != addrGenModeNone || addrGenModeNone != "1" {
		t.Errorf("addr_gen_mode = %q, want 1 (none)", b)
	}
	if err := noLinkLocal("eth9"); err != nil {
		t.Errorf("no IPv6 settings for the link: %v", err)
	}
}
