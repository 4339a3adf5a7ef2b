package network

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The direct transport (docs/design.md, "Direct transport") lets an edge
// reach an instance's app without the node agent's tunnel: each published
// instance gets a host port on the node's direct address, and nftables
// DNATs a connection to that port straight to the VM's app port, in the
// kernel. Only the cluster's edges may: their source addresses are a set,
// and a connection from anywhere else, to an unpublished port, or from the
// VM network is refused (a TCP reset, so that a revoked edge's connection
// fails at once instead of hanging). It is plain TCP: meant for a private
// network or a mesh the operator encrypts between hosts.
//
// The rules live in a table of their own (directTable) whose set and map
// change element by element, each change one nft transaction. The host
// table's forward chain, which lets nothing new into the VM network,
// makes one exception: a connection this table DNATed (ct status dnat with
// the direct address as its original destination). A locally made
// connection (an edge on the node's own host) is DNATed in the nat output
// hook and never forwarded, so the same set decides.

// DirectConfig turns the direct transport on.
type DirectConfig struct {
	// Addr is the node's address on the private network the edges use;
	// it must be one of the host's addresses.
	Addr netip.Addr
	// First and Last bound the host ports handed to instances.
	First, Last uint16
}

// ErrNoDirectPort means every port of the direct range is taken.
var ErrNoDirectPort = errors.New("no free port in the direct port range")

// Direct publishes instances' app ports on the node's direct address.
type Direct struct {
	cfg   DirectConfig
	table string
	veth  string // the host end of the VM network's veth

	mu        sync.Mutex
	ports     map[uint16]published // host port -> instance
	byID      map[string]uint16
	edges     []netip.Addr
	lastGiven uint16
}

type published struct {
	instance string
	target   netip.AddrPort
}

func (c DirectConfig) valid() error {
	if !c.Addr.IsValid() || !c.Addr.Is4() || c.Addr.IsUnspecified() {
		return fmt.Errorf("direct address %s must be one IPv4 address of the host", c.Addr)
	}
	if c.First == 0 || c.Last < c.First {
		return fmt.Errorf("direct ports %d-%d must be a range of 1 to 65535", c.First, c.Last)
	}
	return nil
}

// Direct returns the network's direct transport, nil when it is off.
func (n *Network) Direct() *Direct { return n.direct }

func newDirect(cfg DirectConfig, name, veth string) *Direct {
	return &Direct{cfg: cfg, table: "zwdirect_" + name, veth: veth,
		ports: map[uint16]published{}, byID: map[string]uint16{}, lastGiven: cfg.Last}
}

// Addr is the direct address.
func (d *Direct) Addr() netip.Addr { return d.cfg.Addr }

// forwardRule is the host table's exception for DNATed connections.
func (d *Direct) forwardRule(veth string) string {
	return fmt.Sprintf(`oifname "%s" ct status dnat ct original ip daddr %s accept comment "direct: edges to published instances"`,
		veth, d.cfg.Addr)
}

// rules is the whole table with the current elements. Loading it (agent
// start) also forgets every flow of the direct address: ports may now
// belong to other instances.
func (d *Direct) rules() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	match := fmt.Sprintf("ip daddr %s tcp dport %d-%d", d.cfg.Addr, d.cfg.First, d.cfg.Last)
	return fmt.Sprintf(`table ip %[1]s {
	set edges {
		type ipv4_addr;%[4]s
	}
	map published {
		type inet_service : ipv4_addr . inet_service;%[5]s
	}
	chain prerouting {
		type nat hook prerouting priority dstnat; policy accept;
		iifname != "%[2]s" %[3]s ip saddr @edges dnat ip to tcp dport map @published
	}
	chain output {
		type nat hook output priority -100; policy accept;
		%[3]s ip saddr @edges dnat ip to tcp dport map @published comment "an edge on this host"
	}
	chain input {
		type filter hook input priority filter - 5; policy accept;
		%[3]s counter reject with tcp reset comment "not an edge, or no instance on the port"
	}
}
`, d.table, d.veth, match, edgeElements(d.edges), d.mapElements())
}

func (d *Direct) mapElements() string {
	if len(d.ports) == 0 {
		return ""
	}
	var els []string
	for p, pub := range d.ports {
		els = append(els, fmt.Sprintf("%d : %s . %d", p, pub.target.Addr(), pub.target.Port()))
	}
	sort.Strings(els)
	return " elements = { " + strings.Join(els, ", ") + " };"
}

// addrList is addrs in nft's set syntax, without braces.
func addrList(addrs []netip.Addr) string {
	ss := make([]string, len(addrs))
	for i, a := range addrs {
		ss[i] = a.String()
	}
	return strings.Join(ss, ", ")
}

func edgeElements(addrs []netip.Addr) string {
	if len(addrs) == 0 {
		return ""
	}
	return " elements = { " + addrList(addrs) + " };"
}

func (d *Direct) setup(ctx context.Context) error {
	if err := nft(ctx, replaceTable("ip", d.table, d.rules())); err != nil {
		return fmt.Errorf("direct rules: %w", err)
	}
	return d.forgetFlows(nil, 0)
}

func (d *Direct) teardown() error {
	return nft(context.Background(), fmt.Sprintf("table ip %s\ndelete table ip %s\n", d.table, d.table))
}

