package network

import (
	"fmt"
	"net/netip"
	"strings"
)

// deniedPrefixes are where a VM may not send anything: the host's and its
// neighbours' private networks, cloud metadata services on link-local
// addresses, and every range that is not the public internet (RFC 6890's
// special-purpose registry, multicast and the reserved class E with the
// limited broadcast address). A VM's app is hostile; on a private network
// these reach other nodes, the operator and databases.
var deniedPrefixes = mustPrefixes(
	"0.0.0.0/8",       // "this network"
	"10.0.0.0/8",      // RFC 1918
	"100.64.0.0/10",   // carrier-grade NAT (RFC 6598)
	"127.0.0.0/8",     // loopback
	"169.254.0.0/16",  // link-local, cloud metadata at 169.254.169.254
	"172.16.0.0/12",   // RFC 1918
	"192.0.0.0/24",    // IETF protocol assignments
	"192.0.2.0/24",    // TEST-NET-1
	"192.88.99.0/24",  // 6to4 relay anycast
	"192.168.0.0/16",  // RFC 1918
	"198.18.0.0/15",   // benchmarking
	"198.51.100.0/24", // TEST-NET-2
	"203.0.113.0/24",  // TEST-NET-3
	"224.0.0.0/4",     // multicast
	"240.0.0.0/4",     // reserved, and 255.255.255.255
)

// DeniedPrefixes returns a copy of the IPv4 ranges untrusted code may not
// reach: the builder's sandbox applies the same list to RUN steps.
func DeniedPrefixes() []netip.Prefix { return append([]netip.Prefix(nil), deniedPrefixes...) }

func mustPrefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// dnsPrefixes are the guests' DNS servers as /32s; those that do not parse
// as IPv4 addresses are left out (Setup has checked them).
func (n *Network) dnsPrefixes() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range n.cfg.DNS {
		if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
			out = append(out, netip.PrefixFrom(a, 32))
		}
	}
	return out
}

// elements renders prefixes as an nft set's elements line, or nothing for
// none (nft rejects an empty element list).
func elements(ps []netip.Prefix) string {
	if len(ps) == 0 {
		return ""
	}
	ss := make([]string, len(ps))
	for i, p := range ps {
		ss[i] = p.Masked().String()
	}
	return "\n\t\telements = { " + strings.Join(ss, ", ") + " }"
}

// checkDestinations checks that the DNS servers and allowed prefixes are
// IPv4, the only family VMs have.
func checkDestinations(cfg Config) error {
	for _, s := range cfg.DNS {
		if a, err := netip.ParseAddr(s); err != nil || !a.Is4() {
			return fmt.Errorf("vm dns server %q must be an IPv4 address", s)
		}
	}
	for _, p := range cfg.Allow {
		if !p.IsValid() || !p.Addr().Is4() {
			return fmt.Errorf("allowed vm destination %s must be an IPv4 prefix", p)
		}
	}
	return nil
}
