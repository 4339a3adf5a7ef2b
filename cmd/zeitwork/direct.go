package main

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/zeitwork/zeitwork/internal/node/network"
)

// parseDirect reads zeitwork node's --direct-addr and --direct-ports: nil
// (off) without an address.
func parseDirect(addr, ports string) (*network.DirectConfig, error) {
	if addr == "" {
		return nil, nil
	}
	a, err := netip.ParseAddr(addr)
	if err != nil || !a.Is4() || a.IsUnspecified() || a.IsLoopback() {
		return nil, fmt.Errorf("invalid --direct-addr %q: name one IPv4 address of this host on the network the edges use (not loopback)", addr)
	}
	if err := hostHas(a); err != nil {
		return nil, err
	}
	first, last, ok := strings.Cut(ports, "-")
	f, err1 := strconv.ParseUint(first, 10, 16)
	l, err2 := strconv.ParseUint(last, 10, 16)
	if !ok || err1 != nil || err2 != nil || f == 0 || l < f {
		return nil, fmt.Errorf("invalid --direct-ports %q: give a range such as 20000-29999", ports)
	}
	return &network.DirectConfig{Addr: a, First: uint16(f), Last: uint16(l)}, nil
}

// hostHas checks that a is one of the host's addresses: packets to any
// other never reach the node's DNAT rule.
func hostHas(a netip.Addr) error {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return fmt.Errorf("list the host's addresses: %w", err)
	}
	for _, ad := range addrs {
		if p, err := netip.ParsePrefix(ad.String()); err == nil && p.Addr().Unmap() == a {
			return nil
		}
	}
	return fmt.Errorf("invalid --direct-addr %s: it is not an address of this host; give one of its own addresses on the network the edges use", a)
}

// parseNodeTransport reads zeitwork edge's --node-transport (and checks
// --direct-source): whether the edge uses the direct transport.
func parseNodeTransport(transport, source string) (bool, error) {
	switch transport {
	case "tls", "":
		if source != "" {
			return false, fmt.Errorf("--direct-source needs --node-transport direct")
		}
		return false, nil
	case "direct":
		if source != "" {
			if a, err := netip.ParseAddr(source); err != nil || !a.Is4() || a.IsUnspecified() {
				return false, fmt.Errorf("invalid --direct-source %q: name the IPv4 address the edge's connections to nodes come from, or leave it out", source)
			}
		}
		return true, nil
	}
	return false, fmt.Errorf("invalid --node-transport %q: use tls (the tunnel) or direct", transport)
}
