// Package network gives every microVM on a node its own tap device and
// address, isolated from the host and from the other VMs.
//
// Layout: the VMs live in a network namespace of their own. Inside it, a
// bridge carries one tap per VM with bridge port isolation on (no VM-to-VM
// frames) and an nftables forward rule that drops routed VM-to-VM packets. A
// veth pair links the namespace to the host, which routes the VM subnet to
// it, so the node agent reaches VMs by address. Each tap is pinned to its MAC
// and address (ports.go). On the host, nftables drops every new connection
// that arrives from the namespace (VMs cannot reach the host's own services),
// lets VMs reach only the public internet, their DNS servers and an
// operator's allow-list (not private, link-local or reserved addresses), and
// masquerades what leaves.
package network

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// Config describes a node's VM network.
type Config struct {
	// Name names the namespace ("/run/netns/<Name>"), the nftables tables
	// and the host end of the veth; at most 11 characters.
	Name string
	// Subnet holds the VMs' addresses; the first address is the gateway.
	Subnet netip.Prefix
	// Transit is a /30 for the veth link: host gets the first address, the
	// namespace the second.
	Transit netip.Prefix
	// DNS servers handed to guests (IPv4 addresses). VMs may reach them on
	// port 53 even when they are on a private network.
	DNS []string
	// Allow lists the IPv4 prefixes VMs may reach although they are
	// private, link-local or reserved (see deniedPrefixes); for operators
	// whose apps need a service on their private network. Empty: only the
	// public internet.
	Allow []netip.Prefix
	// Direct, if set, publishes instances' app ports to the cluster's
	// edges on a host address, without the tunnel (direct.go).
	Direct *DirectConfig
	Log    *slog.Logger
}

// Network is a node's VM network, set up.
type Network struct {
	cfg     Config
	gateway netip.Addr
	hostIP  netip.Addr
	nsIP    netip.Addr
	log     *slog.Logger
	direct  *Direct // nil: the direct transport is off

	mu   sync.Mutex
	used map[netip.Addr]string // address -> instance ID
}

// Tap is one VM's interface.
type Tap struct {
	Name    string
	MAC     string
	Address netip.Prefix // the guest's address with the subnet's length
	Gateway netip.Addr
	// NetNS is the path of the namespace holding the tap.
	NetNS string
}

const bridgeName = "zwbr0"
const nsVethName = "zwveth0"

func (c Config) hostVeth() string { return "zwh-" + c.Name }

// NetNSPath is where the namespace is bound.
func (n *Network) NetNSPath() string { return filepath.Join("/run/netns", n.cfg.Name) }

// DNS returns the DNS servers for guests.
func (n *Network) DNS() []string { return n.cfg.DNS }

// Setup creates (or adopts, after an agent restart) the namespace, bridge,
// veth, routes and firewall. It is idempotent.
func Setup(ctx context.Context, cfg Config) (*Network, error) {
	if len(cfg.Name) == 0 || len(cfg.Name) > 11 {
		return nil, fmt.Errorf("network name %q must be 1 to 11 characters", cfg.Name)
	}
	if !cfg.Subnet.IsValid() || !cfg.Subnet.Addr().Is4() || cfg.Subnet.Bits() > 29 {
		return nil, fmt.Errorf("vm subnet %s must be an IPv4 prefix of /29 or larger", cfg.Subnet)
	}
	if !cfg.Transit.IsValid() || cfg.Transit.Bits() != 30 || cfg.Transit.Overlaps(cfg.Subnet) {
		return nil, fmt.Errorf("transit %s must be a /30 outside the vm subnet", cfg.Transit)
	}
	if err := checkDestinations(cfg); err != nil {
		return nil, err
	}
	if cfg.Direct != nil {
		if err := cfg.Direct.valid(); err != nil {
			return nil, err
		}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	n := &Network{
		cfg:     cfg,
		gateway: cfg.Subnet.Masked().Addr().Next(),
		hostIP:  cfg.Transit.Masked().Addr().Next(),
		log:     cfg.Log,
		used:    map[netip.Addr]string{},
	}
	n.nsIP = n.hostIP.Next()
	if cfg.Direct != nil {
		n.direct = newDirect(*cfg.Direct, cfg.Name, cfg.hostVeth())
	}
	if err := n.setupNamespace(); err != nil {
		return nil, fmt.Errorf("set up vm network %s: %w", cfg.Name, err)
	}
	if err := n.setupFirewall(ctx); err != nil {
		return nil, fmt.Errorf("set up vm firewall %s: %w", cfg.Name, err)
	}
	return n, nil
}

func (n *Network) setupNamespace() error {
	ns, err := openNamespace(n.cfg.Name)
	if err != nil {
		return fmt.Errorf("namespace: %w", err)
	}
	defer ns.Close()
	if err := writeSysctl("/proc/sys/net/ipv4/ip_forward", "1"); err != nil {
		return err
	}

	// The veth pair, created on the host; one end moves into the namespace.
	if _, err := netlink.LinkByName(n.cfg.hostVeth()); err != nil {
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: n.cfg.hostVeth()}, PeerName: nsVethName, PeerNamespace: netlink.NsFd(ns)}
		if err := netlink.LinkAdd(veth); err != nil {
			return fmt.Errorf("add veth: %w", err)
		}
	}
	hostVeth, err := netlink.LinkByName(n.cfg.hostVeth())
	if err != nil {
		return err
	}
	hostHandle, err := netlink.NewHandle()
	if err != nil {
		return err
	}
	defer hostHandle.Close()
	if err := ensureAddr(hostHandle, hostVeth, netip.PrefixFrom(n.hostIP, 30)); err != nil {
		return err
	}
	if err := netlink.LinkSetUp(hostVeth); err != nil {
		return err
	}
	route := &netlink.Route{Dst: prefixNet(n.cfg.Subnet.Masked()), Gw: n.nsIP.AsSlice(), LinkIndex: hostVeth.Attrs().Index}
	if err := netlink.RouteReplace(route); err != nil {
		return fmt.Errorf("route %s via namespace: %w", n.cfg.Subnet, err)
	}

	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return err
	}
	defer h.Close()
	return n.setupInside(h, ns)
}

