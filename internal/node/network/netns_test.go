package network

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// freshHostEnv marks the child process in which TestFreshHostNamespace
// does its work.
const freshHostEnv = "ZEITWORK_TEST_FRESH_HOST"

// TestFreshHostNamespace reproduces a fresh machine, where /run/netns does
// not exist: it sets up a network, lets iproute2 add and delete a
// namespace of its own (which makes /run/netns a bind mount of itself
// unless it already is a mount point), then tears the network down and
// checks nothing is left. It runs in a child process with a private mount
// namespace and an empty tmpfs over /run, so it neither sees nor disturbs
// the host's /run/netns.
func TestFreshHostNamespace(t *testing.T) {
	if os.Getenv(freshHostEnv) == "" {
		runInPrivateMounts(t, "TestFreshHostNamespace")
		return
	}
	if err := unix.Mount("tmpfs", "/run", "tmpfs", 0, "mode=0755"); err != nil {
		t.Fatalf("empty /run: %v", err)
	}
	if _, err := os.Stat(netnsDir); !os.IsNotExist(err) {
		t.Fatalf("%s exists on the fresh /run: %v", netnsDir, err)
	}
	cfg := testConfig(t)
	n, err := Setup(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Teardown() })
	other := cfg.Name + "i"
	ip(t, "netns", "add", other)
	if out := ip(t, "netns", "list"); !strings.Contains(out, cfg.Name) {
		t.Fatalf("ip netns list does not show %s: %s", cfg.Name, out)
	}
	ip(t, "netns", "del", other)
	if _, err := n.CreateTap("11111111-2222-3333-4444-555555555555", netip.Addr{}); err != nil {
		t.Fatalf("tap after ip netns add: %v", err)
	}

	if err := n.Teardown(); err != nil {
		t.Fatalf("teardown: %v", err)
	}
	if _, err := os.Stat(n.NetNSPath()); !os.IsNotExist(err) {
		t.Errorf("namespace file left: %v", err)
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(mounts), "\n") {
		if strings.Contains(line, n.NetNSPath()) {
			t.Errorf("namespace still mounted: %s", line)
		}
	}
	if _, err := netlink.LinkByName(cfg.hostVeth()); err == nil {
		t.Errorf("veth %s left", cfg.hostVeth())
	}
	if out, err := exec.Command("nft", "list", "table", "inet", n.hostTable()).CombinedOutput(); err == nil {
		t.Errorf("firewall table left: %s", out)
	}
	// A second teardown finds nothing to do and says so without error.
	if err := n.Teardown(); err != nil {
		t.Errorf("second teardown: %v", err)
	}
}

// runInPrivateMounts runs the named test of this binary again in a child
// process with a mount namespace of its own; Go makes every mount in it
// private, so nothing the child mounts reaches the host.
func runInPrivateMounts(t *testing.T, name string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root (mount and network namespaces); run it as root as CI does")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), freshHostEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	t.Logf("child:\n%s", out.String())
	if err != nil || !strings.Contains(out.String(), "--- PASS: "+name) {
		t.Fatalf("in a private mount namespace: %v", err)
	}
}

func ip(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
