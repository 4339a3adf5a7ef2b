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
	cfg.DNS = []string{"10.9.9.9"}
	cfg.Allow = []netip.Prefix{netip.MustParsePrefix("192.168.77.0/24")}
	n, err := Setup(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Teardown() })
	tap, err := n.CreateTap("11111111-2222-3333-4444-555555555555", netip.Addr{})
	if err != nil {
		t.Fatal(err)
	}
	// Setup again adopts what exists (agent restart) and keeps the
	// running VMs' taps pinned.
	if _, err := Setup(ctx, cfg); err != nil {
		t.Fatalf("second setup: %v", err)
	}
	checkPinned(t, cfg.Name, tap)
	// CreateTap again (what an adopted VM's supervisor does) is harmless.
	if _, err := n.CreateTap("11111111-2222-3333-4444-555555555555", tap.Address.Addr()); err != nil {
		t.Fatalf("create tap again: %v", err)
	}
	checkPinned(t, cfg.Name, tap)
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
	for _, want := range []string{"169.254.0.0/16", "100.64.0.0/10", "224.0.0.0/3", "192.168.77.0/24", "10.9.9.9",
		"ip daddr @dns meta l4proto { tcp, udp } th dport 53 accept", "ip daddr @allowed accept", "ip daddr @denied counter"} {
		if !strings.Contains(string(rules), want) {
			t.Errorf("host table lacks %q", want)
		}
	}
	neigh, err := exec.Command("ip", "-n", cfg.Name, "neigh", "show", tap.Address.Addr().String()).CombinedOutput()
	if err != nil || !strings.Contains(string(neigh), tap.MAC) || !strings.Contains(string(neigh), "PERMANENT") {
		t.Fatalf("vm address not pinned to its mac: %s %v", neigh, err)
	}
	if err := n.DeleteTap("11111111-2222-3333-4444-555555555555", tap.Address.Addr()); err != nil {
		t.Fatal(err)
	}
	if out := nftList(t, cfg.Name, "table", "bridge", "zeitwork"); strings.Contains(out, tap.Name) {
		t.Fatalf("rules of a deleted tap left:\n%s", out)
	}
	if err := n.DeleteTap("11111111-2222-3333-4444-555555555555", tap.Address.Addr()); err != nil {
		t.Fatalf("delete a deleted tap: %v", err)
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

// checkPinned checks that a tap is pinned to its MAC and address: no
// learning or flooding on the port, a static forwarding entry, and the
// bridge table's per-port rules.
func checkPinned(t *testing.T, ns string, tap *Tap) {
	t.Helper()
	link, err := exec.Command("bridge", "-n", ns, "-d", "link", "show", "dev", tap.Name).CombinedOutput()
	if err != nil || !strings.Contains(string(link), "learning off") || !strings.Contains(string(link), "flood off") {
		t.Fatalf("port learns or floods: %s %v", link, err)
	}
	fdb, err := exec.Command("bridge", "-n", ns, "fdb", "show", "dev", tap.Name).CombinedOutput()
	if err != nil || !strings.Contains(string(fdb), tap.MAC+" master "+bridgeName+" static") {
		t.Fatalf("no static fdb entry for %s: %s %v", tap.MAC, fdb, err)
	}
	in := nftList(t, ns, "chain", "bridge", "zeitwork", "in_"+tap.Name)
	for _, want := range []string{"ether saddr != " + tap.MAC, "arp saddr ether " + tap.MAC + " arp saddr ip " + tap.Address.Addr().String() + " accept", "ip saddr " + tap.Address.Addr().String() + " accept"} {
		if !strings.Contains(in, want) {
			t.Fatalf("ingress rules of %s lack %q:\n%s", tap.Name, want, in)
		}
	}
	if out := nftList(t, ns, "chain", "bridge", "zeitwork", "out_"+tap.Name); !strings.Contains(out, "ether daddr "+tap.MAC+" accept") {
		t.Fatalf("egress rules of %s:\n%s", tap.Name, out)
	}
	if maps := nftList(t, ns, "table", "bridge", "zeitwork"); !strings.Contains(maps, `"`+tap.Name+`" : jump in_`+tap.Name) {
		t.Fatalf("port %s not in the bridge table's map:\n%s", tap.Name, maps)
	}
}

func nftList(t *testing.T, ns string, what ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns, "nft", "list"}, what...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("nft list %v: %v: %s", what, err, out)
	}
	return string(out)
}

func TestSetupRejectsBadDestinations(t *testing.T) {
	for _, tt := range []struct {
		name string
		cfg  func(*Config)
	}{
		{"dns server not an address", func(c *Config) { c.DNS = []string{"dns.example"} }},
		{"dns server ipv6", func(c *Config) { c.DNS = []string{"2001:db8::1"} }},
		{"allowed prefix ipv6", func(c *Config) { c.Allow = []netip.Prefix{netip.MustParsePrefix("fd00::/8")} }},
		{"allowed prefix zero", func(c *Config) { c.Allow = []netip.Prefix{{}} }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			tt.cfg(&cfg)
			if _, err := Setup(context.Background(), cfg); err == nil {
				t.Fatal("setup accepted it")
			}
			if _, err := os.Stat("/run/netns/" + cfg.Name); !os.IsNotExist(err) {
				t.Fatalf("namespace made for a bad config: %v", err)
			}
		})
	}
}

// TestNeighboursStayPinned creates several taps and checks that every VM's
// address is still pinned to its MAC: a bridge whose MAC follows its ports
// flushes the neighbour table whenever one joins, and then only ARP (which
// the port rules restrict) could reach the earlier VMs.
func TestNeighboursStayPinned(t *testing.T) {
	cfg := testConfig(t)
	n, err := Setup(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Teardown() })
	bridgeMAC := func() string {
		out, err := exec.Command("ip", "-n", cfg.Name, "-br", "link", "show", bridgeName).CombinedOutput()
		if err != nil {
			t.Fatalf("bridge: %v: %s", err, out)
		}
		return strings.Fields(string(out))[2]
	}
	mac := bridgeMAC()
	var taps []*Tap
	for i := 0; i < 6; i++ {
		tap, err := n.CreateTap(fmt.Sprintf("%d1111111-2222-3333-4444-555555555555", i), netip.Addr{})
		if err != nil {
			t.Fatal(err)
		}
		taps = append(taps, tap)
		// Tap MACs are random: whether one flushes the table depends on
		// it; that the bridge's MAC never changes does not.
		if now := bridgeMAC(); now != mac {
			t.Fatalf("bridge mac changed from %s to %s when %s joined", mac, now, tap.Name)
		}
	}
	for _, tap := range taps {
		neigh, err := exec.Command("ip", "-n", cfg.Name, "neigh", "show", tap.Address.Addr().String()).CombinedOutput()
		if err != nil || !strings.Contains(string(neigh), tap.MAC) || !strings.Contains(string(neigh), "PERMANENT") {
			t.Errorf("%s no longer pinned to %s: %q %v", tap.Address.Addr(), tap.MAC, neigh, err)
		}
	}
}
