package network

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netns"
)

// A VM's app is root in its VM and may send any frame. Each tap is pinned
// to the MAC and address it was given, by a chain of its own in the
// namespace's bridge table: frames from the tap must carry its MAC, IPv4
// its address and ARP both; everything else (IPv6, other ethertypes, VLAN
// tags) is dropped. Frames to the tap must be addressed to its MAC (or be
// ARP broadcasts, which on isolated ports only the gateway can send), so a
// VM never sees another's unicast or flooded traffic. A port with no chain
// (a tap being set up) passes nothing: both base chains drop by default.
//
// Per-tap chains reached through verdict maps keyed by the tap's name let
// one tap's rules be added and removed in one nft transaction without
// touching the others', and Setup (an agent restart) keeps them, so
// adopted VMs stay pinned throughout.

// portTable creates the bridge table's base chains and maps if missing and
// replaces the base chains' rules; the maps' elements and the per-tap
// chains stay.
const portTable = `table bridge zeitwork {
	map in_ports { type ifname : verdict; }
	map out_ports { type ifname : verdict; }
	chain prerouting { type filter hook prerouting priority filter; policy drop; }
	chain postrouting { type filter hook postrouting priority filter; policy drop; }
}
flush chain bridge zeitwork prerouting
flush chain bridge zeitwork postrouting
table bridge zeitwork {
	chain prerouting {
		iifname vmap @in_ports
		counter drop comment "not a pinned port"
	}
	chain postrouting {
		oifname vmap @out_ports
		counter drop comment "not a pinned port"
	}
}
`

// pinRules adds (or replaces) a tap's chains and map entries.
func pinRules(tap, mac string, addr netip.Addr) string {
	return fmt.Sprintf(`add chain bridge zeitwork in_%[1]s
flush chain bridge zeitwork in_%[1]s
add rule bridge zeitwork in_%[1]s ether saddr != %[2]s counter drop comment "not its mac"
add rule bridge zeitwork in_%[1]s arp htype 1 arp ptype ip arp hlen 6 arp plen 4 arp saddr ether %[2]s arp saddr ip %[3]s accept
add rule bridge zeitwork in_%[1]s ip saddr %[3]s accept
add rule bridge zeitwork in_%[1]s counter drop comment "not its address, or not ipv4 or arp"
add chain bridge zeitwork out_%[1]s
flush chain bridge zeitwork out_%[1]s
add rule bridge zeitwork out_%[1]s ether daddr %[2]s accept
add rule bridge zeitwork out_%[1]s ether type arp ether daddr ff:ff:ff:ff:ff:ff accept comment "the gateway's arp requests"
add rule bridge zeitwork out_%[1]s counter drop comment "not its mac"
add element bridge zeitwork in_ports { "%[1]s" : jump in_%[1]s }
add element bridge zeitwork out_ports { "%[1]s" : jump out_%[1]s }
`, tap, mac, addr)
}

// unpinRules removes a tap's chains and map entries; it first adds them
// empty so that removing what is already gone is not an error.
func unpinRules(tap string) string {
	return fmt.Sprintf(`add chain bridge zeitwork in_%[1]s
add chain bridge zeitwork out_%[1]s
add element bridge zeitwork in_ports { "%[1]s" : jump in_%[1]s }
add element bridge zeitwork out_ports { "%[1]s" : jump out_%[1]s }
delete element bridge zeitwork in_ports { "%[1]s" }
delete element bridge zeitwork out_ports { "%[1]s" }
flush chain bridge zeitwork in_%[1]s
flush chain bridge zeitwork out_%[1]s
delete chain bridge zeitwork in_%[1]s
delete chain bridge zeitwork out_%[1]s
`, tap)
}

func nftIn(ctx context.Context, ns netns.NsHandle, script string) error {
	return inNamespace(ns, func() error { return nft(ctx, script) })
}