// setupInside configures the namespace's side: lo, veth, bridge, routes.
func (n *Network) setupInside(h *netlink.Handle, ns netns.NsHandle) error {
	lo, err := h.LinkByName("lo")
	if err != nil {
		return err
	}
	if err := h.LinkSetUp(lo); err != nil {
		return err
	}
	veth, err := h.LinkByName(nsVethName)
	if err != nil {
		return fmt.Errorf("namespace veth: %w", err)
	}
	if err := ensureAddr(h, veth, netip.PrefixFrom(n.nsIP, 30)); err != nil {
		return err
	}
	if err := h.LinkSetUp(veth); err != nil {
		return err
	}
	if _, err := h.LinkByName(bridgeName); err != nil {
		if err := h.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: bridgeName}}); err != nil {
			return fmt.Errorf("add bridge: %w", err)
		}
	}
	br, err := h.LinkByName(bridgeName)
	if err != nil {
		return err
	}
	// A bridge without a MAC of its own takes the lowest of its ports',
	// so it changes as taps come and go, and every change flushes the
	// neighbour table, pinned VM entries included. The gateway then has
	// to ARP for VMs until they are pinned again.
	if gw, _ := net.ParseMAC(macFor(n.gateway)); br.Attrs().HardwareAddr.String() != gw.String() {
		if err := h.LinkSetHardwareAddr(br, gw); err != nil {
			return fmt.Errorf("bridge mac: %w", err)
		}
	}
	if err := ensureAddr(h, br, netip.PrefixFrom(n.gateway, n.cfg.Subnet.Bits())); err != nil {
		return err
	}
	if err := h.LinkSetUp(br); err != nil {
		return err
	}
	def := &netlink.Route{Dst: &net.IPNet{IP: net.IPv4zero, Mask: net.CIDRMask(0, 32)}, Gw: n.hostIP.AsSlice(), LinkIndex: veth.Attrs().Index}
	if err := h.RouteReplace(def); err != nil {
		return fmt.Errorf("default route in namespace: %w", err)
	}
	return inNamespace(ns, func() error { return writeSysctl("/proc/sys/net/ipv4/ip_forward", "1") })
}

// inNamespace runs fn on a thread switched into ns. Needed for what netlink
// handles cannot do: sysctls, and tap creation (a /dev/net/tun ioctl acts in
// the calling thread's namespace).
func inNamespace(ns netns.NsHandle, fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		return err
	}
	defer netns.Set(orig)
	return fn()
}

func ensureAddr(h *netlink.Handle, link netlink.Link, p netip.Prefix) error {
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}}
	if err := h.AddrReplace(link, addr); err != nil {
		return fmt.Errorf("address %s on %s: %w", p, link.Attrs().Name, err)
	}
	return nil
}

func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), 32)}
}

func writeSysctl(path, v string) error {
	if err := os.WriteFile(path, []byte(v), 0o644); err != nil {
		return fmt.Errorf("sysctl %s: %w", path, err)
	}
	return nil
}

// TapName is the tap device name for an instance (Linux allows 15 bytes).
func TapName(instanceID string) string {
	id := []byte{}
	for i := 0; i < len(instanceID) && len(id) < 12; i++ {
		if c := instanceID[i]; c != '-' {
			id = append(id, c)
		}
	}
	return "zt" + string(id)
}

// ErrExhausted means the subnet has no free address.
var ErrExhausted = errors.New("no free address in the vm subnet")

// allocate picks a free address; reuse lets a recovered VM keep its own.
func (n *Network) allocate(instanceID string, reuse netip.Addr) (netip.Addr, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if reuse.IsValid() && n.cfg.Subnet.Contains(reuse) {
		if owner, taken := n.used[reuse]; !taken || owner == instanceID {
			n.used[reuse] = instanceID
			return reuse, nil
		}
	}
	for a := n.gateway.Next(); n.cfg.Subnet.Contains(a); a = a.Next() {
		if a == broadcast(n.cfg.Subnet) {
			break
		}
		if _, taken := n.used[a]; !taken {
			n.used[a] = instanceID
			return a, nil
		}
	}
	return netip.Addr{}, ErrExhausted
}

func (n *Network) release(a netip.Addr) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.used, a)
}

func broadcast(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	v := binary.BigEndian.Uint32(b[:]) | (1<<(32-p.Bits()) - 1)
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

// macFor derives a stable, locally administered MAC from the address.
func macFor(a netip.Addr) string {
	b := a.As4()
	return fmt.Sprintf("02:7a:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3])
}
