package platform

import (
	"context"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
)

// TestStartFailureCleansUp makes Start fail after PostgreSQL, the operator
// and the first node's network are up (the node's tunnel port is taken)
// and checks that Start returns the error without panicking and leaves
// nothing behind: no namespace, veth or firewall table, no PostgreSQL.
func TestStartFailureCleansUp(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("this test needs root (network namespaces); run it as root as CI does")
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	dir := t.TempDir()
	b := byte(os.Getpid()%150 + 50)
	name := "zws" + strconv.Itoa(os.Getpid()%100000)
	p, err := Start(context.Background(), Config{
		StateDir:     dir,
		APIListen:    "127.0.0.1:0",
		EdgeListen:   "127.0.0.1:0",
		TunnelListen: taken.Addr().String(),
		NetName:      name,
		Subnet:       netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 236, b, 0}), 24),
		Transit:      netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 237, b, 0}), 30),
		Accel:        "tcg",
		Log:          slog.New(slog.NewTextHandler(testWriter{t}, nil)),
	})
	if err == nil {
		p.Shutdown(context.Background())
		t.Fatal("Start succeeded with its tunnel port taken")
	}
	if p != nil || !strings.Contains(err.Error(), "tunnel listener") {
		t.Fatalf("Start = %v, %v; want no platform and the tunnel listener's error", p, err)
	}
	if _, err := os.Stat("/run/netns/" + name); !os.IsNotExist(err) {
		t.Errorf("network namespace left: %v", err)
	}
	if _, err := netlink.LinkByName("zwh-" + name); err == nil {
		t.Errorf("veth zwh-%s left", name)
	}
	if out, err := exec.Command("nft", "list", "table", "inet", "zeitwork_"+name).CombinedOutput(); err == nil {
		t.Errorf("firewall table left: %s", out)
	}
	if procs := processesMentioning(dir); len(procs) > 0 {
		t.Errorf("processes left running: %v", procs)
	}
}
