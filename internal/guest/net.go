package guest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

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

// ethName is the NIC the init configures.
const ethName = "eth0"

// addrGenModeNone is IN6_ADDR_GEN_MODE_NONE: the kernel makes no IPv6
// link-local address for the interface.
const addrGenModeNone = "1"

// ipv6ConfDir holds the per-interface IPv6 settings (absent on a kernel
// without IPv6).
var ipv6ConfDir = "/proc/sys/net/ipv6/conf"

// eth0 is the NIC as prepareEth0 left it, with the netlink socket it
// used; nil without a NIC at the hello.
var eth0 *preparedLink

// preparedLink is a link and an open rtnetlink handle kept from before the
// hello: after a restore, looking the link up again and opening a socket
// are kernel paths taken for the first time since the restore, which TCG
// translates again (measured: about 20 ms of the network's setup).
type preparedLink struct {
	h    *netlink.Handle
	link netlink.Link
}

// prepareEth0 brings eth0 up before the hello, so that a VM restored from
// a template resumes with it up: bringing a virtio NIC up fills its
// receive ring, and it is the same in every instance. What is the
// instance's own (MAC, addresses, route) comes only with the Config, so
// the template must hold none of it and send nothing: eth0 is up without
// an IPv4 address, and the kernel is told to make no IPv6 link-local
// address for it. It would make one once its link watch has run (up to a
// second after the link comes up, so sometimes before the template is
// saved), from the template's MAC, with duplicate address detection and
// router solicitations pending in timers; every instance would resume it,
// and the kernel does not make it again when the MAC changes. Without
// eth0 (no NIC) there is nothing to do.
func prepareEth0() error {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("network: netlink: %w", err)
	}
	eth, err := h.LinkByName(ethName)
	if err != nil {
		h.Close()
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return fmt.Errorf("network: %s: %w", ethName, err)
	}
	if err := noLinkLocal(ethName); err != nil {
		return err
	}
	if err := h.LinkSetUp(eth); err != nil {
		return fmt.Errorf("network: %s up: %w", ethName, err)
	}
	if eth, err = h.LinkByName(ethName); err != nil {
		return fmt.Errorf("network: %s: %w", ethName, err)
	}
	eth0 = &preparedLink{h: h, link: eth}
	return nil
}

// noLinkLocal stops the kernel from making an IPv6 link-local address for
// the interface name; on a kernel without IPv6 there is none to stop.
func noLinkLocal(name string) error {
	p := filepath.Join(ipv6ConfDir, name, "addr_gen_mode")
	err := os.WriteFile(p, []byte(addrGenModeNone), 0)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("network: %s: no link-local address: %w", name, err)
	}
	return nil
}

// configureNetwork gives eth0, when an address is given, the instance's
// MAC, MTU, address and default route. eth0 is up since prepareEth0 (lo
// since loopbackUp); virtio-net takes a new MAC while up. The Debian
// kernel has no IP_PNP, so the init does what the ip= argument would.
func configureNetwork(cfg channel.Network) error {
	if cfg.Address == "" {
		return nil
	}
	l := eth0
	if l == nil {
		// eth0 appeared after the hello: find it and bring it up here.
		eth, err := waitLink(ethName, 5*time.Second)
		if err != nil {
			return err
		}
		if err := noLinkLocal(ethName); err != nil {
			return err
		}
		if err := netlink.LinkSetUp(eth); err != nil {
			return fmt.Errorf("network: eth0 up: %w", err)
		}
		l = &preparedLink{h: &netlink.Handle{}, link: eth}
	}
	return l.configure(cfg)
}

// configure gives the link the instance's MAC, MTU, address and route.
func (l *preparedLink) configure(cfg channel.Network) error {
	h, eth := l.h, l.link
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
		if err := h.LinkSetHardwareAddr(eth, mac); err != nil {
			return fmt.Errorf("network: eth0 mac %s: %w", cfg.MAC, err)
		}
	}
	if cfg.MTU > 0 && cfg.MTU != eth.Attrs().MTU {
		if err := h.LinkSetMTU(eth, cfg.MTU); err != nil {
			return fmt.Errorf("network: eth0 mtu %d: %w", cfg.MTU, err)
		}
	}
	if err := h.AddrAdd(eth, addr); err != nil {
		return fmt.Errorf("network: eth0 address %s: %w", cfg.Address, err)
	}
	if cfg.Gateway == "" {
		return nil
	}
	gw := net.ParseIP(cfg.Gateway)
	if gw == nil {
		return fmt.Errorf("network: bad gateway %q", cfg.Gateway)
	}
	route := &netlink.Route{LinkIndex: eth.Attrs().Index, Gw: gw}
	if err := h.RouteAdd(route); err != nil {
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
