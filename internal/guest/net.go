package guest

import (
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/zeitwork/zeitwork/internal/guest/channel"
)

// loopbackUp brings up lo. It is the same in every instance, so the init
// does it before its hello: a VM restored from a template has it done.
func loopbackUp() error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("network: lo: %w", err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return fmt.Errorf("network: lo up: %w", err)
	}
	return nil
}

// configureNetwork brings up eth0, when an address is given, with its
// address, MTU and default route (lo is up since loopbackUp). The Debian
// kernel has no IP_PNP, so the init does what the ip= argument would.
func configureNetwork(cfg channel.Network) error {
	if cfg.Address == "" {
		return nil
	}
	eth, err := waitLink("eth0", 5*time.Second)
	if err != nil {
		return err
	}
	addr, err := netlink.ParseAddr(cfg.Address)
	if err != nil {
		return fmt.Errorf("network: address %q: %w", cfg.Address, err)
	}
	if cfg.MAC != "" {
		// A VM restored from a template starts with the template's address.
		mac, err := net.ParseMAC(cfg.MAC)
		if err != nil {
			return fmt.Errorf("network: mac %q: %w", cfg.MAC, err)
		}
		if err := netlink.LinkSetHardwareAddr(eth, mac); err != nil {
			return fmt.Errorf("network: eth0 mac %s: %w", cfg.MAC, err)
		}
	}
	if cfg.MTU > 0 {
		if err := netlink.LinkSetMTU(eth, cfg.MTU); err != nil {
			return fmt.Errorf("network: eth0 mtu %d: %w", cfg.MTU, err)
		}
	}
	if err := netlink.AddrAdd(eth, addr); err != nil {
		return fmt.Errorf("network: eth0 address %s: %w", cfg.Address, err)
	}
	if err := netlink.LinkSetUp(eth); err != nil {
		return fmt.Errorf("network: eth0 up: %w", err)
	}
	if cfg.Gateway == "" {
		return nil
	}
	gw := net.ParseIP(cfg.Gateway)
	if gw == nil {
		return fmt.Errorf("network: bad gateway %q", cfg.Gateway)
	}
	route := &netlink.Route{LinkIndex: eth.Attrs().Index, Gw: gw}
	if err := netlink.RouteAdd(route); err != nil {
		return fmt.Errorf("network: default route via %s: %w", cfg.Gateway, err)
	}
	return nil
}

func waitLink(name string, timeout time.Duration) (netlink.Link, error) {
	deadline := time.Now().Add(timeout)
	for {
		l, err := netlink.LinkByName(name)
		if err == nil {
			return l, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("network: %s did not appear: %w", name, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// resolvConf renders /etc/resolv.conf for the given name servers.
func resolvConf(servers []string) string {
	var b strings.Builder
	for _, s := range servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	return b.String()
}

// writeResolvConf writes /etc/resolv.conf when DNS servers are given, in
// place of a symlink the image may have there (replaceFile). An image
// whose /etc cannot be written keeps what it has: that is not worth
// failing the boot.
func writeResolvConf(servers []string) error {
	if len(servers) == 0 {
		return nil
	}
	if err := os.MkdirAll("/etc", 0o755); err != nil {
		return fmt.Errorf("write resolv.conf: %w", err)
	}
	if err := replaceFile("/etc/resolv.conf", []byte(resolvConf(servers))); err != nil {
		return fmt.Errorf("write resolv.conf: %w", err)
	}
	return nil
}