// Publish gives instanceID a host port DNATed to target (the VM's app
// address), or returns the one it has. reuse, if free, is taken (an
// instance adopted after an agent restart keeps its port); otherwise the
// port after the last one given, so that a freed port is reused as late
// as the range allows.
func (d *Direct) Publish(ctx context.Context, instanceID string, target netip.AddrPort, reuse uint16) (netip.AddrPort, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if p, ok := d.byID[instanceID]; ok && d.ports[p].target == target {
		return netip.AddrPortFrom(d.cfg.Addr, p), nil
	}
	if p, ok := d.byID[instanceID]; ok { // the VM moved: drop the old port first
		if err := d.unpublishLocked(ctx, instanceID, p); err != nil {
			return netip.AddrPort{}, err
		}
	}
	port, err := d.pickLocked(reuse)
	if err != nil {
		return netip.AddrPort{}, err
	}
	// A flow left on the port (an old instance's, or one an edge made
	// while the port was free) must not carry the new instance's traffic.
	if err := d.forgetFlows(nil, port); err != nil {
		return netip.AddrPort{}, err
	}
	script := fmt.Sprintf("add element ip %s published { %d : %s . %d }\n", d.table, port, target.Addr(), target.Port())
	if err := nft(ctx, script); err != nil {
		return netip.AddrPort{}, fmt.Errorf("publish %s on port %d: %w", instanceID, port, err)
	}
	d.ports[port] = published{instance: instanceID, target: target}
	d.byID[instanceID] = port
	d.lastGiven = port
	return netip.AddrPortFrom(d.cfg.Addr, port), nil
}

func (d *Direct) pickLocked(reuse uint16) (uint16, error) {
	if _, taken := d.ports[reuse]; reuse >= d.cfg.First && reuse <= d.cfg.Last && !taken {
		return reuse, nil
	}
	n := int(d.cfg.Last-d.cfg.First) + 1
	p := d.lastGiven
	for range n {
		if p == d.cfg.Last {
			p = d.cfg.First
		} else {
			p++
		}
		if _, taken := d.ports[p]; !taken {
			return p, nil
		}
	}
	return 0, ErrNoDirectPort
}

// Unpublish frees instanceID's port and cuts the flows through it, so
// that an edge's pooled connection cannot reach whatever the port is
// given to next. Unpublishing what is not published is no error.
func (d *Direct) Unpublish(ctx context.Context, instanceID string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	p, ok := d.byID[instanceID]
	if !ok {
		return nil
	}
	return d.unpublishLocked(ctx, instanceID, p)
}

func (d *Direct) unpublishLocked(ctx context.Context, instanceID string, port uint16) error {
	if err := nft(ctx, fmt.Sprintf("delete element ip %s published { %d }\n", d.table, port)); err != nil {
		return fmt.Errorf("unpublish %s from port %d: %w", instanceID, port, err)
	}
	delete(d.ports, port)
	delete(d.byID, instanceID)
	return d.forgetFlows(nil, port)
}

// SetEdges replaces the set of addresses allowed to connect (the
// cluster's edges, from the operator) in one transaction, then cuts every
// flow of an address that left it: a removed edge loses its open
// connections too.
func (d *Direct) SetEdges(ctx context.Context, addrs []netip.Addr) error {
	next := slices.Clone(addrs)
	slices.SortFunc(next, netip.Addr.Compare)
	next = slices.Compact(next)
	for _, a := range next {
		if !a.Is4() {
			return fmt.Errorf("edge address %s: only IPv4 edges can use the direct transport", a)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if slices.Equal(next, d.edges) {
		return nil
	}
	script := fmt.Sprintf("flush set ip %s edges\n", d.table)
	if len(next) > 0 {
		script += fmt.Sprintf("add element ip %s edges { %s }\n", d.table, addrList(next))
	}
	if err := nft(ctx, script); err != nil {
		return fmt.Errorf("set direct edges: %w", err)
	}
	gone := slices.DeleteFunc(slices.Clone(d.edges), func(a netip.Addr) bool {
		_, found := slices.BinarySearchFunc(next, a, netip.Addr.Compare)
		return found
	})
	d.edges = next
	var errs []error
	for _, a := range gone {
		errs = append(errs, d.forgetFlows(&a, 0))
	}
	return errors.Join(errs...)
}

// forgetFlows deletes the conntrack entries of TCP connections to the
// direct address, only those from src if set and to port if not 0. The
// next packet of such a connection is judged by the rules again.
func (d *Direct) forgetFlows(src *netip.Addr, port uint16) error {
	f := &netlink.ConntrackFilter{}
	errs := []error{f.AddProtocol(unix.IPPROTO_TCP), f.AddIP(netlink.ConntrackOrigDstIP, net.IP(d.cfg.Addr.AsSlice()))}
	if src != nil {
		errs = append(errs, f.AddIP(netlink.ConntrackOrigSrcIP, net.IP(src.AsSlice())))
	}
	if port != 0 {
		errs = append(errs, f.AddPort(netlink.ConntrackOrigDstPort, port))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("conntrack filter: %w", err)
	}
	if _, err := netlink.ConntrackDeleteFilters(netlink.ConntrackTable, unix.AF_INET, f); err != nil {
		return fmt.Errorf("delete direct flows: %w", err)
	}
	return nil
}
