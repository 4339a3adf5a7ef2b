package network

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func testConfig(t *testing.T) Config {
	t.Helper()
	// Distinct per process, so parallel test binaries do not collide.
	b := byte(os.Getpid()%200 + 20)
	return Config{
		Name:    fmt.Sprintf("zwt%d", os.Getpid()%100000),
		Subnet:  netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 231, b, 0}), 24),
		Transit: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 232, b, 0}), 30),
	}
}

func TestAllocate(t *testing.T) {
	n := &Network{cfg: Config{Subnet: netip.MustParsePrefix("10.1.2.0/29")}, used: map[netip.Addr]string{}}
	n.gateway = netip.MustParseAddr("10.1.2.1")
	var got []string
	for i := 0; i < 5; i++ {
		a, err := n.allocate(fmt.Sprint(i), netip.Addr{})
		if err != nil {
			t.Fatalf("allocate %d: %v", i, err)
		}
		got = append(got, a.String())
	}
	if strings.Join(got, " ") != "10.1.2.2 10.1.2.3 10.1.2.4 10.1.2.5 10.1.2.6" {
		t.Fatalf("allocated %v", got)
	}
	if _, err := n.allocate("x", netip.Addr{}); err != ErrExhausted {
		t.Fatalf("full subnet: %v", err)
	}
	n.release(netip.MustParseAddr("10.1.2.4"))
	if a, _ := n.allocate("y", netip.MustParseAddr("10.1.2.4")); a.String() != "10.1.2.4" {
		t.Fatalf("reuse gave %v", a)
	}
	if a, err := n.allocate("z", netip.MustParseAddr("10.1.2.4")); err == nil {
		t.Fatalf("address of another instance handed out again: %v", a)
	}
}

func TestTapName(t *testing.T) {
	name := TapName("0d9e8f7a-1234-4bcd-9abc-def012345678")
	if name != "zt0d9e8f7a1234" || len(name) > 15 {
		t.Fatalf("TapName = %q", name)
	}
}

// TestSetupReal builds the namespace, bridge, veth and firewall for real,
// creates taps, and tears everything down again.
func TestSetupReal(t *testing.T) {
	ctx := context.Background()
	cfg := testConfig(t)
	n, err := Setup(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Teardown() })
	// Setup again adopts what exists (agent restart).
	if _, err := Setup(ctx, cfg); err != nil {
		t.Fatalf("second setup: %v", err)
	}
	tap, err := n.CreateTap("11111111-2222-3333-4444-555555555555", netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	if tap.Address.Addr() != n.gateway.Next() {
		t.Fatalf("first tap address %v", tap.Address)
	}
	out, err := exec.Command("ip", "-n", cfg.Name, "-d", "link", "show", tap.Name).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "master "+bridgeName) || !strings.Contains(string(out), "isolated on") {
		t.Fatalf("tap not an isolated bridge port: %s %v", out, err)
	}
	rules, err := exec.Command("nft", "list", "table", "inet", n.hostTable()).CombinedOutput()
	if err != nil || !strings.Contains(string(rules), "masquerade") {
		t.Fatalf("host table: %s %v", rules, err)
	}
	neigh, err := exec.Command("ip", "-n", cfg.Name, "neigh", "show", tap.Address.Addr().String()).CombinedOutput()
	if err != nil || !strings.Contains(string(neigh), tap.MAC) || !strings.Contains(string(neigh), "PERMANENT") {
		t.Fatalf("vm address not pinned to its mac: %s %v", neigh, err)
	}
	if err := n.DeleteTap("11111111-2222-3333-4444-555555555555", tap.Address.Addr()); err != nil {
		t.Fatal(err)
	}
	taps, err := n.Taps()
	if err != nil || len(taps) != 0 {
		t.Fatalf("taps left: %v %v", taps, err)
	}
	if err := n.Teardown(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat("/run/netns/" + cfg.Name); !os.IsNotExist(err) {
		t.Fatalf("namespace left behind: %v", err)
	}
}
